"""Command line: ``posetok demo`` (also ``python -m posetok demo``)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np


def _output_folder(out: Path) -> str | None:
    """Why ``out`` cannot take the demo's files, or None; checked before the fit, not after it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"--out {out} is a file, not a folder"
    except NotADirectoryError:
        return f"--out {out} lies under a file, not a folder"
    except PermissionError:
        return f"--out {out} cannot be created (permission denied)"
    except OSError as exc:
        return f"--out {out} cannot be created ({exc.strerror or exc})"
    if not out.is_dir():
        return f"--out {out} is not a folder"
    if not os.access(out, os.W_OK | os.X_OK):
        return f"--out {out} is not writable"
    return None


def demo(n_train: int, n_test: int, out: Path, seed: int, n_epochs: int = 60) -> int:
    """Fit the default tokenizer on stick figures and report held-out quality."""
    from . import PoseTokenizer
    from .datasets import make_stick_figures

    X, _ = make_stick_figures(n_train, random_state=seed)
    X_test, _ = make_stick_figures(n_test, random_state=seed + 1)
    print(f"posetok demo: {n_train} training and {n_test} held-out stick figures (13 keypoints, 64x64 px), "
          f"{n_epochs} epochs")
    tok = PoseTokenizer(n_epochs=n_epochs, random_state=seed, verbose=1)
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
    model_path = tok.save(out / "stick_figure_tokenizer.posetok")  # the safe format, not pickle
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
    from . import __version__

    parser = argparse.ArgumentParser(prog="posetok", description="Human poses as compositional tokens.")
    parser.add_argument("--version", action="version", version=f"posetok {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("demo", help="fit the default tokenizer on synthetic stick figures and report "
                                    "(about 2 minutes on 2 cores; --quick: about 10 seconds)")
    p.add_argument("--n-train", type=int, default=10000, help="training poses (default 10000)")
    p.add_argument("--n-test", type=int, default=2000, help="held-out poses (default 2000)")
    p.add_argument("--n-epochs", type=int, default=60, help="training epochs (default 60)")
    p.add_argument("--quick", action="store_true", help="2000 training poses and 10 epochs")
    p.add_argument("--out", type=Path, default=Path("posetok-demo"), help="output folder (default posetok-demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed, 0 to 2**32 - 2 (default 0)")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.error("a command is required: demo")
    if args.quick:
        args.n_train, args.n_epochs = 2000, 10
    if args.n_train < 1 or args.n_test < 1 or args.n_epochs < 1:
        parser.error("--n-train, --n-test and --n-epochs must be positive")
    if not 0 <= args.seed <= 2**32 - 2:  # the held-out set uses seed + 1, and seeds are 32-bit
        parser.error(f"--seed must be between 0 and {2**32 - 2}, got {args.seed}")
    problem = _output_folder(args.out)
    if problem:
        parser.error(problem)
    try:
        return demo(args.n_train, args.n_test, args.out, args.seed, args.n_epochs)
    except OSError as exc:
        print(f"posetok: error: cannot write to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
