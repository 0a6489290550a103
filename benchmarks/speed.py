"""Inference speed against the machine's matrix-multiply limit, and fit memory.

Run from the repository root:

    python benchmarks/speed.py            # defaults and the official PCT size
    python benchmarks/speed.py --quick    # fewer repeats
    python benchmarks/speed.py --compile  # also: the default encoder fused by torch.compile

For each configuration: floating-point operations per pose of transform (encoder +
nearest-code search) and inverse_transform (code lookup + decoder), counted with
torch's FlopCounterMode; poses per second by batch size (the best of five rounds); that throughput as a
percentage of the float32 matrix-multiply throughput measured in the same run; and
the fit time per epoch. Last, where the time of a large-batch ``transform`` of the
default model goes, by operator (``torch.profiler``): what stands between it and the
matmul limit; what the packed nearest-code search (``posetok.nn.packed_argmin``)
gains over an exact argmin, in the same run; and what refinement stages cost
(``transform`` must also decode, and search each keypoint's refinement codebooks).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import time
import warnings

import torch
from torch.profiler import profile
from torch.utils.flop_counter import FlopCounterMode

import posetok.nn
from posetok import CodebookCollapseWarning, PoseTokenizer
from posetok.datasets import make_stick_figures
from posetok.training import INFERENCE_BATCH, _in_eval, _inputs, encode


def _fit_briefly(params, X):
    """Two short epochs: speed does not depend on how well a model is trained, and a codebook this
    briefly trained may use few codes, which is expected here (not the collapse the warning is for)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodebookCollapseWarning)
        return PoseTokenizer(**params, n_epochs=2, random_state=0).fit(X[:2048])


CONFIGS = {
    "default (32 x 256, width 64)": {},
    "official PCT size (34 x 2048, D 512, H 512, 4 blocks; decoder 32, 1 block)": dict(
        n_tokens=34, codebook_size=2048, token_dim=512, encoder_width=512, encoder_depth=4,
        decoder_width=32, decoder_depth=1, token_mlp_width=64,
    ),
}


def matmul_gflops(repeats, rounds=5):
    """Float32 GFLOP/s of a 2048^3 matrix product: the best of ``rounds`` rounds of ``repeats``."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = 0.0
    for _ in range(rounds):
        tic = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * 2048**3 * repeats / (time.perf_counter() - tic) / 1e9)
    return best


def flops_per_pose(net, n_keypoints):
    kp, obs = torch.zeros(64, n_keypoints, 2), torch.ones(64, n_keypoints, dtype=torch.bool)
    with torch.no_grad():
        with FlopCounterMode(display=False) as enc:
            ids = net.encode(kp, obs)
        with FlopCounterMode(display=False) as dec:
            net.decode(ids)
    return enc.get_total_flops() / 64, dec.get_total_flops() / 64


def throughput(fn, X, min_seconds, rounds=5):
    """Samples per second of ``fn(X)``: the best of ``rounds`` rounds of ``min_seconds / rounds``.

    The best round, as ``timeit`` advises: on a shared machine the slower rounds measure
    the other processes, not ``fn``. The matmul limit is measured the same way. Calls
    slower than a round make fewer rounds (at least one call).
    """
    tic = time.perf_counter()
    fn(X)
    rounds = max(1, min(rounds, int(min_seconds / (time.perf_counter() - tic))))
    best = 0.0
    for _ in range(rounds):
        n, tic = 0, time.perf_counter()
        while n == 0 or time.perf_counter() - tic < min_seconds / rounds:
            fn(X)
            n += 1
        best = max(best, n * len(X) / (time.perf_counter() - tic))
    return best


MATMUL_OPS = {"aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm", "aten::matmul"}


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send the C++ side's stderr to /dev/null: torch.profiler's kineto prints "USDT ... profiler_start"
    lines there that no log level silences, and they land in the middle of the tables."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def time_by_operator(fn, X, repeats=3):
    """Share of ``fn(X)``'s operator time per ATen operator, largest first."""
    fn(X)
    with _quiet_native_stderr(), profile() as prof:
        for _ in range(repeats):
            fn(X)
    events = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in events)
    return sorted(((name, t / total) for name, t in events), key=lambda item: -item[1])


def packed_search_gain(tok, X, rounds=5):
    """Poses/s of ``tok.transform(X)`` with the packed nearest-code search and with the exact
    argmin (``posetok.nn.PACKED_MAX_BITS = 0``), timed in alternating rounds; and the fraction
    of token ids both give."""
    default_bits = posetok.nn.PACKED_MAX_BITS
    best = {"packed": 0.0, "exact": 0.0}
    ids = {}
    try:
        for _ in range(rounds):
            for name, bits in (("packed", default_bits), ("exact", 0)):
                posetok.nn.PACKED_MAX_BITS = bits
                tic = time.perf_counter()
                ids[name] = tok.transform(X)
                best[name] = max(best[name], len(X) / (time.perf_counter() - tic))
    finally:
        posetok.nn.PACKED_MAX_BITS = default_bits
    return best["packed"], best["exact"], float((ids["packed"] == ids["exact"]).mean())


REFINED = {
    "2 x 256 + 2 refinement stages x 128": dict(n_tokens=2, refinement_stages=2, refinement_codebook_size=128),
    "4 x 256 + 2 refinement stages x 1024": dict(n_tokens=4, refinement_stages=2, refinement_codebook_size=1024),
}


