"""Figures of poses, reconstructions, codebooks and training curves.

Needs matplotlib (``pip install 'posetok[plot]'``); ``import posetok`` never
imports this module. Functions take the fitted tokenizer first and draw into
``ax`` when given, returning the matplotlib Figure. 3-D poses are drawn on
3-D axes, or as a projection onto two of their coordinates (``projection``).
"""

from __future__ import annotations

import numpy as np

from .tokenizer import _ordinal

__all__ = ["plot_pose", "plot_reconstructions", "plot_codebook_usage", "plot_history", "plot_token_atlas"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("posetok.plotting needs matplotlib: pip install 'posetok[plot]'") from exc
    return plt


def _axes(ax, n=1, size=2.2, three_d=False):
    plt = _pyplot()
    if ax is not None:
        return ax.figure, np.atleast_1d(ax)
    subplot_kw = {"projection": "3d"} if three_d else None
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.1), squeeze=False, subplot_kw=subplot_kw)
    return fig, axes[0]


def _as_keypoints(pose, n_dims):
    """One pose as (K, D): from a (K, D) array, or flat with ``n_dims`` (2 when None)."""
    kp = np.asarray(pose, dtype=float)
    if kp.ndim == 2:
        if n_dims is not None and kp.shape[1] != n_dims:
            raise ValueError(f"pose has shape {kp.shape}, {kp.shape[1]} coordinates per keypoint, but n_dims={n_dims}")
        n_dims = kp.shape[1]
    elif kp.ndim == 1:
        n_dims = 2 if n_dims is None else n_dims
        if len(kp) % n_dims:
            raise ValueError(f"pose has {len(kp)} values, not a multiple of n_dims={n_dims}")
    else:
        raise ValueError(f"pose must be one pose, (n_keypoints, n_dims) or flat, got shape {kp.shape}")
    if n_dims not in (2, 3):
        raise ValueError(f"plot_pose draws 2-D and 3-D keypoints, got {n_dims} coordinate(s) per keypoint")
    return kp.reshape(-1, n_dims)


def _check_projection(projection, n_dims):
    if projection is None:
        return None
    projection = tuple(projection)
    if len(projection) != 2 or any(not isinstance(i, int | np.integer) or not 0 <= i < n_dims for i in projection):
        raise ValueError(f"projection must be two coordinate indices in [0, {n_dims}), got {projection!r}")
    return projection


