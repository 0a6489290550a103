"""One entry point for every benchmark: runs them in turn and summarises.

Run from the repository root:

    python benchmarks/run.py --quick              # the full set's smoke modes (a few minutes)
    python benchmarks/run.py                      # the benchmarks issue's full set (about two hours)
    python benchmarks/run.py all                  # also 3-D, threads, imputation, classification, Penn (3+ hours)
    python benchmarks/run.py speed stick_figures  # just these
    python benchmarks/run.py --list               # what there is, what it needs, how long it takes

Each benchmark runs in its own process (so that one's memory and threads cannot
disturb the next, and ``fit_memory`` measures a clean process), with its output shown
and also written to ``OUT/<name>.txt``, and its JSON results to ``OUT/<name>.json``
where the benchmark writes any. A benchmark whose data is missing is skipped with a
message saying where to get it; the exit status is non-zero if any benchmark failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / ".." / "shared" / "data"
COCO = ("coco2017_train_person_keypoints.npz", "coco2017_val_person_keypoints.npz")
PENN = ("penn_action_2d.npz",)


@dataclass(frozen=True)
class Benchmark:
    script: str
    what: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ("--quick",)
    data: tuple[str, ...] = ()  # files of ../shared/data it reads
    json: bool = True  # whether it takes --json PATH
    minutes: int = 1  # full mode on 2 CPU cores, roughly


BENCHMARKS = {
    "stick_figures": Benchmark("stick_figures.py", "quality bar on stick figures; staged vs joint", minutes=3),
    "stick_figures_3d": Benchmark("stick_figures_3d.py", "3-D stick figures: error per body height, codebook use",
                                  minutes=16),
    "coco_rate_distortion": Benchmark(
        "coco_rate_distortion.py", "OKS-AR and MPJPE per bit on COCO val against classic quantizers",
        data=COCO, minutes=100,  # the one-run table: 112 min, partly shared with other jobs
    ),
    "speed": Benchmark("speed.py", "transform / inverse_transform throughput against the matmul limit",
                       json=False, minutes=2),
    "scale": Benchmark("scale.py", "busy machine, GridSearchCV n_jobs, Dask, torchrun, fits from disk",
                       json=False, minutes=25),
    "fit_memory": Benchmark(
        "fit_memory.py", "peak memory of fit on all of COCO train", full=("--n-epochs", "1"),
        quick=("--n-epochs", "1", "--n-persons", "10000"), data=COCO[:1], json=False, minutes=1,
    ),
    "original_recipe": Benchmark(
        "original_recipe.py", "the stick-figure article's recipe beside posetok", full=("--epochs", "2"),
        json=False, minutes=7,
    ),
    "imputation": Benchmark("imputation.py", "PoseImputer against scikit-learn's imputers (COCO, sticks)",
                            data=COCO, minutes=10),
    "classification": Benchmark(
        "classification.py", "tokens vs coordinates as classifier features (Penn Action sizes, stick figures)",
        full=("--seeds", "0", "1", "--n-epochs", "10"), minutes=60,
    ),
    "penn_action_ablation": Benchmark(
        "penn_action_ablation.py", "video-level action recognition descriptors on Penn Action",
        data=PENN, minutes=40,
    ),
}
# The full set of the benchmarks issue: about two hours on 2 cores.
DEFAULT = ("stick_figures", "coco_rate_distortion", "speed", "fit_memory", "original_recipe")


def command(name: str, quick: bool, out: Path) -> list[str]:
    """The command line that runs benchmark ``name``, writing its JSON under ``out``."""
    bench = BENCHMARKS[name]
    args = [sys.executable, str(HERE / bench.script), *(bench.quick if quick else bench.full)]
    if bench.json:
        args += ["--json", str(out / f"{name}.json")]
    return args


def missing_data(name: str) -> list[Path]:
    """The files of ../shared/data that benchmark ``name`` reads and that are not there."""
    return [DATA / f for f in BENCHMARKS[name].data if not (DATA / f).exists()]


def run_one(name: str, quick: bool, out: Path) -> tuple[str, float]:
    """Run one benchmark, streaming its output to the console and ``out/<name>.txt``."""
    absent = missing_data(name)
    if absent:
        print(f"[run] {name}: skipped, {absent[0]} not found (the data sets and where they come from: "
              "docs/benchmarks.md)", flush=True)
        return "skipped (no data)", 0.0
    args = command(name, quick, out)
    print(f"[run] {name}: {' '.join(args[1:])}", flush=True)
    tic = time.perf_counter()
    with open(out / f"{name}.txt", "w") as log:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        status = proc.wait()
    return ("ok" if status == 0 else f"failed (exit {status})"), time.perf_counter() - tic


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run, or 'all' (default: {' '.join(DEFAULT)})")
    parser.add_argument("--quick", action="store_true", help="each benchmark's few-minute smoke mode")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for logs and JSON (default: benchmarks/results/run-quick or run-full)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, b in BENCHMARKS.items():
            needs = f"; needs {', '.join(b.data)} in ../shared/data" if b.data else ""
            mark = "*" if name in DEFAULT else " "
            print(f"{mark} {name:22s} ~{b.minutes:3d} min  {b.what}{needs}")
        print("* = run by default")
        return 0
    names = list(BENCHMARKS) if args.names == ["all"] else (args.names or list(DEFAULT))
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)} or 'all'")
    out = args.out or HERE / "results" / ("run-quick" if args.quick else "run-full")
    out.mkdir(parents=True, exist_ok=True)
    results = {name: run_one(name, args.quick, out) for name in names}
    print(f"\n[run] {'quick' if args.quick else 'full'} mode; logs and JSON in {out}")
    print("| benchmark | status | seconds |")
    print("|---|---|---|")
    for name, (status, seconds) in results.items():
        print(f"| {name} | {status} | {seconds:.0f} |")
    return int(any(status.startswith("failed") for status, _ in results.values()))


if __name__ == "__main__":
    sys.exit(main())
