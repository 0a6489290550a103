"""Fitting and transforming arrays that stay on disk (memmap, HDF5, Zarr)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import posetok.tokenizer as tokenizer_module
from posetok import PoseTokenizer
from posetok.distributed import Moments
from posetok.normalization import PoseNormalizer, frame
from posetok.streaming import is_out_of_core

from .conftest import TINY

SMALL = dict(n_tokens=8, codebook_size=32, n_epochs=5, batch_size=256, random_state=0,
             refinement_stages=1, refinement_codebook_size=16)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 1 000 rows, so that a few thousand poses make several blocks."""
    monkeypatch.setattr(tokenizer_module, "BLOCK_SIZE", 1000)


@pytest.fixture(scope="module")
def poses():
    from posetok.datasets import make_stick_figures

    X, _ = make_stick_figures(4000, random_state=0)
    X[::9, 6:8] = np.nan
    X_test, _ = make_stick_figures(1000, random_state=1)
    return X, X_test


def _memmap(tmp_path, X):
    np.save(tmp_path / "poses.npy", X)
    return np.load(tmp_path / "poses.npy", mmap_mode="r")


def test_out_of_core_detection(tmp_path):
    X = np.zeros((3, 4))
    assert not is_out_of_core(X)
    assert not is_out_of_core(X.tolist())
    assert is_out_of_core(_memmap(tmp_path, X))


def test_streamed_fit_learns_as_well_as_in_memory(tmp_path, poses, small_blocks):
    X, X_test = poses
    streamed = PoseTokenizer(**SMALL).fit(_memmap(tmp_path, X))
    in_memory = PoseTokenizer(**SMALL).fit(X)
    # Same data, same seed, another shuffle (by blocks): the same quality within seed noise
    # (two in-memory seeds differ by about 10 % here).
    assert -streamed.score(X_test) <= 1.25 * -in_memory.score(X_test)
    assert streamed.codebook_usage_ >= 0.9
    assert streamed.history_[-1]["mean_joint_error"] < streamed.history_[0]["mean_joint_error"]
    # the statistics of a streamed pass are those of all poses, merged block by block
    np.testing.assert_allclose(streamed.mean_, in_memory.mean_, rtol=1e-12)
    assert streamed.scale_ == pytest.approx(in_memory.scale_, rel=1e-12)
    assert streamed.n_features_in_ == X.shape[1] and not hasattr(streamed, "feature_names_in_")


def test_streamed_transform_and_score_equal_in_memory(tmp_path, poses, small_blocks):
    X, X_test = poses
    tok = PoseTokenizer(**TINY, refinement_stages=1, refinement_codebook_size=8).fit(X)
    mm = _memmap(tmp_path, X)
    np.testing.assert_array_equal(tok.transform(mm), tok.transform(X))
    assert tok.score(mm) == pytest.approx(tok.score(X), rel=1e-12)
    tok.set_params(encode="onehot")
    assert (tok.transform(mm) != tok.transform(X)).nnz == 0


def test_streamed_fit_transform_equals_fit_then_transform(tmp_path, poses, small_blocks):
    mm = _memmap(tmp_path, poses[0][:2500])
    ids = PoseTokenizer(**TINY).fit_transform(mm)
    np.testing.assert_array_equal(ids, PoseTokenizer(**TINY).fit(mm).transform(mm))


def test_streamed_fit_is_reproducible_and_leaves_the_file_alone(tmp_path, poses, small_blocks):
    X = poses[0][:2500]
    mm = _memmap(tmp_path, X)
    a = PoseTokenizer(**TINY).fit(mm).transform(X)
    b = PoseTokenizer(**TINY).fit(mm).transform(X)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.load(tmp_path / "poses.npy"), X)


def test_streamed_three_d_memmap(tmp_path, small_blocks):
    from posetok.datasets import make_stick_figures_3d

    X, _ = make_stick_figures_3d(2500, random_state=0)
    tok = PoseTokenizer(**TINY).fit(_memmap(tmp_path, X))
    assert tok.n_dims_ == 3 and tok.n_features_in_ == 39
    np.testing.assert_array_equal(tok.transform(X), tok.transform(X.reshape(len(X), -1)))
    with pytest.raises(ValueError, match="n_dims is 2"):
        PoseTokenizer(**TINY, n_dims=2).fit(_memmap(tmp_path, X))


