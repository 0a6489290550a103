"""FSQ probe on 3-D stick figures (issue 19): python benchmarks/results/probe_fsq/probe3d.py N SEED CONFIG...

Fits each CONFIG on N figures of ``make_stick_figures_3d(N, random_state=SEED)`` and prints one JSON
line per fit: the stick-figure benchmark's ``evaluate`` on its 2 000 held-out figures, and the error
on the first 2 000 training figures (``train_error_pct``). Configurations whose name starts with
``fsq`` quantize by FSQ (``fsq.py`` beside this file), the others by posetok's EMA codebook.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..")]  # fsq.py and benchmarks/

import fsq  # noqa: E402
from stick_figures_3d import evaluate  # noqa: E402

from posetok import PoseTokenizer  # noqa: E402
from posetok.datasets import make_stick_figures_3d  # noqa: E402

CONFIGS = {
    "vq_pt_23x2048": dict(n_tokens=23, codebook_size=2048, codebooks="per_token"),
    "fsq_23x2048": dict(n_tokens=23, codebook_size=2048, token_dim=4),
    "fsq_32x256": dict(n_tokens=32, codebook_size=256, token_dim=3),
    "fsq_21x4096": dict(n_tokens=21, codebook_size=4096, token_dim=4),
    "fsq_23x2048_e180": dict(n_tokens=23, codebook_size=2048, token_dim=4, n_epochs=180),
    "fsq3_23x2048": dict(n_tokens=23, codebook_size=2048, token_dim=3),
    "vq_pt_23x2048_rot_e180": dict(n_tokens=23, codebook_size=2048, codebooks="per_token", n_epochs=180,
                                   rotation_range=180, rotation_axis=1),
    "fsq_23x2048_rot": dict(n_tokens=23, codebook_size=2048, token_dim=4, rotation_range=180, rotation_axis=1),
}


def main():
    n_train, seed, which = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    kinds = {name.startswith("fsq") for name in which}
    if len(kinds) > 1:
        raise SystemExit("FSQ patches the process: run FSQ and VQ configurations in separate calls")
    if kinds == {True}:
        fsq.install_all()
    X, _ = make_stick_figures_3d(n_train, random_state=seed)
    X_test, _ = make_stick_figures_3d(2000, random_state=1000)
    for name in which:
        tic = time.perf_counter()
        tok = PoseTokenizer(random_state=seed, **CONFIGS[name]).fit(X)
        row = {"config": name, "n_train": n_train, "seed": seed, "fit_s": time.perf_counter() - tic,
               **evaluate(tok, X_test)}
        row["train_error_pct"] = evaluate(tok, X[:2000])["heldout_error_pct_height"]  # on training poses
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
