"""Person boxes (``boxes=``) with ``normalize="pose"``: validation, framing, decoding, imputation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posetok import PoseImputer, PoseTokenizer
from posetok.datasets import STICK_FIGURE_KEYPOINTS, make_stick_figures
from posetok.normalization import check_boxes, frame


def boxes_around(X, margin=0.2):
    """A box around each pose's joints, grown by ``margin`` of its size on every side and shifted down."""
    kp = X.reshape(len(X), -1, 2)
    lo, hi = np.nanmin(kp, 1), np.nanmax(kp, 1)
    size = hi - lo
    return np.hstack([lo - margin * size + [0, 0.1] * size, (1 + 2 * margin) * size])


@pytest.fixture(scope="module")
def poses():
    X, _ = make_stick_figures(600, random_state=0)
    return X


@pytest.fixture(scope="module")
def tok(poses):
    return PoseTokenizer(n_tokens=4, codebook_size=16, n_epochs=3, normalize="pose", random_state=0).fit(
        poses, boxes=boxes_around(poses))


def test_check_boxes_accepts_boxes_and_nan_rows_and_copies():
    boxes = np.array([[10, 20, 30, 60], [np.nan] * 4])
    checked = check_boxes(boxes, 2, 2)
    assert checked.dtype == np.float64 and checked is not boxes
    checked[0, 0] = -1
    assert boxes[0, 0] == 10
    assert check_boxes(None, 5, 2) is None
    assert check_boxes(np.ones((3, 6)), 3, 3).shape == (3, 6)  # 3-D: corner and size


@pytest.mark.parametrize("boxes, error, match", [
    (np.ones((3, 4)), ValueError, r"shape \(n_samples, 4\) = \(2, 4\)"),
    (np.ones((2, 3)), ValueError, "shape"),
    ([[1, 2, np.nan, 4], [1, 2, 3, 4]], ValueError, "row 0 is partly NaN"),
    ([[1, 2, 3, 4], [1, 2, -3, 4]], ValueError, "row 1 has a negative size"),
    ([[1, 2, 0, 0], [1, 2, 3, 4]], ValueError, "row 0 has no size"),
    ([[1, 2, 3, 4], [np.inf, 2, 3, 4]], ValueError, "row 1 is infinite"),
    ([["a", "b", "c", "d"]] * 2, TypeError, "numbers"),
])
def test_bad_boxes_are_refused_with_the_row(boxes, error, match):
    with pytest.raises(error, match=match):
        check_boxes(boxes, 2, 2)


def test_boxes_need_per_pose_frames(poses):
    with pytest.raises(ValueError, match="normalize='pose' only"):
        PoseTokenizer(n_tokens=2, codebook_size=4, n_epochs=1).fit(poses[:50], boxes=boxes_around(poses[:50]))
    fitted = PoseTokenizer(n_tokens=2, codebook_size=4, n_epochs=1, random_state=0).fit(poses[:50])
    for method in (fitted.transform, fitted.score):
        with pytest.raises(ValueError, match="normalize='pose' only"):
            method(poses[:5], boxes=boxes_around(poses[:5]))


def test_bad_boxes_at_every_method(tok, poses):
    bad = boxes_around(poses[:5])[:4]
    for call in (lambda: tok.transform(poses[:5], boxes=bad), lambda: tok.score(poses[:5], boxes=bad),
                 lambda: tok.inverse_transform(tok.transform(poses[:5]), boxes=bad),
                 lambda: PoseImputer(tok.__class__(**tok.get_params())).fit(poses[:5], boxes=bad)):
        with pytest.raises(ValueError, match="shape"):
            call()


def test_a_pose_is_framed_by_its_box(poses):
    boxes = boxes_around(poses[:3])
    framed, centre, size = frame(poses[:3], "pose", 2, boxes)
    np.testing.assert_allclose(centre, boxes[:, :2] + boxes[:, 2:] / 2)
    np.testing.assert_allclose(size, boxes[:, 2:].max(1))
    # a NaN row: the box of the joints, as without boxes
    boxes[1] = np.nan
    np.testing.assert_array_equal(frame(poses[:3], "pose", 2, boxes)[0][1], frame(poses[:3], "pose", 2)[0][1])


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(1e-3, 1e4), shift=st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4)))
def test_ids_do_not_depend_on_the_pixel_scale_with_boxes(tok, poses, scale, shift):
    """The same people at any image size and place, with their boxes, get the same ids."""
    X, boxes = poses[:40], boxes_around(poses[:40])
    moved = X.reshape(40, -1, 2) * scale + shift
    moved_boxes = np.hstack([boxes[:, :2] * scale + shift, boxes[:, 2:] * scale])
    np.testing.assert_array_equal(tok.transform(moved.reshape(40, -1), boxes=moved_boxes),
                                  tok.transform(X, boxes=boxes))


