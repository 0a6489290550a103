"""Scale: threads on a busy machine, grid search, Dask, torch.distributed and fits from disk (issue 16).

Run from the repository root, with nothing else running (every ratio is measured in this one run):

    python benchmarks/scale.py            # about 25 minutes on 2 cores
    python benchmarks/scale.py --quick    # about 4 minutes

It measures, on synthetic stick figures (13 joints):

1. ``fit`` of the default tokenizer on an idle machine and beside one busy process (a Python busy
   loop), for ``n_threads`` None (torch's setting, all cores), 1 and ``"auto"``;
2. ``GridSearchCV`` over ``n_tokens`` in (8, 16), cv=2, with ``n_jobs=1`` and ``n_jobs=2``; the
   two-process search is timed with its worker processes already started (``cold``: including
   their start, which imports torch in each);
3. tokenizing with ``posetok.parallel.dask_transform`` on a ``LocalCluster`` of 2 worker processes
   (1 thread each) against ``transform`` in this one process (all cores), and whether the ids are
   equal;
4. a fit on 2 processes under ``torchrun`` (gloo) against the same fit in 1 process: seconds per
   epoch and the held-out joint error, over seeds;
5. a fit streamed from a ``.npy`` memmap against the same poses in memory: the peak of the
   process's anonymous resident memory added by ``fit`` (sampled every 10 ms from
   /proc/self/status; file pages of the memmap are the kernel's page cache, reported apart as the
   peak resident set) for several numbers of poses.

Writes benchmarks/results/scale[_quick].json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# the model of sections 4 and 5: small, so that millions of poses fit in minutes
SMALL = dict(n_tokens=8, codebook_size=64, token_dim=16, encoder_width=32, decoder_width=32, token_mlp_width=32)


def timed(fn):
    tic = time.perf_counter()
    out = fn()
    return time.perf_counter() - tic, out


class BusyLoop:
    """One competing process that keeps one core busy for the duration of the block."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


# ------------------------------------------------------------------ 1, 2: threads
def threads_section(quick):
    from sklearn.model_selection import GridSearchCV

    from posetok import PoseTokenizer
    from posetok.datasets import make_stick_figures

    n, epochs = (2000, 2) if quick else (10000, 3)
    X, _ = make_stick_figures(n, random_state=0)
    PoseTokenizer(n_epochs=1, random_state=0).fit(X[:1000])  # warm up: first calls load kernels
    rows = []
    for n_threads in (None, 1, "auto"):
        for load in ("idle", "busy"):
            fit = lambda t=n_threads: PoseTokenizer(n_epochs=epochs, random_state=0, n_threads=t).fit(X)  # noqa: E731
            if load == "idle":
                seconds, _ = timed(fit)
            else:
                with BusyLoop():
                    seconds, _ = timed(fit)
            rows.append({"what": "fit", "n_threads": n_threads, "load": load, "seconds": seconds})
            print(rows[-1], flush=True)
    X_grid = X[: n // 2]
    from joblib import Parallel, delayed

    for n_jobs in (1, 2, "2 cold"):
        jobs = 2 if n_jobs == "2 cold" else n_jobs
        if n_jobs == 2:  # start the worker processes (import torch, fit once in each) before timing
            Parallel(n_jobs=2)(delayed(_import_posetok)() for _ in range(4))
        search = GridSearchCV(PoseTokenizer(n_epochs=epochs, random_state=0), {"n_tokens": [8, 16]}, cv=2,
                              n_jobs=jobs)
        if n_jobs == "2 cold":
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=True)
        seconds, _ = timed(lambda s=search: s.fit(X_grid))
        rows.append({"what": "GridSearchCV", "n_jobs": n_jobs, "seconds": seconds})
        print(rows[-1], flush=True)
    return {"n_poses": n, "n_epochs": epochs, "n_grid_poses": len(X_grid), "rows": rows}


def _import_posetok():
    """Import posetok and run one small fit and transform, so that a worker's first-call costs are paid."""
    from posetok import PoseTokenizer
    from posetok.datasets import make_stick_figures

    X, _ = make_stick_figures(300, random_state=0)
    PoseTokenizer(n_tokens=4, n_epochs=1, random_state=0).fit(X).transform(X)
    return os.getpid()


# ------------------------------------------------------------------ 3: Dask
def _stick_block(block_info=None):
    from posetok.datasets import make_stick_figures

    start, n = block_info[None]["array-location"][0][0], block_info[None]["chunk-shape"][0]
    return make_stick_figures(n, random_state=start)[0]


