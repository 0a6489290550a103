"""Mirror images of poses and mirror-invariant features (posetok.symmetry)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import FunctionTransformer

from posetok import PoseTokenizer
from posetok.datasets import STICK_FIGURE_KEYPOINTS, make_stick_figures
from posetok.readers import COCO_KEYPOINTS, H36M_JOINTS, PENN_JOINTS
from posetok.symmetry import MirrorSymmetric, flip_pairs_from_names, mirror
from posetok.video import MotionTokenizer, PerFrame, TemporalPool

from .conftest import TINY

STICK_PAIRS = [(2, 3), (4, 5), (6, 7), (9, 10), (11, 12)]


def test_flip_pairs_of_the_shipped_skeletons():
    coco = flip_pairs_from_names(COCO_KEYPOINTS)
    assert coco == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]
    assert flip_pairs_from_names(STICK_FIGURE_KEYPOINTS) == STICK_PAIRS
    assert flip_pairs_from_names(PENN_JOINTS) == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12)]
    assert sorted(tuple(sorted(p)) for p in flip_pairs_from_names(H36M_JOINTS)) == [
        (1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)]
    assert flip_pairs_from_names(["l_knee", "r_knee", "RHand", "LHand", "spine"]) == [(0, 1), (3, 2)]
    assert flip_pairs_from_names(["head", "neck"]) == []
    # a part name that starts with l or r is not a side
    assert flip_pairs_from_names(["root", "lumbar"]) == []


def test_flip_pairs_from_names_errors():
    with pytest.raises(ValueError, match="no twin"):
        flip_pairs_from_names(["head", "left_wrist"])
    with pytest.raises(ValueError, match="repeat"):
        flip_pairs_from_names(["left_wrist", "left_wrist", "right_wrist"])
    with pytest.raises(ValueError, match="two left joints"):
        flip_pairs_from_names(["left_wrist", "l_wrist", "right_wrist"])


def test_mirror_swaps_and_reflects_without_touching_the_input():
    X = np.array([[1.0, 2.0, 3.0, 4.0, np.nan, np.nan]])  # three 2-D keypoints, the third missing
    before = X.copy()
    out = mirror(X, [(0, 2)], centre=1.0)
    np.testing.assert_array_equal(X, before)
    np.testing.assert_array_equal(out, [[np.nan, np.nan, -1.0, 4.0, 1.0, 2.0]])
    # (n, K, D) input and another axis: a 3-D pose mirrored across z
    P = np.arange(12, dtype=float).reshape(2, 2, 3)
    np.testing.assert_array_equal(mirror(P, [], n_dims=3, axis=2)[..., 2], -P[..., 2])
    assert mirror(np.ones((3, 4), dtype=np.int32), [(0, 1)]).dtype == float


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.just(10)),
              elements=st.floats(-1e3, 1e3, allow_nan=False)),
       st.floats(-10, 10), st.integers(0, 1))
def test_mirror_is_an_involution(X, centre, axis):
    pairs = [(0, 4), (1, 3)]
    twice = mirror(mirror(X, pairs, centre=centre, axis=axis), pairs, centre=centre, axis=axis)
    np.testing.assert_allclose(twice, X, atol=1e-9)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(flip_pairs=[(0, 9)]), ValueError, "joint 9.*3 keypoints"),
    (dict(flip_pairs=[(0, 1), (1, 2)]), ValueError, "appears twice"),
    (dict(flip_pairs=[(1, 1)]), ValueError, "appears twice"),
    (dict(flip_pairs=[0, 1]), ValueError, "pairs"),
    (dict(flip_pairs=[(0.5, 1)]), TypeError, "integer"),
    (dict(flip_pairs=[], n_dims=4), ValueError, "not keypoints of 4"),
    (dict(flip_pairs=[], axis=2), ValueError, "axis"),
    (dict(flip_pairs=[], centre=np.nan), ValueError, "centre"),
    (dict(flip_pairs=[], n_dims=0), ValueError, "n_dims"),
])
def test_mirror_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        mirror(np.zeros((2, 6)), **kwargs)


def test_mirror_rejects_what_is_not_poses():
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        mirror(np.zeros(6), [])
    with pytest.raises(ValueError, match="Complex"):
        mirror(np.zeros((2, 4), dtype=complex), [])
    with pytest.raises(ValueError, match="3 coordinates per keypoint"):
        mirror(np.zeros((2, 4, 3)), [], n_dims=2)


@pytest.fixture(scope="module")
def figures():
    X, y = make_stick_figures(300, random_state=0)
    return X, y


def test_features_are_mirror_invariant(figures):
    X, _ = figures
    sym = MirrorSymmetric(PoseTokenizer(**TINY, encode="latent"), STICK_PAIRS).fit(X)
    np.testing.assert_allclose(sym.transform(mirror(X, STICK_PAIRS)), sym.transform(X), atol=1e-5)
    # not trivially so: the tokenizer alone tells a pose from its mirror image
    tok = sym.transformer_
    assert np.abs(tok.transform(mirror(X, STICK_PAIRS)) - tok.transform(X)).max() > 0.1
    assert sym.get_feature_names_out().tolist() == tok.get_feature_names_out().tolist()
    assert sym.n_features_in_ == X.shape[1]


def test_videos_and_sparse_outputs(figures):
    X, _ = figures
    videos = [X[:40], X[40:100], X[100:103]]
    video_features = make_pipeline(PerFrame(PoseTokenizer(**TINY, encode="latent")), TemporalPool())
    sym = MirrorSymmetric(video_features, STICK_PAIRS).fit(videos)
    out = sym.transform(videos)
    assert out.shape == (3, 4 * TINY["n_tokens"] * TINY["token_dim"])
    np.testing.assert_allclose(sym.transform([mirror(v, STICK_PAIRS) for v in videos]), out, atol=1e-5)
    # a list of per-frame blocks comes back as a list, each averaged
    per_frame = MirrorSymmetric(PerFrame(PoseTokenizer(**TINY, encode="latent")), STICK_PAIRS).fit(videos)
    assert [len(b) for b in per_frame.transform(videos)] == [40, 60, 3]
    onehot = MirrorSymmetric(PoseTokenizer(**TINY, encode="onehot"), STICK_PAIRS).fit(X)
    row_sums = np.asarray(onehot.transform(X).sum(axis=1)).ravel()
    np.testing.assert_allclose(row_sums, TINY["n_tokens"])  # each half-weight one-hot pair sums to 1 per token


def test_union_of_video_features_is_its_parts_side_by_side(figures):
    # the recommended video recipe: MirrorSymmetric over make_union(per-frame pipeline, motion pipeline)
    X, _ = figures
    videos = [X[:40], X[40:100], X[100:112]]
    pool = TemporalPool(stats=("mean", "std", "max", "min"))
    per_frame = make_pipeline(PerFrame(PoseTokenizer(**TINY, encode="latent")), pool)
    motion = make_pipeline(MotionTokenizer(PoseTokenizer(**TINY, encode="latent"), window=4), pool)
    both = MirrorSymmetric(make_union(per_frame, motion), STICK_PAIRS).fit(videos)
    parts = [MirrorSymmetric(part, STICK_PAIRS).fit(videos) for part in (per_frame, motion)]
    out = both.transform(videos)
    np.testing.assert_allclose(out, np.hstack([part.transform(videos) for part in parts]), atol=1e-6)
    np.testing.assert_allclose(both.transform([mirror(v, STICK_PAIRS) for v in videos]), out, atol=1e-5)
    assert out.shape == (3, 2 * 6 * TINY["n_tokens"] * TINY["token_dim"])


def test_refuses_to_average_token_ids(figures):
    sym = MirrorSymmetric(PoseTokenizer(**TINY), STICK_PAIRS).fit(figures[0])
    with pytest.raises(TypeError, match="averaging ids"):
        sym.transform(figures[0])


def test_checks_the_mirror_before_fitting():
    est = MirrorSymmetric(FunctionTransformer(), [(0, 5)])
    with pytest.raises(ValueError, match="joint 5"):
        est.fit(np.zeros((4, 6)))
    assert not hasattr(est, "transformer_")
    with pytest.raises(TypeError, match="sparse"):
        import scipy.sparse as sp

        est.fit(sp.csr_matrix(np.zeros((4, 6))))
