"""The stick-figure article's recipe, re-implemented here only, side by side with posetok.

    python benchmarks/original_recipe.py --epochs 20     # the article's 20 + 20 epochs (slow on 2 cores)
    python benchmarks/original_recipe.py --epochs 3      # a short side-by-side
    python benchmarks/original_recipe.py --quick         # smoke run: 2 000 poses, 1 epoch, posetok 10 epochs

What the article did (shared/reference/pct-stage1.md): H = 256, 16 mixer blocks in the
encoder and the decoder, mixer widths 64 (channel) and 32 (token), dropout 0.1; one
number (64) for the token count, the token dimension and the codebook size; Adam lr 1e-4,
batch 64, smooth-L1 on 64-px coordinates, commitment weight 0.25; an EMA codebook started
from N(0, 1) with no k-means and no dead-code reset. Its joint training has no
straight-through estimator: the decoder reads the codes, so the encoder only ever gets
the commitment gradient. Its staged training pre-trains encoder + decoder without the
codebook, then freezes the encoder and trains a fresh decoder with the codebook.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from posetok import PoseTokenizer
from posetok.datasets import make_stick_figures
from posetok.nn import EMAQuantizer, MixerBlock

TIED = 64  # the article's M = D = V


class Encoder(nn.Module):
    def __init__(self, k=13, h=256, depth=16):
        super().__init__()
        self.embed = nn.Linear(2, h)
        self.blocks = nn.Sequential(*(MixerBlock(k, h, 32, 0.1) for _ in range(depth)))
        self.norm = nn.LayerNorm(h)
        self.to_tokens = nn.Linear(k, TIED)
        self.to_dim = nn.Linear(h, TIED)

    def forward(self, x):
        h = self.norm(self.blocks(self.embed(x)))
        return self.to_dim(self.to_tokens(h.transpose(1, 2)).transpose(1, 2))


class Decoder(nn.Module):
    def __init__(self, k=13, h=256, depth=16):
        super().__init__()
        self.to_joints = nn.Linear(TIED, k)
        self.from_dim = nn.Linear(TIED, h)
        self.blocks = nn.Sequential(*(MixerBlock(k, h, 32, 0.1) for _ in range(depth)))
        self.norm = nn.LayerNorm(h)
        self.head = nn.Linear(h, 2)

    def forward(self, q):
        h = self.from_dim(self.to_joints(q.transpose(1, 2)).transpose(1, 2))
        return self.head(self.norm(self.blocks(h)))


def quantize_without_ste(quantizer, z):
    """The article's quantizer: codes go to the decoder as they are (no straight-through)."""
    idx = quantizer.nearest(z.detach())
    q = quantizer.lookup(idx)
    if quantizer.training:
        quantizer._update_ema_(z.detach(), idx)
    return q, idx, F.mse_loss(z, q.detach())


def epochs(model_params, step, X, n_epochs, gen):
    opt = torch.optim.Adam(model_params, lr=1e-4)
    for _ in range(n_epochs):
        for i in torch.randperm(len(X), generator=gen).split(64):
            loss = step(X[i])
            opt.zero_grad()
            loss.backward()
            opt.step()


def fit_original(X, strategy, n_epochs, seed=0):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    enc, dec = Encoder(), Decoder()
    vq = EMAQuantizer(TIED, TIED, decay=0.99)
    vq.set_codebook_(torch.randn(TIED, TIED, generator=gen))
    enc.train(), dec.train(), vq.train()
    if strategy == "joint":
        def step(x):
            q, _, commit = quantize_without_ste(vq, enc(x))
            return F.smooth_l1_loss(dec(q), x) + 0.25 * commit

        epochs(list(enc.parameters()) + list(dec.parameters()), step, X, n_epochs, gen)
    else:
        epochs(list(enc.parameters()) + list(dec.parameters()), lambda x: F.smooth_l1_loss(dec(enc(x)), x),
               X, n_epochs, gen)
        enc.requires_grad_(False)
        enc.eval()
        dec = Decoder().train()

        def step(x):
            q, _, commit = quantize_without_ste(vq, enc(x))
            return F.smooth_l1_loss(dec(q), x) + 0.25 * commit

        epochs(list(dec.parameters()), step, X, n_epochs, gen)
    enc.eval(), dec.eval(), vq.eval()
    return enc, dec, vq


@torch.no_grad()
def evaluate(enc, dec, vq, X):
    idx = vq.nearest(enc(X))
    err = (dec(vq.lookup(idx)) - X).norm(dim=-1).mean().item()
    return err, idx.numpy()


def throughput(fn, n_repeats=3):
    fn()
    tic = time.perf_counter()
    for _ in range(n_repeats):
        fn()
    return (time.perf_counter() - tic) / n_repeats


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3, help="epochs per stage of the original recipe")
    parser.add_argument("--strategies", nargs="+", choices=["joint", "staged"], default=["joint", "staged"])
    parser.add_argument("--quick", action="store_true",
                        help="2 000 / 500 poses, 1 epoch per stage, posetok 10 epochs (a smoke run)")
    args = parser.parse_args()
    n_train, n_test = (2000, 500) if args.quick else (10000, 2000)
    if args.quick:
        args.epochs = 1
    X_np, _ = make_stick_figures(n_train, random_state=0)
    Xt_np, _ = make_stick_figures(n_test, random_state=1)
    X = torch.as_tensor(X_np, dtype=torch.float32).reshape(-1, 13, 2)
    Xt = torch.as_tensor(Xt_np, dtype=torch.float32).reshape(-1, 13, 2)
    rows = []
    for strategy in args.strategies:
        tic = time.perf_counter()
        enc, dec, vq = fit_original(X, strategy, args.epochs)
        fit_s = time.perf_counter() - tic
        err, ids = evaluate(enc, dec, vq, Xt)
        secs = throughput(lambda enc=enc, vq=vq: vq.nearest(enc(Xt)))
        epochs_desc = f"{args.epochs}" if strategy == "joint" else f"{args.epochs} + {args.epochs}"
        rows.append((f"original recipe, {strategy} ({epochs_desc} epochs)", err, ids, 64, fit_s, len(Xt) / secs))
        print(rows[-1][0], f"{err:.3f} px", flush=True)
    tok = PoseTokenizer(n_epochs=10 if args.quick else 60, random_state=0)
    tic = time.perf_counter()
    tok.fit(X_np)
    fit_s = time.perf_counter() - tic
    ids = tok.transform(Xt_np)
    err = float(np.linalg.norm((tok.inverse_transform(ids) - Xt_np).reshape(-1, 13, 2), axis=-1).mean())
    secs = throughput(lambda: tok.transform(Xt_np))
    label = "posetok defaults, 10 epochs (quick)" if args.quick else "posetok defaults (60 epochs)"
    rows.append((label, err, ids, tok.codebook_size, fit_s, len(Xt_np) / secs))
    print()
    print(f"{n_train} training / {n_test} held-out stick figures (seeds 0 / 1)")
    print("| model | held-out error (px) | codebook usage | distinct token strings | bits | fit (s) "
          "| transform poses/s |")
    print("|---|---|---|---|---|---|---|")
    for name, err, ids, v, fit_s, tput in rows:
        usage = len(np.unique(ids)) / v
        print(f"| {name} | {err:.3f} | {usage:.1%} | {len(np.unique(ids, axis=0))} | "
              f"{ids.shape[1] * np.log2(v):.0f} | {fit_s:.0f} | {tput:,.0f} |")


if __name__ == "__main__":
    main()
