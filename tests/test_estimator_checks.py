"""scikit-learn's estimator checks, and keypoint-shaped twins of some of them.

scikit-learn's generic checks build X with any number of columns (3, 5, ...).
With ``n_dims=1`` (one value per keypoint) every column count is a skeleton,
so every check runs on ``n_dims=1`` configurations and none is an expected
failure. The default ``n_dims="auto"`` reads flat X as (x, y) pairs and
refuses an odd number of columns by design (test_tokenizer.py); the twin tests
below check the same properties on 2-D keypoint data with that default.
"""

import copy
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import estimator_checks_generator

from posetok import PoseImputer, PoseTokenizer
from posetok.symmetry import MirrorSymmetric

from .conftest import TINY

ANY_WIDTH = {**TINY, "n_dims": 1}

ESTIMATORS = [
    PoseTokenizer(**ANY_WIDTH),
    PoseTokenizer(**ANY_WIDTH, refinement_stages=1, refinement_codebook_size=8),
    PoseTokenizer(**ANY_WIDTH, normalize="pose"),
    PoseTokenizer(**ANY_WIDTH, encode="latent"),
    PoseTokenizer(**ANY_WIDTH, encode="onehot"),
    PoseTokenizer(**ANY_WIDTH, codebooks="per_token", encode="codes"),
    PoseImputer(PoseTokenizer(**ANY_WIDTH)),
    MirrorSymmetric(PoseTokenizer(**ANY_WIDTH, encode="latent"), n_dims=1),
]


def _cases():
    for estimator in ESTIMATORS:
        for est, check in estimator_checks_generator(estimator, legacy=True, mark=None):
            name = getattr(check, "func", check).__name__
            yield pytest.param(est, check, id=f"{est!r}-{name}".replace("\n", ""))


@pytest.mark.parametrize("estimator, check", list(_cases()))
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 8)) * 3 + 1  # 4 keypoints, arbitrary units


def test_fit_and_score_take_y(X):
    tok = PoseTokenizer(**TINY).fit(X, np.zeros(len(X)))
    assert np.isfinite(tok.score(X, np.zeros(len(X))))


def test_fit_does_not_overwrite_parameters(X):
    tok = PoseTokenizer(**TINY)
    before = copy.deepcopy(tok.get_params())
    tok.fit(X)
    assert tok.get_params() == before
    public = [k for k in vars(tok) if not k.startswith("_")]
    assert all(k in before or k.endswith("_") for k in public)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_accepts_numeric_dtypes(X, dtype):
    Xd = np.round(X).astype(dtype)
    tok = PoseTokenizer(**TINY).fit(Xd)
    assert tok.transform(Xd).dtype == np.int64


def test_pipeline_consistency(X):
    a = make_pipeline(PoseTokenizer(**TINY)).fit(X).transform(X)
    b = make_pipeline(PoseTokenizer(**TINY)).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)


def test_pickle_round_trip(X):
    tok = PoseTokenizer(**TINY).fit(X)
    loaded = pickle.loads(pickle.dumps(tok))
    np.testing.assert_array_equal(loaded.transform(X), tok.transform(X))
    np.testing.assert_array_equal(loaded.inverse_transform(tok.transform(X)), tok.inverse_transform(tok.transform(X)))


def test_fortran_ordered_input(X):
    tok = PoseTokenizer(**TINY).fit(np.asfortranarray(X))
    np.testing.assert_array_equal(tok.transform(np.asfortranarray(X)), tok.transform(np.ascontiguousarray(X)))


def test_fit_transform_equals_fit_then_transform(X):
    a = PoseTokenizer(**TINY).fit_transform(X)
    b = PoseTokenizer(**TINY).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
    tok = clone(PoseTokenizer(**TINY)).fit(X)
    with pytest.raises(ValueError, match="features"):
        tok.transform(X[:, :-2])


def test_accepts_lists(X):
    tok = PoseTokenizer(**TINY).fit(X.tolist())
    np.testing.assert_array_equal(tok.transform(X.tolist()), tok.transform(X))
    np.testing.assert_array_equal(tok.transform(X.reshape(60, 4, 2).tolist()), tok.transform(X))


def test_sample_order_and_subset_invariance(X):
    tok = PoseTokenizer(**TINY).fit(X)
    ids = tok.transform(X)
    perm = np.random.default_rng(1).permutation(len(X))
    np.testing.assert_array_equal(tok.transform(X[perm]), ids[perm])
    for start in range(0, len(X), 7):
        np.testing.assert_array_equal(tok.transform(X[start : start + 7]), ids[start : start + 7])


def test_methods_leave_dict_unchanged(X):
    tok = PoseTokenizer(**TINY).fit(X)
    before = {k: (v if not isinstance(v, np.ndarray) else v.copy()) for k, v in vars(tok).items()}
    state = {k: v.clone() for k, v in tok.network_.state_dict().items()}
    tok.transform(X)
    tok.inverse_transform(tok.transform(X))
    tok.score(X)
    assert vars(tok).keys() == before.keys()
    for k, v in before.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(vars(tok)[k], v)
    assert all((tok.network_.state_dict()[k] == v).all() for k, v in state.items())


def test_one_dimensional_input_rejected(X):
    tok = PoseTokenizer(**TINY).fit(X)
    with pytest.raises(ValueError, match="2D array"):
        tok.transform(X[0])
