"""Filling missing joints through pose tokens: :class:`PoseImputer`."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from .symmetry import _check_pairs, mirror
from .tokenizer import (
    PoseTokenizer,
    _flatten_keypoints,
    _observed_mask,
    _refuse_bool_numbers,
    _restoring_input_attributes,
)
from .training import NonFiniteNetworkError

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
        the complete COCO persons it filled hidden joints 1.4-3.6 % better, one
        seed: docs/benchmarks.md, "Filling missing joints"). Refinement stages are
        not used with ``"latent"`` (they only correct observed joints, which
        are returned as given).
    flip_pairs : sequence of (int, int) or None, default=None
        The (left, right) joint index pairs of the skeleton (e.g. from
        :func:`posetok.symmetry.flip_pairs_from_names`). When given, each pose
        is also filled through its mirror image (left and right joints
        swapped, coordinate ``mirror_axis`` reflected), that filling is
        mirrored back, and the two are averaged: test-time mirroring, which
        costs a second pass through the tokenizer and no refit. The mirror
        stands at the mean of that coordinate over the tokenizer's training
        poses (with ``normalize="pose"``, whose tokens ignore position, at 0;
        a pose's box is mirrored with it). On the complete COCO persons it
        filled hidden joints 1.3-3.0 % better than without (two seeds;
        docs/benchmarks.md, "Test-time mirroring"). None: no mirroring.
    mirror_axis : int, default=0
        The coordinate the mirror reflects, with ``flip_pairs`` (0: x, the
        left-right axis of image keypoints; for 3-D poses, whichever axis
        runs from the body's left to its right).
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

    Decoding the encoder's continuous token vectors instead of their nearest codes:

    >>> imputer.set_params(decode="latent").transform(X[:2]).shape
    (2, 26)

    Averaging each pose's filling with that of its mirror image (the skeleton's
    left-right pairs from its joint names):

    >>> from posetok.datasets import STICK_FIGURE_KEYPOINTS
    >>> from posetok.symmetry import flip_pairs_from_names
    >>> pairs = flip_pairs_from_names(list(STICK_FIGURE_KEYPOINTS))
    >>> pairs[:2]
    [(2, 3), (4, 5)]
    >>> mirrored = imputer.set_params(decode="tokens", flip_pairs=pairs).transform(X[:2])
    >>> bool((mirrored[1] == X[1]).all()), bool(np.isnan(mirrored).any())
    (True, False)
    """

    _parameter_constraints: dict = {
        "tokenizer": [PoseTokenizer, FrozenEstimator, None], "decode": [StrOptions({"tokens", "latent"})],
        "flip_pairs": ["array-like", None], "mirror_axis": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, tokenizer=None, *, decode="tokens", flip_pairs=None, mirror_axis=0, random_state=None):
        self.tokenizer = tokenizer
        self.decode = decode
        self.flip_pairs = flip_pairs
        self.mirror_axis = mirror_axis
        self.random_state = random_state

    def __setstate__(self, state):
        # imputers pickled before these parameters existed load as they were
        state.setdefault("decode", "tokens")
        state.setdefault("flip_pairs", None)
        state.setdefault("mirror_axis", 0)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _validate_params(self):
        """scikit-learn's parameter check, and no bool for the axis (``Interval(Integral)`` takes True as 1)."""
        super()._validate_params()
        _refuse_bool_numbers(self)

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
                self._check_mirror(self.n_features_in_ // self.tokenizer_.n_dims_, self.tokenizer_.n_dims_)
                return self
            tokenizer = PoseTokenizer() if self.tokenizer is None else clone(self.tokenizer)
            if self.random_state is not None:
                tokenizer.set_params(random_state=self.random_state)
            X, n_dims = _flatten_keypoints(X, tokenizer.n_dims)
            X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
            if self.tokenizer is None:
                tokenizer.set_params(**default_tokenizer_params(len(X)))
            self._check_mirror(X.shape[1] // n_dims, n_dims)  # a mistake there is told before the fit, not after
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
        self._validate_params()  # decode and the mirror are read here, so set_params after fit is checked too
        n_dims = self.tokenizer_.n_dims_
        X, _ = _flatten_keypoints(X, n_dims)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        X = X.copy()
        _observed_mask(X, n_dims)  # errors name the row of X, not of the subset passed on below
        mirror_image = self._mirror_function(X.shape[1] // n_dims, n_dims)
        boxes = self.tokenizer_._check_boxes(boxes, len(X), n_dims)
        missing = np.isnan(X)
        if missing.any():
            rows = missing.any(1)
            gappy, gappy_boxes = X[rows], None if boxes is None else boxes[rows]
            # in X's units also when the tokenizer normalises each pose by its own frame
            try:
                decoded = self.tokenizer_._reconstruct(gappy, gappy_boxes, latent=self.decode == "latent")
                if mirror_image is not None:  # the mirror image's filling, mirrored back (its own inverse)
                    decoded_mirrored = self.tokenizer_._reconstruct(*mirror_image(gappy, gappy_boxes),
                                                                    latent=self.decode == "latent")
                    decoded = (decoded + mirror_image(decoded_mirrored, None)[0]) / 2
            except NonFiniteNetworkError as error:  # name rows of X, not of the gappy ones
                raise error.among(np.flatnonzero(rows)) from None
            X[rows] = np.where(missing[rows], decoded, X[rows])
        return X

    def _check_mirror(self, n_keypoints, n_dims):
        """``flip_pairs`` and ``mirror_axis`` against a skeleton of ``n_keypoints`` keypoints of ``n_dims``."""
        if self.flip_pairs is None:
            return
        _check_pairs(self.flip_pairs, n_keypoints)
        if self.mirror_axis >= n_dims:
            raise ValueError(f"mirror_axis={self.mirror_axis} is not a coordinate of poses with n_dims={n_dims} "
                             f"(0 to {n_dims - 1})")

    def _mirror_function(self, n_keypoints, n_dims):
        """``(poses, boxes) -> (mirrored poses, mirrored boxes)`` for the test-time mirror, or None without
        ``flip_pairs``; checks the pairs and the axis against the fitted skeleton."""
        if self.flip_pairs is None:
            return None
        self._check_mirror(n_keypoints, n_dims)
        axis = self.mirror_axis
        tokenizer = self.tokenizer_
        # where the mirror stands: the training poses' mean on that axis (tokens that ignore position: anywhere)
        centre = 0.0 if tokenizer.normalize_ == "pose" else float(np.mean(tokenizer.mean_[axis::n_dims]))

        def mirror_image(poses, boxes):
            poses = mirror(poses, self.flip_pairs, n_dims=n_dims, axis=axis, centre=centre)
            if boxes is not None:  # the lowest corner on the axis becomes the reflected highest one
                boxes = boxes.copy()
                boxes[:, axis] = 2 * centre - boxes[:, axis] - boxes[:, n_dims + axis]
            return poses, boxes

        return mirror_image

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
