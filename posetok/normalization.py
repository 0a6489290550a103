"""The fitted coordinate normalisation of a tokenizer: :class:`PoseNormalizer` (numpy only).

The network sees keypoints in normalised units. With ``mode="dataset"`` these
are ``(X - mean) / scale`` with one mean per coordinate and one scale, so a
decoding maps back to the units of X. With ``mode="pose"`` each pose is first
put in its own frame (centred on the box around its observed keypoints and
divided by that box's largest side: its width or height, or in 3-D its depth
too), so tokens ignore position and size; the
frame of a pose is needed to map its decoding back, which ids alone do not
carry. Where a person box is known (``boxes``: per pose the box's lowest corner
and its size, COCO's ``x, y, w, h`` in 2-D), ``mode="pose"`` frames the pose by
that box instead: centred on it and divided by its larger side.
:class:`~posetok.PoseTokenizer` and :class:`~posetok.PoseImputer` share
this one object, so both map back the same way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["PoseNormalizer", "MODES", "frame", "unframe", "check_boxes"]

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
    def fit(cls, X, mode, *, n_dims, boxes=None):
        """Fit to poses ``X`` (n, n_dims * K) with missing joints NaN, each framed by its box in
        ``boxes`` where it has one (``mode="pose"``); a never-observed coordinate gets mean 0."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        framed = frame(X, mode, n_dims, boxes)[0]
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

    def transform(self, X, boxes=None):
        """Normalised poses (n, n_dims * K), missing joints still NaN (``boxes`` as in :func:`frame`)."""
        return (frame(X, self.mode, self.n_dims, boxes)[0] - self.mean) / self.scale

    def inverse(self, normalised, X=None, boxes=None):
        """Poses (n, n_dims * K) back in the units of X.

        With ``mode="pose"`` the result is in each pose's own frame unless the
        frames are known: those of the original poses ``X`` (with their
        ``boxes``, if any), or, without X, the ``boxes`` alone, which must
        then give a box for every pose.
        """
        poses = np.asarray(normalised, dtype=np.float64) * self.scale + self.mean
        if self.mode == "dataset" or (X is None and boxes is None):
            return poses
        if X is None:
            if np.isnan(boxes).any():
                row = int(np.flatnonzero(np.isnan(boxes).any(1))[0])
                raise ValueError(f"boxes row {row} is NaN (no box): without the poses themselves, every decoded "
                                 "pose needs a box to go back to the units of X")
            return unframe(poses, *box_frame(boxes, self.n_dims))
        return unframe(poses, *frame(X, self.mode, self.n_dims, boxes)[1:])


def frame(X, mode, n_dims, boxes=None):
    """X (n, n_dims * K) in the frame of ``mode``, with each pose's centre (n, n_dims) and size (n,).

    ``framed * size + centre`` maps it back; for ``"dataset"`` the frame is the identity. For
    ``"pose"`` the frame is the box around the pose's observed joints, or its row of ``boxes``
    (checked by :func:`check_boxes`) where that row is not NaN.
    """
    if mode == "dataset":
        return X, np.zeros((len(X), n_dims)), np.ones(len(X))
    kp = X.reshape(len(X), -1, n_dims)
    lo, hi = np.nanmin(kp, axis=1), np.nanmax(kp, axis=1)
    size = (hi - lo).max(axis=1)
    size = np.where(size > 0, size, 1.0)  # one observed joint: translation only
    centre = (lo + hi) / 2
    if boxes is not None:
        has_box = ~np.isnan(boxes).any(1)
        box_centre, box_size = box_frame(np.where(has_box[:, None], boxes, 1.0), n_dims)
        centre = np.where(has_box[:, None], box_centre, centre)
        size = np.where(has_box, box_size, size)
    return ((kp - centre[:, None]) / size[:, None, None]).reshape(len(X), -1), centre, size


def box_frame(boxes, n_dims):
    """Centre (n, n_dims) and size (n,) of the frame of each box: its middle and its larger side."""
    lowest, extent = boxes[:, :n_dims], boxes[:, n_dims:]
    return lowest + extent / 2, extent.max(axis=1)


def check_boxes(boxes, n_samples, n_dims):
    """Validated person boxes: a new float64 array of shape (n_samples, 2 * n_dims), or None.

    Each row is a box, its lowest corner then its size (``x, y, w, h`` in 2-D, as
    COCO writes boxes; ``x, y, z, w, h, d`` in 3-D), or all NaN where a pose has
    no box (it is then framed by its observed joints).

    Examples
    --------
    >>> check_boxes([[10, 20, 30, 60], [float("nan")] * 4], 2, 2)
    array([[10., 20., 30., 60.],
           [nan, nan, nan, nan]])
    >>> check_boxes([[10, 20, -30, 60]], 1, 2)
    Traceback (most recent call last):
    ...
    ValueError: boxes row 0 has a negative size (width, height, ...): [-30.0, 60.0]
    """
    if boxes is None:
        return None
    if hasattr(boxes, "to_numpy"):
        boxes = boxes.to_numpy()
    boxes = np.array(boxes, copy=True)
    if boxes.dtype.kind not in "iuf":
        raise TypeError(f"boxes must hold numbers, got an array of dtype {boxes.dtype}")
    boxes = boxes.astype(np.float64)
    if boxes.shape != (n_samples, 2 * n_dims):
        layout = "x, y, w, h" if n_dims == 2 else "lowest corner, then size"
        raise ValueError(f"boxes must have shape (n_samples, {2 * n_dims}) = ({n_samples}, {2 * n_dims}): per "
                         f"pose the lowest corner and the size of its box ({layout}), got shape {boxes.shape}")
    partial, infinite, negative, empty = box_faults(boxes, n_dims)
    if partial.any():
        row = int(np.flatnonzero(partial)[0])
        raise ValueError(f"boxes row {row} is partly NaN: a pose without a box has every value NaN, got "
                         f"{boxes[row].tolist()}")
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise ValueError(f"boxes row {row} is infinite: {boxes[row].tolist()}")
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        raise ValueError(f"boxes row {row} has a negative size (width, height, ...): {boxes[row, n_dims:].tolist()}")
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise ValueError(f"boxes row {row} has no size (width, height, ... all 0): {boxes[row].tolist()}")
    return boxes


def box_faults(boxes, n_dims):
    """Per-row masks of what makes a float box unusable, in the order :func:`check_boxes` reports
    them: partly NaN, infinite, a negative size, no size (a NaN row, "no box", has none of them)."""
    nan = np.isnan(boxes)
    with np.errstate(invalid="ignore"):
        extent = boxes[:, n_dims:]
        return (nan.any(1) & ~nan.all(1), np.isinf(boxes).any(1), (extent < 0).any(1),
                ~nan.any(1) & ~(extent > 0).any(1))


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
