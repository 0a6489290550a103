"""Output encodings of PoseTokenizer (posetok.features)."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from posetok import PoseTokenizer
from posetok.features import ENCODINGS, feature_names, features_from_ids, ids_from_features

from .conftest import TINY

CODEBOOK = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
NO_REFINEMENT = np.zeros((0, 2, 4, 2))


def test_hand_worked_encodings():
    ids = np.array([[1, 2], [0, 0]])
    np.testing.assert_array_equal(features_from_ids("ordinal", ids, 2, CODEBOOK, NO_REFINEMENT), ids)
    onehot = features_from_ids("onehot", ids, 2, CODEBOOK, NO_REFINEMENT)
    assert sp.issparse(onehot)
    np.testing.assert_array_equal(onehot.toarray(), [[0, 1, 0, 0, 0, 1], [1, 0, 0, 1, 0, 0]])
    np.testing.assert_array_equal(features_from_ids("onehot-dense", ids, 2, CODEBOOK, NO_REFINEMENT),
                                  onehot.toarray())
    np.testing.assert_array_equal(features_from_ids("codes", ids, 2, CODEBOOK, NO_REFINEMENT),
                                  [[1, 0, 0, 2], [0, 0, 0, 0]])
    latent = np.array([[[0.9, 0.1], [0.2, 1.7]], [[0.1, 0.0], [0.3, 0.1]]])
    np.testing.assert_array_equal(features_from_ids("latent", ids, 2, CODEBOOK, NO_REFINEMENT, latent=latent),
                                  latent.reshape(2, 4))


def test_refinement_columns():
    # 1 stage, 2 keypoints, 4 codes of 2-D corrections each
    books = np.arange(16, dtype=float).reshape(1, 2, 4, 2)
    ids = np.array([[2, 3, 1]])  # token 2, then keypoint 0 -> code 3, keypoint 1 -> code 1
    np.testing.assert_array_equal(features_from_ids("codes", ids, 1, CODEBOOK, books), [[0, 2, 6, 7, 10, 11]])
    onehot = features_from_ids("onehot-dense", ids, 1, CODEBOOK, books)
    np.testing.assert_array_equal(onehot, [[0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0]])
    for encoding in ("onehot", "onehot-dense", "codes"):
        features = features_from_ids(encoding, ids, 1, CODEBOOK, books)
        np.testing.assert_array_equal(ids_from_features(encoding, features, 1, CODEBOOK, books), ids)
        # the tokens alone (no refinement stage) decode too
        tokens_only = features[:, : 3 if "onehot" in encoding else 2]
        np.testing.assert_array_equal(ids_from_features(encoding, tokens_only, 1, CODEBOOK, books), ids[:, :1])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2), min_size=2, max_size=2), min_size=1, max_size=6),
       st.sampled_from(["onehot", "onehot-dense", "codes"]))
def test_ids_round_trip(rows, encoding):
    ids = np.array(rows)
    features = features_from_ids(encoding, ids, 2, CODEBOOK, NO_REFINEMENT)
    np.testing.assert_array_equal(ids_from_features(encoding, features, 2, CODEBOOK, NO_REFINEMENT), ids)


@pytest.mark.parametrize("bad, match", [
    (np.array([[1, 1, 0, 0, 0, 1]]), "exactly one 1"),
    (np.array([[0, 0, 0, 0, 0, 1]]), "exactly one 1"),
    (np.array([[0.5, 0.5, 0, 0, 0, 1]]), "exactly one 1"),
    (np.array([[0, 1, 0, 0, 1]]), r"shape \(n_samples, one of \[6\]\)"),
])
def test_bad_onehot_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        ids_from_features("onehot", bad, 2, CODEBOOK, NO_REFINEMENT)


def test_nonfinite_vectors_rejected():
    with pytest.raises(ValueError, match="finite"):
        ids_from_features("codes", np.array([[np.nan, 0, 0, 0]]), 2, CODEBOOK, NO_REFINEMENT)


def test_feature_names():
    assert feature_names("ordinal", 2, 3, 2, 0, 1, 4, 2).tolist() == ["token_0", "token_1"]
    assert len(feature_names("onehot", 2, 3, 2, 1, 5, 4, 2)) == 2 * 3 + 5 * 4
    assert feature_names("latent", 1, 3, 2, 0, 1, 4, 2).tolist() == ["token_0_dim0", "token_0_dim1"]


@pytest.fixture(scope="module")
def fitted(stick_figures):
    return PoseTokenizer(**TINY, refinement_stages=1, refinement_codebook_size=8).fit(stick_figures[0])


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_tokenizer_encodings_agree_with_ids(fitted, stick_figures, encoding):
    X = stick_figures[0][:50]
    tok = fitted.set_params(encode="ordinal")
    ids, X_hat = tok.transform(X), tok.inverse_transform(tok.transform(X))
    out = tok.set_params(encode=encoding).transform(X)
    try:
        assert out.shape == (50, len(tok.get_feature_names_out()))
        assert sp.issparse(out) == (encoding == "onehot")
        # the output decodes to the same poses, and re-encodes to the same ids
        np.testing.assert_allclose(tok.inverse_transform(out), X_hat)
        if encoding != "ordinal":
            back = ids_from_features(encoding, out, tok.n_tokens, tok.codebook_, tok.refinement_codebooks_)
            np.testing.assert_array_equal(back, ids)
    finally:
        tok.set_params(encode="ordinal")


def test_latent_is_the_encoder_output_and_quantizes_to_the_ids(fitted, stick_figures):
    X = stick_figures[0][:20]
    ids = fitted.transform(X)[:, : fitted.n_tokens]
    latent = fitted.set_params(encode="latent").transform(X)[:, : fitted.n_tokens * fitted.token_dim]
    fitted.set_params(encode="ordinal")
    codes = fitted.codebook_[ids].reshape(20, -1)
    assert not np.allclose(latent, codes)  # the continuous vectors, not the codes
    z = latent.reshape(20, fitted.n_tokens, -1)
    d = ((z[:, :, None] - fitted.codebook_[None, None]) ** 2).sum(-1)
    np.testing.assert_array_equal(d.argmin(-1), ids)


def test_grid_search_over_n_tokens_with_builtin_onehot(stick_figures):
    # the README's old recipe (OneHotEncoder with categories from a fitted tokenizer) broke here
    X, y = stick_figures
    pipe = make_pipeline(PoseTokenizer(**{**TINY, "encode": "onehot"}), LogisticRegression(max_iter=200))
    search = GridSearchCV(pipe, {"posetokenizer__n_tokens": [2, 4]}, cv=2, error_score="raise").fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_latent_pipeline_learns(stick_figures):
    X, y = stick_figures
    pipe = make_pipeline(PoseTokenizer(**{**TINY, "encode": "latent"}), StandardScaler(),
                         LogisticRegression(max_iter=500)).fit(X[:300], y[:300])
    assert pipe.score(X[300:], y[300:]) > 0.6


def test_bad_encode_rejected(stick_figures):
    with pytest.raises(ValueError, match="encode"):
        PoseTokenizer(**{**TINY, "encode": "binary"}).fit(stick_figures[0])


def test_inverse_transform_rejects_wrong_kind(fitted):
    fitted.set_params(encode="codes")
    try:
        with pytest.raises(TypeError, match="numbers"):
            fitted.inverse_transform(np.array([["a"] * 36]))
        with pytest.raises(ValueError, match="shape"):
            fitted.inverse_transform(np.zeros((1, 3)))
    finally:
        fitted.set_params(encode="ordinal")


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("stages", [0, 1])
def test_fit_transform_reuses_fit_and_equals_transform(stick_figures, encoding, stages):
    X = stick_figures[0][:120]
    tok = PoseTokenizer(**TINY, encode=encoding, refinement_stages=stages, refinement_codebook_size=8)
    a = tok.fit_transform(X)
    b = tok.transform(X)
    if sp.issparse(a):
        a, b = a.toarray(), b.toarray()
    np.testing.assert_array_equal(a, b)


def test_fit_transform_pandas_output(stick_figures):
    out = PoseTokenizer(**TINY).set_output(transform="pandas").fit_transform(stick_figures[0][:80])
    assert list(out.columns) == [f"token_{i}" for i in range(4)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(encoding=st.sampled_from(ENCODINGS),
       value=st.sampled_from([np.nan, np.inf, -1.0, 0.5, 1e300, 3.0, 0.0, 1.0]),
       width=st.integers(0, 200), n=st.integers(1, 3))
def test_hostile_inverse_transform_input_is_refused_clearly(fitted, encoding, value, width, n):
    # whatever the encoding, bad features get a ValueError/TypeError naming the problem, or decode finitely
    fitted.set_params(encode=encoding)
    try:
        X = np.full((n, width), value)
        try:
            out = fitted.inverse_transform(X)
        except (ValueError, TypeError) as exc:
            assert str(exc)
            return
        assert out.shape == (n, 26) and np.isfinite(out).all()
    finally:
        fitted.set_params(encode="ordinal")