def plot_pose(pose, skeleton=None, *, n_dims=None, ax=None, color="C0", invert_y=True, label=None,
              projection=None, vertical_axis="y", **line_kw):
    """Draw one pose (its joints, and its limbs when ``skeleton`` is given).

    Parameters
    ----------
    pose : array-like of shape (n_keypoints, n_dims) or (n_dims * n_keypoints,)
        One pose of 2-D or 3-D keypoints; NaN joints are skipped.
    skeleton : array-like of shape (n_limbs, 2), default=None
        Pairs of 0-based keypoint indices to join with lines.
    n_dims : {2, 3} or None, default=None
        Coordinates per keypoint of a flat ``pose``; None reads it from a
        (n_keypoints, n_dims) array and means 2 for a flat one.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None. A 3-D pose drawn in 3-D needs
        3-D Axes (``projection="3d"`` in matplotlib).
    color : str, default="C0"
        Colour of joints and limbs.
    invert_y : bool, default=True
        Image coordinates (y down), as 2-D keypoint datasets use; for a
        projection, the second coordinate drawn points down.
    label : str, default=None
        Legend label.
    projection : tuple of two int, default=None
        Draw a 3-D pose flat, as its coordinates ``projection[0]`` and
        ``projection[1]`` (``(0, 1)``: x and y, a front view of a y-up pose;
        ``(2, 1)``: a side view). None draws it in 3-D.
    vertical_axis : {"x", "y", "z"}, default="y"
        The coordinate that points up in a 3-D drawing (as matplotlib's
        ``view_init(vertical_axis=...)``): "y" for y-up data such as
        :func:`~posetok.datasets.make_stick_figures_3d`, "z" for z-up world
        coordinates.
    **line_kw
        Passed to ``Axes.plot`` for the limbs.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from posetok.datasets import make_stick_figures, make_stick_figures_3d, STICK_FIGURE_SKELETON
    >>> X, _ = make_stick_figures(1, random_state=0)
    >>> fig = plot_pose(X[0], STICK_FIGURE_SKELETON)
    >>> X3, _ = make_stick_figures_3d(1, random_state=0)
    >>> fig = plot_pose(X3[0], STICK_FIGURE_SKELETON)                            # in 3-D
    >>> fig = plot_pose(X3[0], STICK_FIGURE_SKELETON, projection=(0, 1), invert_y=False)   # front view
    """
    kp = _as_keypoints(pose, n_dims)
    projection = _check_projection(projection, kp.shape[1])
    if kp.shape[1] == 3 and projection is None:
        return _plot_pose_3d(kp, skeleton, ax, color, label, vertical_axis, line_kw)
    if projection is not None:
        kp = kp[:, list(projection)]
    fig, (ax,) = _axes(ax)
    if getattr(ax, "name", None) == "3d":
        raise ValueError("a 2-D pose (or a projection) is drawn on flat Axes, not 3-D Axes")
    if skeleton is not None:
        line_kw = {"lw": 2, **line_kw}  # every limb gets the same style (pop() styled the first only)
        for a, b in np.asarray(skeleton):
            ax.plot(kp[[a, b], 0], kp[[a, b], 1], color=color, **line_kw)
    ax.scatter(kp[:, 0], kp[:, 1], s=10, color=color, zorder=3, label=label)
    ax.set_box_aspect(1)
    ax.set_aspect("equal", adjustable="datalim")
    if invert_y and not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def _plot_pose_3d(kp, skeleton, ax, color, label, vertical_axis, line_kw):
    if vertical_axis not in ("x", "y", "z"):
        raise ValueError(f"vertical_axis must be 'x', 'y' or 'z', got {vertical_axis!r}")
    fig, (ax,) = _axes(ax, three_d=True)
    if getattr(ax, "name", None) != "3d":
        raise ValueError("a 3-D pose is drawn on 3-D Axes (subplot_kw={'projection': '3d'}), "
                         "or pass projection=(0, 1) to draw it flat")
    # poses drawn on these Axes before keep their room
    previous = np.array([ax.get_xlim(), ax.get_ylim(), ax.get_zlim()]).T if ax.has_data() else np.empty((0, 3))
    if skeleton is not None:
        line_kw = {"lw": 2, **line_kw}
        for a, b in np.asarray(skeleton):
            ax.plot(kp[[a, b], 0], kp[[a, b], 1], kp[[a, b], 2], color=color, **line_kw)
    ax.scatter(kp[:, 0], kp[:, 1], kp[:, 2], s=10, color=color, label=label, depthshade=False)
    observed = np.concatenate([kp[~np.isnan(kp).any(1)], previous])
    if len(observed):  # equal scales on the three axes, so that limbs keep their lengths
        centre, half = (observed.max(0) + observed.min(0)) / 2, (observed.max(0) - observed.min(0)).max() / 2 or 1.0
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(centre[2] - half, centre[2] + half)
        ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=10, azim=-60, vertical_axis=vertical_axis)
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])
    return fig


def plot_reconstructions(tokenizer, X, *, skeleton=None, n_poses=8, invert_y=True, projection=None,
                         vertical_axis="y"):
    """Originals (blue) beside their token reconstructions (orange), one panel per pose.

    Parameters
    ----------
    tokenizer : fitted PoseTokenizer
    X : array-like of shape (n_samples, n_dims * n_keypoints) or (n_samples, n_keypoints, n_dims)
        Poses to encode and decode; the first ``n_poses`` are drawn.
    skeleton : array-like of shape (n_limbs, 2), default=None
    n_poses : int, default=8
    invert_y, projection, vertical_axis
        As in :func:`plot_pose`: 3-D poses are drawn in 3-D unless
        ``projection`` names two coordinates.

    Returns
    -------
    fig : matplotlib Figure
    """
    X = np.asarray(X, dtype=float)[:n_poses]
    n_dims = tokenizer.n_dims_
    ordinal = _ordinal(tokenizer)
    X_hat = ordinal.inverse_transform(ordinal.transform(X))
    X = X.reshape(len(X), -1)
    three_d = n_dims == 3 and projection is None
    fig, axes = _axes(None, len(X), three_d=three_d)
    style = dict(n_dims=n_dims, invert_y=invert_y, projection=projection, vertical_axis=vertical_axis)
    for ax, x, x_hat in zip(axes, X, X_hat):
        plot_pose(x, skeleton, ax=ax, color="C0", label="original", **style)
        plot_pose(x_hat, skeleton, ax=ax, color="C1", label="tokens", alpha=0.8, **style)
        err = np.nanmean(np.linalg.norm((x_hat - x).reshape(-1, n_dims), axis=-1))
        ax.set_title(f"err {err:.2g}", fontsize=8)
    axes[0].legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    return fig


