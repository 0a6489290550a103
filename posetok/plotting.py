"""Figures of poses, reconstructions, codebooks and training curves.

Needs matplotlib (``pip install 'posetok[plot]'``); ``import posetok`` never
imports this module. Functions take the fitted tokenizer first and draw into
``ax`` when given, returning the matplotlib Figure.
"""

from __future__ import annotations

import copy

import numpy as np

__all__ = ["plot_pose", "plot_reconstructions", "plot_codebook_usage", "plot_history", "plot_token_atlas"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("posetok.plotting needs matplotlib: pip install 'posetok[plot]'") from exc
    return plt


def _axes(ax, n=1, size=2.2):
    plt = _pyplot()
    if ax is not None:
        return ax.figure, np.atleast_1d(ax)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.1), squeeze=False)
    return fig, axes[0]


def plot_pose(pose, skeleton=None, *, ax=None, color="C0", invert_y=True, label=None, **line_kw):
    """Draw one pose (its joints, and its limbs when ``skeleton`` is given).

    Parameters
    ----------
    pose : array-like of shape (2 * n_keypoints,) or (n_keypoints, 2)
        One pose; NaN joints are skipped.
    skeleton : array-like of shape (n_limbs, 2), default=None
        Pairs of 0-based keypoint indices to join with lines.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    color : str, default="C0"
        Colour of joints and limbs.
    invert_y : bool, default=True
        Image coordinates (y down), as keypoint datasets use.
    label : str, default=None
        Legend label.
    **line_kw
        Passed to ``Axes.plot`` for the limbs.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from posetok.datasets import make_stick_figures, STICK_FIGURE_SKELETON
    >>> X, _ = make_stick_figures(1, random_state=0)
    >>> fig = plot_pose(X[0], STICK_FIGURE_SKELETON)
    """
    fig, (ax,) = _axes(ax)
    kp = np.asarray(pose, dtype=float).reshape(-1, 2)
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


def plot_reconstructions(tokenizer, X, *, skeleton=None, n_poses=8, invert_y=True):
    """Originals (blue) beside their token reconstructions (orange), one panel per pose.

    Parameters
    ----------
    tokenizer : fitted PoseTokenizer
    X : array-like of shape (n_samples, 2 * n_keypoints)
        Poses to encode and decode; the first ``n_poses`` are drawn.
    skeleton : array-like of shape (n_limbs, 2), default=None
    n_poses : int, default=8
    invert_y : bool, default=True

    Returns
    -------
    fig : matplotlib Figure
    """
    X = np.asarray(X, dtype=float)[:n_poses]
    ordinal = _ordinal(tokenizer)
    X_hat = ordinal.inverse_transform(ordinal.transform(X))
    fig, axes = _axes(None, len(X))
    for ax, x, x_hat in zip(axes, X, X_hat):
        plot_pose(x, skeleton, ax=ax, color="C0", invert_y=invert_y, label="original")
        plot_pose(x_hat, skeleton, ax=ax, color="C1", invert_y=invert_y, label="tokens", alpha=0.8)
        err = np.nanmean(np.linalg.norm((x_hat - x).reshape(-1, 2), axis=-1))
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


def _ordinal(tokenizer):
    """The tokenizer with integer-id output, whatever its ``encode`` (a shallow copy; nothing is refitted)."""
    if getattr(tokenizer, "encode", "ordinal") == "ordinal":
        return tokenizer
    ordinal = copy.copy(tokenizer)
    ordinal.encode = "ordinal"
    return ordinal


def plot_token_atlas(tokenizer, pose, *, skeleton=None, tokens=(0, 1, 2), n_codes=6, random_state=0):
    """How changing one token changes the decoded pose.

    Row i takes the tokens of ``pose`` and replaces token ``tokens[i]`` by
    ``n_codes`` other codes drawn at random; each panel shows the decoded pose
    (orange) over the unchanged decoding (grey). Refinement stages, if any,
    are left out: the panels decode tokens alone.

    Returns
    -------
    fig : matplotlib Figure
    """
    plt = _pyplot()
    rng = np.random.default_rng(random_state)
    # tokens only: refinement stages would correct the decoding towards ``pose``
    ordinal = _ordinal(tokenizer)
    config = tokenizer.network_.config
    base = ordinal.transform(np.asarray(pose, dtype=float).reshape(1, -1))[0, : config.n_tokens]
    base_pose = ordinal.inverse_transform(base[None])[0]
    fig, axes = plt.subplots(len(tokens), n_codes, figsize=(1.6 * n_codes, 1.7 * len(tokens)), squeeze=False)
    for row, t in zip(axes, tokens):
        codes = rng.choice(config.codebook_size, size=n_codes, replace=False)
        variants = np.repeat(base[None], n_codes, axis=0)
        variants[:, t] = codes
        for ax, code, decoded in zip(row, codes, ordinal.inverse_transform(variants)):
            plot_pose(base_pose, skeleton, ax=ax, color="0.7")
            plot_pose(decoded, skeleton, ax=ax, color="C1")
            ax.set_title(f"token {t} = {code}", fontsize=7)
    fig.tight_layout()
    return fig
