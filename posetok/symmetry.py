"""Left-right mirror symmetry: mirror images of poses, and features that do not see the mirror.

Most actions look the same done left- or right-handed: a tennis serve is a
serve with either arm. A classifier that sees features of the pose and of its
mirror image, averaged, cannot tell the two apart, so it does not need
training examples of both::

    from posetok.readers import PENN_JOINTS
    pairs = flip_pairs_from_names(PENN_JOINTS)
    make_pipeline(MirrorSymmetric(make_pipeline(PerFrame(PoseTokenizer(encode="latent")), TemporalPool()),
                                  flip_pairs=pairs),
                  StandardScaler(), LogisticRegressionCV())

The mirror swaps each left joint with its right twin and reflects one
coordinate (x by default) about a line (``centre``; 0 suits poses normalised to
their box or root joint).
"""

from __future__ import annotations

import numbers
import re

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from .video import _check_sequences

__all__ = ["flip_pairs_from_names", "mirror", "MirrorSymmetric"]

# a side prefix, then a separator or a capital letter: left_wrist, l_wrist, LWrist, leftWrist (not "lumbar")
_SIDE = re.compile(r"^((?i:left|right|l|r))(?:[_\-. ]|(?=[A-Z]))(.+)$")


def flip_pairs_from_names(names):
    """The (left, right) joint index pairs of a skeleton, read from its joint names.

    A joint named ``left_<part>`` (or ``l_<part>``, ``Left<Part>``, ``LEFT-<part>``...) is
    paired with the joint named the same way with ``right``/``r``; joints without a side
    (head, spine) are their own mirror image.

    Parameters
    ----------
    names : sequence of str
        One name per joint, in the order of the keypoints.

    Returns
    -------
    pairs : list of tuple of int
        ``(left_index, right_index)`` for every part that has both sides.

    Raises
    ------
    ValueError
        If a name repeats, or a sided joint has no twin on the other side.

    Examples
    --------
    >>> flip_pairs_from_names(["head", "left_wrist", "right_wrist", "LHip", "RHip"])
    [(1, 2), (3, 4)]
    """
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        raise ValueError("the joint names repeat; each joint needs its own name")
    sides = {}
    for i, name in enumerate(names):
        m = _SIDE.match(name)
        if m is None:
            continue
        side = "left" if m.group(1).lower() in ("left", "l") else "right"
        part = m.group(2).lower()
        if (side, part) in sides:
            raise ValueError(f"two {side} joints name the part {part!r}: {names[sides[side, part]]!r} and {name!r}")
        sides[side, part] = i
    pairs, unpaired = [], []
    for (side, part), i in sides.items():
        other = ("right" if side == "left" else "left", part)
        if other not in sides:
            unpaired.append(names[i])
        elif side == "left":
            pairs.append((i, sides[other]))
    if unpaired:
        raise ValueError(f"joints with a side and no twin on the other side: {unpaired}; "
                         "give flip_pairs by hand")
    return sorted(pairs)


def _check_pairs(flip_pairs, n_keypoints):
    pairs = np.asarray(flip_pairs if len(flip_pairs) else np.empty((0, 2)))
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"flip_pairs must be a sequence of (left, right) joint index pairs, got shape {pairs.shape}")
    if pairs.size and (pairs.dtype.kind not in "iu" and not np.all(pairs == np.round(pairs))):
        raise TypeError("flip_pairs must hold integer joint indices")
    pairs = pairs.astype(np.int64)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= n_keypoints):
        raise ValueError(f"flip_pairs names joint {int(pairs.max() if pairs.max() >= n_keypoints else pairs.min())}, "
                         f"but the poses have {n_keypoints} keypoints (indices 0 to {n_keypoints - 1})")
    if len(np.unique(pairs)) != pairs.size:
        raise ValueError("a joint appears twice in flip_pairs (or is paired with itself); each joint has one twin")
    perm = np.arange(n_keypoints)
    perm[pairs[:, 0]], perm[pairs[:, 1]] = pairs[:, 1], pairs[:, 0]
    return perm


def _check_mirror_params(n_dims, axis, centre):
    if isinstance(n_dims, bool) or not isinstance(n_dims, numbers.Integral) or n_dims < 1:
        raise ValueError(f"n_dims must be a positive integer, got {n_dims!r}")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not 0 <= axis < n_dims:
        raise ValueError(f"axis must be an integer in [0, {n_dims}) (the coordinate the mirror reflects), got {axis!r}")
    if isinstance(centre, bool) or not isinstance(centre, numbers.Real) or not np.isfinite(centre):
        raise ValueError(f"centre must be a finite number (where the mirror stands on that axis), got {centre!r}")


