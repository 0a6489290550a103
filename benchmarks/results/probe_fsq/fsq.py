"""Finite scalar quantization (FSQ) in place of posetok's EMA codebook, for a probe (issues 18, 19).

Not part of posetok: :func:`install_all` patches ``posetok.nn.PoseTokenizerNet`` so that every
network built afterwards in this process has an FSQ grid instead of the EMA quantizer (Mentzer et
al., "Finite Scalar Quantization: VQ-VAE Made Simple", 2023). The encoder's output of each token
(``token_dim`` numbers, which must equal the number of level axes) is bounded by ``tanh`` to the
levels' range, rounded to the nearest level (straight-through gradient) and scaled to [-1, 1]; the
id is the grid point's mixed-radix number. No commitment loss, no k-means start, no dead codes.
``LEVELS`` maps the codebook size to the levels used.
"""
import torch
from torch import nn

import posetok.nn as pnn
import posetok.training as training

LEVELS = {256: [8, 8, 4], 1024: [8, 5, 5, 5], 2048: [8, 8, 8, 4], 4096: [8, 8, 8, 8], 64: [4, 4, 4], 16: [4, 4]}
LEVELS_3_AXES = {2048: [16, 16, 8]}  # used when token_dim is 3


def levels_for(codebook_size, token_dim):
    if token_dim == 3 and codebook_size in LEVELS_3_AXES:
        return LEVELS_3_AXES[codebook_size]
    return LEVELS[codebook_size]


class Bounded(nn.Module):
    """The encoder, its outputs bounded to the levels' range and scaled to about [-1, 1]."""

    def __init__(self, encoder, levels):
        super().__init__()
        self.inner = encoder
        L = torch.tensor(levels, dtype=torch.float32)
        eps = 1e-3
        self.register_buffer("half_l", (L - 1) * (1 + eps) / 2)
        self.register_buffer("offset", torch.where(L % 2 == 0, 0.5, 0.0))
        self.register_buffer("shift", torch.atanh(self.offset / self.half_l))
        self.register_buffer("half_width", torch.div(L, 2, rounding_mode="floor"))

    def forward(self, *args, **kwargs):
        z = self.inner(*args, **kwargs)
        bounded = torch.tanh(z + self.shift) * self.half_l - self.offset
        return bounded / self.half_width


class FSQ(nn.Module):
    """The quantizer interface posetok's training and inference use, over a fixed grid."""

    def __init__(self, levels):
        super().__init__()
        L = torch.tensor(levels)
        self.register_buffer("L", L)
        self.register_buffer("half_width", torch.div(L, 2, rounding_mode="floor").float())
        basis = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.long), L[:-1]]), 0)
        self.register_buffer("basis", basis)
        n = int(L.prod())
        digits = (torch.arange(n)[:, None] // basis) % L  # (n, axes)
        self.register_buffer("codebook", (digits.float() - self.half_width) / self.half_width)

    codebook_size = property(lambda self: self.codebook.shape[0])
    n_codes = property(lambda self: self.codebook.shape[0])
    n_books = property(lambda self: None)

    def set_codebook_(self, codes):
        pass

    def flat_ids(self, indices):
        return indices

    def nearest(self, z):
        q = torch.round(z * self.half_width)
        q = q.clamp(-self.half_width, self.half_width - (self.L % 2 == 0).float())
        return ((q + self.half_width).long() * self.basis).sum(-1)

    def lookup(self, indices):
        return self.codebook[indices]

    def forward(self, z):
        indices = self.nearest(z.detach())
        q = self.lookup(indices)
        return z + (q - z).detach(), indices, z.new_zeros(())

    def expire_dead_codes_(self, z, threshold, generator):
        return 0


def install_all():
    """Every PoseTokenizerNet built from now on quantizes by FSQ; no k-means start for it."""
    original_init = pnn.PoseTokenizerNet.__init__
    original_start = training._init_codebook

    def init(self, config):
        original_init(self, config)
        levels = levels_for(config.codebook_size, config.token_dim)
        assert config.token_dim == len(levels), (config.token_dim, levels)
        self.encoder = Bounded(self.encoder, levels)
        self.quantizer = FSQ(levels)

    def start(net, *args, **kwargs):
        if not isinstance(net.quantizer, FSQ):
            original_start(net, *args, **kwargs)

    pnn.PoseTokenizerNet.__init__ = init
    training._init_codebook = start
