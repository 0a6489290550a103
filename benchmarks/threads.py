"""Threads on a busy machine: fit time with and without a competing process (issue 16, part 1).

Run from the repository root:

    python benchmarks/threads.py            # 10 000 stick figures, 3 epochs per fit (about 5 minutes on 2 cores)
    python benchmarks/threads.py --quick    # 2 000 poses, 1 epoch

Fits the default PoseTokenizer with torch's own thread count (``n_threads=None``, all cores)
and with ``n_threads=1``, each on an idle machine and beside one busy process (a Python busy
loop, as a user's other work would be), then ``GridSearchCV`` over a small grid with
``n_jobs=1`` and ``n_jobs=2``. Every time is measured in this one run; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import torch
from sklearn.model_selection import GridSearchCV

from posetok import PoseTokenizer
from posetok.datasets import make_stick_figures


class BusyLoop:
    """One competing process that keeps one core busy for the duration of the block."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def timed(fn):
    tic = time.perf_counter()
    fn()
    return time.perf_counter() - tic


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    n, epochs = (2000, 1) if args.quick else (10000, 3)
    X, _ = make_stick_figures(n, random_state=0)
    rows = []
    for n_threads in (None, 1):
        for load in ("idle", "one busy process"):
            fit = lambda t=n_threads: PoseTokenizer(n_epochs=epochs, random_state=0, n_threads=t).fit(X)  # noqa: E731
            if load == "idle":
                seconds = timed(fit)
            else:
                with BusyLoop():
                    seconds = timed(fit)
            rows.append({"what": "fit", "n_threads": n_threads, "load": load, "seconds": seconds})
            print(rows[-1], flush=True)
    X_grid = X[: n // 3]
    for n_threads in (None, 1):
        for n_jobs in (1, 2):
            search = GridSearchCV(PoseTokenizer(n_epochs=epochs, random_state=0, n_threads=n_threads),
                                  {"n_tokens": [8, 16]}, cv=2, n_jobs=n_jobs)
            rows.append({"what": "GridSearchCV", "n_threads": n_threads, "n_jobs": n_jobs,
                         "seconds": timed(lambda s=search: s.fit(X_grid))})
            print(rows[-1], flush=True)
    print()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"default threads {torch.get_num_threads()}; fit: {n} stick figures, {epochs} epochs; GridSearchCV: "
          f"{len(X_grid)} poses, n_tokens in (8, 16), cv=2")
    print("| n_threads | fit, idle (s) | fit, one busy process (s) | busy / idle |")
    print("|---|---|---|---|")
    for t in (None, 1):
        idle, busy = (r["seconds"] for r in rows if r["what"] == "fit" and r["n_threads"] == t)
        print(f"| {t} | {idle:.1f} | {busy:.1f} | {busy / idle:.2f} |")
    print("| n_threads | GridSearchCV n_jobs=1 (s) | n_jobs=2 (s) | n_jobs=2 / n_jobs=1 |")
    print("|---|---|---|---|")
    for t in (None, 1):
        one, two = (r["seconds"] for r in rows if r["what"] == "GridSearchCV" and r["n_threads"] == t)
        print(f"| {t} | {one:.1f} | {two:.1f} | {two / one:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
