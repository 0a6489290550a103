"""Fit one PoseTokenizer on several processes with torch.distributed, from a file larger than memory.

    torchrun --nproc-per-node 2 examples/distributed_fit.py poses.npy model.posetok

``poses.npy`` holds keypoints of shape (n_poses, n_keypoints, n_dims) (or flat
(n_poses, n_dims * n_keypoints)), NaN for missing joints. Each process (rank)
memory-maps the file and streams its own contiguous shard from disk, so no
process loads the data; all ranks end with the same model and rank 0 writes it.
On GPUs the same script runs with the nccl backend (one GPU per rank).
``posetok.distributed.process_group`` sets the process group up and tears it
down cleanly; run alone (no torchrun) the script fits in one process.
Try it on synthetic poses: ``python examples/distributed_fit.py --make-demo-data poses.npy``.
"""

from __future__ import annotations

import argparse

import numpy as np

from posetok import PoseTokenizer
from posetok.distributed import process_group


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("poses", help=".npy keypoints, (n_poses, n_keypoints, n_dims)")
    parser.add_argument("output", nargs="?", help="the model to write, *.posetok")
    parser.add_argument("--n-tokens", type=int, default=32)
    parser.add_argument("--codebook-size", type=int, default=256)
    parser.add_argument("--n-epochs", type=int, default=60)
    parser.add_argument("--make-demo-data", action="store_true",
                        help="write 100 000 synthetic stick figures to POSES and stop")
    args = parser.parse_args()
    if args.make_demo_data:
        from posetok.datasets import make_stick_figures

        np.save(args.poses, make_stick_figures(100_000, random_state=0)[0].reshape(-1, 13, 2))
        return
    if args.output is None:
        parser.error("the output model path is required")

    with process_group() as (rank, world):  # the default process group: gloo on CPUs, nccl on GPUs
        poses = np.load(args.poses, mmap_mode="r")  # nothing is read yet
        shard = np.array_split(np.arange(len(poses)), world)[rank]
        tokenizer = PoseTokenizer(
            n_tokens=args.n_tokens, codebook_size=args.codebook_size, n_epochs=args.n_epochs,
            distributed=world > 1, random_state=0, verbose=1,  # progress lines are printed by rank 0 only
        ).fit(poses[shard[0] : shard[-1] + 1])  # a slice of a memmap is a memmap: fit streams it
        if rank == 0:
            tokenizer.save(args.output)
            print(f"{len(poses)} poses on {world} processes: codebook usage {tokenizer.codebook_usage_:.0%}, "
                  f"{tokenizer.fit_time_:.0f} s -> {args.output}")


if __name__ == "__main__":
    main()
