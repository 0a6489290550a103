"""The GPU and NCCL checks, as one short script for a machine with a GPU (about 2 minutes).

    python benchmarks/device_check.py                 # on a GPU machine: cuda + nccl
    python benchmarks/device_check.py --device cpu    # the same flow on CPUs with gloo (a dry run)

Checks, printing one line each and exiting non-zero on the first failure:

1. a fit on the device (20 000 stick figures, the default model, 5 epochs) ends with its modules
   on the CPU, ``device_`` names the device, and its ids are those of the CPU encoder;
   seconds per epoch on the device and on the CPU (1 epoch) in the same run;
2. a fit streamed from a memmap on the device;
3. a model fitted on the device saves and loads (``.posetok`` and joblib) with the same ids;
4. ``distributed=True`` under ``torchrun`` with one rank per GPU (nccl; gloo with ``--device cpu``,
   2 ranks): every rank ends with the same weights;
5. (information, never a failure: not promised on a GPU) whether two fits with the same seed on the
   device give the same latent features, and how far apart they are.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def check(name, ok, detail=""):
    print(f"[{'ok' if ok else 'FAILED'}] {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        sys.exit(1)


def rank_main(device, out):
    """Run under torchrun: fit on this rank's shard, write a digest of the weights."""
    from posetok import PoseTokenizer
    from posetok.datasets import make_stick_figures
    from posetok.distributed import process_group

    with process_group(device) as (rank, world):  # nccl on the rank's GPU, gloo on CPUs
        X, _ = make_stick_figures(8000, random_state=0)
        tok = PoseTokenizer(n_tokens=8, codebook_size=64, n_epochs=3, random_state=0, device=device,
                            distributed=True).fit(X[rank::world])
        digest = hashlib.sha1(b"".join(t.numpy().tobytes() for t in tok.network_.state_dict().values())).hexdigest()
        Path(out, f"rank{rank}.txt").write_text(digest)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--rank-main", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_main:
        return rank_main(args.device, args.rank_main)
    import joblib
    import torch

    from posetok import PoseTokenizer
    from posetok.datasets import make_stick_figures

    if args.device == "cuda" and not torch.cuda.is_available():
        check("cuda available", False, "torch.cuda.is_available() is False; use --device cpu for a dry run")
    X, _ = make_stick_figures(20000, random_state=0)
    X_test, _ = make_stick_figures(2000, random_state=1)

    tic = time.perf_counter()
    tok = PoseTokenizer(n_epochs=5, random_state=0, device=args.device).fit(X)
    per_epoch = (time.perf_counter() - tic) / 5
    cpu = PoseTokenizer(n_epochs=1, random_state=0, device="cpu").fit(X)
    on_cpu = all(p.device.type == "cpu" for p in tok.network_.parameters())
    check("fit on the device, modules back on the CPU", on_cpu and tok.device_.startswith(args.device),
          f"device_={tok.device_}, {per_epoch:.2f} s per epoch (fit included) vs {cpu.history_[0]['time']:.2f} s "
          "for one CPU epoch")
    check("quality", -tok.score(X_test) < 2.0, f"held-out joint error {-tok.score(X_test):.3f}")

    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "poses.npy", X)
        streamed = PoseTokenizer(n_epochs=2, random_state=0, device=args.device).fit(
            np.load(Path(tmp) / "poses.npy", mmap_mode="r"))
        check("streamed fit from a memmap on the device", streamed.codebook_usage_ >= 0.9,
              f"codebook usage {streamed.codebook_usage_:.0%}")
        ids = tok.transform(X_test)
        loaded = PoseTokenizer.load(tok.save(Path(tmp) / "m.posetok"))
        buffer = io.BytesIO()
        joblib.dump(tok, buffer)
        buffer.seek(0)
        unpickled = joblib.load(buffer)
        same = np.array_equal(loaded.transform(X_test), ids) and np.array_equal(unpickled.transform(X_test), ids)
        check("save/load and joblib of a device-fitted model", same)

        world = torch.cuda.device_count() if args.device == "cuda" else 2
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(world),
                   str(Path(__file__).resolve()), "--device", args.device, "--rank-main", tmp]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        digests = {Path(tmp, f"rank{r}.txt").read_text() for r in range(world) if Path(tmp, f"rank{r}.txt").exists()}
        check(f"torchrun, {world} rank(s), {'nccl' if args.device == 'cuda' else 'gloo'}",
              done.returncode == 0 and len(digests) == 1, done.stderr[-2000:] if done.returncode else "same weights")

    small = dict(n_tokens=8, codebook_size=64, n_epochs=3, random_state=0, device=args.device, encode="latent",
                 mask_probability=0.3, refinement_stages=1, refinement_codebook_size=32)
    a, b = (PoseTokenizer(**small).fit(X[:3000]) for _ in range(2))
    gap = float(np.abs(a.transform(X_test) - b.transform(X_test)).max())
    outcome = "identical" if gap == 0 else f"latent features up to {gap:.2g} apart"
    print(f"[info] two fits with one seed on the device: {outcome}", flush=True)


if __name__ == "__main__":
    main()
