"""Command line: ``posetok demo`` (also ``python -m posetok demo``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import joblib
import numpy as np


def demo(n_train: int, n_test: int, out: Path, seed: int) -> int:
    """Fit the default tokenizer on stick figures and report held-out quality."""
    from . import PoseTokenizer
    from .datasets import make_stick_figures

    out.mkdir(parents=True, exist_ok=True)
    X, _ = make_stick_figures(n_train, random_state=seed)
    X_test, _ = make_stick_figures(n_test, random_state=seed + 1)
    print(f"posetok demo: {n_train} training and {n_test} held-out stick figures (13 keypoints, 64x64 px)")
    tok = PoseTokenizer(random_state=seed, verbose=1)
    tic = time.perf_counter()
    tok.fit(X)
    fit_time = time.perf_counter() - tic
    ids = tok.transform(X_test)
    X_hat = tok.inverse_transform(ids)
    error = np.linalg.norm((X_hat - X_test).reshape(n_test, -1, 2), axis=-1).mean()
    bits = tok.bits_per_pose_
    print()
    print(f"tokens per pose        {tok.n_tokens} x {tok.codebook_size} codes ({bits:.0f} bits)")
    print(f"held-out joint error   {error:.3f} px (mean per-joint distance)")
    print(f"codebook usage         {len(np.unique(ids)) / tok.codebook_size:.1%} of codes on held-out poses")
    print(f"distinct token strings {len(np.unique(ids, axis=0))} of {n_test} held-out poses")
    print(f"fit time               {fit_time:.1f} s on {tok.device_}")
    model_path = out / "stick_figure_tokenizer.joblib"
    joblib.dump(tok, model_path)
    print(f"model saved            {model_path}")
    try:
        import matplotlib
    except ImportError:
        print("figure skipped         matplotlib is not installed (pip install 'posetok[plot]')")
        return 0
    matplotlib.use("Agg")
    from .datasets import STICK_FIGURE_SKELETON
    from .plotting import plot_reconstructions

    fig = plot_reconstructions(tok, X_test, skeleton=STICK_FIGURE_SKELETON)
    fig_path = out / "reconstructions.png"
    fig.savefig(fig_path, dpi=100)
    print(f"figure saved           {fig_path}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="posetok", description="Human poses as compositional tokens.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="fit the default tokenizer on synthetic stick figures and report")
    p.add_argument("--n-train", type=int, default=10000, help="training poses (default 10000)")
    p.add_argument("--n-test", type=int, default=2000, help="held-out poses (default 2000)")
    p.add_argument("--out", type=Path, default=Path("posetok-demo"), help="output folder (default posetok-demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.n_train < 1 or args.n_test < 1:
        parser.error("--n-train and --n-test must be positive")
    return demo(args.n_train, args.n_test, args.out, args.seed)


if __name__ == "__main__":
    sys.exit(main())
