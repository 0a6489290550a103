"""Pose reconstruction and codebook metrics (numpy only).

Poses are arrays of shape (n_samples, n_keypoints, n_dims) — 2-D or 3-D
keypoints — or flat, (n_samples, n_dims * n_keypoints), where ``n_dims``
(default 2) says how to read them. A joint that is NaN in the ground truth is
unlabelled and left out of every metric. The object keypoint similarity is
COCO's and 2-D only.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = [
    "COCO_SIGMAS",
    "joint_distances",
    "mpjpe",
    "pck",
    "object_keypoint_similarity",
    "oks_ar",
    "oks_ap",
    "codebook_usage",
    "codebook_perplexity",
]

COCO_SIGMAS = np.array(
    [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
     0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
)  # fmt: skip
"""Per-keypoint OKS constants of the 17 COCO keypoints (COCO's ``sigmas``)."""


def _keypoints(X, name, n_dims):
    X = np.asarray(X, dtype=float)
    if n_dims is not None and (isinstance(n_dims, bool) or not isinstance(n_dims, int | np.integer) or n_dims < 1):
        raise ValueError(f"n_dims must be a positive integer or None, got {n_dims!r}")
    if X.ndim == 2:
        d = 2 if n_dims is None else n_dims
        if X.shape[1] % d:
            raise ValueError(f"{name} has {X.shape[1]} columns, not a multiple of n_dims={d}")
        X = X.reshape(len(X), -1, d)
    if X.ndim != 3 or (n_dims is not None and X.shape[2] != n_dims):
        d = "n_dims" if n_dims is None else n_dims
        raise ValueError(f"{name} must have shape (n, {d} * K) or (n, K, {d}), got {X.shape}")
    return X


def joint_distances(X_true, X_pred, *, n_dims=None):
    """Euclidean distance per joint, shape (n_samples, n_keypoints); NaN where unlabelled.

    ``n_dims`` is the number of coordinates per keypoint: None takes it from
    (n, K, D) arrays and reads flat arrays as 2-D keypoints.

    Examples
    --------
    >>> joint_distances([[0, 0, 1, 1]], [[3, 4, 1, 1]])
    array([[5., 0.]])
    >>> joint_distances([[0, 0, 0]], [[2, 3, 6]], n_dims=3)    # one 3-D joint
    array([[7.]])
    """
    t, p = _keypoints(X_true, "X_true", n_dims), _keypoints(X_pred, "X_pred", n_dims)
    if t.shape != p.shape:
        raise ValueError(f"X_true and X_pred differ in shape: {t.shape} vs {p.shape}")
    return np.linalg.norm(t - p, axis=-1)


def mpjpe(X_true, X_pred, *, n_dims=None):
    """Mean per-joint position error over labelled joints, in the units of X.

    In 2-D or 3-D (``n_dims`` as in :func:`joint_distances`); in 3-D this is the
    MPJPE of the 3-D pose literature (without alignment).

    Examples
    --------
    >>> mpjpe([[0, 0, 1, 1], [0, 0, float("nan"), float("nan")]], [[3, 4, 1, 1], [0, 2, 9, 9]])
    2.333...
    """
    return float(np.nanmean(joint_distances(X_true, X_pred, n_dims=n_dims)))


def pck(X_true, X_pred, reference, threshold=0.05, *, n_dims=None):
    """Percentage of correct keypoints: the fraction of labelled joints within
    ``threshold * reference`` of the truth, with one reference length per
    sample (for example the larger side of the person box).

    Examples
    --------
    >>> pck([[0, 0, 0, 0]], [[1, 0, 10, 0]], reference=[100], threshold=0.05)
    0.5
    """
    d = joint_distances(X_true, X_pred, n_dims=n_dims)
    reference = np.asarray(reference, dtype=float).reshape(-1, 1)
    labelled = ~np.isnan(d)
    return float(((d <= threshold * reference) & labelled).sum() / labelled.sum())


def object_keypoint_similarity(X_true, X_pred, area, sigmas=COCO_SIGMAS):
    """COCO object keypoint similarity of each reconstruction with its own ground truth.

    ``OKS = mean over labelled joints i of exp(-d_i^2 / (2 * area * (2 sigma_i)^2))``,
    with ``d_i`` the distance in the units of ``area`` (pixels and square pixels
    for COCO). This is the formula of ``pycocotools`` ``COCOeval.computeOks``
    for one ground truth matched to one prediction.

    Parameters
    ----------
    X_true, X_pred : array-like of shape (n, 2K) or (n, K, 2)
        Ground truth (NaN joints are unlabelled) and reconstruction.
    area : array-like of shape (n,)
        The person's segment area.
    sigmas : array-like of shape (K,), default=COCO_SIGMAS

    Returns
    -------
    oks : ndarray of shape (n,)
        NaN for a sample with no labelled joint.

    Examples
    --------
    >>> import numpy as np
    >>> object_keypoint_similarity([[0, 0, 0, 0]], [[0, 0, 1, 0]], [1.0], sigmas=[0.5, 0.5])
    array([0.80326533])
    """
    d = joint_distances(X_true, X_pred, n_dims=2)
    sigmas = np.asarray(sigmas, dtype=float)
    if sigmas.shape != (d.shape[1],):
        raise ValueError(f"sigmas must have one value per keypoint ({d.shape[1]}), got {sigmas.shape}")
    area = np.asarray(area, dtype=float).reshape(-1, 1)
    k2 = (2 * sigmas) ** 2
    sim = np.exp(-(d**2) / (2 * area * k2))
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.where(np.isnan(d), np.nan, sim), axis=1) if d.size else np.zeros(0)


