import joblib
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

from posetok import CodebookCollapseWarning, PoseTokenizer

from .conftest import TINY, hide_joints


def test_shapes_dtypes_and_ranges(tiny_fitted, stick_figures):
    X = stick_figures[0]
    ids = tiny_fitted.transform(X)
    assert ids.shape == (len(X), TINY["n_tokens"]) and ids.dtype == np.int64
    assert ids.min() >= 0 and ids.max() < TINY["codebook_size"]
    back = tiny_fitted.inverse_transform(ids)
    assert back.shape == X.shape and back.dtype == np.float64
    assert tiny_fitted.n_keypoints_ == 13 and tiny_fitted.n_features_in_ == 26
    assert tiny_fitted.codebook_.shape == (TINY["codebook_size"], TINY["token_dim"])


def test_fitted_attributes_and_history(tiny_fitted):
    h = tiny_fitted.history_
    assert [r["phase"] for r in h] == ["pretrain"] + ["joint"] * TINY["n_epochs"]
    assert {"reconstruction_loss", "mean_joint_error", "codebook_usage", "perplexity"} <= set(h[-1])
    assert 0 < tiny_fitted.codebook_usage_ <= 1
    assert tiny_fitted.device_ in ("cpu", "cuda", "cuda:0")
    assert next(tiny_fitted.network_.parameters()).device.type == "cpu"


def test_three_d_input_equals_flat_input(tiny_fitted, stick_figures):
    X = stick_figures[0][:20]
    np.testing.assert_array_equal(tiny_fitted.transform(X.reshape(20, 13, 2)), tiny_fitted.transform(X))


def test_inverse_transform_in_units_of_x(stick_figures):
    """Scaling and shifting X scales and shifts the reconstruction the same way."""
    X = stick_figures[0]
    a = PoseTokenizer(**TINY).fit(X)
    b = PoseTokenizer(**TINY).fit(X * 1000.0 + 5.0)
    np.testing.assert_array_equal(a.transform(X), b.transform(X * 1000.0 + 5.0))
    np.testing.assert_allclose(
        b.inverse_transform(b.transform(X * 1000.0 + 5.0)),
        a.inverse_transform(a.transform(X)) * 1000.0 + 5.0,
        rtol=1e-5,
    )


def test_score_is_negative_mean_joint_error(tiny_fitted, stick_figures):
    X = stick_figures[0][:50]
    recon = tiny_fitted.inverse_transform(tiny_fitted.transform(X))
    err = np.linalg.norm((recon - X).reshape(50, -1, 2), axis=-1).mean()
    assert tiny_fitted.score(X) == pytest.approx(-err, rel=1e-4)


def test_same_seed_same_tokens_and_global_rng_untouched(stick_figures):
    X = stick_figures[0]
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a = PoseTokenizer(**TINY).fit(X).transform(X)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    b = PoseTokenizer(**TINY).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
    c = PoseTokenizer(**{**TINY, "random_state": 1}).fit(X).transform(X)
    assert not np.array_equal(a, c)


def test_input_not_modified(stick_figures):
    X = hide_joints(stick_figures[0], 0.1, seed=0)
    X_copy = X.copy()
    tok = PoseTokenizer(**TINY).fit(X)
    tok.transform(X)
    tok.score(X)
    np.testing.assert_array_equal(X, X_copy)
    ids = tok.transform(X)
    ids_copy = ids.copy()
    tok.inverse_transform(ids)
    np.testing.assert_array_equal(ids, ids_copy)


def test_feature_names_and_pandas_output(tiny_fitted, stick_figures):
    pd = pytest.importorskip("pandas")
    names = tiny_fitted.get_feature_names_out()
    assert list(names) == [f"token_{i}" for i in range(TINY["n_tokens"])]
    tok = PoseTokenizer(**TINY).set_output(transform="pandas")
    df_in = pd.DataFrame(stick_figures[0], columns=[f"{a}{i}" for i in range(13) for a in "xy"])
    out = tok.fit_transform(df_in)
    assert list(out.columns) == list(names) and out.dtypes.unique().tolist() == [np.int64]
    assert tok.inverse_transform(out).shape == df_in.shape