def test_streamed_fit_errors_name_the_row_in_the_file(tmp_path, poses, small_blocks):
    X = poses[0][:2500].copy()
    X[1234, 4] = np.nan  # joint 2 of row 1234 half missing, in the second block
    with pytest.raises(ValueError, match="keypoint 2 of sample 1234"):
        PoseTokenizer(**TINY).fit(_memmap(tmp_path, X))
    X = poses[0][:2500].copy()
    X[2001] = np.nan
    with pytest.raises(ValueError, match="sample 2001 has no observed keypoint"):
        PoseTokenizer(**TINY).fit(_memmap(tmp_path, X))
    X = poses[0][:2500].copy()
    X[1500, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        PoseTokenizer(**TINY).fit(_memmap(tmp_path, X))


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((10, 26), dtype=bool), TypeError, "must hold numbers"),
    (np.zeros((10, 13, 2, 1)), ValueError, "must be 2-D"),
    (np.zeros((0, 26)), ValueError, "at least one sample"),
    (np.zeros((10, 25)), ValueError, "not a multiple of n_dims=2"),
])
def test_streamed_fit_refuses_bad_arrays(tmp_path, bad, error, match):
    with pytest.raises(error, match=match):
        PoseTokenizer(**TINY).fit(_memmap(tmp_path, bad))


def test_failed_streamed_fit_leaves_a_fitted_tokenizer_as_it_was(tmp_path, poses, tiny_fitted):
    import copy

    tok = copy.deepcopy(tiny_fitted)
    before = tok.transform(poses[1])
    with pytest.raises(ValueError):
        tok.fit(_memmap(tmp_path, np.zeros((10, 25))))
    assert tok.n_features_in_ == 26
    np.testing.assert_array_equal(tok.transform(poses[1]), before)


def test_hdf5_dataset(tmp_path, poses, small_blocks):
    h5py = pytest.importorskip("h5py")
    X = poses[0][:2500]
    with h5py.File(tmp_path / "poses.h5", "w") as f:
        f["keypoints"] = X.reshape(len(X), 13, 2)
    with h5py.File(tmp_path / "poses.h5", "r") as f:
        assert is_out_of_core(f["keypoints"])
        tok = PoseTokenizer(**TINY).fit(f["keypoints"])
        np.testing.assert_array_equal(tok.transform(f["keypoints"]), tok.transform(X))
    assert tok.n_features_in_ == 26
    # an HDF5 fit is the same streamed fit as a memmap's of the same rows
    np.testing.assert_array_equal(PoseTokenizer(**TINY).fit(_memmap(tmp_path, X)).transform(X), tok.transform(X))


def test_zarr_array(tmp_path, poses, small_blocks):
    zarr = pytest.importorskip("zarr")
    X = poses[0][:2500]
    z = zarr.open_array(tmp_path / "poses.zarr", mode="w", shape=X.shape, chunks=(700, 26), dtype="f8")
    z[:] = X
    assert is_out_of_core(z)
    tok = PoseTokenizer(**TINY).fit(z)
    np.testing.assert_array_equal(tok.transform(z), tok.transform(X))
    np.testing.assert_array_equal(PoseTokenizer(**TINY).fit(_memmap(tmp_path, X)).transform(X), tok.transform(X))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.lists(st.integers(0, 60), min_size=1, max_size=4), st.integers(0, 2**31 - 1))
def test_moments_merged_by_blocks_equal_those_of_all_rows(n, cuts, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(5.0, 3.0, size=(n, 6))
    X[rng.random(X.shape) < 0.3] = np.nan
    edges = sorted({0, n, *(c % (n + 1) for c in cuts)})
    merged = Moments.of(X[edges[0]:edges[1]])
    for a, b in zip(edges[1:], edges[2:]):
        merged = merged.merge(Moments.of(X[a:b]))
    whole = Moments.of(X)
    np.testing.assert_allclose(merged.count, whole.count)
    np.testing.assert_allclose(merged.mean, whole.mean, atol=1e-12)
    np.testing.assert_allclose(merged.m2, whole.m2, atol=1e-9)
    if np.isfinite(X).any():
        mean, scale = merged.mean_and_scale()
        reference = PoseNormalizer.fit(X, "dataset", n_dims=2)  # never-observed columns: mean 0 in both
        np.testing.assert_allclose(mean, reference.mean, atol=1e-12)
        assert scale == pytest.approx(reference.scale, rel=1e-9)


def test_pose_mode_moments_are_those_of_the_framed_poses(poses):
    X = poses[0][:500]
    mean, scale = Moments.of(frame(X, "pose", 2)[0]).mean_and_scale()
    reference = PoseNormalizer.fit(X, "pose", n_dims=2)
    np.testing.assert_allclose(mean, reference.mean, atol=1e-12)
    assert scale == pytest.approx(reference.scale, rel=1e-12)


def test_streamed_fit_with_per_pose_normalisation(tmp_path, poses, small_blocks):
    X = poses[0][:2500]
    streamed = PoseTokenizer(**TINY, normalize="pose").fit(_memmap(tmp_path, X))
    in_memory = PoseTokenizer(**TINY, normalize="pose").fit(X)
    np.testing.assert_allclose(streamed.mean_, in_memory.mean_, rtol=1e-12, atol=1e-15)
    assert streamed.scale_ == pytest.approx(in_memory.scale_, rel=1e-12)
    assert streamed.normalize_ == "pose"
    np.testing.assert_array_equal(streamed.transform(_memmap(tmp_path, X)), streamed.transform(X))
