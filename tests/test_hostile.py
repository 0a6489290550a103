"""A hostile re-run across the public surface (issue 15): every bad input, file or argument gets a
ValueError or TypeError that says what is wrong; nothing is silently coerced and nothing hangs."""

import numpy as np
import pandas as pd
import pytest

from posetok import PoseImputer, PoseTokenizer
from posetok.datasets import make_stick_figures, normalize_to_box, visibility_to_nan
from posetok.video import BagOfTokens, MeanPool, MotionTokenizer, PerFrame, TemporalPool, split_by_group

from .conftest import TINY


@pytest.fixture(scope="module")
def tok():
    X, _ = make_stick_figures(200, random_state=0)
    return PoseTokenizer(**TINY).fit(X)


X26 = make_stick_figures(3, random_state=1)[0]

BAD_X = {
    "strings": np.array([["a"] * 26] * 2),
    "complex": X26.astype(complex),
    "booleans as a whole pose": np.ones((2, 26), dtype=bool).astype(object),
    "infinite coordinate": np.where(np.arange(26) == 3, np.inf, X26[0])[None],
    "one NaN of a pair": np.where(np.arange(26) == 4, np.nan, X26[0])[None],
    "all joints missing": np.full((1, 26), np.nan),
    "wrong width": X26[:, :24],
    "odd width": X26[:, :25],
    "1-D": X26[0],
    "3-D of 3 coordinates": X26.reshape(3, 13, 2)[..., [0, 1, 1]],
    "4-D": X26.reshape(3, 13, 2, 1),
    "empty": np.empty((0, 26)),
    "None": None,
    "a string": "poses",
}


@pytest.mark.parametrize("name", sorted(BAD_X))
@pytest.mark.parametrize("method", ["transform", "score", "fit"])
def test_bad_poses(tok, name, method):
    if method == "fit" and name in ("wrong width", "3-D of 3 coordinates"):
        pytest.skip("any even width, and any (n, K, D) array, is a skeleton to fit")
    X = BAD_X[name]
    target = PoseTokenizer(**TINY) if method == "fit" else tok
    with pytest.raises((ValueError, TypeError)) as exc:
        getattr(target, method)(X)
    assert len(str(exc.value)) > 10


@pytest.mark.parametrize("encode", ["ordinal", "onehot", "onehot-dense", "codes", "latent"])
@pytest.mark.parametrize("bad", [
    np.array([[1.5] * 4]), np.array([[-1] * 4]), np.array([[16] * 4]), np.array([["a"] * 4]),
    np.zeros((1, 3)), np.zeros((2,)), np.full((1, 4), np.nan),
])
def test_bad_decoder_input(tok, encode, bad):
    tok.set_params(encode=encode)
    try:
        width = len(tok.get_feature_names_out())
        if bad.ndim == 2 and bad.shape[1] == 4 and width != 4:
            bad = np.repeat(bad, width // 4 + 1, axis=1)[:, :width] if encode != "ordinal" else bad
        try:
            out = tok.inverse_transform(bad)
        except (ValueError, TypeError) as exc:
            assert len(str(exc)) > 10
            return
        # only features that are valid in this encoding may decode: then finitely, every joint present
        assert encode in ("codes", "latent") and np.isfinite(bad.astype(float)).all()
        assert np.isfinite(out).all()
    finally:
        tok.set_params(encode="ordinal")


def test_pandas_with_other_column_names(tok):
    X = pd.DataFrame(X26, columns=[f"c{i}" for i in range(26)])
    named = PoseTokenizer(**TINY).fit(pd.DataFrame(make_stick_figures(100, random_state=0)[0],
                                                   columns=[f"k{i}" for i in range(26)]))
    with pytest.raises(ValueError, match="feature names"):
        named.transform(X)


@pytest.mark.parametrize("params", [
    {"n_tokens": 0}, {"n_tokens": 2.5}, {"codebook_size": 1}, {"dropout": 1.0}, {"strategy": "both"},
    {"normalize": "box"}, {"encode": "binary"}, {"device": "tpu"}, {"learning_rate": 0},
    {"pretrain_epochs": "some"}, {"mask_probability": 1.0}, {"random_state": "seed"},
])
def test_bad_parameters(params):
    with pytest.raises((ValueError, TypeError)):
        PoseTokenizer(**{**TINY, **params}).fit(X26)


def test_bad_imputer_input(tok):
    imputer = PoseImputer(PoseTokenizer(**TINY)).fit(make_stick_figures(100, random_state=0)[0])
    for X in (X26[:, :24], np.full((1, 26), np.nan), np.array([["a"] * 26])):
        with pytest.raises((ValueError, TypeError)):
            imputer.transform(X)
    with pytest.raises((ValueError, TypeError)):
        PoseImputer(tokenizer="default").fit(X26)


def test_bad_video_input():
    videos = [np.zeros((3, 2)), np.zeros((2, 2))]
    for transformer in (TemporalPool(), MeanPool(), PerFrame(PoseTokenizer(**TINY)), BagOfTokens(4),
                        MotionTokenizer(PoseTokenizer(**TINY), window=2)):
        for bad in ([], np.zeros((3, 2)), [np.zeros((0, 2))], [np.zeros(3)]):
            with pytest.raises((ValueError, TypeError)):
                transformer.fit(bad)
    pool = TemporalPool().fit(videos)
    with pytest.raises(ValueError):
        pool.transform([np.zeros((3, 5))])
    with pytest.raises(ValueError):
        split_by_group(np.zeros((2, 2)), [1])


def test_bad_dataset_helpers():
    kp = np.zeros((2, 3, 2))
    with pytest.raises((ValueError, TypeError)):
        visibility_to_nan(kp, np.zeros((2, 4)))
    with pytest.raises((ValueError, TypeError)):
        normalize_to_box(kp, np.zeros((3, 4)))
    with pytest.raises(ValueError):
        make_stick_figures(0)


def test_bad_save_targets(tok, tmp_path):
    for bad in ("", tmp_path, "/dev/null", tmp_path / "missing" / "t.posetok"):
        with pytest.raises((ValueError, FileNotFoundError)):
            tok.save(bad)
    with pytest.raises(TypeError):
        tok.save(3)
    with pytest.raises(FileNotFoundError):
        PoseTokenizer.load(tmp_path / "nothing.posetok")
    (tmp_path / "junk.posetok").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError):
        PoseTokenizer.load(tmp_path / "junk.posetok")


