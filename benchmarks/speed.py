"""Inference speed against the machine's matrix-multiply limit, and fit memory.

Run from the repository root:

    python benchmarks/speed.py            # defaults and the official PCT size
    python benchmarks/speed.py --quick    # fewer repeats

For each configuration: floating-point operations per pose of transform (encoder +
nearest-code search) and inverse_transform (code lookup + decoder), counted with
torch's FlopCounterMode; poses per second by batch size; and that throughput as a
percentage of the float32 matrix-multiply throughput measured in the same run.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from posetok import PoseTokenizer
from posetok.datasets import make_stick_figures

CONFIGS = {
    "default (32 x 256, width 64)": {},
    "official PCT size (34 x 2048, D 512, H 512, 4 blocks; decoder 32, 1 block)": dict(
        n_tokens=34, codebook_size=2048, token_dim=512, encoder_width=512, encoder_depth=4,
        decoder_width=32, decoder_depth=1, token_mlp_width=64,
    ),
}


def matmul_gflops(repeats):
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    tic = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * 2048**3 * repeats / (time.perf_counter() - tic) / 1e9


def flops_per_pose(net, n_keypoints):
    kp, obs = torch.zeros(64, n_keypoints, 2), torch.ones(64, n_keypoints, dtype=torch.bool)
    with torch.no_grad():
        with FlopCounterMode(display=False) as enc:
            ids = net.encode(kp, obs)
        with FlopCounterMode(display=False) as dec:
            net.decode(ids)
    return enc.get_total_flops() / 64, dec.get_total_flops() / 64


def throughput(fn, X, min_seconds):
    fn(X)
    n, tic = 0, time.perf_counter()
    while time.perf_counter() - tic < min_seconds:
        fn(X)
        n += 1
    return n * len(X) / (time.perf_counter() - tic)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    min_seconds = 0.3 if args.quick else 1.0
    X, _ = make_stick_figures(16384, random_state=0)
    limit = matmul_gflops(5 if args.quick else 20)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"float32 matmul (2048^3): {limit:.1f} GFLOP/s")
    print()
    print("| configuration | batch | transform poses/s | % of matmul | inverse_transform poses/s | % of matmul |")
    print("|---|---|---|---|---|---|")
    for name, params in CONFIGS.items():
        # one short epoch: speed does not depend on how well the model is trained
        tok = PoseTokenizer(**params, n_epochs=1, random_state=0).fit(X[:2048])
        enc_flops, dec_flops = flops_per_pose(tok.network_, tok.n_keypoints_)
        ids = tok.transform(X)
        for batch in (1, 64, 1024, 16384):
            t = throughput(tok.transform, X[:batch], min_seconds)
            i = throughput(tok.inverse_transform, ids[:batch], min_seconds)
            print(f"| {name} | {batch} | {t:,.0f} | {100 * t * enc_flops / 1e9 / limit:.1f} | "
                  f"{i:,.0f} | {100 * i * dec_flops / 1e9 / limit:.1f} |", flush=True)
        print(f"| {name}: {enc_flops / 1e6:.2f} MFLOP/pose to encode, {dec_flops / 1e6:.2f} to decode, "
              f"{sum(p.numel() for p in tok.network_.parameters()) / 1e6:.2f} M parameters | | | | | |")
    print(f"\npeak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