def mirror(X, flip_pairs, *, n_dims=2, axis=0, centre=0.0):
    """Mirror images of poses: left and right joints swapped, one coordinate reflected.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_dims * n_keypoints) or (n_samples, n_keypoints, n_dims)
        Poses; NaN (a missing joint) stays NaN and moves with its joint.
    flip_pairs : sequence of (int, int)
        The (left, right) joint index pairs to swap, e.g. from :func:`flip_pairs_from_names`.
    n_dims : int, default=2
        Coordinates per keypoint, for flat X.
    axis : int, default=0
        The coordinate the mirror reflects (0: x, a vertical mirror in 2-D).
    centre : float, default=0.0
        Where the mirror stands on that axis: ``x -> 2 * centre - x``. 0 suits poses
        normalised to their box or root joint; for pixel coordinates of images ``w``
        pixels wide, ``(w - 1) / 2`` flips the image.

    Returns
    -------
    X_mirrored : ndarray of float, the shape of X
        A new array; X is not modified.

    Examples
    --------
    >>> mirror([[-1.0, 5.0, 2.0, 6.0, 4.0, 7.0]], flip_pairs=[(0, 1)])
    array([[-2.,  6.,  1.,  5., -4.,  7.]])
    """
    _check_mirror_params(n_dims, axis, centre)
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported: poses are real coordinates")
    X = X.astype(float)  # a copy: X itself is never modified
    if X.ndim == 3:
        if X.shape[2] != n_dims:
            raise ValueError(f"poses of shape {X.shape} have {X.shape[2]} coordinates per keypoint, n_dims is {n_dims}")
        kp = X
    elif X.ndim == 2:
        if X.shape[1] % n_dims:
            raise ValueError(f"{X.shape[1]} columns are not keypoints of {n_dims} coordinates each")
        kp = X.reshape(len(X), -1, n_dims)
    else:
        raise ValueError(f"poses must be a 2-D (n_samples, n_features) or 3-D (n_samples, n_keypoints, n_dims) "
                         f"array, got shape {X.shape}")
    out = kp[:, _check_pairs(flip_pairs, kp.shape[1])]
    out[..., axis] = 2 * centre - out[..., axis]
    return out.reshape(X.shape)


def _is_videos(X):
    if isinstance(X, np.ndarray):
        return X.dtype == object and X.ndim == 1
    return isinstance(X, list | tuple) and len(X) > 0 and np.ndim(X[0]) >= 2


def _average(a, b):
    if isinstance(a, list):
        return [_average(u, v) for u, v in zip(a, b)]
    if sp.issparse(a):
        return ((a + b) * 0.5).tocsr()
    if hasattr(a, "iloc"):
        return (a + b) / 2
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind not in "fc":
        raise TypeError(f"the transformer returned {a.dtype} values; MirrorSymmetric averages features, and "
                        "averaging ids or labels means nothing: use features such as "
                        "PoseTokenizer(encode='latent') or encode='onehot'")
    return (a + b) / 2


class MirrorSymmetric(TransformerMixin, BaseEstimator):
    """Features that a left-right mirror does not change: the mean of a transformer's output
    on the poses and on their mirror images.

    ``fit`` fits a clone of ``transformer`` on X as given; ``transform`` returns
    ``(t(X) + t(mirror(X))) / 2``. X is frames (an array) or videos (a list of arrays
    of frames, as for :class:`~posetok.video.PerFrame`); every frame is mirrored.

    Parameters
    ----------
    transformer : estimator
        Maps X to features (numbers), e.g. ``PoseTokenizer(encode="latent")`` for frames or
        ``make_pipeline(PerFrame(PoseTokenizer(encode="latent")), TemporalPool())`` for videos.
    flip_pairs : sequence of (int, int), default=()
        The (left, right) joint index pairs, e.g. ``flip_pairs_from_names(joint_names)``.
        Empty: the mirror only reflects the coordinate.
    n_dims : int, default=2
        Coordinates per keypoint, for flat frames.
    axis : int, default=0
        The coordinate the mirror reflects (0: x).
    centre : float, default=0.0
        Where the mirror stands on that axis (see :func:`mirror`).

    Attributes
    ----------
    transformer_ : estimator
        The fitted clone.
    n_features_in_ : int
        Columns of X at fit (frames only).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> X = np.array([[1.0, 0.0, 3.0, 0.0]])  # two keypoints (x, y): a left and a right hand
    >>> MirrorSymmetric(FunctionTransformer(), flip_pairs=[(0, 1)]).fit_transform(X)
    array([[-1.,  0.,  1.,  0.]])
    """

    def __init__(self, transformer, flip_pairs=(), *, n_dims=2, axis=0, centre=0.0):
        self.transformer = transformer
        self.flip_pairs = flip_pairs
        self.n_dims = n_dims
        self.axis = axis
        self.centre = centre

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.transformer.__sklearn_tags__()
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.input_tags.sparse = False
        tags.non_deterministic = inner.non_deterministic
        tags.transformer_tags.preserves_dtype = []
        return tags

    def _mirror(self, X):
        if sp.issparse(X):
            raise TypeError("sparse input is not supported: poses are dense arrays of coordinates")
        kw = dict(n_dims=self.n_dims, axis=self.axis, centre=self.centre)
        if _is_videos(X):
            return [mirror(v, self.flip_pairs, **kw) for v in _check_sequences(X, keypoint_arrays=True)]
        return mirror(X, self.flip_pairs, **kw)

    def fit(self, X, y=None):
        """Fit the transformer on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_keypoints, n_dims), or list of such arrays
            Frames, or videos of frames.
        y : array-like of shape (n_samples,), default=None
            Passed to the transformer.

        Returns
        -------
        self : MirrorSymmetric
        """
        # the mirror's parameters checked against X before a (long) fit
        self._mirror(X if sp.issparse(X) else X[:1] if _is_videos(X) else np.asarray(X)[:1])
        self.transformer_ = clone(self.transformer).fit(X, y)
        if hasattr(self.transformer_, "n_features_in_"):
            self.n_features_in_ = self.transformer_.n_features_in_
        return self

    def transform(self, X):
        """The mean of the transformer's features of X and of its mirror image.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_keypoints, n_dims), or list of such arrays

        Returns
        -------
        Xt : the transformer's output type (ndarray, sparse matrix, DataFrame or list of them)
        """
        check_is_fitted(self)
        return _average(self.transformer_.transform(X), self.transformer_.transform(self._mirror(X)))

    def get_feature_names_out(self, input_features=None):
        """The transformer's feature names (each now the mean over the pose and its mirror image)."""
        check_is_fitted(self)
        return self.transformer_.get_feature_names_out(input_features)
