import numpy as np
import pytest

from posetok.datasets import (
    STICK_FIGURE_CLASSES,
    STICK_FIGURE_KEYPOINTS,
    STICK_FIGURE_SKELETON,
    make_stick_figures,
    render_stick_figures,
)


def test_shapes_labels_and_reproducibility():
    X, y = make_stick_figures(600, random_state=0)
    assert X.shape == (600, 2 * len(STICK_FIGURE_KEYPOINTS)) and y.shape == (600,)
    assert set(y) == set(range(len(STICK_FIGURE_CLASSES)))
    X2, y2 = make_stick_figures(600, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, make_stick_figures(600, random_state=1)[0])


def test_figures_fit_the_frame_and_limbs_are_plausible():
    X, _ = make_stick_figures(2000, random_state=0)
    assert X.min() > 0 and X.max() < 64
    kp = X.reshape(len(X), 13, 2)
    limbs = np.linalg.norm(kp[:, STICK_FIGURE_SKELETON[:, 0]] - kp[:, STICK_FIGURE_SKELETON[:, 1]], axis=-1)
    assert limbs.min() > 2 and limbs.max() < 25


def test_head_above_feet_for_most_poses():
    X, _ = make_stick_figures(1000, random_state=0)
    kp = X.reshape(len(X), 13, 2)
    # y grows downwards: the head has the smaller y
    assert (kp[:, 0, 1] < kp[:, 11:, 1].mean(1)).mean() > 0.95


def test_classes_are_distinguishable():
    from sklearn.linear_model import LogisticRegression

    X, y = make_stick_figures(2000, random_state=0)
    Xt, yt = make_stick_figures(500, random_state=1)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    acc = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y).score(Xt, yt)
    assert 0.6 < acc  # separable enough to learn, overlapping by design


def test_rendered_images():
    X, y, images = make_stick_figures(3, return_images=True, random_state=0)
    assert images.shape == (3, 64, 64)
    assert set(np.unique(images)) <= {0.0, 0.5, 1.0}
    np.testing.assert_array_equal(images, render_stick_figures(X))
    # joints are drawn at their pixel
    x, yy = X[0, :2].astype(int)
    assert images[0, yy, x] == 1.0


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_bad_n_samples(n):
    with pytest.raises(ValueError, match="n_samples"):
        make_stick_figures(n)
