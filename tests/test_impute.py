import joblib
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline

from posetok import PoseImputer, PoseTokenizer
from posetok.impute import DEFAULT_TOKENIZER_PARAMS, default_tokenizer_params

from .conftest import TINY, hide_joints


@pytest.fixture(scope="module")
def gappy(stick_figures):
    return hide_joints(stick_figures[0], 0.15, seed=3)


@pytest.fixture(scope="module")
def imputer(gappy):
    return PoseImputer(PoseTokenizer(**{**TINY, "mask_probability": 0.2})).fit(gappy)


def test_fills_missing_and_keeps_observed_exactly(imputer, gappy):
    before = gappy.copy()
    filled = imputer.transform(gappy)
    np.testing.assert_array_equal(gappy, before)  # input untouched
    assert not np.isnan(filled).any()
    observed = ~np.isnan(gappy)
    np.testing.assert_array_equal(filled[observed], gappy[observed])


def test_output_is_float64(imputer, gappy):
    assert imputer.transform(gappy).dtype == np.float64
    assert imputer.transform(gappy.astype(np.float32)).dtype == np.float64


def test_complete_input_is_returned_unchanged(imputer, stick_figures):
    X = stick_figures[0][:20]
    np.testing.assert_array_equal(imputer.transform(X), X)


def test_default_tokenizer_is_masked_deeper_and_param_not_modified(gappy):
    tok = PoseTokenizer(**TINY)
    imp = PoseImputer(tok).fit(gappy)
    assert imp.tokenizer is tok and not hasattr(tok, "network_")
    default = PoseImputer()
    assert default.tokenizer is None
    fitted = default.fit(gappy[:64])
    assert default.tokenizer is None
    params = fitted.tokenizer_.get_params()
    assert params["mask_probability"] == 0.3 and params["encoder_depth"] == 4
    assert fitted.tokenizer_.network_.config.encoder_depth == 4
    # the training length of 64 poses; a tokenizer passed in keeps its own
    assert (params["n_epochs"], params["batch_size"]) == (256, 32)
    assert (imp.tokenizer_.n_epochs, imp.tokenizer_.batch_size) == (TINY["n_epochs"], tok.batch_size)


def test_default_training_length_known_sizes():
    # the 8 475 complete COCO train persons of the benchmark; all train persons: the tokenizer's defaults
    assert default_tokenizer_params(8475) == {**DEFAULT_TOKENIZER_PARAMS, "n_epochs": 248, "batch_size": 64}
    assert default_tokenizer_params(149_813) == {**DEFAULT_TOKENIZER_PARAMS, "n_epochs": 60, "batch_size": 512}
    assert default_tokenizer_params(1) == {**DEFAULT_TOKENIZER_PARAMS, "n_epochs": 256, "batch_size": 32}


@given(st.integers(1, 10**7))
def test_default_training_length_bounds(n):
    params = default_tokenizer_params(n)
    epochs, batch = params["n_epochs"], params["batch_size"]
    assert 60 <= epochs <= 256 and 32 <= batch <= 512 and batch & (batch - 1) == 0
    # about two million poses seen, unless the epoch bounds say otherwise
    assert epochs == 60 or epochs == 256 or 2**21 <= epochs * n < 2**21 + n
    assert batch == 32 or batch == 512 or n / 256 < batch <= n / 128
    # fewer poses never train for fewer epochs or in larger batches
    smaller = default_tokenizer_params(max(1, n // 2))
    assert smaller["n_epochs"] >= epochs and smaller["batch_size"] <= batch


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "100", None])
def test_default_training_length_rejects_bad_sizes(n):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        default_tokenizer_params(n)


def test_bad_joints_rejected(imputer):
    X = np.ones((2, 26))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="some but not all"):
        imputer.transform(X)
    X = np.full((1, 26), np.nan)
    with pytest.raises(ValueError, match="no observed keypoint"):
        imputer.transform(X)


