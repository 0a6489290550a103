"""Filling missing joints through pose tokens: :class:`PoseImputer`."""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from .symmetry import _check_pairs, mirror
from .tokenizer import PoseTokenizer, _flatten_keypoints, _observed_mask, _restoring_input_attributes

__all__ = ["PoseImputer", "default_tokenizer_params"]

#: Parameters of the tokenizer that :class:`PoseImputer` fits when none is given (with the
#: training length of :func:`default_tokenizer_params`).
DEFAULT_TOKENIZER_PARAMS = {"mask_probability": 0.3, "encoder_depth": 4}


def default_tokenizer_params(n_samples):
    """Parameters of the tokenizer that :class:`PoseImputer` fits on ``n_samples`` poses when none is given.

    ``DEFAULT_TOKENIZER_PARAMS`` (masking 0.3, four encoder blocks) and a
    training length that grows as the training set shrinks: about two million
    poses seen (``2**21 / n_samples`` epochs, at least 60, at most 256) in
    batches of about ``n_samples / 128`` poses (a power of two, at least 32, at
    most 512). A tokenizer that has to infer hidden joints from a small
    training set needs many more optimiser steps than the tokenizer's own 60
    epochs of 512 poses give it (1 000 steps on 8 475 poses, 33 000 with
    this rule): on the 8 475 complete COCO train persons it fills hidden
    joints a fifth to a quarter better (docs/benchmarks.md, "Filling missing
    joints"), for a fit of about 10 minutes on 2 CPU cores. From about
    65 000 poses it is the tokenizer's own 60 epochs of 512.

    Parameters
    ----------
    n_samples : int
        Number of training poses.

    Returns
    -------
    params : dict
        Keyword arguments of :class:`~posetok.PoseTokenizer`.

    Examples
    --------
    >>> from posetok.impute import default_tokenizer_params
    >>> default_tokenizer_params(8475)
    {'mask_probability': 0.3, 'encoder_depth': 4, 'n_epochs': 248, 'batch_size': 64}
    >>> default_tokenizer_params(150_000)
    {'mask_probability': 0.3, 'encoder_depth': 4, 'n_epochs': 60, 'batch_size': 512}
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    n_epochs = min(256, max(60, math.ceil(2**21 / n_samples)))
    batch_size = min(512, max(32, 2 ** math.floor(math.log2(n_samples / 128))))
    return {**DEFAULT_TOKENIZER_PARAMS, "n_epochs": n_epochs, "batch_size": batch_size}


class PoseImputer(TransformerMixin, BaseEstimator):
    """Fill missing joints (NaN) with their reconstruction through a pose tokenizer.

    Each pose is encoded into tokens (missing joints enter the encoder as a
    learned "missing" embedding) and decoded into a complete pose; the
    decoded coordinates replace the missing ones. Observed joints are returned
    exactly as they were, so the imputer composes like scikit-learn's own
    imputers (``SimpleImputer``, ``KNNImputer``).

    Parameters
    ----------
    tokenizer : PoseTokenizer, FrozenEstimator of a fitted PoseTokenizer, or None, default=None
        The tokenizer to fit (cloned, never modified). A fitted tokenizer
        wrapped in :class:`sklearn.frozen.FrozenEstimator` (a pretrained one,
        for instance) is used as it is and never refitted:
        ``PoseImputer(FrozenEstimator(posetok.pretrained("coco17")))``. None means
        ``PoseTokenizer(mask_probability=0.3, encoder_depth=4)``
        (``DEFAULT_TOKENIZER_PARAMS``): random joints are hidden from the
        encoder during training so that the tokens learn to recover them, 0.3
        rather than the official 0.2 because it filled hidden COCO joints
        better; and the encoder, which has to infer the hidden joints, has
        four mixer blocks instead of the tokenizer's default two, which filled
        them 4-5 % better again on COCO (the runs that chose both are in
        benchmarks/results/HISTORY.md; docs/benchmarks.md, "Filling missing
        joints", has the default's results).
    decode : {"tokens", "latent"}, default="tokens"
        What the hidden joints are decoded from: ``"tokens"``, the pose's
        token ids (its reconstruction through the codebook, as
        :meth:`PoseTokenizer.inverse_transform` gives it); ``"latent"``, the
        encoder's continuous token vectors before they are rounded to their
        nearest codes, which loses less of what the observed joints say (on
        complete COCO persons it filled hidden joints 1-2 % better:
        docs/benchmarks.md, "Filling missing joints"). Refinement stages are
        not used with ``"latent"`` (they only correct observed joints, which
        are returned as given).
    flip_pairs : sequence of (int, int) or None, default=None
        (left, right) joint index pairs, e.g. from
        :func:`~posetok.symmetry.flip_pairs_from_names`. When given, each pose
        is also filled through its left-right mirror image (x reflected about
        the mean x of its observed joints, left and right joints swapped),
        and the two fillings, mirrored back, are averaged: twice the work of
        a transform for a filling that does not depend on which side is
        which. The first coordinate (x) must not be the vertical one.
    random_state : int, RandomState instance or None, default=None
        Seeds the tokenizer's fit: when not None it replaces the tokenizer's
        own ``random_state`` (so the default tokenizer can be seeded without
        copying its parameters), as ``IterativeImputer(random_state=...)`` does.
        A frozen tokenizer is not fitted, so it must stay None then.

    Attributes
    ----------
    tokenizer_ : PoseTokenizer
        The fitted tokenizer (with a frozen one, the tokenizer inside it).
    n_features_in_ : int
        Number of columns of X.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of X, when X is a DataFrame with string column names.

    See Also
    --------
    sklearn.impute.KNNImputer : Fills values from the nearest complete neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> from posetok import PoseImputer, PoseTokenizer
    >>> from posetok.datasets import make_stick_figures
    >>> X, _ = make_stick_figures(300, random_state=0)
    >>> X[0, :2] = np.nan                                    # the first pose has lost its head
    >>> imputer = PoseImputer(PoseTokenizer(n_tokens=4, codebook_size=16, n_epochs=2,
    ...                                     mask_probability=0.2, random_state=0)).fit(X)
    >>> filled = imputer.transform(X[:2])
    >>> bool(np.isnan(filled).any()), bool((filled[1] == X[1]).all())
    (False, True)

    Decoding the continuous token vectors, and averaging with the mirror image
    (the stick figures' left and right joints paired by name):

    >>> from posetok.datasets import STICK_FIGURE_KEYPOINTS
    >>> from posetok.symmetry import flip_pairs_from_names
    >>> pairs = flip_pairs_from_names(STICK_FIGURE_KEYPOINTS)
    >>> imputer.set_params(decode="latent", flip_pairs=pairs).transform(X[:2]).shape
    (2, 26)
    """

    _parameter_constraints: dict = {
        "tokenizer": [PoseTokenizer, FrozenEstimator, None], "decode": [StrOptions({"tokens", "latent"})],
        "flip_pairs": ["array-like", None], "random_state": ["random_state"],
    }

    def __init__(self, tokenizer=None, *, decode="tokens", flip_pairs=None, random_state=None):
        self.tokenizer = tokenizer
        self.decode = decode
        self.flip_pairs = flip_pairs
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, boxes=None):
        """Fit the tokenizer on poses with missing joints.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_dims * n_keypoints) or (n_samples, n_keypoints, n_dims)
            Keypoints; a missing joint is NaN in every coordinate. The
            tokenizer's ``n_dims`` says how flat X is read.
        y : None
            Ignored.
        boxes : array-like of shape (n_samples, 2 * n_dims), default=None
            Person boxes, for a tokenizer with ``normalize="pose"``: passed to
            :meth:`PoseTokenizer.fit` (not used with a frozen tokenizer).

        Returns
        -------
        self : PoseImputer
        """
        # a failed fit leaves the imputer exactly as it was (not half-fitted with a new width)
        with _restoring_input_attributes(self):
            if isinstance(self.tokenizer, FrozenEstimator):
                self.tokenizer_ = self._frozen_tokenizer(X)
                return self
            tokenizer = PoseTokenizer() if self.tokenizer is None else clone(self.tokenizer)
            if self.random_state is not None:
                tokenizer.set_params(random_state=self.random_state)
            X, n_dims = _flatten_keypoints(X, tokenizer.n_dims)
            X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
            if self.tokenizer is None:
                tokenizer.set_params(**default_tokenizer_params(len(X)))
            # the clone reads X flat, so it is told what a (n, K, D) array said
            self.tokenizer_ = tokenizer.set_params(n_dims=n_dims).fit(X, boxes=boxes)
        return self

    def _frozen_tokenizer(self, X):
        """The fitted tokenizer inside a FrozenEstimator, checked against X (which fits nothing)."""
        tokenizer = self.tokenizer.estimator
        if not isinstance(tokenizer, PoseTokenizer):
            raise TypeError(f"a frozen tokenizer must be a PoseTokenizer, got {type(tokenizer).__name__}")
        check_is_fitted(tokenizer, msg="the PoseTokenizer inside FrozenEstimator is not fitted; fit it first")
        if self.random_state is not None:
            raise ValueError("random_state seeds the tokenizer's fit, but a frozen tokenizer is never fitted; "
                             "leave random_state=None")
        X, _ = _flatten_keypoints(X, tokenizer.n_dims_)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        if X.shape[1] != tokenizer.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but the frozen tokenizer was fitted on "
                             f"{tokenizer.n_features_in_}")
        return tokenizer

    def transform(self, X, boxes=None):
        """Return X with every missing joint filled in; observed joints are unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_dims * n_keypoints) or (n_samples, n_keypoints, n_dims)
        boxes : array-like of shape (n_samples, 2 * n_dims), default=None
            Person boxes, for a tokenizer with ``normalize="pose"``: a pose with
            a box is framed by it (see :meth:`PoseTokenizer.transform`), which
            tells the tokenizer where the hidden joints can be.

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_dims * n_keypoints)
            A new array; X is not modified.
        """
        check_is_fitted(self)
        self._validate_params()  # decode and flip_pairs are read here, so set_params after fit is checked too
        n_dims = self.tokenizer_.n_dims_
        X, _ = _flatten_keypoints(X, n_dims)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        X = X.copy()
        _observed_mask(X, n_dims)  # errors name the row of X, not of the subset passed on below
        boxes = self.tokenizer_._check_boxes(boxes, len(X), n_dims)
        flip = None if self.flip_pairs is None else _check_pairs(self.flip_pairs, X.shape[1] // n_dims)
        missing = np.isnan(X)
        if missing.any():
            rows = missing.any(1)
            gappy, row_boxes = X[rows], None if boxes is None else boxes[rows]
            decoded = self._decoded(gappy, row_boxes)
            if flip is not None:
                decoded = (decoded + self._decoded_through_mirror(gappy, row_boxes, n_dims)) / 2
            X[rows] = np.where(missing[rows], decoded, gappy)
        return X

    def _decoded(self, X, boxes):
        # in X's units also when the tokenizer normalises each pose by its own frame
        return self.tokenizer_._reconstruct(X, boxes, latent=self.decode == "latent")

    def _decoded_through_mirror(self, X, boxes, n_dims):
        """The decoding of each pose's mirror image, mirrored back: x reflected about the mean x of the
        pose's observed joints (so it stays where it was), left and right joints swapped."""
        centre = np.nanmean(X.reshape(len(X), -1, n_dims)[..., 0], axis=1)[:, None, None]
        shift = np.zeros((1, 1, n_dims))
        shift[..., 0] = 1.0

        def reflect(poses):  # 2c - x about each pose's own centre
            poses = poses.reshape(len(poses), -1, n_dims) - centre * shift
            return (mirror(poses, self.flip_pairs, n_dims=n_dims) + centre * shift).reshape(len(poses), -1)

        if boxes is not None:  # a box (x0, y0, ..., x1, y1, ...) mirrors into (2c - x1, y0, ..., 2c - x0, y1, ...)
            boxes = boxes.copy()
            c = centre[:, 0, 0]
            boxes[:, 0], boxes[:, n_dims] = 2 * c - boxes[:, n_dims], 2 * c - boxes[:, 0]
        return reflect(self._decoded(reflect(X), boxes))

    def get_feature_names_out(self, input_features=None):
        """The input feature names, as scikit-learn's imputers return them.

        Parameters
        ----------
        input_features : array-like of str or None, default=None

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        return _check_feature_names_in(self, input_features)
