"""The fitted coordinate normalisation of a tokenizer: :class:`PoseNormalizer` (numpy only).

The network sees keypoints in normalised units. With ``mode="dataset"`` these
are ``(X - mean) / scale`` with one mean per coordinate and one scale, so a
decoding maps back to the units of X. With ``mode="pose"`` each pose is first
put in its own frame (centred on the box around its observed keypoints and
divided by that box's largest side: its width or height, or in 3-D its depth
too), so tokens ignore position and size; the
frame of a pose is needed to map its decoding back, which ids alone do not
carry. :class:`~posetok.PoseTokenizer` and :class:`~posetok.PoseImputer` share
this one object, so both map back the same way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["PoseNormalizer", "MODES", "frame", "unframe"]

MODES = ("dataset", "pose")


@dataclass(frozen=True)
class PoseNormalizer:
    """Fitted normalisation: ``mode``, a per-coordinate ``mean``, one ``scale`` and the
    number of coordinates per keypoint, ``n_dims``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0, 2.0, 0.0], [0.0, 2.0, 2.0, 2.0]])    # two poses of two 2-D joints
    >>> norm = PoseNormalizer.fit(X, "dataset", n_dims=2)
    >>> norm.mean.tolist(), norm.scale
    ([0.0, 1.0, 2.0, 1.0], 0.7071067811865476)
    >>> np.allclose(norm.inverse(norm.transform(X)), X)
    True
    """

    mode: str
    mean: np.ndarray
    scale: float
    n_dims: int

    @classmethod
    def fit(cls, X, mode, *, n_dims):
        """Fit to poses ``X`` (n, n_dims * K) with missing joints NaN; a never-observed coordinate
        gets mean 0."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        framed = frame(X, mode, n_dims)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a joint never observed: its mean is 0
            mean = np.nanmean(framed, axis=0)
        mean = np.where(np.isnan(mean), 0.0, mean)
        centred = framed - mean
        # root mean square, computed on centred / max so that huge inputs cannot overflow
        peak = float(np.nanmax(np.abs(centred)))
        scale = peak * float(np.sqrt(np.nanmean((centred / peak) ** 2))) if peak > 0 else 1.0
        if not np.isfinite(scale) or scale <= 0:
            scale = 1.0
        return cls(mode, mean, scale, n_dims)

    def transform(self, X):
        """Normalised poses (n, n_dims * K), missing joints still NaN."""
        return (frame(X, self.mode, self.n_dims)[0] - self.mean) / self.scale

    def inverse(self, normalised, X=None):
        """Poses (n, n_dims * K) back in the units of X.

        With ``mode="pose"`` the result is in each pose's own frame unless the
        original poses ``X`` are given, whose frames then map it back.
        """
        poses = np.asarray(normalised, dtype=np.float64) * self.scale + self.mean
        if X is None or self.mode == "dataset":
            return poses
        return unframe(poses, *frame(X, self.mode, self.n_dims)[1:])


def frame(X, mode, n_dims):
    """X (n, n_dims * K) in the frame of ``mode``, with each pose's centre (n, n_dims) and size (n,).

    ``framed * size + centre`` maps it back; for ``"dataset"`` the frame is the identity.
    """
    if mode == "dataset":
        return X, np.zeros((len(X), n_dims)), np.ones(len(X))
    kp = X.reshape(len(X), -1, n_dims)
    lo, hi = np.nanmin(kp, axis=1), np.nanmax(kp, axis=1)
    size = (hi - lo).max(axis=1)
    size = np.where(size > 0, size, 1.0)  # one observed joint: translation only
    centre = (lo + hi) / 2
    return ((kp - centre[:, None]) / size[:, None, None]).reshape(len(X), -1), centre, size


def unframe(framed, centre, size):
    """Poses (n, n_dims * K) in a per-pose frame back in the units of X: ``framed * size + centre``.

    ``centre`` (n, n_dims) and ``size`` (n,) are what :func:`frame` returned for the
    original poses, or what ``posetok tokenize`` stored beside their ids.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[10.0, 20.0, 14.0, 28.0]])
    >>> framed, centre, size = frame(X, "pose", 2)
    >>> unframe(framed, centre, size)
    array([[10., 20., 14., 28.]])
    """
    framed = np.asarray(framed, dtype=np.float64)
    kp = framed.reshape(len(framed), -1, centre.shape[1])
    return (kp * size[:, None, None] + centre[:, None]).reshape(len(framed), -1)
