"""PoseTokenizer.partial_fit: incremental training, one pass per call."""

import copy
import pickle

import numpy as np
import pytest

from posetok import PoseTokenizer
from posetok.datasets import make_stick_figures

from .conftest import TINY

INCREMENTAL = {k: v for k, v in TINY.items() if k not in ("n_epochs", "pretrain_epochs")}


@pytest.fixture(scope="module")
def stream():
    X, _ = make_stick_figures(4000, random_state=0)
    X[::9, 6:8] = np.nan
    return np.array_split(X, 10), make_stick_figures(1000, random_state=1)[0]


def _train(batches, **params):
    tok = PoseTokenizer(**{**INCREMENTAL, **params})
    for batch in batches:
        tok.partial_fit(batch)
    return tok


@pytest.mark.slow
def test_partial_fit_learns_over_calls(stream):
    batches, X_test = stream
    first = _train(batches[:1])
    tok = _train(batches * 3)
    assert len(tok.history_) == 30 and [h["epoch"] for h in tok.history_[:3]] == [1, 2, 3]
    assert -tok.score(X_test) < 0.6 * -first.score(X_test)
    # as good as fit with as many passes over the same poses, within a margin
    fitted = PoseTokenizer(**{**INCREMENTAL, "n_epochs": 3}).fit(np.concatenate(batches))
    assert -tok.score(X_test) < 1.5 * -fitted.score(X_test)
    assert tok.codebook_usage_ >= 0.9


def test_partial_fit_is_reproducible_and_pickles_its_optimizer(stream):
    batches, X_test = stream
    a = _train(batches[:3])
    b = _train(batches[:3])
    np.testing.assert_array_equal(a.transform(X_test), b.transform(X_test))
    restored = pickle.loads(pickle.dumps(a))
    a.partial_fit(batches[3])
    restored.partial_fit(batches[3])
    np.testing.assert_array_equal(a.transform(X_test), restored.transform(X_test))


def test_partial_fit_keeps_the_first_normalisation(stream):
    batches, _ = stream
    tok = _train(batches[:1])
    mean, scale = tok.mean_.copy(), tok.scale_
    tok.partial_fit(batches[1] * 10.0)
    np.testing.assert_array_equal(tok.mean_, mean)
    assert tok.scale_ == scale


def test_partial_fit_continues_a_fitted_model_and_fit_starts_over(stream):
    batches, X_test = stream
    tok = PoseTokenizer(**TINY).fit(batches[0])
    n_epochs = len(tok.history_)
    tok.partial_fit(batches[1])
    assert len(tok.history_) == n_epochs + 1 and tok.history_[-1]["phase"] == "partial"
    assert tok._partial_["calls"] == 1
    tok.fit(batches[2])
    assert "_partial_" not in tok.__dict__ and len(tok.history_) == n_epochs


def test_partial_fit_refuses_and_leaves_the_model_as_it_was(stream):
    batches, X_test = stream
    tok = _train(batches[:2])
    before = (copy.deepcopy(tok._partial_), tok.transform(X_test))
    with pytest.raises(ValueError, match="features"):
        tok.partial_fit(batches[2][:, :24])
    with pytest.raises(ValueError, match="some but not all"):
        bad = batches[2].copy()
        bad[3, 0] = np.nan
        tok.partial_fit(bad)
    assert tok._partial_["calls"] == before[0]["calls"] and tok.n_features_in_ == 26
    np.testing.assert_array_equal(tok.transform(X_test), before[1])
    with pytest.raises(ValueError, match="strategy='joint'"):
        PoseTokenizer(**INCREMENTAL, strategy="staged").partial_fit(batches[0])
    with pytest.raises(ValueError, match="one process"):
        PoseTokenizer(**INCREMENTAL, distributed=True).partial_fit(batches[0])


def test_partial_fit_with_refinement_and_three_d():
    from posetok.datasets import make_stick_figures_3d

    X, _ = make_stick_figures_3d(900, random_state=0)
    tok = _train(np.array_split(X, 3), refinement_stages=1, refinement_codebook_size=8)
    assert tok.n_dims_ == 3 and tok.transform(X[:5]).shape == (5, 4 + 13)
    assert tok.refinement_codebooks_.shape == (1, 13, 8, 3)


def test_dask_ml_incremental_calls_partial_fit_per_block(stream):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    da = pytest.importorskip("dask.array")
    batches, X_test = stream
    X = np.concatenate(batches[:4])
    incremental = wrappers.Incremental(PoseTokenizer(**INCREMENTAL), shuffle_blocks=False)
    incremental.fit(da.from_array(X, chunks=(400, -1)))
    tok = incremental.estimator_
    assert len(tok.history_) == 4
    np.testing.assert_array_equal(tok.transform(X_test), _train(np.array_split(X, 4)).transform(X_test))
