"""Figures for docs/ from the benchmark results in benchmarks/results/.

    python benchmarks/make_figures.py

    python benchmarks/make_figures.py --results-only   # skip the stick-figure fit

Reads rate_distortion_40000.json or, before it, rate_distortion.json (plus
rate_distortion_<bits>_width<w>.json and rate_distortion_refined_all.json, longer-trained
points), imputation_default.json or, before it, imputation_d4.json or imputation.json (plus, for COCO
with all train persons, the newest of imputation_coco_full_d4_60.json, imputation_coco_full_m03.json
and imputation_coco_full.json, and imputation_complete.json), imputation_mask_sweep.json, penn_ablation.json and
classification.json (its video-level rows replaced by those of classification_video.json, a
later ``--levels video`` run, when there is one), all written by the benchmarks with --json,
when present, and draws stick-figure reconstructions, a token atlas and training curves from a
freshly fitted default tokenizer (a minute or two on 2 cores).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from posetok import PoseTokenizer  # noqa: E402
from posetok.datasets import STICK_FIGURE_SKELETON, make_stick_figures  # noqa: E402
from posetok.plotting import plot_history, plot_reconstructions, plot_token_atlas  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FIGURES = HERE.parent / "docs" / "figures"


def _rate_distortion_line(row):
    """Which line of the figure a result row belongs to."""
    if not row["method"].startswith("posetok"):
        return row["method"]
    return "posetok, 2-4 tokens + refinement stages" if row.get("refinement_stages") else "posetok, tokens only"


def rate_distortion(rows, extra=()):
    """100 - OKS-AR and MPJPE against bits, on all val persons (top) and the complete ones (bottom)."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5))
    # results files before the rename say "oks_ap" for the same quantity; older ones have no "_complete"
    panels = [(axes[0, 0], lambda r: 100 - _oks_ar(r)), (axes[0, 1], lambda r: r["mpjpe_pct"]),
              (axes[1, 0], lambda r: 100 - r["oks_ar_complete"]), (axes[1, 1], lambda r: r["mpjpe_pct_complete"])]

    def extra_line(r):
        if r.get("refinement_stages"):
            return "posetok, tokens + refinement stages, all train persons, 30 epochs"
        return f"posetok, tokens only, width {r['encoder_width']}, all train persons, 30-40 epochs"

    def plot(ax, value, rs, fmt, **style):
        points = []
        for r in rs:
            try:
                points.append((r["bits"], value(r)))
            except KeyError:
                continue
        if points:
            ax.plot(*zip(*points), fmt, **style)

    for i, line in enumerate(sorted({extra_line(r) for r in extra})):
        rs = sorted((r for r in extra if extra_line(r) == line), key=lambda r: r["bits"])
        for ax, value in panels:
            plot(ax, value, rs, "*-", ms=14, color=("crimson", "purple")[i % 2], label=line)
    by_line = defaultdict(list)
    for r in rows:
        by_line[_rate_distortion_line(r)].append(r)
    for line, rs in sorted(by_line.items()):
        rs = sorted(rs, key=lambda r: r["bits"])
        fmt, style = "o-", {}
        if line.startswith("posetok"):  # its own line style, so the format gives only the marker
            fmt, style = "o", dict(lw=3, color="k", ls="-" if "refinement" in line else "--")
        for ax, value in panels:
            plot(ax, value, rs, fmt, label=line, **style)
    n_train = rows[0].get("n_train")
    for row, who in enumerate(("all val persons", "complete val persons")):
        axes[row, 0].set_ylabel(f"100 - OKS-AR, {who} (lower is better)")
        axes[row, 1].set_ylabel(f"MPJPE, % of box, {who} (lower is better)")
    for ax in axes.flat:
        ax.set_xlabel("bits per pose")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if n_train:
        fig.suptitle(f"COCO val; circles: every method fitted on the same {n_train} train persons", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    return fig


def imputation(rows):
    datasets = sorted({r["data"] for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
    for ax, data in zip(axes[0], datasets):
        rs = [r for r in rows if r["data"] == data and not r["hidden"].startswith("none")]
        settings = list(dict.fromkeys(r["hidden"] for r in rs))
        for imputer in dict.fromkeys(r["imputer"] for r in rs):
            errs = [next(r["error"] for r in rs if r["imputer"] == imputer and r["hidden"] == s) for s in settings]
            style = (dict(lw=3, color="k") if imputer == "posetok PoseImputer"  # the default; its options dashed
                     else dict(ls="--") if "posetok" in imputer else {})
            ax.plot(settings, errs, "o-", label=imputer, **style)
        ax.set_title(data)
        ax.set_ylabel("error on hidden joints" + (" (% of box)" if "COCO" in data else " (px)"))
        ax.set_xlabel("hidden per pose")
        ax.grid(alpha=0.3)
    # one legend below the panels, clear of the data
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def mask_sweep(rows):
    settings = ["1 joint", "3 joints", "6 joints", "30% of joints"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    p = [r["mask_probability"] for r in rows]
    for s in settings:
        ax1.plot(p, [r[s] for r in rows], "o-", label=f"{s} hidden")
    ax2.plot(p, [r["reconstruction"] for r in rows], "o-k")
    ax1.set_ylabel("error on hidden joints (% of box)")
    ax2.set_ylabel("reconstruction of complete poses (% of box)")
    for ax in (ax1, ax2):
        ax.set_xlabel("mask_probability in fit")
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle("COCO val, posetok fitted on 20 000 train persons", fontsize=10)
    fig.tight_layout()
    return fig


def penn_ablation(rows):
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(rows) + 1))
    labels = [r["descriptor"] if r["tokenizer"] == "-" else f"{r['tokenizer']}: {r['descriptor']}" for r in rows]
    colors = ["tab:gray" if r["tokenizer"] == "-" else "tab:blue" for r in rows]
    ax.barh(range(len(rows)), [100 * r["accuracy"] for r in rows], color=colors)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(80, 100)
    ax.set_xlabel("Penn Action video-level test accuracy (%)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def _oks_ar(row):
    return row["oks_ar"] if "oks_ar" in row else row["oks_ap"]


def classification(rows):
    """Accuracy against training size, frame and video level, mean over seeds with the min-max range."""
    panels = [("Penn Action", "frame"), ("Penn Action", "video"), ("stick figures", "frame")]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (dataset, level) in zip(axes, panels):
        groups = defaultdict(lambda: defaultdict(list))
        for r in rows:
            # video level: the reference and the mirror-symmetric features (the others are in the tables)
            shown = level == "frame" or "mirror-symmetric" in r["features"] or "mean+std" in r["features"]
            if r["dataset"] == dataset and r["level"] == level and shown:
                groups[r["features"]][r.get("fraction", r.get("n_train"))].append(100 * r["accuracy"])
        for features, by_size in groups.items():
            sizes = sorted(by_size)
            mean = [sum(by_size[s]) / len(by_size[s]) for s in sizes]
            low = [m - min(by_size[s]) for m, s in zip(mean, sizes)]
            high = [max(by_size[s]) - m for m, s in zip(mean, sizes)]
            style = "-" if "token" in features else "--"
            label = features.replace(" (8 frames)", "").replace("TemporalPool", "pool")
            label = label.replace("mirror-symmetric", "mirror")
            ax.errorbar(sizes, mean, yerr=[low, high], fmt=style + "o", capsize=3, label=label)
        ax.set_xscale("log")
        ticks = sorted({size for by_size in groups.values() for size in by_size})
        ax.set_xticks(ticks, [f"{t:.0%}" if isinstance(t, float) else str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("training videos (share of Penn's)" if dataset == "Penn Action" else "training poses")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{dataset}, {level} level", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def read(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--results-only", action="store_true", help="only the figures of benchmarks/results")
    args = parser.parse_args()
    FIGURES.mkdir(parents=True, exist_ok=True)
    figures = {}
    if (rows := read("rate_distortion_40000") or read("rate_distortion")) is not None:
        extra = [r for path in sorted(RESULTS.glob("rate_distortion_*_width*.json"))
                 for r in json.loads(path.read_text())] + (read("rate_distortion_refined_all") or [])
        figures["rate_distortion"] = rate_distortion(rows, extra)
    if (rows := read("imputation_default") or read("imputation_d4") or read("imputation")) is not None:
        full = (read("imputation_coco_full_d4_60") or read("imputation_coco_full_m03")
                or read("imputation_coco_full") or [])
        for r in full:
            r["data"] = "COCO val, imputers fitted on all train persons"
        complete = read("imputation_complete") or []
        for r in complete:
            r["data"] = "complete COCO val persons, imputers fitted on\nthe 8 475 complete train persons"
        for r in rows:
            if r["data"] == "COCO val":
                r["data"] = "COCO val, imputers fitted on 20 000 train persons"
        figures["imputation"] = imputation(rows + full + complete)
    if (rows := read("imputation_mask_sweep")) is not None:
        figures["imputation_mask_sweep"] = mask_sweep([r for r in rows if r["data"] == "COCO val"])
    if (rows := read("penn_ablation")) is not None:
        figures["penn_ablation"] = penn_ablation(rows)
    if (rows := read("classification")) is not None:
        if (video := read("classification_video")) is not None:  # a later, video-level-only run
            rows = [r for r in rows if r["level"] != "video"] + video
        figures["classification"] = classification(rows)
    for name, fig in figures.items():
        fig.savefig(FIGURES / f"{name}.png", dpi=90)
        print(f"wrote {FIGURES / name}.png")
    if args.results_only:
        return
    X, _ = make_stick_figures(10000, random_state=0)
    X_test, _ = make_stick_figures(16, random_state=1)
    tok = PoseTokenizer(random_state=0).fit(X)
    plot_reconstructions(tok, X_test, skeleton=STICK_FIGURE_SKELETON).savefig(FIGURES / "reconstructions.png", dpi=90)
    plot_token_atlas(tok, X_test[0], skeleton=STICK_FIGURE_SKELETON, tokens=(0, 7, 21)).savefig(
        FIGURES / "token_atlas.png", dpi=90
    )
    plot_history(tok).savefig(FIGURES / "history.png", dpi=90)
    print(f"wrote stick-figure figures to {FIGURES}")


if __name__ == "__main__":
    main()
