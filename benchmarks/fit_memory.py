"""Peak memory of PoseTokenizer.fit on the full COCO 2017 train set.

    python benchmarks/fit_memory.py [--n-epochs N] [--n-persons N] [key=value ...]

Loads all 149 813 train persons (box-normalised, unlabelled joints NaN, as in
coco_rate_distortion.py), then fits the default tokenizer (or one with the given
parameters, e.g. ``n_tokens=34 codebook_size=2048``). Prints the peak resident set
size of the process before and after fit (``resource.getrusage``; Linux reports it
in kB), so the difference is what fit itself added on top of the loaded data.
Memory does not grow with the number of epochs (only a per-epoch history is kept).
"""

from __future__ import annotations

import argparse
import ast
import resource
import time
from pathlib import Path

import numpy as np

from posetok import PoseTokenizer
from posetok.datasets import normalize_to_box, visibility_to_nan

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-epochs", type=int, default=2)
    parser.add_argument("--n-persons", type=int, default=None, help="fit on the first N persons only")
    parser.add_argument("params", nargs="*", help="PoseTokenizer parameters as key=value")
    args = parser.parse_args()
    params = {k: ast.literal_eval(v) for k, v in (p.split("=", 1) for p in args.params)}
    path = DATA / "coco2017_train_person_keypoints.npz"
    if not path.exists():
        raise SystemExit(f"{path} not found: this benchmark reads the COCO keypoints of shared/data")
    d = np.load(path)
    X, _, _ = normalize_to_box(d["keypoints"], d["bbox"])
    X = visibility_to_nan(X, d["visibility"])[: args.n_persons]
    before = peak_mb()
    tic = time.perf_counter()
    tok = PoseTokenizer(n_epochs=args.n_epochs, random_state=0, **params).fit(X)
    seconds = time.perf_counter() - tic
    after = peak_mb()
    n_params = sum(p.numel() for p in tok.network_.parameters())
    print(f"fit on {X.shape[0]} persons x {X.shape[1]} columns ({X.nbytes / 2**20:.1f} MB as float64), "
          f"{args.n_epochs} epochs, {n_params / 1e6:.2f} M parameters, params {params or 'default'}: {seconds:.0f} s")
    print(f"peak resident memory: {before:.0f} MB before fit (interpreter, torch, data), "
          f"{after:.0f} MB after fit; fit added {after - before:.0f} MB")


if __name__ == "__main__":
    main()
