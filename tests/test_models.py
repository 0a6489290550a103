"""The pretrained models shipped in posetok/models (posetok.pretrained)."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from posetok import PoseImputer, PoseTokenizer, available_models, pretrained
from posetok.models import MODELS

from .conftest import DATA_DIR

NAMES = sorted(MODELS)


@pytest.fixture(scope="module", params=NAMES)
def model(request):
    return request.param, pretrained(request.param)


def fixture(name):
    """32 COCO val persons in pixels (NaN: unlabelled) and the ids the model gave them when it was shipped."""
    with np.load(DATA_DIR / f"pretrained_{name}.npz") as d:
        return d["X"], d["ids"]


def test_available_models_name_each_file():
    assert set(available_models()) == set(MODELS) == {"coco17", "coco17-compact"}
    with pytest.raises(ValueError, match="no pretrained model 'coco18'"):
        pretrained("coco18")


def test_shipped_files_are_small():
    from importlib import resources

    for info in MODELS.values():
        assert (resources.files("posetok.models") / info.file).stat().st_size <= 2 * 2**20


def test_configuration_is_the_recorded_one(model):
    name, tok = model
    assert tok.n_keypoints_ == 17 and tok.n_dims_ == 2 and tok.normalize_ == "pose"
    params = tok.get_params()
    assert all(params[k] == v for k, v in MODELS[name].params.items())
    assert next(tok.network_.parameters()).device == torch.device("cpu")


def test_ids_reproduce_the_recorded_fixture(model):
    name, tok = model
    X, ids = fixture(name)
    assert np.isnan(X).any()  # the fixture has unlabelled joints, as detector output does
    np.testing.assert_array_equal(tok.transform(X), ids)


def test_a_model_fitted_with_boxes_says_so_and_reproduces_its_box_ids(model):
    name, tok = model
    assert tok.fitted_with_boxes_ is MODELS[name].boxes
    if not MODELS[name].boxes:
        return
    with np.load(DATA_DIR / f"pretrained_{name}.npz") as d:
        X, boxes, ids = d["X"], d["boxes"], d["ids_with_boxes"]
    np.testing.assert_array_equal(tok.transform(X, boxes=boxes), ids)
    assert (ids != tok.transform(X)).any()  # the boxes frame the poses differently from their joints
    # any pixel scale: poses and boxes scaled and moved together keep their ids
    moved = boxes * 8.0 + [500.0, -200.0, 0.0, 0.0]  # corners moved, sizes scaled
    np.testing.assert_array_equal(tok.transform(X * 8.0 + [500.0, -200.0] * 17, boxes=moved), ids)


@pytest.mark.parametrize("scale, shift", [(0.25, 0.0), (4.0, 0.0), (16.0, 1000.0), (1.0, -300.0)])
def test_pixels_at_any_scale_give_the_same_ids(model, scale, shift):
    """COCO pixels are whole numbers: powers of two and whole shifts change them exactly."""
    name, tok = model
    X, ids = fixture(name)
    np.testing.assert_array_equal(tok.transform(X * scale + shift), ids)


def test_decoding_maps_back_to_pixels_at_any_scale(model):
    from posetok.normalization import frame

    name, tok = model
    X, _ = fixture(name)
    for scale in (0.37, 1.0, 23.0):  # boxes of a few pixels to thousands
        Xs = X * scale + 50.0
        _, centre, size = frame(Xs, "pose", 2)
        decoded = tok.inverse_transform(tok.transform(Xs)).reshape(len(X), 17, 2) * size[:, None, None]
        decoded = (decoded + centre[:, None]).reshape(len(X), -1)
        error = np.nanmean(np.abs(decoded - Xs).reshape(len(X), 17, 2).sum(-1), 1) / size
        assert np.median(error) < 0.15  # in units of each pose's box side, whatever the scale


def test_missing_joints_are_filled_by_a_frozen_pretrained_model():
    tok = pretrained("coco17")
    X, _ = fixture("coco17")
    complete = X[~np.isnan(X).any(1)]
    assert len(complete) >= 5
    gappy = complete.copy()
    gappy[:, 18:22] = np.nan  # both wrists
    before = {k: v.clone() for k, v in tok.network_.state_dict().items()}
    filled = PoseImputer(FrozenEstimator(tok)).fit(gappy).transform(gappy)
    assert all(torch.equal(v, tok.network_.state_dict()[k]) for k, v in before.items())  # nothing refitted
    np.testing.assert_array_equal(filled[:, :18], complete[:, :18])
    wrist_error = np.abs(filled[:, 18:22] - complete[:, 18:22]).mean()
    elbow_to_wrist = np.abs(complete[:, 14:18] - complete[:, 18:22]).mean()  # a forearm, roughly
    assert wrist_error < elbow_to_wrist


def test_frozen_imputer_refuses_random_state_and_other_widths():
    tok = pretrained("coco17")
    X, _ = fixture("coco17")
    with pytest.raises(ValueError, match="frozen tokenizer is never fitted"):
        PoseImputer(FrozenEstimator(tok), random_state=0).fit(X)
    with pytest.raises(ValueError, match="fitted on 34"):
        PoseImputer(FrozenEstimator(tok)).fit(X[:, :30])
    with pytest.raises(NotFittedError):
        PoseImputer(FrozenEstimator(PoseTokenizer())).fit(X)


def test_frozen_pretrained_tokenizer_in_a_pipeline_is_not_refitted():
    tok = pretrained("coco17").set_params(encode="latent")
    X, _ = fixture("coco17")
    y = np.arange(len(X)) % 2
    before = tok.transform(X)
    pipe = make_pipeline(FrozenEstimator(tok), StandardScaler(), LogisticRegression()).fit(X, y)
    np.testing.assert_array_equal(pipe[0].transform(X), before)
    # clone keeps a FrozenEstimator as it is (fitted); a bare tokenizer clones to an unfitted one
    cloned = clone(pipe).fit(X, y)
    np.testing.assert_array_equal(cloned[0].transform(X), before)
    with pytest.raises(NotFittedError):
        clone(tok).transform(X)
