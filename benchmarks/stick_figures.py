"""Quality bar on stick figures, the staged vs joint strategies and per-token codebooks side by side.

Run from the repository root:

    python benchmarks/stick_figures.py            # the quality bar + both strategies
    python benchmarks/stick_figures.py --quick    # smaller data, for a smoke run

Prints a Markdown table; with --json PATH also writes the numbers.
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
from posetok.datasets import make_stick_figures


def evaluate(tok, X_test):
    ids = tok.transform(X_test)
    X_hat = tok.inverse_transform(ids)
    err = np.linalg.norm((X_hat - X_test).reshape(len(X_test), -1, 2), axis=-1).mean()
    return {
        "heldout_joint_error_px": float(err),
        "codebook_usage": token_usage(tok, ids),
        "distinct_token_strings": int(len(np.unique(ids, axis=0))),
        "bits_per_pose": float(tok.n_tokens * np.log2(tok.codebook_size)),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    n_train, n_test = (2000, 500) if args.quick else (10000, 2000)
    X, _ = make_stick_figures(n_train, random_state=0)
    X_test, _ = make_stick_figures(n_test, random_state=1)
    shorten = (lambda n: max(5, n // 4)) if args.quick else (lambda n: n)
    default, staged, short = shorten(60), shorten(30), shorten(20)
    # the labels say the epochs that actually run, in quick mode too
    runs = {
        f"default (joint, {default} epochs)": PoseTokenizer(n_epochs=default, random_state=0),
        f"staged, same epochs ({staged} pretrain + {staged})": PoseTokenizer(strategy="staged", n_epochs=staged,
                                                                             random_state=0),
        f"joint, {short} epochs": PoseTokenizer(n_epochs=short, random_state=0),
        f"per-token codebooks (joint, {default} epochs)": PoseTokenizer(codebooks="per_token", n_epochs=default,
                                                                         random_state=0),
    }
    results = {}
    for name, tok in runs.items():
        tic = time.perf_counter()
        tok.fit(X)
        results[name] = {"fit_seconds": time.perf_counter() - tic, **evaluate(tok, X_test)}
        print(name, format_row(results[name]), flush=True)
    print()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}; {n_train} train / {n_test} held-out")
    print("| run | held-out error (px) | codebook usage | distinct strings | bits | fit (s) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['heldout_joint_error_px']:.3f} | {r['codebook_usage']:.1%} | "
              f"{r['distinct_token_strings']} / {n_test} | {r['bits_per_pose']:.0f} | {r['fit_seconds']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