@pytest.mark.parametrize("scale", [0.01, 1.0, 500.0])
def test_inverse_transform_with_boxes_answers_in_the_units_of_the_boxes(tok, poses, scale):
    X, boxes = poses[:100] * scale, boxes_around(poses[:100]) * scale
    ids = tok.transform(X, boxes=boxes)
    back = tok.inverse_transform(ids, boxes=boxes)
    framed = tok.inverse_transform(ids)  # without boxes: in each pose's frame
    _, centre, size = frame(X, "pose", 2, boxes)
    expected = framed.reshape(100, -1, 2) * size[:, None, None] + centre[:, None]
    np.testing.assert_allclose(back, expected.reshape(100, -1))
    # the error scales with the pixels, so relative to the box it is the same at every scale
    relative = np.abs(back - X).mean() / scale
    np.testing.assert_allclose(relative, np.abs(tok.inverse_transform(tok.transform(poses[:100], boxes=boxes / scale),
                                                                     boxes=boxes / scale) - poses[:100]).mean(),
                               rtol=1e-6)
    assert -tok.score(X, boxes=boxes) == pytest.approx(-tok.score(poses[:100], boxes=boxes / scale), rel=1e-6)


def test_inverse_transform_needs_a_box_for_every_pose(tok, poses):
    boxes = boxes_around(poses[:3])
    boxes[2] = np.nan
    with pytest.raises(ValueError, match="row 2 is NaN"):
        tok.inverse_transform(tok.transform(poses[:3]), boxes=boxes)


def test_fit_with_boxes_is_reproducible_and_leaves_inputs_alone(poses):
    X, boxes = poses[:300].copy(), boxes_around(poses[:300])
    X0, boxes0 = X.copy(), boxes.copy()
    params = dict(n_tokens=4, codebook_size=16, n_epochs=2, normalize="pose", random_state=3)
    a = PoseTokenizer(**params).fit(X, boxes=boxes).transform(X, boxes=boxes)
    b = PoseTokenizer(**params).fit_transform(X, boxes=boxes)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(boxes, boxes0)


def test_imputer_with_boxes_keeps_observed_joints_and_inputs(tok, poses):
    from sklearn.frozen import FrozenEstimator

    X, boxes = poses[:50].copy(), boxes_around(poses[:50])
    X[:, 20:26] = np.nan  # hide three joints
    X0, boxes0 = X.copy(), boxes.copy()
    imputer = PoseImputer(FrozenEstimator(tok)).fit(X)
    filled = imputer.transform(X, boxes=boxes)
    assert not np.isnan(filled).any()
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(filled[observed], X[observed])
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(boxes, boxes0)


def test_a_box_tells_where_hidden_legs_are():
    """Learning with boxes: hidden legs are filled closer to the truth when the box is given.

    The figures' boxes reach to their feet; framed by the joints left (no legs), nothing
    says how long the legs are, framed by the box the feet are at its bottom. (Measured:
    6.0 px with boxes against 20.3 px without.)
    """
    X, _ = make_stick_figures(1000, random_state=1)
    X_test, _ = make_stick_figures(300, random_state=2)
    params = dict(n_tokens=8, codebook_size=64, n_epochs=10, normalize="pose", mask_probability=0.3, random_state=0)
    imputer = PoseImputer(PoseTokenizer(**params)).fit(X, boxes=boxes_around(X, 0.05))
    kp = X_test.reshape(len(X_test), -1, 2)
    legs = [STICK_FIGURE_KEYPOINTS.index(name) for name in ("left_knee", "right_knee", "left_foot", "right_foot")]
    gappy = kp.copy()
    gappy[:, legs] = np.nan
    gappy = gappy.reshape(len(X_test), -1)

    def error(boxes):
        filled = imputer.transform(gappy, boxes=boxes).reshape(kp.shape)
        return np.linalg.norm(filled[:, legs] - kp[:, legs], axis=-1).mean()

    with_boxes, without = error(boxes_around(X_test, 0.05)), error(None)
    assert with_boxes < 0.5 * without, (with_boxes, without)


def test_boxes_for_a_model_fitted_without_them_warn(poses):
    tok = PoseTokenizer(n_tokens=2, codebook_size=4, n_epochs=1, normalize="pose", random_state=0).fit(poses[:60])
    assert tok.fitted_with_boxes_ is False
    with pytest.warns(UserWarning, match="fitted without boxes"):
        tok.transform(poses[:5], boxes=boxes_around(poses[:5]))


def test_the_box_flag_survives_save_and_load(tok, poses, tmp_path):
    assert tok.fitted_with_boxes_ is True
    loaded = PoseTokenizer.load(tok.save(tmp_path / "boxes.posetok"))
    assert loaded.fitted_with_boxes_ is True
    boxes = boxes_around(poses[:20])
    np.testing.assert_array_equal(loaded.transform(poses[:20], boxes=boxes), tok.transform(poses[:20], boxes=boxes))
