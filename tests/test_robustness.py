"""Failing clearly and never losing work: divergence, interrupts, threads, fuzzed input."""

import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import NotFittedError

import posetok.training
from posetok import PoseTokenizer, TrainingDivergedError

from .conftest import TINY

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_divergence_raises_and_leaves_estimator_unfitted(stick_figures):
    tok = PoseTokenizer(**{**TINY, "learning_rate": 1e12})
    with pytest.raises(TrainingDivergedError, match="lower learning_rate"):
        tok.fit(stick_figures[0] * 1e30)
    with pytest.raises(NotFittedError):
        tok.transform(stick_figures[0])


def test_failed_refit_with_other_width_keeps_previous_model(stick_figures):
    X = stick_figures[0]
    tok = PoseTokenizer(**TINY).fit(X)
    ids = tok.transform(X)
    with pytest.raises(TrainingDivergedError):
        tok.set_params(learning_rate=1e12).fit(np.random.default_rng(0).normal(size=(50, 8)) * 1e30)
    assert tok.n_features_in_ == 26
    np.testing.assert_array_equal(tok.transform(X), ids)


def test_interrupted_refit_keeps_previous_model(stick_figures, monkeypatch):
    X = stick_figures[0]
    tok = PoseTokenizer(**TINY).fit(X)
    ids = tok.transform(X)
    real = posetok.training.run_epoch
    calls = {"n": 0}

    def interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(posetok.training, "run_epoch", interrupt)
    with pytest.raises(KeyboardInterrupt):
        tok.set_params(random_state=5).fit(X)
    np.testing.assert_array_equal(tok.transform(X), ids)  # the old model, untouched
    monkeypatch.setattr(posetok.training, "run_epoch", real)
    tok.set_params(random_state=0).fit(X)
    np.testing.assert_array_equal(tok.transform(X), ids)


def test_transform_is_thread_safe(tiny_fitted, stick_figures):
    X = stick_figures[0]
    serial = [tiny_fitted.transform(X[i::8]) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda i: tiny_fitted.transform(X[i::8]), range(8)))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


poses = arrays(np.float64, st.tuples(st.integers(1, 12), st.just(26)),
               elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))


@FAST
@given(X=poses)
def test_round_trip_shapes_and_dtypes(tiny_fitted, X):
    ids = tiny_fitted.transform(X)
    assert ids.shape == (len(X), TINY["n_tokens"]) and ids.dtype == np.int64
    assert ((0 <= ids) & (ids < TINY["codebook_size"])).all()
    back = tiny_fitted.inverse_transform(ids)
    assert back.shape == X.shape and back.dtype == np.float64 and np.isfinite(back).all()


@FAST
@given(X=poses, data=st.data())
def test_rows_are_independent(tiny_fitted, X, data):
    ids = tiny_fitted.transform(X)
    i = data.draw(st.integers(0, len(X) - 1))
    np.testing.assert_array_equal(tiny_fitted.transform(X[i : i + 1])[0], ids[i])


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31 - 2))
def test_same_seed_same_tokens(seed):
    X = np.random.default_rng(0).normal(size=(40, 8))
    params = {**TINY, "random_state": seed, "n_epochs": 1, "pretrain_epochs": 0}
    np.testing.assert_array_equal(
        PoseTokenizer(**params).fit_transform(X), PoseTokenizer(**params).fit_transform(X)
    )


bad_arrays = st.one_of(
    arrays(np.float64, st.tuples(st.integers(1, 5), st.sampled_from([1, 3, 25, 27]))),
    arrays(np.float64, st.tuples(st.integers(1, 5), st.just(26)),
           elements=st.sampled_from([np.inf, -np.inf])),
    arrays(np.float64, st.integers(0, 30)),
    st.lists(st.text(max_size=3), min_size=1, max_size=4).map(lambda v: [v]),
    st.just(np.empty((0, 26))),
)
# (n, K, D) arrays are poses of D coordinates to fit, but not for a model fitted on 2-D keypoints
wrong_dims = arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 13), st.sampled_from([1, 3, 4])))


@FAST
@given(X=bad_arrays)
def test_malformed_input_rejected_by_every_method(tiny_fitted, X):
    for method in (PoseTokenizer(**TINY).fit, PoseTokenizer(**TINY).partial_fit, tiny_fitted.transform,
                   tiny_fitted.score, copy.deepcopy(tiny_fitted).partial_fit):
        with pytest.raises((ValueError, TypeError)):
            method(X)


@FAST
@given(X=wrong_dims)
def test_other_coordinate_counts_rejected_after_a_2d_fit(tiny_fitted, X):
    for method in (tiny_fitted.transform, tiny_fitted.score):
        with pytest.raises(ValueError, match="coordinate"):
            method(X)


bad_ids = st.one_of(
    arrays(np.int64, st.tuples(st.integers(1, 4), st.sampled_from([1, 3, 5]))),
    arrays(np.int64, st.tuples(st.integers(1, 4), st.just(4)),
           elements=st.one_of(st.integers(16, 10**6), st.integers(-(10**6), -1))),
    arrays(np.float64, st.tuples(st.integers(1, 4), st.just(4)), elements=st.floats(0.1, 0.9)),
    arrays(np.int64, st.integers(1, 8)),
    st.just([["a", "b", "c", "d"]]),
)


@FAST
@given(X=arrays(np.float64, st.tuples(st.integers(1, 5), st.sampled_from([2, 24, 28])),
                elements=st.floats(-10, 10)))
def test_other_skeleton_rejected_after_fit(tiny_fitted, X):
    for method in (tiny_fitted.transform, tiny_fitted.score, copy.deepcopy(tiny_fitted).partial_fit):
        with pytest.raises(ValueError, match="features"):
            method(X)


@FAST
@given(ids=bad_ids)
def test_malformed_token_ids_rejected(tiny_fitted, ids):
    with pytest.raises((ValueError, TypeError)):
        tiny_fitted.inverse_transform(ids)