def plot_codebook_usage(tokenizer, X, *, ax=None):
    """Histogram of how often each code is used on ``X``, codes sorted by use.

    Returns
    -------
    fig : matplotlib Figure
    """
    fig, (ax,) = _axes(ax, size=4)
    config = tokenizer.network_.config
    ids = _ordinal(tokenizer).transform(X)[:, : config.n_tokens]  # refinement ids have codebooks of their own
    counts = np.sort(np.bincount(ids.ravel(), minlength=config.codebook_size))[::-1]
    ax.bar(np.arange(len(counts)), counts, width=1.0)
    used = (counts > 0).mean()
    ax.set_xlabel("code (sorted by use)")
    ax.set_ylabel("count")
    ax.set_title(f"codebook usage {used:.0%}", fontsize=9)
    return fig


def plot_history(tokenizer, *, ax=None):
    """Training curves from ``history_``: mean joint error and codebook usage per epoch.

    Returns
    -------
    fig : matplotlib Figure
    """
    fig, (ax,) = _axes(ax, size=4)
    h = tokenizer.history_
    epochs = [r["epoch"] for r in h]
    lines = ax.plot(epochs, [r["mean_joint_error"] for r in h], label="mean joint error (X units)")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training joint error")
    usage = [(r["epoch"], r["codebook_usage"]) for r in h if "codebook_usage" in r]
    if usage:
        ax2 = ax.twinx()
        lines += ax2.plot(*zip(*usage), color="C1", label="codebook usage")
        ax2.set_ylim(0, 1.05)
        ax2.set_ylabel("codebook usage", color="C1")
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="center right")
    ax.set_title("training", fontsize=9)
    fig.set_layout_engine("constrained")  # the twin axis label is not clipped by a plain savefig
    return fig


def plot_token_atlas(tokenizer, pose, *, skeleton=None, tokens=(0, 1, 2), n_codes=6, random_state=0,
                     projection=None, vertical_axis="y"):
    """How changing one token changes the decoded pose.

    Row i takes the tokens of ``pose`` and replaces token ``tokens[i]`` by
    ``n_codes`` other codes drawn at random; each panel shows the decoded pose
    (orange) over the unchanged decoding (grey). Refinement stages, if any,
    are left out: the panels decode tokens alone. ``projection`` and
    ``vertical_axis`` are as in :func:`plot_pose`, for 3-D poses.

    Returns
    -------
    fig : matplotlib Figure
    """
    plt = _pyplot()
    rng = np.random.default_rng(random_state)
    # tokens only: refinement stages would correct the decoding towards ``pose``
    ordinal = _ordinal(tokenizer)
    config = tokenizer.network_.config
    n_dims = tokenizer.n_dims_
    base = ordinal.transform(np.asarray(pose, dtype=float).reshape(1, -1))[0, : config.n_tokens]
    base_pose = ordinal.inverse_transform(base[None])[0]
    subplot_kw = {"projection": "3d"} if n_dims == 3 and projection is None else None
    fig, axes = plt.subplots(len(tokens), n_codes, figsize=(1.6 * n_codes, 1.7 * len(tokens)), squeeze=False,
                             subplot_kw=subplot_kw)
    style = dict(n_dims=n_dims, projection=projection, vertical_axis=vertical_axis)
    for row, t in zip(axes, tokens):
        codes = rng.choice(config.codebook_size, size=n_codes, replace=False)
        variants = np.repeat(base[None], n_codes, axis=0)
        variants[:, t] = codes
        for ax, code, decoded in zip(row, codes, ordinal.inverse_transform(variants)):
            plot_pose(base_pose, skeleton, ax=ax, color="0.7", **style)
            plot_pose(decoded, skeleton, ax=ax, color="C1", **style)
            ax.set_title(f"token {t} = {code}", fontsize=7)
    fig.tight_layout()
    return fig
