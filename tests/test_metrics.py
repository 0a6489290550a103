from pathlib import Path

import numpy as np
import pytest

from posetok.datasets import normalize_to_box, visibility_to_nan
from posetok.metrics import (
    COCO_SIGMAS,
    codebook_perplexity,
    codebook_usage,
    joint_distances,
    mpjpe,
    object_keypoint_similarity,
    oks_ap,
    oks_ar,
    pck,
)

NAN = np.nan
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def test_mpjpe_hand_worked_and_ignores_unlabelled():
    truth = np.array([[0, 0, 0, 0], [1, 1, NAN, NAN]])
    pred = np.array([[3, 4, 0, 1], [1, 1, 50, 50]])
    # distances 5 and 1, then 0; the NaN joint is left out
    assert mpjpe(truth, pred) == pytest.approx(2.0)
    assert np.isnan(joint_distances(truth, pred)[1, 1])


def test_mpjpe_accepts_three_d_and_rejects_mismatch():
    t = np.zeros((2, 3, 2))
    assert mpjpe(t, t + [3, 4]) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="differ in shape"):
        mpjpe(np.zeros((2, 4)), np.zeros((2, 6)))
    with pytest.raises(ValueError, match="not a multiple of n_dims=2"):
        mpjpe(np.zeros((2, 3)), np.zeros((2, 3)))


def test_mpjpe_in_three_dimensions():
    truth = np.zeros((1, 2, 3))
    pred = np.array([[[2.0, 3.0, 6.0], [0.0, 0.0, 1.0]]])  # distances 7 and 1
    assert mpjpe(truth, pred) == pytest.approx(4.0)
    assert mpjpe(truth.reshape(1, -1), pred.reshape(1, -1), n_dims=3) == pytest.approx(4.0)
    with pytest.raises(ValueError, match=r"\(n, 2 \* K\) or \(n, K, 2\)"):
        mpjpe(truth, pred, n_dims=2)
    with pytest.raises(ValueError, match="n_dims must be a positive integer"):
        mpjpe(truth, pred, n_dims=0)
    with pytest.raises(ValueError, match="2-D|shape"):
        object_keypoint_similarity(truth, pred, [1.0], sigmas=[0.5, 0.5])


def test_pck_threshold_is_per_sample():
    truth = np.zeros((2, 2))
    pred = np.array([[0, 4], [0, 4]])
    assert pck(truth, pred, reference=[100, 10], threshold=0.05) == 0.5


def test_oks_hand_worked():
    # one joint, sigma 0.5 -> k = 1; d = 2, area = 2: exp(-4 / 4) = e^-1
    oks = object_keypoint_similarity([[0, 0]], [[2, 0]], area=[2.0], sigmas=[0.5])
    assert oks[0] == pytest.approx(np.exp(-1))
    perfect = object_keypoint_similarity(np.zeros((1, 34)), np.zeros((1, 34)), area=[1.0])
    assert perfect[0] == 1.0
    with pytest.raises(ValueError, match="sigmas"):
        object_keypoint_similarity(np.zeros((1, 4)), np.zeros((1, 4)), [1.0])


def test_oks_skips_unlabelled_joints():
    truth = np.array([[0, 0, NAN, NAN]])
    oks = object_keypoint_similarity(truth, [[0, 0, 100, 100]], [1.0], sigmas=[0.1, 0.1])
    assert oks[0] == 1.0


def test_oks_ar_thresholds():
    assert oks_ar([1.0, 1.0]) == 100.0
    assert oks_ar([0.0, 0.4]) == 0.0
    # 0.77 passes 0.50 ... 0.75 (6 of 10 thresholds)
    assert oks_ar([0.77]) == pytest.approx(60.0)


def test_codebook_usage_and_perplexity():
    assert codebook_usage([[0, 0], [0, 0]], 8) == 1 / 8
    assert codebook_perplexity([[0, 0], [0, 0]], 8) == pytest.approx(1.0)
    assert codebook_perplexity(np.arange(8), 8) == pytest.approx(8.0)


def test_sigmas_are_cocos():
    assert len(COCO_SIGMAS) == 17 and COCO_SIGMAS[0] == 0.026 and COCO_SIGMAS[-1] == 0.089


@pytest.mark.skipif(not (DATA / "coco2017_val_person_keypoints.npz").exists(), reason="needs ../shared/data")
def test_reproduces_reference_scalar_quantizer_figures():
    """shared/reference/coco-baselines.md: 4-bit scalar -> OKS-AR 55.1, MPJPE 2.02 %;
    6-bit -> 99.4, 0.49 %. Its quantizer rounds to 2**b levels spanning [-0.5, 0.5]."""
    d = np.load(DATA / "coco2017_val_person_keypoints.npz")
    X, _, scale = normalize_to_box(d["keypoints"], d["bbox"])
    X = visibility_to_nan(X, d["visibility"])
    known = ~np.isnan(d["area"])
    X, scale, area = X[known], scale[known], d["area"][known]
    assert len(X) == 3153
    for bits, ap_ref, mpjpe_ref in [(4, 55.1, 2.02), (6, 99.4, 0.49)]:
        levels = 2**bits - 1
        Q = np.round((np.clip(np.nan_to_num(X), -0.5, 0.5) + 0.5) * levels) / levels - 0.5
        px = lambda A: A.reshape(len(A), -1, 2) * scale[:, None, None]  # noqa: E731
        ap = oks_ar(object_keypoint_similarity(px(X), px(Q), area))
        assert ap == pytest.approx(ap_ref, abs=0.1)
        assert 100 * mpjpe(X, Q) / 1.25 == pytest.approx(mpjpe_ref, abs=0.01)


def test_oks_ap_is_a_deprecated_alias_of_oks_ar():
    with pytest.warns(DeprecationWarning, match="average recall"):
        assert oks_ap([1.0, 0.72]) == oks_ar([1.0, 0.72]) == 75.0