def refinement_speed(X, default, min_seconds):
    """Rows of poses/s of refined tokenizers, at the largest batch, with the default's for scale."""
    ids = default.transform(X)
    rows = [("default (32 x 256, width 64)", default.bits_per_pose_,
             throughput(default.transform, X, min_seconds), throughput(default.inverse_transform, ids, min_seconds))]
    for name, params in REFINED.items():
        tok = _fit_briefly(params, X)
        ids = tok.transform(X)
        rows.append((name, tok.bits_per_pose_, throughput(tok.transform, X, min_seconds),
                     throughput(tok.inverse_transform, ids, min_seconds)))
    return rows


def compiled_encoder_speed(tok, X, min_seconds):
    """Poses/s of the network's encoding, eager and fused by ``torch.compile``, same chunks.

    Both skip input validation, so the ratio is what kernel fusion alone gains. Also returns
    the seconds the first call took (compiling) and the fraction of token ids both agree on.
    """
    net = tok.network_.eval()
    keypoints, observed = tok._normalised(X)
    fused = torch.compile(net.encode, dynamic=False)

    def run_compiled(_):  # the chunking of posetok.training.encode, with the compiled function
        return _in_eval(net, fused, *_inputs(keypoints, observed), batch_size=INFERENCE_BATCH)

    tic = time.perf_counter()
    agreement = float((run_compiled(X) == encode(net, keypoints, observed)).double().mean())
    compile_s = time.perf_counter() - tic
    eager = throughput(lambda _: encode(net, keypoints, observed), X, min_seconds)
    return eager, throughput(run_compiled, X, min_seconds), compile_s, agreement


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--compile", action="store_true",
                        help="also time the default encoder compiled by torch.compile (needs a C++ compiler)")
    args = parser.parse_args()
    min_seconds = 0.5 if args.quick else 2.0
    X, _ = make_stick_figures(16384, random_state=0)
    limit = matmul_gflops(2 if args.quick else 4)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"float32 matmul (2048^3): {limit:.1f} GFLOP/s")
    print()
    print("| configuration | batch | transform poses/s | % of matmul | inverse_transform poses/s | % of matmul |")
    print("|---|---|---|---|---|---|")
    fitted = {}
    large_batch = {}
    for name, params in CONFIGS.items():
        # two short epochs (the second one is timed): speed does not depend on how well the model is trained
        tok = fitted[name] = _fit_briefly(params, X)
        enc_flops, dec_flops = flops_per_pose(tok.network_, tok.n_keypoints_)
        ids = tok.transform(X)
        for batch in (1, 64, 1024, 16384):
            t = throughput(tok.transform, X[:batch], min_seconds)
            i = throughput(tok.inverse_transform, ids[:batch], min_seconds)
            print(f"| {name} | {batch} | {t:,.0f} | {100 * t * enc_flops / 1e9 / limit:.1f} | "
                  f"{i:,.0f} | {100 * i * dec_flops / 1e9 / limit:.1f} |", flush=True)
        large_batch[name] = (t, enc_flops)  # the largest batch
        print(f"| {name}: {enc_flops / 1e6:.2f} MFLOP/pose to encode, {dec_flops / 1e6:.2f} to decode, "
              f"{sum(p.numel() for p in tok.network_.parameters()) / 1e6:.2f} M parameters | | | | | |")
    print()
    print("| configuration | fit: seconds per epoch of 2048 poses (second epoch) | fit: poses per second |")
    print("|---|---|---|")
    for name, tok in fitted.items():
        epoch_s = tok.history_[-1]["time"]
        print(f"| {name} | {epoch_s:.2f} | {2048 / epoch_s:,.0f} |")
    name, default = next(iter(fitted.items()))
    shares = time_by_operator(default.transform, X)
    print(f"\nwhere a transform of {len(X)} poses spends its time (default model, torch.profiler):")
    for op, share in shares[:8]:
        print(f"  {op:28s} {100 * share:5.1f} %")
    # If everything but the matrix products took no time, transform would run at the
    # matrix products' own speed: the ceiling for this model without fusing kernels.
    matmul_share = sum(share for op, share in shares if op in MATMUL_OPS)
    poses_per_s, flops = large_batch[name]
    print(f"matrix products: {100 * matmul_share:.0f} % of the time, running at "
          f"{100 * poses_per_s * flops / matmul_share / 1e9 / limit:.0f} % of the matmul limit; "
          f"everything else (choosing the nearest code, GELU, LayerNorm, copies, ...): "
          f"{100 * (1 - matmul_share):.0f} %")
    packed, exact, agreement = packed_search_gain(default, X)
    print(f"nearest-code search in transform of {len(X)} poses (alternating rounds): packed "
          f"{packed:,.0f} poses/s ({100 * packed * flops / 1e9 / limit:.1f} %), exact argmin "
          f"{exact:,.0f} poses/s; {100 * agreement:.3f} % of token ids agree")
    print(f"\nwith refinement stages ({len(X)} poses of 13 keypoints, best of five rounds):")
    print("| configuration | bits / pose | transform poses/s | inverse_transform poses/s |")
    print("|---|---|---|---|")
    for row_name, bits, t, i in refinement_speed(X, default, min_seconds):
        print(f"| {row_name} | {bits:.0f} | {t:,.0f} | {i:,.0f} |", flush=True)
    if args.compile:
        eager, fused, compile_s, agreement = compiled_encoder_speed(default, X, min_seconds)
        print(f"network encoding of {len(X)} poses without validation: eager {eager:,.0f} poses/s "
              f"({100 * eager * flops / 1e9 / limit:.1f} % of matmul), torch.compile {fused:,.0f} poses/s "
              f"({100 * fused * flops / 1e9 / limit:.1f} %); {100 * agreement:.3f} % of token ids agree; "
              f"compiling took {compile_s:.0f} s")
    print(f"\npeak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
