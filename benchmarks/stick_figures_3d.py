"""3-D poses: the default PoseTokenizer on synthetic 3-D stick figures (issue 19's bar).

Run from the repository root:

    python benchmarks/stick_figures_3d.py            # 3 000 and 10 000 training poses, seeds 0-2 (~15 min)
    python benchmarks/stick_figures_3d.py --quick    # one small run, for a smoke test
    python benchmarks/stick_figures_3d.py --sizes 10000 --default-only --long-training   # ~20 min
    python benchmarks/stick_figures_3d.py --sizes 10000 --splits   # 256 bits split three ways, ~12 min
    python benchmarks/stick_figures_3d.py --sizes 10000 --budgets  # tokens only at 256, 320, 512 bits, ~12 min
    python benchmarks/stick_figures_3d.py --sizes 10000 --codebooks  # ~256 bits with larger codebooks, ~14 min
    python benchmarks/stick_figures_3d.py --sizes 10000 --per-token  # per-token codebooks, ~25 min
    python benchmarks/stick_figures_3d.py --sizes 30000 --large-per-token  # more data, ~25 min
    python benchmarks/stick_figures_3d.py --sizes 10000 --rotations  # rotation augmentation, ~35 min

Two configurations, fitted on ``(n, 13, 3)`` arrays from ``make_stick_figures_3d`` (so
``n_dims`` is read from the array) and evaluated on 2 000 held-out figures of another seed:
``PoseTokenizer(random_state=seed)`` with every default (32 tokens of a 256-code book, 256
bits per pose, tokens only), and the same budget spent as on COCO's compression frontier, 8
tokens plus two refinement stages of 128 codes per joint (64 + 2 x 13 x 7 = 246 bits).
The error is the mean Euclidean joint error divided by each figure's body height
(head-neck-waist plus the mean of the two leg chains, measured on the true pose); codebook
usage is the fraction of the token codebook's codes that the training poses use
(``codebook_usage_``) and that the held-out poses use. Prints a Markdown table with the
mean and range over seeds; with --json PATH also writes every run. ``--long-training``
trains for as long as ``PoseImputer``'s default does on the same number of poses (epochs and
batch size from ``posetok.impute.default_tokenizer_params``: about two million poses seen, at most
256 epochs) instead of 60 epochs of 512. ``--splits`` measures, instead of those two configurations, the
default's 256 bits of tokens split into 32 tokens x 256 codes (the default), 64 x 16 and 128 x 4;
``--budgets`` tokens only at more bits: 32 x 1024 codes (320 bits) and 64 x 256 (512 bits);
``--codebooks`` about the same bits as fewer tokens of larger codebooks: 23 x 2048 codes (253
bits) and 21 x 4096 (252 bits); ``--per-token`` the default's 32 x 256 and 23 x 2048 codes with
one codebook per token position (``codebooks="per_token"``) beside the shared one;
``--large-per-token`` the per-token 23 x 2048 codes alone beside the default; ``--rotations`` the
default and the per-token 23 x 2048 codes, each also with ``rotation_range=180, rotation_axis=1``
(training poses turned at random about the vertical, afresh in every batch). Codebook
usage counts (position, code) pairs for per-token codebooks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
from report import format_row, token_usage  # the scripts run from this folder

from posetok import PoseTokenizer
from posetok.datasets import make_stick_figures_3d
from posetok.impute import default_tokenizer_params


def body_height(X):
    """Head to foot along the body of each pose (n, 13, 3): head-neck-waist and the mean leg."""
    seg = lambda a, b: np.linalg.norm(X[:, a] - X[:, b], axis=-1)  # noqa: E731
    legs = [seg(8, 9 + side) + seg(9 + side, 11 + side) for side in (0, 1)]
    return seg(0, 1) + seg(1, 8) + (legs[0] + legs[1]) / 2


DEFAULT = {"default: 32 tokens x 256 codes": {}}
# the best tokens-only configuration measured (253 bits)
PER_TOKEN_PARAMS = dict(n_tokens=23, codebook_size=2048, codebooks="per_token")
PER_TOKEN_23x2048 = {"23 tokens x 2048 codes, per-token codebooks": PER_TOKEN_PARAMS}
TURNED = dict(rotation_range=180, rotation_axis=1)  # every way about the vertical (y up)
# each set of configurations is measured beside the default, in the same run
CONFIG_SETS = {
    "standard": {"8 tokens x 256 + 2 refinement stages x 128":
                 dict(n_tokens=8, refinement_stages=2, refinement_codebook_size=128)},
    "default_only": {},
    # the default's 256 bits of tokens split into more tokens of smaller codebooks
    "splits": {"64 tokens x 16 codes": dict(n_tokens=64, codebook_size=16),
               "128 tokens x 4 codes": dict(n_tokens=128, codebook_size=4)},
    # tokens only, more bits than the default's 256
    "budgets": {"32 tokens x 1024 codes": dict(codebook_size=1024), "64 tokens x 256 codes": dict(n_tokens=64)},
    # about the default's 256 bits as fewer tokens of larger codebooks
    "codebooks": {"23 tokens x 2048 codes": dict(n_tokens=23, codebook_size=2048),
                  "21 tokens x 4096 codes": dict(n_tokens=21, codebook_size=4096)},
    # one codebook per token position instead of one shared by all, at the default's and a larger book
    "per_token": {"32 tokens x 256 codes, per-token codebooks": dict(codebooks="per_token"),
                  "23 tokens x 2048 codes": dict(n_tokens=23, codebook_size=2048), **PER_TOKEN_23x2048},
    # that configuration alone beside the default (for larger training sets)
    "per_token_large": PER_TOKEN_23x2048,
    # training poses turned at random about the vertical (y) axis, afresh in every batch
    "rotations": {"default, rotation_range=180 about y": TURNED, **PER_TOKEN_23x2048,
                  "23 tokens x 2048 codes, per-token, rotation_range=180 about y": {**PER_TOKEN_PARAMS, **TURNED}},
}


def evaluate(tok, X_test):
    ids = tok.transform(X_test)
    X_hat = tok.inverse_transform(ids).reshape(X_test.shape)
    error = np.linalg.norm(X_hat - X_test, axis=-1).mean(1) / body_height(X_test)
    return {
        "heldout_error_pct_height": float(100 * error.mean()),
        "heldout_error_mm": float(1000 * np.linalg.norm(X_hat - X_test, axis=-1).mean()),
        "train_codebook_usage": float(tok.codebook_usage_),
        "heldout_codebook_usage": token_usage(tok, ids),
        "bits_per_pose": float(tok.bits_per_pose_),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="training set sizes (3000 10000)")
    which = parser.add_mutually_exclusive_group()  # the default and the refinement row when none is given
    which.add_argument("--default-only", dest="configs", action="store_const", const="default_only",
                       default="standard", help="the default configuration alone")
    which.add_argument("--splits", dest="configs", action="store_const", const="splits",
                       help="instead: the default's 256 bits as 32 x 256, 64 x 16 and 128 x 4 codes, tokens only")
    which.add_argument("--codebooks", dest="configs", action="store_const", const="codebooks",
                       help="instead: about 256 bits as 32 x 256, 23 x 2048 (253 bits) and 21 x 4096 codes (252 bits)")
    which.add_argument("--budgets", dest="configs", action="store_const", const="budgets",
                       help="instead: tokens only at 256, 320 (32 x 1024) and 512 bits (64 x 256)")
    which.add_argument("--per-token", dest="configs", action="store_const", const="per_token",
                       help="instead: 32 x 256 and 23 x 2048 codes with a shared and with per-token codebooks")
    which.add_argument("--large-per-token", dest="configs", action="store_const", const="per_token_large",
                       help="instead: 23 x 2048 codes with per-token codebooks alone beside the default")
    which.add_argument("--rotations", dest="configs", action="store_const", const="rotations",
                       help="instead: the default and per-token 23 x 2048 codes, each with and without "
                            "rotation_range=180 about the vertical axis")
    parser.add_argument("--long-training", action="store_true",
                        help="PoseImputer's training length for the data size instead of 60 epochs of 512")
    args = parser.parse_args()
    sizes, seeds, n_epochs = ((1000,), (0,), 10) if args.quick else ((3000, 10000), (0, 1, 2), 60)
    sizes = tuple(args.sizes or sizes)
    configs = {**DEFAULT, **CONFIG_SETS[args.configs]}
    batch_size = PoseTokenizer().batch_size
    X_test, _ = make_stick_figures_3d(2000, random_state=1000)
    runs = []
    for config, params in configs.items():
        for n_train in sizes:
            rule = default_tokenizer_params(n_train) if args.long_training else {
                "n_epochs": n_epochs, "batch_size": batch_size}
            length = {key: rule[key] for key in ("n_epochs", "batch_size")}
            for seed in seeds:
                X, _ = make_stick_figures_3d(n_train, random_state=seed)
                tic = time.perf_counter()
                tok = PoseTokenizer(**length, random_state=seed, **params).fit(X)
                row = {"config": config, "n_train": n_train, "seed": seed, **length,
                       "n_dims": tok.n_dims_, "fit_seconds": time.perf_counter() - tic, **evaluate(tok, X_test)}
                runs.append(row)
                print(format_row(row), flush=True)
    print()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}; 2000 held-out 3-D figures; "
          f"{'the training length of PoseImputer' if args.long_training else f'{n_epochs} epochs of {batch_size}'}; "
          f"seeds {list(seeds)}")
    print("| configuration | training poses | training | held-out error (% of body height) | held-out error (mm) | "
          "token codebook usage (train) | (held-out) | bits | fit (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for config, n_train in ((c, n) for c in configs for n in sizes):
        rows = [r for r in runs if r["n_train"] == n_train and r["config"] == config]

        def cell(key, fmt, scale=1.0, rows=rows):
            v = scale * np.array([r[key] for r in rows])
            return f"{v.mean():{fmt}} ({v.min():{fmt}}-{v.max():{fmt}})" if len(v) > 1 else f"{v[0]:{fmt}}"

        training = f"{rows[0]['n_epochs']} epochs of {rows[0]['batch_size']}"
        print(f"| {config} | {n_train} | {training} | {cell('heldout_error_pct_height', '.2f')} | "
              f"{cell('heldout_error_mm', '.1f')} | {cell('train_codebook_usage', '.0f', 100)} % | "
              f"{cell('heldout_codebook_usage', '.0f', 100)} % | {rows[0]['bits_per_pose']:.0f} | "
              f"{cell('fit_seconds', '.0f')} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=2)


if __name__ == "__main__":
    main()
