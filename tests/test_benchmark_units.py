"""The COCO benchmarks report joint errors in one unit, so their figures can be compared."""

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from posetok.datasets import normalize_to_box
from posetok.metrics import joint_distances

ROOT = Path(__file__).resolve().parents[1]


def test_pretrained_benchmark_reports_mpjpe_in_the_rate_distortion_unit(monkeypatch):
    # benchmarks/ is a folder of scripts that import each other by name
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    rate_distortion = importlib.import_module("coco_rate_distortion")
    pretrained = importlib.import_module("pretrained_coco17")
    rng = np.random.default_rng(0)
    n = 20
    bbox = np.column_stack([rng.uniform(0, 500, (n, 2)), rng.uniform(20, 400, (n, 2))])
    X = (bbox[:, None, :2] + rng.uniform(0, 1, (n, 17, 2)) * bbox[:, None, 2:]).reshape(n, -1)
    X_hat = X + rng.normal(0, 3, X.shape)
    normalised, centre, scale = normalize_to_box(X, bbox)
    normalised_hat, _, _ = normalize_to_box(X_hat, bbox)
    expected = rate_distortion.scores(normalised, normalised_hat, scale, np.full(n, 1e4))["mpjpe_pct"]
    got = 100 * np.mean(joint_distances(X, X_hat) / pretrained.box_unit(bbox)[:, None])
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_classification_benchmark_counts_classifier_fits_that_do_not_converge(monkeypatch):
    # the benchmark's accuracies are only comparable when its classifier fits converge; it counts those
    # that do not instead of silencing the warning
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    classification = importlib.import_module("classification")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 40))
    y = np.repeat([0, 1, 2], 30)
    X[:, 0] += 2 * y
    acc, C, _, unconverged = classification.accuracy(X[::2], y[::2], X[1::2], y[1::2])
    assert unconverged == 0 and 0.5 < acc <= 1 and C in classification.CS
    monkeypatch.setattr(classification, "MAX_ITER", 1)
    assert classification.accuracy(X[::2], y[::2], X[1::2], y[1::2])[3] > 0


def test_benchmarks_count_token_usage_by_the_tokenizers_codebooks(monkeypatch):
    # shared books: distinct ids of the token columns over codebook_size; per-token books: (position,
    # code) pairs; refinement columns never count
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    report = importlib.import_module("report")

    class Tok:  # the attributes token_usage reads from a fitted PoseTokenizer
        n_tokens, codebook_size, codebooks = 2, 4, "shared"

    ids = np.array([[0, 1, 3], [1, 1, 2]])  # the last column: a refinement id
    assert report.token_usage(Tok(), ids) == 0.5
    Tok.codebooks = "per_token"
    assert report.token_usage(Tok(), ids) == 3 / 8


def test_classification_benchmark_names_each_tokenizer_by_what_differs_from_the_defaults(monkeypatch):
    # rows of further tokenizers are told apart by name; the default's rows keep their plain names, so a
    # masking of 0 or the default token_dim given again is the default tokenizer, fitted once
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    classification = importlib.import_module("classification")
    variants = classification.tokenizer_variants((0.0, 0.3), [{"token_dim": 64}, {"token_dim": 32}])
    assert variants == [(), (("mask_probability", 0.3),), (("token_dim", 64),)]
    names = [classification.variant("tokens latent", v) for v in variants]
    assert names == ["tokens latent", "tokens latent, tokenizer mask_probability=0.3",
                     "tokens latent, tokenizer token_dim=64"]
    for bad in ({"n_epochs": 3}, {"random_state": 1}, {"encode": "latent"}, {"token_size": 8}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            classification.tokenizer_variants((0.0,), [bad])


def test_classification_benchmark_records_what_its_figures_may_depend_on(monkeypatch):
    # reruns in other sessions differed by a test video or two: every row names the packages, CPU and kernels
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    classification = importlib.import_module("classification")
    env = classification.environment()
    assert {"numpy", "scipy", "scikit-learn", "torch", "joblib", "python", "cpu", "torch_cpu_capability",
            "blas"} <= set(env)
    assert env["numpy"] == np.__version__ and env["cpu"] and isinstance(env["blas"], list)
    json.dumps(env)  # written into the results file beside each row


def test_classification_benchmark_per_pose_normalisation_ignores_the_box(monkeypatch):
    # --normalization pose: a frame's own joints set its centre and scale, so any shift and scale of a
    # frame give the same features; frames without two distinct visible joints are left out
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    classification = importlib.import_module("classification")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 5, 2))
    X[1, 2:] = np.nan  # three hidden joints: the visible ones set centre and scale
    X[4, 1:] = np.nan  # one visible joint: no scale
    X[5] = 3.0  # every joint at one point: no scale
    moved = X * rng.uniform(0.5, 4, (6, 1, 1)) + rng.normal(size=(6, 1, 2)) * 10
    out, ok = classification.normalize_per_pose(X.reshape(6, -1))
    np.testing.assert_array_equal(ok, [True, True, True, True, False, False])
    np.testing.assert_allclose(classification.normalize_per_pose(moved.reshape(6, -1))[0][ok], out[ok], atol=1e-12)
    assert np.isnan(out[~ok]).all()
    kp = out[ok].reshape(4, 5, 2)
    np.testing.assert_allclose(np.nanmean(kp, axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(np.nanmean(np.linalg.norm(kp, axis=2), axis=1), 1)
    np.testing.assert_array_equal(np.isnan(kp), np.isnan(X[:4]))


def test_imputation_benchmark_training_factor_scales_the_default_training_length(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    imputation = importlib.import_module("imputation")
    from posetok.impute import default_tokenizer_params

    default = default_tokenizer_params(8475)
    assert imputation.posetok_imputer(None, 0.3, 4, 0, 8475).tokenizer.n_epochs == default["n_epochs"]
    tokenizer = imputation.posetok_imputer(None, 0.3, 4, 0, 8475, training_factor=2.0).tokenizer
    assert (tokenizer.n_epochs, tokenizer.batch_size) == (2 * default["n_epochs"], default["batch_size"])
    assert imputation.posetok_imputer(20, 0.3, 4, 0, 8475, training_factor=2.0).tokenizer.n_epochs == 20  # unscaled


def test_imputation_benchmark_width_sets_both_mixer_widths_and_nothing_else(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    imputation = importlib.import_module("imputation")

    default = imputation.posetok_imputer(None, 0.3, 4, 0, 8475).tokenizer.get_params()
    wide = imputation.posetok_imputer(None, 0.3, 4, 0, 8475, width=128).tokenizer.get_params()
    assert (default["encoder_width"], default["decoder_width"]) == (64, 64)
    assert (wide["encoder_width"], wide["decoder_width"]) == (128, 128)
    assert {k: v for k, v in wide.items() if v != default[k]} == {"encoder_width": 128, "decoder_width": 128}