def oks_ar(oks, thresholds=None):
    """OKS-AR in percent: the mean over OKS thresholds (0.50:0.05:0.95) of the
    fraction of instances whose OKS exceeds the threshold.

    Each instance is matched one-to-one to its own reconstruction, so no
    detection matching or score ranking is involved (a reconstruction
    benchmark, not a detector evaluation). This is COCO's average *recall*
    (AR) for that matching, not its average precision: AP ranks detections by
    score and also counts false positives, which a reconstruction has none
    of. The "about 99 AP" that PCT reports for encoding and decoding COCO val
    poses is COCO's AP of its full evaluation; compare the two with care.

    Examples
    --------
    >>> oks_ar([1.0, 0.72])
    75.0
    """
    oks = np.asarray(oks, dtype=float)
    oks = oks[~np.isnan(oks)]
    thresholds = np.linspace(0.5, 0.95, 10) if thresholds is None else np.asarray(thresholds)
    return float(100 * np.mean([(oks > t).mean() for t in thresholds]))


def oks_ap(oks, thresholds=None):
    """Deprecated name of :func:`oks_ar` (the quantity is an average recall, not a precision).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     oks_ap([1.0, 0.72])
    75.0
    """
    warnings.warn("oks_ap is renamed oks_ar: it is an average recall (COCO's AR), not an average precision",
                  DeprecationWarning, stacklevel=2)
    return oks_ar(oks, thresholds)


def codebook_usage(ids, codebook_size, *, per_token=False):
    """Fraction of the ``codebook_size`` codes that occur in ``ids``.

    With ``per_token=True`` (a tokenizer with ``codebooks="per_token"``), each
    column of ``ids`` (n, n_tokens) has a codebook of its own: the fraction of
    the ``n_tokens * codebook_size`` (position, code) pairs that occur.

    Examples
    --------
    >>> codebook_usage([[0, 1], [1, 1]], 4)
    0.5
    >>> codebook_usage([[0, 1], [1, 1]], 4, per_token=True)   # position 0 uses 2 codes, position 1 one
    0.375
    """
    ids = np.asarray(ids)
    if not per_token:
        return float(len(np.unique(ids)) / codebook_size)
    if ids.ndim != 2:
        raise ValueError(f"per_token=True needs ids of shape (n_samples, n_tokens), got shape {ids.shape}")
    return float(sum(len(np.unique(column)) for column in ids.T) / (codebook_size * ids.shape[1]))


def codebook_perplexity(ids, codebook_size):
    """exp(entropy) of the code distribution in ``ids``: the effective number of codes used.

    Examples
    --------
    >>> round(codebook_perplexity([[0, 1], [2, 3]], 4), 6)
    4.0
    """
    counts = np.bincount(np.asarray(ids).ravel(), minlength=codebook_size)
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum()))