def test_codebook_builds_onehot_categories(tiny_fitted, stick_figures):
    from sklearn.preprocessing import OneHotEncoder

    ids = tiny_fitted.transform(stick_figures[0][:10])
    categories = [np.arange(len(tiny_fitted.codebook_))] * TINY["n_tokens"]
    onehot = OneHotEncoder(categories=categories).fit(ids)
    assert onehot.transform(ids).shape == (10, TINY["n_tokens"] * TINY["codebook_size"])


def test_not_fitted_errors(stick_figures):
    tok = PoseTokenizer()
    for method in (tok.transform, tok.inverse_transform, tok.score):
        with pytest.raises(NotFittedError):
            method(stick_figures[0][:2])
    with pytest.raises(NotFittedError):
        _ = tok.codebook_


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.zeros((5, 3)), ValueError, "not a multiple of n_dims=2"),
        (np.zeros((5, 4, 0)), ValueError, "no coordinates"),
        (np.full((5, 4), np.inf), ValueError, "infinity"),
        (np.array([["a", "b"], ["c", "d"]]), ValueError, "convert"),
        (np.array([[np.nan, 1.0, 2.0, 3.0]]), ValueError, "some but not all"),
        (np.array([[np.nan, np.nan, np.nan, np.nan], [1.0, 2, 3, 4]]), ValueError, "no observed keypoint"),
    ],
)
def test_fit_rejects_bad_input(X, error, match):
    with pytest.raises(error, match=match):
        PoseTokenizer(**TINY).fit(X)


def test_transform_rejects_wrong_width(tiny_fitted):
    with pytest.raises(ValueError, match="features"):
        tiny_fitted.transform(np.zeros((2, 24)))


@pytest.mark.parametrize(
    "ids, error, match",
    [
        (np.zeros((2, 3), dtype=int), ValueError, r"shape \(n_samples, 4\)"),
        (np.zeros(4, dtype=int), ValueError, "shape"),
        (np.full((2, 4), 16), ValueError, r"\[0, 16\)"),
        (np.full((2, 4), -1), ValueError, r"\[0, 16\)"),
        (np.full((2, 4), 0.5), ValueError, "whole numbers"),
        (np.full((2, 4), np.nan), ValueError, "whole numbers"),
        (np.array([["a"] * 4]), TypeError, "integers"),
        (np.ones((2, 4), dtype=bool), TypeError, "integers"),
    ],
)
def test_inverse_transform_rejects_bad_ids(tiny_fitted, ids, error, match):
    with pytest.raises(error, match=match):
        tiny_fitted.inverse_transform(ids)


def test_inverse_transform_accepts_integral_floats(tiny_fitted):
    ids = np.array([[0, 1, 2, 3]])
    np.testing.assert_array_equal(
        tiny_fitted.inverse_transform(ids.astype(float)), tiny_fitted.inverse_transform(ids)
    )


def test_bad_parameters_are_rejected(stick_figures):
    with pytest.raises(ValueError, match="strategy"):
        PoseTokenizer(strategy="bogus").fit(stick_figures[0])
    with pytest.raises(ValueError, match="codebook_size"):
        PoseTokenizer(codebook_size=1).fit(stick_figures[0])


@pytest.mark.parametrize("name", ["n_tokens", "token_dim", "n_epochs", "batch_size", "n_threads", "n_dims",
                                  "learning_rate", "commitment_weight"])
def test_bools_are_not_numbers(stick_figures, name):
    # scikit-learn's Interval(Integral) takes True as 1; n_tokens=True used to fail deep inside torch
    with pytest.raises(TypeError, match=rf"'{name}' parameter of PoseTokenizer must be a number, got True \(a bool\)"):
        PoseTokenizer(**{**TINY, name: True}).fit(stick_figures[0])
    with pytest.raises(ValueError, match=name):  # InvalidParameterError is both
        PoseTokenizer(**{**TINY, name: True}).partial_fit(stick_figures[0])
    with pytest.raises(ValueError, match=name):  # numpy's bool is no Integral: scikit-learn's own check
        PoseTokenizer(**{**TINY, name: np.bool_(True)}).fit(stick_figures[0])


