"""Residual refinement: per-keypoint vector quantization of what the decoder missed.

A pose tokenizer's decoder regresses keypoints from a few compositional tokens;
its error has a floor that more tokens lower only slowly. Residual refinement
adds stages after it: stage 1 quantizes each keypoint's residual (the
difference between the pose and its decoding, ``n_dims`` coordinates) with
that keypoint's own k-means codebook, stage 2 quantizes what stage 1 left,
and so on (residual vector quantization, applied in keypoint space). Each
stage costs one id per keypoint, ``n_keypoints * log2(codebook_size)`` bits,
and the stages form a progressive code: the first ``s`` stages alone decode
at lower fidelity.

Arrays here are in the tokenizer's normalised units. Codebooks have shape
``(n_stages, n_keypoints, codebook_size, n_dims)``.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from .nn import nearest_code

__all__ = ["fit_residual_codebooks", "residual_codes", "residual_offsets", "MAX_RESIDUALS"]

#: Residuals per keypoint and stage that k-means sees at most (a random subset beyond).
MAX_RESIDUALS = 60_000

#: OpenMP threads of scikit-learn's ``KMeans``, whatever the machine. Each Lloyd step adds the
#: threads' partial sums in the order the threads finish: with two threads the order cannot
#: change the sum (addition is commutative), with more it can, and a seed then stopped
#: reproducing a fit on machines with more than two cores. Two on every machine (one with one
#: core too) gives the same centres whatever the number of cores.
KMEANS_THREADS = 2


def kmeans_centres(vectors: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """``n_clusters`` centres of ``vectors`` by scikit-learn's ``KMeans`` (one k-means++ start, 50
    iterations), on ``KMEANS_THREADS`` OpenMP threads, so that a seed gives the same centres whatever
    the number of cores; the caller's thread settings are put back afterwards."""
    with threadpool_limits(limits=KMEANS_THREADS, user_api="openmp"):
        return KMeans(n_clusters, n_init=1, max_iter=50, random_state=seed).fit(vectors).cluster_centers_


def _kmeans_codes(vectors: np.ndarray, codebook_size: int, seed: int) -> np.ndarray:
    """``codebook_size`` k-means centres of ``vectors`` (n, n_dims); fewer distinct vectors are repeated."""
    if len(vectors) == 0:  # a keypoint never observed: no correction
        return np.zeros((codebook_size, vectors.shape[1]))
    distinct = np.unique(vectors, axis=0)
    if len(distinct) >= codebook_size:
        return kmeans_centres(vectors, codebook_size, seed)
    # The spare codes repeat the first distinct vector; the search picks the first of equals.
    spare = np.repeat(distinct[:1], codebook_size - len(distinct), axis=0)
    return np.concatenate([distinct, spare])


def fit_residual_codebooks(residuals, observed, n_stages, codebook_size, seed, max_residuals=MAX_RESIDUALS):
    """Fit ``n_stages`` stages of per-keypoint k-means codebooks to residuals.

    Parameters
    ----------
    residuals : ndarray of shape (n_samples, n_keypoints, n_dims)
        Pose minus its decoding; values of unobserved joints are ignored.
    observed : ndarray of bool, shape (n_samples, n_keypoints)
    n_stages : int
    codebook_size : int
    seed : int
        Seeds the subsampling and scikit-learn's ``KMeans``.
    max_residuals : int, default=MAX_RESIDUALS
        Each k-means sees at most this many residuals (a random subset).

    Returns
    -------
    codebooks : ndarray of shape (n_stages, n_keypoints, codebook_size, n_dims)

    Examples
    --------
    >>> import numpy as np
    >>> r = np.array([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 0.1]], [[0.0, 0.1]]])
    >>> books = fit_residual_codebooks(r, np.ones((4, 1), bool), n_stages=1, codebook_size=2, seed=0)
    >>> np.sort(books[0, 0], axis=0).round(2)
    array([[0.  , 0.05],
           [1.  , 0.05]])
    """
    n, n_keypoints, n_dims = residuals.shape
    rng = np.random.default_rng(seed)
    left = np.where(observed[..., None], residuals, 0.0)
    codebooks = np.empty((n_stages, n_keypoints, codebook_size, n_dims))
    for stage in range(n_stages):
        for joint in range(n_keypoints):
            rows = np.flatnonzero(observed[:, joint])
            if len(rows) > max_residuals:
                rows = rng.choice(rows, max_residuals, replace=False)
            codebooks[stage, joint] = _kmeans_codes(left[rows, joint], codebook_size, seed)
        _, left = _quantize_stage(left, codebooks[stage])
    return codebooks