def dask_section(quick):
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    from posetok import PoseTokenizer
    from posetok.datasets import make_stick_figures
    from posetok.parallel import dask_transform

    n, chunk = (400_000, 100_000) if quick else (2_000_000, 125_000)
    tok = PoseTokenizer(n_epochs=10, random_state=0).fit(make_stick_figures(5000, random_state=0)[0])
    X = np.concatenate([make_stick_figures(chunk, random_state=s)[0] for s in range(0, n, chunk)])
    serial_s, serial = timed(lambda: tok.transform(X))
    import dask

    blocks = lambda: da.map_blocks(_stick_block, chunks=((chunk,) * (n // chunk), (26,)), dtype=float)  # noqa: E731
    row = {"n_poses": n, "chunk": chunk, "serial_seconds": serial_s}
    # Dask's default worker environment sets MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's
    # mmap threshold, so every activation of torch is a fresh mmap: measured with it and without it.
    for environment in ("default", "without MALLOC_TRIM_THRESHOLD_"):
        key = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
        config = {} if environment == "default" else {key: None}
        with dask.config.set(config), LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                   dashboard_address=None, silence_logs=50) as cluster, \
                Client(cluster) as client:
            client.run(_import_posetok)
            # the workers make their blocks themselves; time that part alone and take it off
            gen_s, _ = timed(lambda: blocks().sum().compute())
            dask_s, ids = timed(lambda: dask_transform(tok, blocks()).compute())
        row[environment] = {"dask_seconds": dask_s, "generation_seconds": gen_s,
                            "equal": bool(np.array_equal(ids, serial))}
    print(row, flush=True)
    return row


# ------------------------------------------------------------------ 4: torch.distributed
def ddp_worker(out, n, epochs, seed):
    from posetok import PoseTokenizer
    from posetok.distributed import process_group

    with process_group("cpu") as (rank, world):  # (0, 1) when not run under torchrun
        X, X_test = _ddp_data(n)
        tok = PoseTokenizer(**SMALL, n_epochs=epochs, random_state=seed, distributed=world > 1).fit(X[rank::world])
        if rank == 0:
            epoch = float(np.mean([h["time"] for h in tok.history_]))
            record = {"world_size": world, "seed": seed, "seconds_per_epoch": epoch, "fit_seconds": tok.fit_time_,
                      "test_error": -tok.score(X_test), "codebook_usage": tok.codebook_usage_}
            Path(out).write_text(json.dumps(record))


def _ddp_data(n):
    from posetok.datasets import make_stick_figures

    X, _ = make_stick_figures(n, random_state=0)
    X[::9, 6:8] = np.nan
    return X, make_stick_figures(5000, random_state=1)[0]


def ddp_section(quick):
    n, epochs, seeds = (20000, 3, (0,)) if quick else (100_000, 5, (0, 1, 2))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for world in (1, 2):
                out = Path(tmp) / f"{world}_{seed}.json"
                worker = [str(Path(__file__).resolve()), "--ddp-worker", str(out), str(n), str(epochs), str(seed)]
                if world == 1:
                    command = [sys.executable, *worker]
                else:
                    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                               str(world), *worker]
                subprocess.run(command, check=True, capture_output=True, timeout=3600)
                rows.append(json.loads(out.read_text()))
                print(rows[-1], flush=True)
    return {"n_poses": n, "n_epochs": epochs, "model": SMALL, "rows": rows}


# ------------------------------------------------------------------ 5: out-of-core memory
def _status_kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _anon_kb():
    return _status_kb("RssAnon")


def memory_worker(out, path, mode):
    from posetok import PoseTokenizer

    X = np.load(path, mmap_mode="r")
    if mode == "memory":
        X = np.array(X)  # the poses loaded, before the baseline: what fit adds is measured
    base = _anon_kb()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _anon_kb())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tok = PoseTokenizer(**SMALL, n_epochs=1, random_state=0).fit(X)
    done.set()
    sampler.join()
    peak[0] = max(peak[0], _anon_kb())
    Path(out).write_text(json.dumps({
        "mode": mode, "n_poses": len(X), "fit_seconds": tok.fit_time_, "added_anon_mb": (peak[0] - base) / 1024,
        "peak_rss_mb": _status_kb("VmHWM") / 1024,  # ru_maxrss would carry the parent's over exec
        "codebook_usage": tok.codebook_usage_,
    }))


def memory_section(quick):
    from posetok.datasets import make_stick_figures

    sizes = (50_000, 200_000) if quick else (250_000, 1_000_000, 5_000_000)
    in_memory_up_to = 200_000 if quick else 1_000_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"poses_{n}.npy"
            stored = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, 26))
            for start in range(0, n, 250_000):
                stop = min(n, start + 250_000)
                stored[start:stop] = make_stick_figures(stop - start, random_state=start)[0]
            stored.flush()
            del stored
            for mode in ("memmap", "memory"):
                if mode == "memory" and n > in_memory_up_to:
                    continue
                out = Path(tmp) / "memory.json"
                subprocess.run([sys.executable, str(Path(__file__).resolve()), "--memory-worker", str(out), str(path),
                                mode], check=True, timeout=7200)
                rows.append(json.loads(out.read_text()))
                print(rows[-1], flush=True)
            path.unlink()
    return {"model": SMALL, "n_epochs": 1, "rows": rows}