def test_pandas_nullable_dtypes(tok):
    # nullable integers are numbers; nullable booleans are not coordinates
    X = pd.DataFrame(np.round(X26).astype(int)).astype("Int64")
    assert tok.transform(X.to_numpy(dtype=float)).shape == (3, 4)
    assert tok.transform(X).shape == (3, 4)
    with pytest.raises(TypeError, match="boolean columns"):
        tok.transform(pd.DataFrame(np.ones((3, 26), dtype=bool)).astype("boolean"))


def _blown_up(X, rows, factor=1e30):
    """X with ``rows`` scaled far beyond what the network's float32 arithmetic can hold."""
    X = X.copy()
    X[rows] *= factor
    return X


@pytest.mark.parametrize("encode", ["ordinal", "latent"])
def test_poses_that_overflow_the_network_are_refused(tok, encode):
    # finite in float64, but 1e30 times the training poses' scale overflows the float32 network, whose
    # NaN token vectors would otherwise become code 0 (ordinal) or NaN features, silently
    X = _blown_up(np.vstack([X26, X26]), [4])
    tok.set_params(encode=encode)
    try:
        with pytest.raises(ValueError, match=r"1 pose\(s\) \(the first: row 4\) give non-finite values"):
            tok.transform(X)
        with pytest.raises(ValueError, match="row 4"):
            tok.score(X)
    finally:
        tok.set_params(encode="ordinal")
    assert np.isfinite(tok.transform(np.vstack([X26, X26]))).all()  # the same poses unscaled are fine


@pytest.mark.parametrize("decode", ["tokens", "latent"])
def test_imputer_names_the_row_of_x_that_overflows(tok, decode):
    from sklearn.frozen import FrozenEstimator

    imputer = PoseImputer(FrozenEstimator(tok), decode=decode).fit(X26)
    X = _blown_up(np.vstack([X26, X26]), [4])
    X[[1, 4], :2] = np.nan  # rows 1 and 4 have a gap: the tokenizer sees them as its rows 0 and 1
    with pytest.raises(ValueError, match=r"the first: row 4\)"):
        imputer.transform(X)


def test_out_of_core_transform_names_the_row_of_x_that_overflows(tok, tmp_path, monkeypatch):
    import posetok.tokenizer as tokenizer_module

    monkeypatch.setattr(tokenizer_module, "BLOCK_SIZE", 2)
    path = tmp_path / "poses.npy"
    np.save(path, _blown_up(np.vstack([X26, X26]), [5]))
    with pytest.raises(ValueError, match=r"the first: row 5\)"):  # block 2's row 1
        tok.transform(np.load(path, mmap_mode="r"))
