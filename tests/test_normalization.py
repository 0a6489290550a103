"""The fitted normalisation below the estimators (posetok.normalization)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from posetok import PoseImputer, PoseTokenizer
from posetok.normalization import PoseNormalizer, frame

from .conftest import TINY


def test_dataset_mode_by_hand():
    X = np.array([[0.0, 0.0, 4.0, 0.0], [2.0, 2.0, 6.0, np.nan]])
    norm = PoseNormalizer.fit(X, "dataset", n_dims=2)
    np.testing.assert_allclose(norm.mean, [1.0, 1.0, 5.0, 0.0])
    centred = np.array([-1, -1, -1, 0, 1, 1, 1])  # the observed coordinates minus their means
    assert norm.scale == pytest.approx(np.sqrt(np.mean(centred**2.0)))
    back = norm.inverse(norm.transform(X))
    np.testing.assert_allclose(back[~np.isnan(X)], X[~np.isnan(X)])


def test_pose_mode_frames_each_pose_and_maps_back_with_the_original():
    X = np.array([[10.0, 20.0, 14.0, 28.0], [0.0, 0.0, 1.0, 0.0]])
    framed, centre, size = frame(X, "pose", 2)
    np.testing.assert_allclose(centre, [[12.0, 24.0], [0.5, 0.0]])
    np.testing.assert_allclose(size, [8.0, 1.0])
    np.testing.assert_allclose(framed[0], [-0.25, -0.5, 0.25, 0.5])
    norm = PoseNormalizer.fit(X, "pose", n_dims=2)
    np.testing.assert_allclose(norm.inverse(norm.transform(X), X), X)
    # without the original poses the answer stays in the per-pose frame
    np.testing.assert_allclose(norm.inverse(norm.transform(X)), framed)


def test_pose_mode_in_3d_scales_by_the_largest_side_of_the_box():
    # two joints 1 apart in x, 2 in y, 4 in z: the box's depth is its largest side
    X = np.array([[0.0, 0.0, 0.0, 1.0, 2.0, 4.0]])
    framed, centre, size = frame(X, "pose", 3)
    np.testing.assert_allclose(centre, [[0.5, 1.0, 2.0]])
    np.testing.assert_allclose(size, [4.0])
    np.testing.assert_allclose(framed, [[-0.125, -0.25, -0.5, 0.125, 0.25, 0.5]])
    norm = PoseNormalizer.fit(X, "pose", n_dims=3)
    np.testing.assert_allclose(norm.inverse(norm.transform(X), X), X)


def test_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        PoseNormalizer.fit(np.zeros((2, 4)), "box", n_dims=2)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (5, 6), elements=st.floats(-1e6, 1e6)), st.sampled_from(["dataset", "pose"]),
       st.sampled_from([1, 2, 3]))
def test_round_trip_property(X, mode, n_dims):
    norm = PoseNormalizer.fit(X, mode, n_dims=n_dims)
    assert np.isfinite(norm.scale) and norm.scale > 0
    back = norm.inverse(norm.transform(X), X)
    np.testing.assert_allclose(back, X, rtol=1e-9, atol=1e-6 * (1 + np.abs(X).max()))


def test_estimators_share_the_fitted_normalizer(stick_figures):
    X = stick_figures[0][:120]
    tok = PoseTokenizer(**TINY).fit(X)
    assert isinstance(tok.normalizer_, PoseNormalizer)
    assert tok.mean_ is tok.normalizer_.mean and tok.scale_ == tok.normalizer_.scale
    imputer = PoseImputer(PoseTokenizer(**TINY)).fit(X)
    assert imputer.tokenizer_.normalizer_.mode == "dataset"