def test_pipeline_set_output_and_joblib(imputer, gappy, tmp_path):
    pd = pytest.importorskip("pandas")
    cols = [f"{a}{i}" for i in range(13) for a in "xy"]
    df = pd.DataFrame(gappy, columns=cols)
    imp = PoseImputer(PoseTokenizer(**TINY)).set_output(transform="pandas").fit(df)
    out = imp.transform(df)
    assert list(out.columns) == cols and not out.isna().any().any()
    pipe = make_pipeline(PoseImputer(PoseTokenizer(**TINY)), SimpleImputer()).fit(gappy)
    assert pipe.transform(gappy).shape == gappy.shape
    joblib.dump(imputer, tmp_path / "imp.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "imp.joblib").transform(gappy), imputer.transform(gappy))


@pytest.mark.slow
def test_imputes_better_than_the_mean(stick_figures):
    """Learning happens: hidden joints are recovered far better than by the mean pose."""
    from posetok.datasets import make_stick_figures

    X, _ = make_stick_figures(3000, random_state=0)
    X_test, _ = make_stick_figures(500, random_state=1)
    gappy = hide_joints(X_test, 0.2, seed=0)
    hidden = np.isnan(gappy)
    # batch 128: the default 512 leaves too few steps per epoch on 3000 poses
    imp = PoseImputer(PoseTokenizer(n_tokens=16, codebook_size=64, n_epochs=25, batch_size=128,
                                    mask_probability=0.2, random_state=0)).fit(hide_joints(X, 0.1, seed=1))
    err = np.abs(imp.transform(gappy) - X_test)[hidden].mean()
    err_mean = np.abs(SimpleImputer().fit(X).transform(gappy) - X_test)[hidden].mean()
    assert err < 0.35 * err_mean


def test_pose_normalised_tokenizer_fills_in_the_units_of_X(stick_figures):
    # issue 15, item 1: with normalize="pose" the filled joints were left in the per-pose frame
    X = stick_figures[0]
    X_missing = hide_joints(X, 0.15, seed=3)
    imputer = PoseImputer(PoseTokenizer(**{**TINY, "n_epochs": 20, "normalize": "pose"})).fit(X_missing)
    filled = imputer.transform(X_missing)
    hidden = np.isnan(X_missing)
    # a stick figure lives in a 64-px frame: filled joints must land near where they were hidden
    error = np.abs(filled[hidden] - X[hidden])
    assert np.median(error) < 8.0, np.median(error)
    assert filled[hidden].min() > 0.0


def test_failed_fit_leaves_the_imputer_as_it_was(stick_figures):
    # issue 15, item 8
    X = stick_figures[0][:100]
    imputer = PoseImputer(PoseTokenizer(**TINY))
    bad = X.copy()
    bad[3] = np.nan  # a pose with no observed joint
    with pytest.raises(ValueError, match="sample 3"):
        imputer.fit(bad)
    assert not hasattr(imputer, "n_features_in_") and not hasattr(imputer, "tokenizer_")
    imputer.fit(X)
    with pytest.raises(ValueError):
        imputer.fit(np.hstack([bad, bad[:, :2]]))  # another width, and a pose with no joint
    assert imputer.n_features_in_ == 26
    filled = imputer.transform(hide_joints(X, 0.1, seed=0))
    assert filled.shape == X.shape and not np.isnan(filled).any()


def test_transform_errors_name_the_row_of_X(stick_figures):
    imputer = PoseImputer(PoseTokenizer(**TINY)).fit(stick_figures[0][:100])
    X = hide_joints(stick_figures[0][:10], 0.1, seed=0)
    X[7] = np.nan
    with pytest.raises(ValueError, match="sample 7"):
        imputer.transform(X)


def test_random_state_seeds_the_default_tokenizer(stick_figures):
    X = hide_joints(stick_figures[0][:150], 0.1, seed=1)
    tok = PoseTokenizer(**TINY)
    a = PoseImputer(tok, random_state=3).fit(X)
    b = PoseImputer(tok, random_state=3).fit(X)
    assert a.tokenizer_.random_state == 3 and tok.random_state == 0  # the given tokenizer is not modified
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_fills_missing_joints_with_per_token_codebooks(gappy):
    imputer = PoseImputer(PoseTokenizer(**TINY, codebooks="per_token")).fit(gappy)
    filled = imputer.transform(gappy)
    observed = ~np.isnan(gappy)
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[observed], gappy[observed])
    assert imputer.tokenizer_.codebook_.shape == (TINY["n_tokens"], TINY["codebook_size"], TINY["token_dim"])


@pytest.mark.parametrize("decode", ["tokens", "latent"])
def test_decode_options_fill_missing_and_keep_observed(imputer, gappy, decode):
    from sklearn.frozen import FrozenEstimator

    # the same fitted tokenizer: only transform differs
    imp = PoseImputer(FrozenEstimator(imputer.tokenizer_), decode=decode).fit(gappy)
    before = gappy.copy()
    filled = imp.transform(gappy)
    np.testing.assert_array_equal(gappy, before)
    assert not np.isnan(filled).any()
    observed = ~np.isnan(gappy)
    np.testing.assert_array_equal(filled[observed], gappy[observed])


