"""Pure PyTorch building blocks of the pose tokenizer.

This module knows nothing of scikit-learn or numpy arrays: it defines the
MLP-Mixer encoder and decoder and the EMA vector quantizer of PCT stage 1
(Geng et al., "Human Pose as Compositional Tokens", CVPR 2023).

Letters of the paper, as used in comments only: K keypoints, M tokens,
D token dimension, V codebook size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "TokenizerConfig",
    "MixerBlock",
    "PoseEncoder",
    "PoseDecoder",
    "EMAQuantizer",
    "packed_argmin",
    "nearest_code",
    "PoseTokenizerNet",
]


@dataclass(frozen=True)
class TokenizerConfig:
    """Sizes of a :class:`PoseTokenizerNet`; every size is independent.

    No size has a default here: the defaults live in one place, the parameters
    of :class:`posetok.PoseTokenizer`.
    """

    n_keypoints: int
    n_dims: int  # coordinates per keypoint: 2 for image keypoints, 3 for 3-D joints
    n_tokens: int
    token_dim: int
    codebook_size: int
    encoder_width: int
    encoder_depth: int
    decoder_width: int
    decoder_depth: int
    token_mlp_width: int
    dropout: float = 0.0
    # One codebook shared by every token position (PCT), or one codebook per position.
    per_token_codebooks: bool = False
    # The official tokenizer's EMA decay; not a parameter, since nothing measured here needed another.
    ema_decay: float = 0.9


class _MLP(nn.Sequential):
    def __init__(self, n_in: int, n_hidden: int, dropout: float):
        super().__init__(
            nn.Linear(n_in, n_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(n_hidden, n_in),
            nn.Dropout(dropout),
        )


def linear_over_items(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Apply ``linear`` along axis 1 of ``x`` (batch, n_items, width) -> (batch, n_out, width).

    The same as ``linear(x.transpose(1, 2)).transpose(1, 2)``, computed as one batched
    matrix product so that no transposed copy is made (measured 15-20 % faster end to
    end for the default model on the CPU).
    """
    batch, _, width = x.shape
    bias = linear.bias[:, None].expand(batch, -1, width)
    return torch.baddbmm(bias, linear.weight.expand(batch, -1, -1), x)