def nearest_per_keypoint(residuals: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Ids (n, K) of the nearest code of each keypoint's own codebook (K, V, n_dims).

    In float32 by :func:`posetok.nn.nearest_code`, the token search: distances that agree
    to ``23 - ceil(log2 V)`` mantissa bits are a tie, and the first code wins.
    """
    codes = torch.as_tensor(codebook, dtype=torch.float32)
    ids = np.empty(residuals.shape[:2], dtype=np.int64)
    for joint in range(residuals.shape[1]):
        rows = torch.as_tensor(residuals[:, joint], dtype=torch.float32)
        ids[:, joint] = nearest_code(rows, codes[joint]).numpy()
    return ids


def _quantize_stage(left: np.ndarray, codebook: np.ndarray):
    """One stage: the ids of the nearest codes of ``left`` (n, K, n_dims), and what they leave."""
    ids = nearest_per_keypoint(left, codebook)
    return ids, left - np.take_along_axis(codebook[None], ids[..., None, None], axis=2)[:, :, 0]


def residual_codes(residuals, observed, codebooks):
    """Refinement ids of residuals: stage after stage, each keypoint in its own codebook.

    Unobserved joints are coded as a residual of zero (no correction).

    Parameters
    ----------
    residuals : ndarray of shape (n_samples, n_keypoints, n_dims)
    observed : ndarray of bool, shape (n_samples, n_keypoints)
    codebooks : ndarray of shape (n_stages, n_keypoints, codebook_size, n_dims)

    Returns
    -------
    ids : ndarray of shape (n_samples, n_stages * n_keypoints), dtype int64
        Stage 1's id of every keypoint, then stage 2's, and so on.

    Examples
    --------
    >>> import numpy as np
    >>> books = np.array([[[[0.0, 0.0], [1.0, 0.0]]], [[[0.0, 0.0], [0.1, 0.0]]]])  # 2 stages, 1 joint
    >>> residual_codes(np.array([[[1.1, 0.0]], [[0.1, 0.0]]]), np.ones((2, 1), bool), books)
    array([[1, 1],
           [0, 1]])
    """
    left = np.where(observed[..., None], residuals, 0.0)
    ids = []
    for codebook in codebooks:
        stage_ids, left = _quantize_stage(left, codebook)
        ids.append(stage_ids)
    return np.concatenate(ids, axis=1) if ids else np.zeros((len(residuals), 0), dtype=np.int64)


def residual_offsets(ids, codebooks):
    """The correction (n_samples, n_keypoints, n_dims) that refinement ids stand for.

    Parameters
    ----------
    ids : ndarray of shape (n_samples, n_used_stages * n_keypoints)
        The ids of the first ``n_used_stages`` stages (any number up to all).
    codebooks : ndarray of shape (n_stages, n_keypoints, codebook_size, n_dims)

    Returns
    -------
    offsets : ndarray of shape (n_samples, n_keypoints, n_dims)

    Examples
    --------
    >>> import numpy as np
    >>> books = np.array([[[[0.0, 0.0], [1.0, 0.0]]], [[[0.0, 0.0], [0.1, 0.0]]]])
    >>> residual_offsets(np.array([[1, 1], [1, 0]]), books)
    array([[[1.1, 0. ]],
    <BLANKLINE>
           [[1. , 0. ]]])
    """
    n_keypoints = codebooks.shape[1]
    n_used = ids.shape[1] // n_keypoints
    offsets = np.zeros((len(ids), n_keypoints, codebooks.shape[-1]))
    joints = np.arange(n_keypoints)
    for stage in range(n_used):
        offsets += codebooks[stage][joints, ids[:, stage * n_keypoints : (stage + 1) * n_keypoints]]
    return offsets