def test_latent_decoding_is_the_decoder_of_the_encoder_outputs(imputer, gappy):
    import torch
    from sklearn.frozen import FrozenEstimator

    tok = imputer.tokenizer_
    rows = np.isnan(gappy).any(1)
    keypoints, observed = tok._network_inputs(gappy[rows])
    with torch.no_grad():
        poses = tok.network_.decoder(tok.network_.encoder(keypoints, observed)).double().numpy()
    expected = np.where(np.isnan(gappy[rows]), tok.normalizer_.inverse(poses.reshape(rows.sum(), -1)), gappy[rows])
    got = PoseImputer(FrozenEstimator(tok), decode="latent").fit(gappy).transform(gappy)[rows]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    # and it is not the token decoding
    assert np.abs(got - imputer.transform(gappy)[rows]).max() > 1e-3


def test_latent_decoding_with_person_boxes_fills_in_the_units_of_X(stick_figures):
    X = stick_figures[0][:200]
    gappy = hide_joints(X, 0.2, seed=6)
    kp = X.reshape(len(X), -1, 2)
    boxes = np.hstack([kp.min(1) - 2.0, kp.max(1) + 2.0])
    imp = PoseImputer(PoseTokenizer(**{**TINY, "n_epochs": 20, "normalize": "pose", "mask_probability": 0.2}),
                      decode="latent").fit(gappy, boxes=boxes)
    hidden = np.isnan(gappy)
    for filled in (imp.transform(gappy, boxes=boxes), imp.transform(gappy)):
        assert np.median(np.abs(filled[hidden] - X[hidden])) < 8.0  # a 64-px frame: near where they were


def test_bad_decode_is_refused(imputer, gappy):
    from sklearn.frozen import FrozenEstimator
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="decode"):
        PoseImputer(decode="codes").fit(gappy)
    imp = PoseImputer(FrozenEstimator(imputer.tokenizer_)).fit(gappy)
    with pytest.raises(InvalidParameterError, match="decode"):
        imp.set_params(decode="nearest").transform(gappy)


def test_an_imputer_pickled_before_decode_existed_loads_and_fills(imputer, gappy):
    import pickle

    state = dict(imputer.__getstate__())  # a copy: the fixture is shared
    del state["decode"]  # what a pickle from before the parameter holds
    old = PoseImputer.__new__(PoseImputer)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.decode == "tokens"
    np.testing.assert_array_equal(old.transform(gappy), imputer.transform(gappy))


# ------------------------------------------------------------- test-time mirroring (flip_pairs)
def _stick_pairs():
    from posetok.datasets import STICK_FIGURE_KEYPOINTS
    from posetok.symmetry import flip_pairs_from_names

    return flip_pairs_from_names(list(STICK_FIGURE_KEYPOINTS))


@pytest.mark.parametrize("decode", ["tokens", "latent"])
def test_mirrored_filling_is_the_mean_of_the_filling_and_the_mirror_images_filling(imputer, gappy, decode):
    from sklearn.frozen import FrozenEstimator

    from posetok.symmetry import mirror

    tok, pairs = imputer.tokenizer_, _stick_pairs()
    plain = PoseImputer(FrozenEstimator(tok), decode=decode).fit(gappy)
    imp = PoseImputer(FrozenEstimator(tok), decode=decode, flip_pairs=pairs).fit(gappy)
    before = gappy.copy()
    filled = imp.transform(gappy)
    np.testing.assert_array_equal(gappy, before)  # input untouched
    centre = tok.mean_[0::2].mean()  # the mirror stands at the training poses' mean x
    through_mirror = mirror(plain.transform(mirror(gappy, pairs, centre=centre)), pairs, centre=centre)
    expected = (plain.transform(gappy) + through_mirror) / 2
    np.testing.assert_allclose(filled, expected, rtol=0, atol=1e-9)
    observed = ~np.isnan(gappy)
    np.testing.assert_array_equal(filled[observed], gappy[observed])
    assert np.abs(filled - plain.transform(gappy)).max() > 1e-3  # the mirror image did change the filling


def test_mirrored_filling_is_mirror_symmetric(imputer, gappy):
    """Filling a pose's mirror image gives the mirror image of its filling: neither side is favoured."""
    from sklearn.frozen import FrozenEstimator

    from posetok.symmetry import mirror

    pairs = _stick_pairs()
    imp = PoseImputer(FrozenEstimator(imputer.tokenizer_), flip_pairs=pairs).fit(gappy)
    centre = imputer.tokenizer_.mean_[0::2].mean()
    flip = lambda X: mirror(X, pairs, centre=centre)  # noqa: E731
    np.testing.assert_allclose(imp.transform(flip(gappy)), flip(imp.transform(gappy)), rtol=0, atol=1e-9)