# ------------------------------------------------------------------ report
def report(results):
    t = results["threads"]
    print(f"\n1. fit: {t['n_poses']} stick figures, default model, {t['n_epochs']} epochs")
    print("| n_threads | idle (s) | one busy process (s) | busy / idle |")
    print("|---|---|---|---|")
    for n_threads in (None, 1, "auto"):
        idle, busy = (r["seconds"] for r in t["rows"] if r["what"] == "fit" and r["n_threads"] == n_threads)
        print(f"| {n_threads} | {idle:.1f} | {busy:.1f} | {busy / idle:.2f} |")
    grid = {r["n_jobs"]: r["seconds"] for r in t["rows"] if r["what"] == "GridSearchCV"}
    print(f"\n2. GridSearchCV, {t['n_grid_poses']} poses, n_tokens in (8, 16), cv=2")
    print("| n_jobs=1 (s) | n_jobs=2, workers started (s) | ratio | n_jobs=2 cold (s) | ratio |")
    print("|---|---|---|---|---|")
    print(f"| {grid[1]:.1f} | {grid[2]:.1f} | {grid[2] / grid[1]:.2f} | {grid['2 cold']:.1f} | "
          f"{grid['2 cold'] / grid[1]:.2f} |")
    d = results["dask"]
    print(f"\n3. tokenizing {d['n_poses']:,} poses (default model), blocks of {d['chunk']:,}; one process: "
          f"{d['n_poses'] / d['serial_seconds']:,.0f} poses/s (all cores)")
    print("| Dask, 2 workers x 1 thread | poses/s | / one process | ids equal |")
    print("|---|---|---|---|")
    for environment in ("default", "without MALLOC_TRIM_THRESHOLD_"):
        r = d[environment]
        rate = d["n_poses"] / (r["dask_seconds"] - r["generation_seconds"])
        print(f"| {environment} | {rate:,.0f} | {rate * d['serial_seconds'] / d['n_poses']:.2f} | {r['equal']} |")
    p = results["ddp"]
    print(f"\n4. fit on {p['n_poses']:,} poses, {p['n_epochs']} epochs, model {p['model']}")
    print("| processes | s per epoch (mean) | held-out joint error (mean, min-max over seeds) | seeds |")
    print("|---|---|---|---|")
    for world in (1, 2):
        rows = [r for r in p["rows"] if r["world_size"] == world]
        errors = [r["test_error"] for r in rows]
        print(f"| {world} | {np.mean([r['seconds_per_epoch'] for r in rows]):.2f} | {np.mean(errors):.3f} "
              f"({min(errors):.3f}-{max(errors):.3f}) | {len(rows)} |")
    m = results["memory"]
    print(f"\n5. fit from disk, 1 epoch, model {m['model']}")
    print("| poses | input | memory added by fit (MB, anonymous) | peak RSS incl. file pages (MB) | fit (s) |")
    print("|---|---|---|---|---|")
    for r in m["rows"]:
        print(f"| {r['n_poses']:,} | {r['mode']} | {r['added_anon_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
              f"{r['fit_seconds']:.0f} |")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--ddp-worker":
        out, n, epochs, seed = sys.argv[2:6]
        return ddp_worker(out, int(n), int(epochs), int(seed))
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-worker":
        return memory_worker(*sys.argv[2:5])
    sections = {"threads": threads_section, "dask": dask_section, "ddp": ddp_section, "memory": memory_section}
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--section", choices=sections, help="run one section in this process (used by the run)")
    parser.add_argument("--out", help="with --section: where to write its results")
    args = parser.parse_args()
    if args.section:
        Path(args.out).write_text(json.dumps(sections[args.section](args.quick)))
        return None
    import torch

    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                          f"torch {torch.__version__}, default threads {torch.get_num_threads()}",
               "quick": args.quick}
    # each section in a fresh process, so that none inherits another's processes or threads
    with tempfile.TemporaryDirectory() as tmp:
        for name in sections:
            out = Path(tmp) / f"{name}.json"
            command = [sys.executable, str(Path(__file__).resolve()), "--section", name, "--out", str(out)]
            subprocess.run(command + (["--quick"] if args.quick else []), check=True)
            results[name] = json.loads(out.read_text())
    path = RESULTS / f"scale{'_quick' if args.quick else ''}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nmachine: {results['machine']}")
    report(results)
    print(f"\nwrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
