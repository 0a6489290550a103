import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from posetok import plotting  # noqa: E402
from posetok.datasets import STICK_FIGURE_SKELETON  # noqa: E402


@pytest.mark.parametrize(
    "draw",
    [
        lambda tok, X: plotting.plot_pose(X[0], STICK_FIGURE_SKELETON),
        lambda tok, X: plotting.plot_reconstructions(tok, X, skeleton=STICK_FIGURE_SKELETON, n_poses=3),
        lambda tok, X: plotting.plot_codebook_usage(tok, X),
        lambda tok, X: plotting.plot_history(tok),
        lambda tok, X: plotting.plot_token_atlas(tok, X[0], skeleton=STICK_FIGURE_SKELETON, n_codes=3),
    ],
    ids=["pose", "reconstructions", "codebook_usage", "history", "token_atlas"],
)
def test_figures_draw(tiny_fitted, stick_figures, draw, tmp_path):
    import matplotlib.pyplot as plt

    fig = draw(tiny_fitted, stick_figures[0])
    assert fig.axes
    fig.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
    plt.close(fig)


def test_draws_into_given_axes(stick_figures):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert plotting.plot_pose(stick_figures[0][0], ax=ax) is fig
    assert len(ax.collections) == 1
    plt.close(fig)


def test_package_import_does_not_import_plotting():
    import subprocess
    import sys

    code = "import sys, posetok; print('matplotlib' in sys.modules, 'posetok.plotting' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_codebook_usage_and_atlas_read_tokens_only_with_refinement(stick_figures):
    """Refinement ids have codebooks of their own: the token plots leave them out."""
    import matplotlib.pyplot as plt

    from posetok import PoseTokenizer

    from .conftest import TINY

    X = stick_figures[0]
    # refinement codebooks larger than the token codebook: their ids would overflow it
    tok = PoseTokenizer(**TINY, refinement_stages=1, refinement_codebook_size=64).fit(X)
    fig = plotting.plot_codebook_usage(tok, X)
    assert len(fig.axes[0].patches) == TINY["codebook_size"]
    plt.close(fig)
    fig = plotting.plot_token_atlas(tok, X[0], n_codes=2)
    assert len(fig.axes) == 3 * 2
    plt.close(fig)


def test_plot_pose_styles_every_limb(tiny_fitted, stick_figures):
    # issue 15, item 14: lw= reached the first limb only
    from posetok.datasets import STICK_FIGURE_SKELETON

    fig = plotting.plot_pose(stick_figures[0][0], STICK_FIGURE_SKELETON, lw=5)
    widths = [line.get_linewidth() for line in fig.axes[0].lines]
    assert len(widths) == len(STICK_FIGURE_SKELETON) and set(widths) == {5}


def test_plot_history_has_a_legend_and_keeps_its_labels(tiny_fitted, tmp_path):
    fig = plotting.plot_history(tiny_fitted)
    assert fig.axes[0].get_legend() is not None
    fig.savefig(tmp_path / "h.png")  # a plain savefig: the constrained layout keeps the twin label inside
    renderer = fig.canvas.get_renderer()
    label = fig.axes[1].yaxis.label.get_window_extent(renderer)
    assert label.x1 <= fig.bbox.x1


def test_plots_work_with_any_encode(tiny_fitted, stick_figures):
    import copy

    latent = copy.deepcopy(tiny_fitted).set_params(encode="latent")
    plotting.plot_codebook_usage(latent, stick_figures[0][:50])
    plotting.plot_token_atlas(latent, stick_figures[0][0], n_codes=2, tokens=(0,))


@pytest.fixture(scope="module")
def three_d():
    from posetok import PoseTokenizer
    from posetok.datasets import make_stick_figures_3d

    from .conftest import TINY

    X, _ = make_stick_figures_3d(120, random_state=0)
    return PoseTokenizer(**TINY).fit(X), X


@pytest.mark.parametrize("projection", [None, (0, 1)])
def test_three_d_figures(three_d, projection, tmp_path):
    import matplotlib.pyplot as plt

    tok, X = three_d
    for fig in (
        plotting.plot_pose(X[0], STICK_FIGURE_SKELETON, projection=projection),
        plotting.plot_reconstructions(tok, X, skeleton=STICK_FIGURE_SKELETON, n_poses=2, projection=projection),
        plotting.plot_token_atlas(tok, X[0], skeleton=STICK_FIGURE_SKELETON, n_codes=2, tokens=(0,),
                                  projection=projection),
    ):
        assert all((ax.name == "3d") == (projection is None) for ax in fig.axes)
        fig.savefig(tmp_path / "f.png")
        plt.close(fig)


def test_three_d_pose_lines_hold_the_coordinates(three_d):
    import matplotlib.pyplot as plt

    _, X = three_d
    fig = plotting.plot_pose(X[0].ravel(), [[0, 1]], n_dims=3)
    (line,) = fig.axes[0].lines
    xs, ys, zs = line.get_data_3d()
    np.testing.assert_allclose(np.stack([xs, ys, zs], 1), X[0, [0, 1]])
    # a second pose on the same Axes widens the view instead of replacing it
    ax = fig.axes[0]
    plotting.plot_pose(X[0] + 10.0, ax=ax)
    assert ax.get_xlim()[1] >= X[0, :, 0].max() + 10 and ax.get_xlim()[0] <= X[0, :, 0].min()
    plt.close(fig)


@pytest.mark.parametrize("kwargs, match", [
    (dict(projection=(0, 3)), "projection must be two coordinate indices"),
    (dict(projection=(0,)), "projection must be two"),
    (dict(vertical_axis="w"), "vertical_axis"),
    (dict(n_dims=2), "3 coordinates per keypoint, but n_dims=2"),
])
def test_three_d_pose_bad_arguments(three_d, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plotting.plot_pose(three_d[1][0], **kwargs)


def test_one_dimensional_and_mismatched_axes_are_refused(three_d):
    import matplotlib.pyplot as plt

    with pytest.raises(ValueError, match="draws 2-D and 3-D keypoints"):
        plotting.plot_pose(np.zeros(5), n_dims=1)
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="3-D Axes"):
        plotting.plot_pose(three_d[1][0], ax=ax)
    plt.close(fig)