def test_mirrored_filling_with_person_boxes_mirrors_the_boxes(stick_figures):
    from sklearn.frozen import FrozenEstimator

    X = stick_figures[0][:200]
    gappy = hide_joints(X, 0.2, seed=6)
    kp = X.reshape(len(X), -1, 2)
    boxes = np.hstack([kp.min(1) - 2.0, kp.max(1) - kp.min(1) + 4.0])  # lowest corner and size
    tok = PoseTokenizer(**{**TINY, "normalize": "pose", "mask_probability": 0.2}).fit(gappy, boxes=boxes)
    pairs = _stick_pairs()
    imp = PoseImputer(FrozenEstimator(tok), flip_pairs=pairs).fit(gappy)
    # a pose framed by its box ignores where the mirror stands: moving every pose and box moves the filling
    shift = np.tile([17.0, -5.0], kp.shape[1])
    moved = imp.transform(gappy + shift, boxes=boxes + [17.0, -5.0, 0.0, 0.0])
    np.testing.assert_allclose(moved - shift, imp.transform(gappy, boxes=boxes), rtol=0, atol=1e-6)
    # and the mirrored filling stays near the plain one (a box left unmirrored would frame the mirror image elsewhere)
    plain = PoseImputer(FrozenEstimator(tok)).fit(gappy).transform(gappy, boxes=boxes)
    hidden = np.isnan(gappy)
    assert np.median(np.abs(imp.transform(gappy, boxes=boxes)[hidden] - plain[hidden])) < 2.0


def test_mirror_options_are_checked_before_the_fit(gappy):
    with pytest.raises(ValueError, match="flip_pairs names joint 40"):
        PoseImputer(PoseTokenizer(**TINY), flip_pairs=[(0, 40)]).fit(gappy)
    with pytest.raises(ValueError, match="mirror_axis=2"):
        PoseImputer(PoseTokenizer(**TINY), flip_pairs=[(1, 2)], mirror_axis=2).fit(gappy)
    with pytest.raises(ValueError, match="flip_pairs must be a sequence"):
        PoseImputer(PoseTokenizer(**TINY), flip_pairs=[1, 2, 3]).fit(gappy)


def test_mirror_options_set_after_fit_are_checked_in_transform(imputer, gappy):
    from sklearn.frozen import FrozenEstimator
    from sklearn.utils._param_validation import InvalidParameterError

    imp = PoseImputer(FrozenEstimator(imputer.tokenizer_)).fit(gappy)
    with pytest.raises(ValueError, match="twin"):
        imp.set_params(flip_pairs=[(1, 1)]).transform(gappy)
    with pytest.raises(InvalidParameterError, match="mirror_axis"):
        imp.set_params(flip_pairs=None, mirror_axis=-1).transform(gappy)
    with pytest.raises(InvalidParameterError, match="a bool"):
        imp.set_params(mirror_axis=True).transform(gappy)


def test_mirrored_filling_in_3d_reflects_the_chosen_axis():
    from sklearn.frozen import FrozenEstimator

    from posetok.datasets import make_stick_figures_3d
    from posetok.symmetry import mirror

    X, _ = make_stick_figures_3d(300, random_state=0)
    X = X.reshape(len(X), -1)
    gappy = hide_joints(X, 0.2, seed=1, n_dims=3)
    tok = PoseTokenizer(**{**TINY, "mask_probability": 0.2}).set_params(n_dims=3).fit(gappy)
    pairs = _stick_pairs()
    for axis in (0, 2):
        imp = PoseImputer(FrozenEstimator(tok), flip_pairs=pairs, mirror_axis=axis).fit(gappy)
        centre = tok.mean_[axis::3].mean()
        flip = lambda Z, a=axis, c=centre: mirror(Z, pairs, n_dims=3, axis=a, centre=c)  # noqa: E731
        np.testing.assert_allclose(imp.transform(flip(gappy)), flip(imp.transform(gappy)), rtol=0, atol=1e-9)


def test_an_imputer_pickled_before_the_mirror_options_loads_and_fills(imputer, gappy):
    import pickle

    state = dict(imputer.__getstate__())
    del state["flip_pairs"], state["mirror_axis"]
    old = PoseImputer.__new__(PoseImputer)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert (old.flip_pairs, old.mirror_axis) == (None, 0)
    np.testing.assert_array_equal(old.transform(gappy), imputer.transform(gappy))