class MixerBlock(nn.Module):
    """Pre-norm MLP-Mixer block over an array of shape (batch, n_items, width).

    As in the official PCT code, the channel MLP sees ``x + y`` where ``y`` is
    the token-mixing output, and the block returns ``x + y + z``.
    """

    def __init__(self, n_items: int, width: int, token_mlp_width: int, dropout: float):
        super().__init__()
        self.norm_items = nn.LayerNorm(width)
        self.mix_items = _MLP(n_items, token_mlp_width, dropout)
        self.norm_channels = nn.LayerNorm(width)
        self.mix_channels = _MLP(width, width, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fc1, act, drop1, fc2, drop2 = self.mix_items
        y = drop2(linear_over_items(fc2, drop1(act(linear_over_items(fc1, self.norm_items(x))))))
        mixed = x + y
        return mixed + self.mix_channels(self.norm_channels(mixed))


class PoseEncoder(nn.Module):
    """Compositional encoder: (batch, K, n_dims) keypoints -> (batch, M, D) token vectors.

    Missing joints (``observed`` False) are replaced by a learned embedding
    instead of their coordinates, as in the official tokenizer.
    """

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        c = config
        self.embed = nn.Linear(c.n_dims, c.encoder_width)
        self.missing_embedding = nn.Parameter(torch.zeros(c.encoder_width))
        self.blocks = nn.Sequential(
            *(
                MixerBlock(c.n_keypoints, c.encoder_width, c.token_mlp_width, c.dropout)
                for _ in range(c.encoder_depth)
            )
        )
        self.norm = nn.LayerNorm(c.encoder_width)
        self.joints_to_tokens = nn.Linear(c.n_keypoints, c.n_tokens)
        self.to_token_dim = nn.Linear(c.encoder_width, c.token_dim)

    def forward(self, keypoints: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embed(keypoints)
        if observed is not None:
            h = torch.where(observed.unsqueeze(-1), h, self.missing_embedding)
        h = self.norm(self.blocks(h))
        h = linear_over_items(self.joints_to_tokens, h)
        return self.to_token_dim(h)


class PoseDecoder(nn.Module):
    """Pose decoder: (batch, M, D) quantized token vectors -> (batch, K, n_dims) keypoints."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        c = config
        self.tokens_to_joints = nn.Linear(c.n_tokens, c.n_keypoints)
        self.from_token_dim = nn.Linear(c.token_dim, c.decoder_width)
        self.blocks = nn.Sequential(
            *(
                MixerBlock(c.n_keypoints, c.decoder_width, c.token_mlp_width, c.dropout)
                for _ in range(c.decoder_depth)
            )
        )
        self.norm = nn.LayerNorm(c.decoder_width)
        self.head = nn.Linear(c.decoder_width, c.n_dims)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = linear_over_items(self.tokens_to_joints, tokens)
        h = self.norm(self.blocks(self.from_token_dim(h)))
        return self.head(h)


def laplace_smoothing(counts: torch.Tensor, eps: float) -> torch.Tensor:
    """Smooth cluster counts so that no code divides by zero, keeping their sum.

    Each codebook is smoothed on its own: the codes are the last axis of ``counts``.
    """
    total = counts.sum(-1, keepdim=True)
    return (counts + eps) / (total + counts.shape[-1] * eps) * total


# Largest codebook (as a power of two) for which nearest_code packs code indices
# into the distances' low mantissa bits; above it, the exact (and slower) argmin is used.
PACKED_MAX_BITS = 12


def packed_argmin(distances: torch.Tensor) -> torch.Tensor:
    """Row-wise argmin of non-negative float32 ``distances`` (n, V), first column on ties.

    For non-negative IEEE floats, the order of the bit patterns read as int32 is the order
    of the values. Replacing the lowest ``ceil(log2 V)`` bits of each pattern by the column
    index makes one integer ``amin`` return the smallest value *and* its column: CPU
    reductions without indices are several times faster than ``argmin``. The price is
    resolution: values whose leading ``23 - ceil(log2 V)`` mantissa bits agree count as
    equal, and the first such column wins. ``distances`` is overwritten.

    Negative inputs (rounding errors of an expanded distance) are read as their absolute
    value: the sign bit is cleared with the index bits.

    Parameters
    ----------
    distances : torch.Tensor of shape (n, V), float32
        Non-negative values; overwritten.

    Returns
    -------
    torch.Tensor of shape (n,), int64
        Column of each row's smallest value.

    Examples
    --------
    >>> import torch
    >>> from posetok.nn import packed_argmin
    >>> packed_argmin(torch.tensor([[3.0, 0.5, 2.0, 0.5], [1.0, 4.0, 9.0, 16.0]]))
    tensor([1, 0])

    Two columns leave 22 mantissa bits to compare: values closer than that are a tie, and
    the first column wins.

    >>> packed_argmin(torch.tensor([[1.5 + 2**-23, 1.5], [1.5 + 2**-21, 1.5]]))
    tensor([0, 1])
    """
    if distances.dtype != torch.float32:
        raise TypeError(f"packed_argmin needs float32 distances, got {distances.dtype}")
    if distances.ndim != 2 or distances.shape[1] == 0:
        raise ValueError(f"packed_argmin needs distances of shape (n, V) with V >= 1, got {tuple(distances.shape)}")
    n_columns = distances.shape[1]
    bits = max(1, (n_columns - 1).bit_length())
    low = (1 << bits) - 1
    columns = torch.arange(n_columns, dtype=torch.int32, device=distances.device)
    packed = distances.view(torch.int32).bitwise_and_(0x7FFFFFFF & ~low).bitwise_or_(columns)
    return packed.amin(1).bitwise_and_(low).long()


def nearest_code(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest row of ``codebook`` (V, D) for each row of ``vectors`` (n, D).

    Ties go to the first code. On the CPU, for float32 and codebooks of up to
    ``2**PACKED_MAX_BITS`` codes, distances are compared on their leading
    ``23 - ceil(log2 V)`` mantissa bits (a relative resolution of 2**-11 or finer,
    see :func:`packed_argmin`); elsewhere by an exact argmin.

    Examples
    --------
    >>> import torch
    >>> nearest_code(torch.tensor([[0.9, 0.0], [0.0, 0.2]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    tensor([1, 0])
    """
    n_codes = codebook.shape[0]
    sq_norms = codebook.pow(2).sum(1)
    if vectors.device.type != "cpu" or vectors.dtype != torch.float32 or n_codes > 2**PACKED_MAX_BITS:
        # ||z||^2 does not change the argmin: ||c||^2 - 2 z.c, fused in one addmm.
        def search(rows):
            return torch.addmm(sq_norms, rows, codebook.T, alpha=-2).min(1).indices
    else:
        # Whole squared distances ||z||^2 + ||c||^2 - 2 z.c (non-negative, as packed_argmin
        # needs) from one matrix product: [z, ||z||^2] @ [-2c, 1]^T + ||c||^2.
        codes = torch.cat([codebook * -2, codebook.new_ones(n_codes, 1)], 1).T

        def search(rows):
            with_norms = torch.cat([rows, rows.pow(2).sum(1, keepdim=True)], 1)
            return packed_argmin(torch.addmm(sq_norms, with_norms, codes))
    # Over blocks of rows whose distance matrix (about 4 MB) stays in cache.
    blocks = vectors.split(max(1, 2**20 // n_codes))
    return torch.cat([search(rows) for rows in blocks])


class EMAQuantizer(nn.Module):
    """Vector quantizer whose codebook follows an exponential moving average.

    All codebook state (the codes, the EMA counts and sums) lives in buffers,
    so ``.to()`` and ``state_dict()`` carry it and no optimizer ever sees it.
    The EMA is updated in :meth:`forward` only in training mode.

    With ``n_books=None`` one codebook ``(V, D)`` serves every token position,
    as in PCT. With ``n_books=M`` each of the M token positions has a codebook
    of its own, ``codebook`` is ``(M, V, D)``, and the inputs must have the M
    positions on their second-last axis: the id ``v`` at position ``m`` means
    code ``v`` of book ``m``. A shared codebook is used unevenly by the
    positions (each position uses part of it), so per-position books spend the
    same bits on more distinct codes per position.

    Examples
    --------
    >>> import torch
    >>> q = EMAQuantizer(2, 1, n_books=2)
    >>> q.set_codebook_(torch.tensor([[[0.0], [1.0]], [[10.0], [11.0]]]))
    >>> q.nearest(torch.tensor([[[0.9], [10.2]]]))      # position 0 reads book 0, position 1 book 1
    tensor([[1, 0]])
    >>> q.lookup(torch.tensor([[1, 0]]))
    tensor([[[ 1.],
             [10.]]])
    """

    def __init__(self, codebook_size: int, token_dim: int, decay: float = 0.9, eps: float = 1e-5,
                 n_books: int | None = None):
        super().__init__()
        self.decay = decay
        self.eps = eps
        books = (codebook_size,) if n_books is None else (n_books, codebook_size)
        self.register_buffer("codebook", torch.zeros(*books, token_dim))
        self.register_buffer("ema_count", torch.zeros(books))
        self.register_buffer("ema_sum", torch.zeros(*books, token_dim))

    @property
    def codebook_size(self) -> int:
        return self.codebook.shape[-2]

    @property
    def n_codes(self) -> int:
        """Codes in all codebooks together: ``codebook_size``, times ``n_books`` when per position."""
        return self.ema_count.numel()

    @property
    def n_books(self) -> int | None:
        """The number of per-position codebooks, or None for one shared codebook."""
        return self.codebook.shape[0] if self.codebook.ndim == 3 else None

    def set_codebook_(self, codes: torch.Tensor) -> None:
        """Start the codebook (and its EMA statistics) from ``codes``, shaped as ``codebook``."""
        codes = codes.to(self.codebook)
        self.codebook.copy_(codes)
        self.ema_sum.copy_(codes)
        self.ema_count.fill_(1.0)

    def flat_ids(self, indices: torch.Tensor) -> torch.Tensor:
        """Ids (..., M) as rows of the codebooks stacked into one ``(n_books * V, D)`` table."""
        if self.n_books is None:
            return indices
        return indices + torch.arange(self.n_books, device=indices.device) * self.codebook_size

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code (squared L2) for each vector of ``z`` (..., D).

        Ties go to the first code; see :func:`nearest_code` for the search.
        """
        if self.n_books is None:
            return nearest_code(z.reshape(-1, z.shape[-1]), self.codebook).reshape(z.shape[:-1])
        rows = z.reshape(-1, self.n_books, z.shape[-1])
        ids = [nearest_code(rows[:, m], book) for m, book in enumerate(self.codebook)]
        return torch.stack(ids, 1).reshape(z.shape[:-1])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(self.flat_ids(indices), self.codebook.reshape(-1, self.codebook.shape[-1]))

    def forward(self, z: torch.Tensor):
        """Quantize ``z``; return the straight-through output, the indices and the commitment loss."""
        indices = self.nearest(z.detach())
        quantized = self.lookup(indices)
        if self.training:
            self._update_ema_(z.detach(), indices)
        commitment = F.mse_loss(z, quantized.detach())
        # Straight-through estimator: the forward value is the code, the gradient flows to z.
        return z + (quantized - z).detach(), indices, commitment

    def code_sums(self, z: torch.Tensor, indices: torch.Tensor, one_hot: bool = False) -> torch.Tensor:
        """Sum of the vectors of ``z`` (..., M, D) assigned to each code by ``indices`` (..., M).

        Rows as in :meth:`flat_ids`, ``(n_books * V, D)``. By scatter-add, or with
        ``one_hot`` by a product with a one-hot matrix of (rows x V) per codebook
        (140 MB per batch for the official 34 x 2048 size).
        """
        if not one_hot:
            flat = z.reshape(-1, z.shape[-1])
            return flat.new_zeros(self.n_codes, flat.shape[-1]).index_add_(0, self.flat_ids(indices).reshape(-1), flat)
        books = self.n_books or 1  # a shared codebook: every vector in one group
        groups = z.reshape(-1, books, z.shape[-1]).transpose(0, 1)  # (books, rows, D)
        assigned = F.one_hot(indices.reshape(-1, books).T, self.codebook_size).to(z.dtype)  # (books, rows, V)
        return (assigned.transpose(1, 2) @ groups).reshape(-1, z.shape[-1])

    @torch.no_grad()
    def _update_ema_(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        flat = z.reshape(-1, z.shape[-1])
        counts = torch.bincount(self.flat_ids(indices).reshape(-1), minlength=self.n_codes).to(flat.dtype)
        # CUDA's index_add_ adds with atomics, in an order that changes from run to run: on a GPU the
        # sums are one-hot products, which add in a fixed order (docs/benchmarks.md, "On a GPU").
        sums = self.code_sums(z, indices, one_hot=flat.is_cuda)
        comm = getattr(self, "comm", None)  # set by a distributed fit: statistics of every rank
        if comm is not None and comm.world_size > 1:
            both = comm.sum_(torch.cat([counts[:, None], sums], 1))
            counts, sums = both[:, 0], both[:, 1:]
        self.ema_count.lerp_(counts.view_as(self.ema_count), 1 - self.decay)
        self.ema_sum.lerp_(sums.view_as(self.ema_sum), 1 - self.decay)
        counts = laplace_smoothing(self.ema_count, self.eps)
        self.codebook.copy_(self.ema_sum / counts.unsqueeze(-1))

    @torch.no_grad()
    def expire_dead_codes_(self, z: torch.Tensor, threshold: float, generator: torch.Generator) -> int:
        """Re-seed codes whose EMA count fell below ``threshold`` from vectors of ``z``.

        A per-position code is re-seeded from a vector of its own position.
        Returns the number of codes re-seeded.
        """
        dead = self.ema_count < threshold
        n_dead = int(dead.sum())
        if n_dead == 0:
            return 0
        rows = z.reshape(-1, self.n_books or 1, z.shape[-1])  # a shared codebook draws from every position
        pick = torch.randint(len(rows), (n_dead,), generator=generator, device="cpu").to(rows.device)
        # a per-position code from its own position; dead codes in row-major order, as the mask assigns
        seeds = rows[pick, dead.nonzero()[:, 0] if self.n_books else 0]
        self.codebook[dead] = seeds
        self.ema_sum[dead] = seeds
        self.ema_count[dead] = 1.0
        return n_dead


class PoseTokenizerNet(nn.Module):
    """Encoder, quantizer and decoder of PCT stage 1 in one module."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.config = config
        self.encoder = PoseEncoder(config)
        books = config.n_tokens if config.per_token_codebooks else None
        self.quantizer = EMAQuantizer(config.codebook_size, config.token_dim, config.ema_decay, n_books=books)
        self.decoder = PoseDecoder(config)

    def forward(self, keypoints: torch.Tensor, observed: torch.Tensor | None = None, quantize: bool = True):
        """Return ``(reconstruction, indices, commitment_loss, token_vectors)``.

        With ``quantize=False`` the decoder sees the continuous token vectors
        (encoder pre-training); ``indices`` is then None and the loss zero.
        """
        z = self.encoder(keypoints, observed)
        if not quantize:
            return self.decoder(z), None, z.new_zeros(()), z
        q, indices, commitment = self.quantizer(z)
        return self.decoder(q), indices, commitment, z

    def encode(self, keypoints: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        return self.quantizer.nearest(self.encoder(keypoints, observed))

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.quantizer.lookup(indices))