def test_a_seed_gives_the_same_fit_whatever_the_openmp_threads(stick_figures):
    # scikit-learn's KMeans (the codebook's start, the refinement codebooks) adds its threads'
    # partial sums in the order they finish: with more than two threads a seed gave another fit.
    # Torch's own threads stay as they are (n_threads); OpenMP's limit would set them too.
    X = stick_figures[0]
    params = dict(**TINY, encode="latent", refinement_stages=1, refinement_codebook_size=8, device="cpu",
                  n_threads=1)
    fits = []
    for threads in (1, 2, 8, 8):
        with threadpool_limits(limits=threads, user_api="openmp"):
            fits.append(PoseTokenizer(**params).fit(X))
    for other in fits[1:]:
        np.testing.assert_array_equal(other.refinement_codebooks_, fits[0].refinement_codebooks_)
        np.testing.assert_array_equal(other.transform(X), fits[0].transform(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_requested_without_gpu_is_a_clear_error(stick_figures):
    with pytest.raises(ValueError, match="cuda"):
        PoseTokenizer(**TINY, device="cuda").fit(stick_figures[0])


def test_collapse_warning_names_fraction():
    X = np.tile(np.arange(26.0), (200, 1))  # one pose repeated: only one code can be used
    with pytest.warns(CodebookCollapseWarning, match=r"use \d+ of 16 codes"):
        PoseTokenizer(**{**TINY, "n_tokens": 1}).fit(X)


def test_joblib_round_trip_identical_tokens(tiny_fitted, stick_figures, tmp_path):
    path = tmp_path / "tok.joblib"
    joblib.dump(tiny_fitted, path)
    loaded = joblib.load(path)
    X = stick_figures[0]
    np.testing.assert_array_equal(loaded.transform(X), tiny_fitted.transform(X))


def test_verbose_prints_one_line_per_epoch(stick_figures, capsys):
    tok = PoseTokenizer(**{**TINY, "verbose": 1}).fit(stick_figures[0])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[PoseTokenizer]")]
    assert len(lines) == len(tok.history_) == TINY["pretrain_epochs"] + TINY["n_epochs"]


@pytest.mark.parametrize("strategy", ["staged", "joint"])
def test_both_strategies_fit(strategy, stick_figures):
    tok = PoseTokenizer(**{**TINY, "strategy": strategy}).fit(stick_figures[0])
    assert tok.history_[-1]["phase"] == ("quantized" if strategy == "staged" else "joint")


def test_missing_joints_in_fit_and_transform(stick_figures):
    X = hide_joints(stick_figures[0], 0.2, seed=1)
    tok = PoseTokenizer(**{**TINY, "mask_probability": 0.2}).fit(X)
    ids = tok.transform(X)
    assert ids.shape == (len(X), TINY["n_tokens"])
    assert np.isfinite(tok.inverse_transform(ids)).all()
    assert np.isfinite(tok.score(X))


def test_set_params_after_fit_does_not_change_the_fitted_model(tmp_path, stick_figures):
    # issue 15, item 2: a fitted model keeps the configuration it was fitted with until refitted
    X = stick_figures[0][:100]
    tok = PoseTokenizer(**TINY).fit(X)
    ids, names, X_hat = tok.transform(X), tok.get_feature_names_out(), tok.inverse_transform(tok.transform(X))
    tok.set_params(n_tokens=8, codebook_size=4, token_dim=3, normalize="pose", refinement_stages=2)
    np.testing.assert_array_equal(tok.transform(X), ids)
    np.testing.assert_array_equal(tok.get_feature_names_out(), names)
    np.testing.assert_array_equal(tok.inverse_transform(ids), X_hat)
    assert tok.bits_per_pose_ == 4 * 4  # 4 tokens of 16 codes
    loaded = PoseTokenizer.load(tok.save(tmp_path / "tok.posetok"))
    np.testing.assert_array_equal(loaded.transform(X), ids)
    assert loaded.n_tokens == 4 and loaded.normalize == "dataset"


@pytest.mark.parametrize("context", ["inference_mode", "no_grad", "float64"])
def test_fit_does_not_depend_on_the_callers_torch_state(stick_figures, context):
    # issue 15, item 9
    import torch

    X = stick_figures[0][:100]
    reference = PoseTokenizer(**TINY).fit(X).transform(X)
    if context == "float64":
        before = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            tok = PoseTokenizer(**TINY).fit(X)
            ids = tok.transform(X)
        finally:
            torch.set_default_dtype(before)
        assert torch.get_default_dtype() == before
    else:
        manager = torch.inference_mode() if context == "inference_mode" else torch.no_grad()
        with manager:
            tok = PoseTokenizer(**TINY).fit(X)
            ids = tok.transform(X)
            assert not torch.is_grad_enabled()  # the caller's setting is back
    np.testing.assert_array_equal(ids, reference)


def test_random_state_none_leaves_numpy_global_rng_alone(stick_figures):
    # issue 15, item 10
    np.random.seed(7)
    expected = np.random.random()
    np.random.seed(7)
    PoseTokenizer(**{**TINY, "random_state": None}).fit(stick_figures[0][:50])
    assert np.random.random() == expected


def test_extreme_outlier_warns(stick_figures):
    # issue 15, item 3: one coordinate of 1e30 made every pose the same token string silently
    X = stick_figures[0][:200].copy()
    X[0, 0] = 1e30
    with pytest.warns(UserWarning, match="extreme outliers"):
        PoseTokenizer(**TINY).fit(X)


def test_ordinary_data_does_not_warn_of_outliers(stick_figures, recwarn):
    X = stick_figures[0][:200] * 1000.0 - 5e5  # any unit and offset
    PoseTokenizer(**TINY).fit(X)
    assert not [w for w in recwarn if "outliers" in str(w.message)]


def test_joint_never_observed_warns_by_index(stick_figures):
    # issue 15, item 15
    X = stick_figures[0][:100].copy()
    X[:, 6:8] = np.nan  # keypoint 3
    with pytest.warns(UserWarning, match=r"keypoint\(s\) \[3\] are missing \(NaN\) in every training pose"):
        PoseTokenizer(**TINY).fit(X)


def test_verbose_progress_gives_total_and_time_left(stick_figures, capsys):
    PoseTokenizer(**{**TINY, "verbose": 1}).fit(stick_figures[0][:100])
    out = capsys.readouterr().out
    assert "epoch 1/3 (pretrain)" in out and "epoch 3/3 (joint)" in out and "s left" in out


# ------------------------------------------------------------------ n_dims: 3-D and other dimensions
@pytest.fixture(scope="module")
def three_d_poses():
    from posetok.datasets import make_stick_figures_3d

    return make_stick_figures_3d(200, random_state=0)[0]


def test_n_dims_is_read_from_an_array_and_flat_input_needs_it(three_d_poses):
    X = three_d_poses
    tok = PoseTokenizer(**TINY).fit(X)
    assert tok.n_dims_ == 3 and tok.n_keypoints_ == 13 and tok.n_features_in_ == 39 and tok.n_dims == "auto"
    flat = PoseTokenizer(**TINY, n_dims=3).fit(X.reshape(200, -1))
    np.testing.assert_array_equal(flat.transform(X.reshape(200, -1)), tok.transform(X))
    np.testing.assert_array_equal(tok.transform(X.reshape(200, -1)), tok.transform(X))  # flat after fit: n_dims_
    # flat 39 columns without n_dims are x, y pairs: an odd width, refused with the hint
    with pytest.raises(ValueError, match="not a multiple of n_dims=2.*3 for x, y, z"):
        PoseTokenizer(**TINY).fit(X.reshape(200, -1))
    with pytest.raises(ValueError, match="3 coordinate.*but n_dims is 2"):
        PoseTokenizer(**TINY, n_dims=2).fit(X)
    with pytest.raises(ValueError, match="2 coordinate.*but n_dims is 3"):
        tok.transform(X[..., :2])


def test_three_d_missing_joints_and_refinement(three_d_poses):
    X = three_d_poses.copy()
    X[::5, 4] = np.nan  # a whole joint: all three coordinates
    tok = PoseTokenizer(**TINY, refinement_stages=1, refinement_codebook_size=8).fit(X)
    assert tok.refinement_codebooks_.shape == (1, 13, 8, 3)
    assert tok.inverse_transform(tok.transform(X)).shape == (200, 39)
    bad = X[:2].copy()
    bad[0, 6, 2] = np.nan  # z alone
    with pytest.raises(ValueError, match="keypoint 6 of sample 0 has some but not all of its 3 coordinates NaN"):
        tok.transform(bad)
    names = tok.set_params(encode="codes").get_feature_names_out()
    assert names[-3:].tolist() == ["refinement1_12_dim0", "refinement1_12_dim1", "refinement1_12_dim2"]
    codes = tok.transform(X[:5])
    assert codes.shape[1] == len(names)
    np.testing.assert_array_equal(tok.inverse_transform(codes), tok.set_params(encode="ordinal").inverse_transform(
        tok.transform(X[:5])))


@pytest.mark.parametrize("normalize", ["dataset", "pose"])
@settings(max_examples=6, deadline=None)
@given(n_dims=st.integers(1, 4), n_keypoints=st.integers(1, 5))
def test_any_dimension_round_trips_in_shape(normalize, n_dims, n_keypoints):
    X = np.random.default_rng(n_dims * 10 + n_keypoints).normal(size=(60, n_keypoints, n_dims)) * 5
    tok = PoseTokenizer(**{**TINY, "n_epochs": 1, "pretrain_epochs": 0}, normalize=normalize).fit(X)
    assert tok.n_dims_ == n_dims
    ids = tok.transform(X)
    assert ids.shape == (60, TINY["n_tokens"])
    out = tok.inverse_transform(ids)
    assert out.shape == (60, n_keypoints * n_dims) and np.isfinite(out).all()


# ------------------------------------------------------------------ n_threads
def test_n_threads_is_set_for_the_call_and_put_back(stick_figures, monkeypatch):
    import posetok.codec as codec

    X = stick_figures[0][:200]
    before = torch.get_num_threads()
    tok = PoseTokenizer(**TINY, n_threads=1).fit(X)
    assert torch.get_num_threads() == before
    seen, real_encode = [], codec.encode

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(codec, "encode", spy)
    tok.transform(X)
    assert seen == [1] and torch.get_num_threads() == before


def test_n_threads_one_equals_one_torch_thread(stick_figures):
    X = stick_figures[0][:300]
    before = torch.get_num_threads()
    ids = PoseTokenizer(**TINY, n_threads=1).fit_transform(X)
    torch.set_num_threads(1)
    try:
        expected = PoseTokenizer(**TINY).fit_transform(X)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(ids, expected)


def test_n_threads_is_put_back_after_an_error_and_validated(tiny_fitted, stick_figures):
    before = torch.get_num_threads()
    tok = PoseTokenizer(**TINY, n_threads=1)
    with pytest.raises(ValueError):
        tok.fit(np.zeros((5, 3)))
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n_threads"):
        PoseTokenizer(**TINY, n_threads=0).fit(stick_figures[0][:50])
    import copy

    broken = copy.deepcopy(tiny_fitted).set_params(n_threads=-2)
    with pytest.raises(ValueError, match="n_threads must be an integer from 1 to 4096"):
        broken.transform(stick_figures[0][:2])
    assert torch.get_num_threads() == before


@pytest.fixture
def two_torch_threads():
    """torch at 2 threads or more for the test (under ``pytest -n`` a worker may have 1), put back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(2, before))
    yield
    torch.set_num_threads(before)


def test_auto_threads_follow_the_free_cores_and_the_work_size(monkeypatch, two_torch_threads):
    import posetok.tokenizer as module

    monkeypatch.setitem(module._LOAD, "time", -np.inf)
    monkeypatch.setattr(module, "_free_cores", lambda window: 1)  # another process keeps a core busy
    assert module._auto_threads(10_000, fitting=True) == 1
    monkeypatch.setattr(module, "_free_cores", lambda window: 64)
    monkeypatch.setitem(module._LOAD, "time", -np.inf)
    assert module._auto_threads(10_000, fitting=True) == torch.get_num_threads()  # never above torch's setting
    assert module._auto_threads(10, fitting=False) == 1  # a small transform: one thread
    monkeypatch.setitem(module._LOAD, "time", -np.inf)
    assert module._auto_threads(1000, fitting=False) == torch.get_num_threads()  # not measured: too small


def test_free_cores_is_between_one_and_the_cpu_set():
    import posetok.tokenizer as module

    assert 1 <= module._free_cores(0.02) <= module._cpu_set_size()


def test_n_threads_auto_fits_with_the_chosen_count_and_puts_torch_back(stick_figures, monkeypatch):
    import posetok.tokenizer as module
    import posetok.training as training

    monkeypatch.setitem(module._LOAD, "time", -np.inf)
    monkeypatch.setattr(module, "_free_cores", lambda window: 1)
    seen, real = [], training.run_epoch

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "run_epoch", spy)
    before = torch.get_num_threads()
    X = stick_figures[0][:200]
    tok = PoseTokenizer(**TINY, n_threads="auto").fit(X)
    assert set(seen) == {1} and torch.get_num_threads() == before
    ids = tok.transform(X)
    np.testing.assert_array_equal(ids, PoseTokenizer(**TINY, n_threads=1).fit(X).transform(X))


def test_default_threads_follow_the_load_only_without_a_seed(stick_figures, monkeypatch, two_torch_threads):
    import posetok.tokenizer as module
    import posetok.training as training

    monkeypatch.setattr(module, "_free_cores", lambda window: 1)  # another process keeps a core busy
    seen, real = [], training.run_epoch

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "run_epoch", spy)
    X = stick_figures[0][:200]
    monkeypatch.setitem(module._LOAD, "time", -np.inf)
    PoseTokenizer(**{**TINY, "random_state": None}).fit(X)  # nothing to reproduce: the free core only
    assert set(seen) == {1}
    seen.clear()
    monkeypatch.setitem(module._LOAD, "time", -np.inf)
    PoseTokenizer(**TINY).fit(X)  # a seed: torch's setting, so that the seed reproduces the model
    assert set(seen) == {torch.get_num_threads()}


def test_per_token_codebooks_give_ids_per_position_and_every_encoding_round_trips(stick_figures):
    X = stick_figures[0]
    M, V, D = TINY["n_tokens"], TINY["codebook_size"], TINY["token_dim"]
    tok = PoseTokenizer(**TINY, codebooks="per_token").fit(X)
    assert tok.codebook_.shape == (M, V, D)
    ids = tok.transform(X)
    assert ids.shape == (len(X), M) and ids.min() >= 0 and ids.max() < V
    # usage counts (position, code) pairs: M * V codes in all
    assert tok.codebook_usage_ == pytest.approx(sum(len(np.unique(ids[:, m])) for m in range(M)) / (M * V))
    decoded = tok.inverse_transform(ids)
    for encode in ("onehot", "onehot-dense", "codes", "latent"):
        other = clone(tok).set_params(encode=encode).fit(X)
        np.testing.assert_array_equal(other.inverse_transform(other.transform(X)), decoded)
    codes = clone(tok).set_params(encode="codes").fit(X).transform(X[:1]).reshape(M, D)
    np.testing.assert_allclose(codes, tok.codebook_[np.arange(M), ids[0]], rtol=1e-6)
