"""Training loop of the pose tokenizer: knows PyTorch, not scikit-learn.

The loop is split into small layers, each replaceable on its own:
:func:`train_step` (one batch), :func:`run_epoch` (one pass over the data),
:func:`run_phase` (several epochs under one learning-rate schedule) and
:func:`train_tokenizer` (the phases of a strategy).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .distributed import LocalComm
from .nn import PoseDecoder, PoseTokenizerNet

__all__ = [
    "TrainConfig", "StreamedData", "TrainingDivergedError", "train_tokenizer", "encode", "decode", "token_vectors",
    "exact_token_vectors",
]

STRATEGIES = ("staged", "joint")

# Poses per chunk at inference, so that activations of width 64 (chunk x K x 64 floats)
# stay in a core's L2 cache; 128-512 measured alike and 2-3x faster than 4096.
INFERENCE_BATCH = 256


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss stops being finite."""


class NonFiniteNetworkError(ValueError):
    """Poses whose encoding is not finite: their coordinates overflow the network's float32 arithmetic.

    ``rows`` are their indices among the poses given; :meth:`among` maps them to
    the rows of a larger array these poses were taken from.
    """

    def __init__(self, rows):
        self.rows = np.asarray(rows, dtype=np.int64)
        super().__init__(
            f"{len(self.rows)} pose(s) (the first: row {int(self.rows[0])}) give non-finite values inside the "
            "network: after the fitted normalisation their coordinates are many orders of magnitude outside "
            "the training poses' range; check that X is in the units the tokenizer was fitted on"
        )

    def among(self, indices):
        """The same error, its rows mapped through ``indices`` (the rows of the larger array)."""
        return NonFiniteNetworkError(np.asarray(indices)[self.rows])


def _refuse_rows(bad):
    """:class:`NonFiniteNetworkError` naming the rows where the bool tensor ``bad`` (n,) is True, if any."""
    if bool(bad.any()):
        raise NonFiniteNetworkError(np.flatnonzero(bad.cpu().numpy()))


def _refuse_non_finite(values):
    """``values`` (n, ...) unchanged, or :class:`NonFiniteNetworkError` naming its non-finite rows."""
    _refuse_rows(~torch.isfinite(values.reshape(len(values), -1)).all(1))
    return values


@dataclass(frozen=True)
class TrainConfig:
    """How to train a :class:`~posetok.nn.PoseTokenizerNet`."""

    strategy: str = "joint"
    n_epochs: int = 60
    pretrain_epochs: int = 0
    batch_size: int = 512
    learning_rate: float = 5e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    commitment_weight: float = 1.0
    smooth_l1_beta: float = 0.01
    mask_probability: float = 0.0
    # random rotations of the training poses: the largest angle (radians; 0 turns nothing), the two
    # coordinate axes of the plane turned in, and the offset (K, n_dims) that maps the network's
    # normalised keypoints to the data's frame up to scale (the normaliser's mean over its scale)
    rotation_range: float = 0.0
    rotation_plane: tuple = (0, 1)
    rotation_offset: torch.Tensor | None = None
    dead_code_threshold: float = 0.05
    kmeans_max_vectors: int = 20000


class _Batches:
    """Shared by the data sources: ``n_batches`` batches taken from successive shuffled passes."""

    def batches(self, batch_size, generator, n_batches=None):
        """``n_batches`` shuffled batches (default: one pass); further passes reshuffle."""
        n_batches = math.ceil(len(self) / batch_size) if n_batches is None else n_batches
        done = 0
        while done < n_batches:
            for batch in self._pass(batch_size, generator):
                if done == n_batches:
                    return
                yield batch
                done += 1


@dataclass
class _Data(_Batches):
    """Training poses held in memory: one shuffle of all of them per epoch."""

    keypoints: torch.Tensor  # (n, K, n_dims), NaN replaced by 0
    observed: torch.Tensor  # (n, K) bool

    def __len__(self) -> int:
        return len(self.keypoints)

    def _pass(self, batch_size, generator):
        order = torch.randperm(len(self), generator=generator, device="cpu").to(self.keypoints.device)
        for start in range(0, len(self), batch_size):
            idx = order[start : start + batch_size]
            yield self.keypoints[idx], self.observed[idx]

    def sample(self, n_rows, generator):
        """``n_rows`` poses drawn without replacement."""
        rows = torch.randperm(len(self), generator=generator, device="cpu")[:n_rows].to(self.keypoints.device)
        return self.keypoints[rows], self.observed[rows]


class StreamedData(_Batches):
    """Training poses read block by block from an array that stays on disk.

    ``read(start, stop)`` returns the network's inputs (keypoints, observed) of
    rows ``start:stop``. An epoch visits the blocks in a random order and
    shuffles the rows within each block (rows left over at a block's end join
    the next block's), so memory holds one block, not the data. ``sample`` is
    a uniform sample of rows kept from the pass that computed the normalisation.
    """

    def __init__(self, read, n, block_size, sample, device):
        self.read = read
        self.n = int(n)
        self.block_size = int(block_size)
        self._sample = sample
        self.device = device

    def __len__(self) -> int:
        return self.n

    def _pass(self, batch_size, generator):
        n_blocks = math.ceil(self.n / self.block_size)
        carry = None
        for block in torch.randperm(n_blocks, generator=generator, device="cpu").tolist():
            start = block * self.block_size
            kp, obs = self.read(start, min(start + self.block_size, self.n))
            if carry is not None:
                kp, obs = torch.cat([carry[0], kp]), torch.cat([carry[1], obs])
            order = torch.randperm(len(kp), generator=generator, device="cpu")
            kp, obs = kp[order].to(self.device), obs[order].to(self.device)
            full = len(kp) - len(kp) % batch_size
            for i in range(0, full, batch_size):
                yield kp[i : i + batch_size], obs[i : i + batch_size]
            carry = (kp[full:].cpu(), obs[full:].cpu()) if full < len(kp) else None
        if carry is not None:
            yield carry[0].to(self.device), carry[1].to(self.device)

    def sample(self, n_rows, generator):
        kp, obs = self._sample
        rows = torch.randperm(len(kp), generator=generator, device="cpu")[:n_rows]
        return kp[rows].to(self.device), obs[rows].to(self.device)


def reconstruction_loss(pred, target, weight, beta):
    """Smooth-L1 over the observed coordinates only."""
    loss = F.smooth_l1_loss(pred, target, reduction="none", beta=beta).sum(-1)
    return (loss * weight).sum() / weight.sum().clamp_min(1.0)


def joint_error(pred, target, weight):
    """Sum of Euclidean joint errors over observed joints, and their count."""
    dist = (pred - target).norm(dim=-1)
    return float((dist * weight).sum()), float(weight.sum())


def _cosine_with_warmup(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_step(net, batch_kp, batch_obs, optimizer, config: TrainConfig, quantize: bool, generator, comm=None):
    """One optimisation step; returns the losses, the indices, the token vectors, the
    reconstruction and its target (the batch, turned when ``config.rotation_range`` is set).

    With a distributed ``comm`` the gradients are averaged over ranks before
    the step, and a non-finite loss on any rank stops every rank.
    """
    comm = LocalComm() if comm is None else comm
    if config.rotation_range > 0:
        batch_kp = rotate_poses(batch_kp, batch_obs, config, generator)
    inputs_observed = batch_obs
    if config.mask_probability > 0:
        drop = torch.rand(batch_obs.shape, generator=generator, device="cpu").to(batch_obs.device)
        inputs_observed = batch_obs & (drop >= config.mask_probability)
    recon, indices, commitment, z = net(batch_kp, inputs_observed, quantize=quantize)
    weight = batch_obs.to(recon.dtype)
    rec_loss = reconstruction_loss(recon, batch_kp, weight, config.smooth_l1_beta)
    loss = rec_loss + config.commitment_weight * commitment
    finite = bool(torch.isfinite(loss))
    if not finite and comm.world_size == 1:
        raise TrainingDivergedError(_DIVERGED)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if comm.world_size > 1:
        _average_gradients(optimizer, comm, finite)
    optimizer.step()
    return rec_loss.detach(), commitment.detach(), indices, z.detach(), recon.detach(), batch_kp


def rotate_poses(keypoints, observed, config: TrainConfig, generator):
    """Each pose of a batch turned about the centroid of its observed joints by its own angle.

    The angles are uniform in ``[-rotation_range, rotation_range]`` and turn the plane of the
    axes ``rotation_plane`` (in 3-D, about the third axis). The turn is made in the data's frame:
    the normalised keypoints plus ``rotation_offset`` are the data's coordinates over one global
    scale, so a rotation there is a rotation of the poses as given. Missing joints (at 0, out of
    the loss and the encoder's input) are moved too, and stay out of both.
    """
    offset = config.rotation_offset  # on the batch's device (PoseTokenizer makes it there)
    u = keypoints + offset
    weight = observed.unsqueeze(-1).to(u.dtype)
    centre = (u * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp_min(1.0)
    angle = (2 * torch.rand(len(u), generator=generator, device="cpu") - 1) * config.rotation_range
    cos, sin = angle.cos().to(u)[:, None], angle.sin().to(u)[:, None]
    i, j = config.rotation_plane
    d = u - centre
    turned = d.clone()
    turned[..., i] = cos * d[..., i] - sin * d[..., j]
    turned[..., j] = sin * d[..., i] + cos * d[..., j]
    return turned + centre - offset


_DIVERGED = "the training loss became non-finite; lower learning_rate, or check X for extreme outliers"


def _average_gradients(optimizer, comm, finite):
    """Average the gradients of ``optimizer``'s parameters over ranks (one all-reduce)."""
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    flat = torch.cat([p.grad.reshape(-1) for p in params] + [torch.tensor([0.0 if finite else 1.0],
                                                                          device=params[0].device)])
    comm.sum_(flat)
    if flat[-1] > 0:
        raise TrainingDivergedError(_DIVERGED + " (on at least one rank of the distributed fit)")
    flat /= comm.world_size
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset : offset + p.numel()].view_as(p.grad))
        offset += p.numel()


def _steps_per_epoch(n, batch_size, comm):
    """Steps per epoch and poses per step on each rank: every rank takes the same number of steps."""
    local_batch = math.ceil(batch_size / comm.world_size)
    return math.ceil(comm.max_int(n) / local_batch), local_batch


def run_epoch(net, data, optimizer, scheduler, config, quantize, generator, comm=None):
    """One pass over the data in shuffled batches; returns the epoch's statistics.

    With several ranks, each takes ``ceil(batch_size / world_size)`` poses per
    step from its own shard, for as many steps as the largest shard needs (a
    smaller shard is visited again); the statistics are those of all ranks.
    """
    comm = LocalComm() if comm is None else comm
    net.train()
    if not any(p.requires_grad for p in net.encoder.parameters()):
        net.encoder.eval()  # a frozen encoder must not see dropout noise
    n_steps, local_batch = _steps_per_epoch(len(data), config.batch_size, comm)
    device = next(net.parameters()).device
    n_codes = net.quantizer.n_codes  # every code of every codebook
    code_counts = torch.zeros(n_codes, device=device)
    sums = torch.zeros(4, dtype=torch.float64)  # reconstruction, commitment, joint error, joints
    n_reseeded = 0
    for kp, obs in data.batches(local_batch, generator, n_steps):
        # (the target is the batch as trained on: turned, with rotations)
        rec, commit, indices, z, recon, kp = train_step(net, kp, obs, optimizer, config, quantize, generator, comm)
        scheduler.step()
        e, w = joint_error(recon, kp, obs.to(recon.dtype))
        sums += torch.tensor([float(rec), float(commit), e, w], dtype=torch.float64)
        if quantize:
            code_counts += torch.bincount(net.quantizer.flat_ids(indices).reshape(-1), minlength=n_codes)
            expected = indices.numel() * comm.world_size / n_codes  # uses of each code in a batch
            n_reseeded += expire_dead_codes(net.quantizer, z, config.dead_code_threshold * expected, generator, comm)
    if comm.world_size > 1:
        comm.sum_(sums)
        comm.sum_(code_counts)
        sums[:2] /= comm.world_size
    stats = {
        "reconstruction_loss": float(sums[0]) / n_steps,
        "commitment_loss": float(sums[1]) / n_steps,
        "mean_joint_error": float(sums[2]) / max(float(sums[3]), 1.0),
    }
    if quantize:
        p = code_counts / code_counts.sum()
        entropy = -(p[p > 0] * p[p > 0].log()).sum()
        stats["codebook_usage"] = float((code_counts > 0).float().mean())
        stats["perplexity"] = float(entropy.exp())
        stats["codes_reseeded"] = n_reseeded
    return stats


def expire_dead_codes(quantizer, z, threshold, generator, comm):
    """Re-seed the quantizer's dead codes; with several ranks rank 0 decides and draws, and the others
    receive its codebook."""
    n_dead = quantizer.expire_dead_codes_(z, threshold, generator)
    if comm.world_size == 1:
        return n_dead
    state = torch.cat([quantizer.codebook.reshape(-1), quantizer.ema_sum.reshape(-1), quantizer.ema_count,
                       torch.tensor([float(n_dead)], device=quantizer.codebook.device)])
    comm.broadcast_(state)
    sizes = [quantizer.codebook.numel(), quantizer.ema_sum.numel(), quantizer.ema_count.numel()]
    codebook, ema_sum, ema_count, n_dead = torch.split(state, [*sizes, 1])
    quantizer.codebook.copy_(codebook.view_as(quantizer.codebook))
    quantizer.ema_sum.copy_(ema_sum.view_as(quantizer.ema_sum))
    quantizer.ema_count.copy_(ema_count)
    return int(n_dead.item())


def run_phase(net, data, parameters, n_epochs, config, quantize, generator, phase, history, log, comm=None):
    """Train ``parameters`` for ``n_epochs`` under a warm-up + cosine schedule."""
    if n_epochs == 0:
        return
    comm = LocalComm() if comm is None else comm
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch, _ = _steps_per_epoch(len(data), config.batch_size, comm)
    total = n_epochs * steps_per_epoch
    warmup = max(1, int(config.warmup_fraction * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _cosine_with_warmup(step, total, warmup)
    )
    for _ in range(n_epochs):
        tic = time.perf_counter()
        stats = run_epoch(net, data, optimizer, scheduler, config, quantize, generator, comm)
        record = {"phase": phase, "epoch": len(history) + 1, **stats, "time": time.perf_counter() - tic}
        history.append(record)
        log(record)


@torch.inference_mode()
def _in_eval(net, fn, *tensors, batch_size):
    # Only the modules in training mode are switched, and each is switched back: a fitted
    # network is already in eval mode, and net.eval() + net.train() on every call cost
    # about 0.3 ms, a third of a one-pose transform. inference_mode rather than no_grad:
    # no version counters or view tracking, 2-3 % faster for the default model; the
    # results (inference tensors) are only ever read, never used in a backward pass.
    training = [m for m in net.modules() if m.training]
    for m in training:
        m.training = False
    try:
        outs = [fn(*(t[i : i + batch_size] for t in tensors)) for i in range(0, len(tensors[0]), batch_size)]
    finally:
        for m in training:
            m.training = True
    return torch.cat(outs) if outs else None


def _inputs(keypoints, observed):
    # With every joint present the encoder needs no mask, and skips its missing-joint select.
    return (keypoints,) if observed is None or bool(observed.all()) else (keypoints, observed)


def token_vectors(net, keypoints, observed, batch_size=INFERENCE_BATCH):
    """Continuous encoder outputs (n, M, D)."""
    return _in_eval(net, net.encoder, *_inputs(keypoints, observed), batch_size=batch_size)


def float64_encoder(net):
    """A float64 copy of ``net``'s encoder, for :func:`exact_token_vectors`."""
    return copy.deepcopy(net.encoder).double()


def exact_token_vectors(net, keypoints, observed, batch_size=INFERENCE_BATCH, encoder=None):
    """Encoder outputs (n, M, D) computed in float64, as float64.

    On the CPU, float32 matrix products may round differently for different
    numbers of rows (a one-row batch takes another kernel), so
    :func:`token_vectors` of a pose can change in its 7th digit with the other
    poses of the call. In float64 such differences stay near 1e-16: a pose's
    latent features do not depend on the batch it came in. ``encoder`` is a
    :func:`float64_encoder` of ``net`` made before, to save making one.
    """
    encoder = float64_encoder(net) if encoder is None else encoder
    inputs = _inputs(keypoints.double(), observed)
    return _refuse_non_finite(_in_eval(encoder, encoder, *inputs, batch_size=batch_size))


def encode(net, keypoints, observed, batch_size=INFERENCE_BATCH):
    """Token ids (n, M) of keypoints (n, K, n_dims) with an observed mask (n, K).

    Raises :class:`NonFiniteNetworkError` for poses whose token vectors are not
    finite (the nearest code of NaN would otherwise be code 0, silently).
    """
    def ids_or_minus_one(*inputs):
        z = net.encoder(*inputs)
        return torch.where(torch.isfinite(z).all(-1), net.quantizer.nearest(z), -1)

    ids = _in_eval(net, ids_or_minus_one, *_inputs(keypoints, observed), batch_size=batch_size)
    _refuse_rows((ids < 0).any(1))
    return ids


def decode(net, indices, batch_size=INFERENCE_BATCH):
    """Keypoints (n, K, n_dims) decoded from token ids (n, M)."""
    return _in_eval(net, net.decode, indices, batch_size=batch_size)


def decode_latent(net, keypoints, observed, batch_size=INFERENCE_BATCH):
    """Keypoints (n, K, n_dims) decoded from the encoder's continuous token vectors, not quantized."""
    return _refuse_non_finite(_in_eval(net, lambda *inputs: net.decoder(net.encoder(*inputs)),
                                       *_inputs(keypoints, observed), batch_size=batch_size))


def _init_codebook(net, data, init_codebook, config, generator, comm):
    """Start the codebook by ``init_codebook`` (k-means) on encoder outputs of a sample of poses.

    With several ranks, each contributes its share of the sample, rank 0 fits and
    broadcasts the codebook.
    """
    n_rows = max(1, min(comm.max_int(len(data)) * comm.world_size, config.kmeans_max_vectors // net.config.n_tokens))
    n_local = min(len(data), math.ceil(n_rows / comm.world_size))
    z = token_vectors(net, *data.sample(n_local, generator))
    finite = bool(torch.isfinite(z).all())
    if comm.world_size > 1:
        finite = comm.max_int(not finite) == 0
    if not finite:
        raise TrainingDivergedError(
            "the encoder's outputs became non-finite before the codebook was initialised; "
            "lower learning_rate, or check X for extreme outliers"
        )
    vectors = comm.gather_rows(z.reshape(len(z), -1).cpu().numpy()).reshape(-1, *z.shape[1:])  # (n, M, D)
    codes = torch.zeros_like(net.quantizer.codebook, device="cpu")
    if comm.is_main:
        if net.quantizer.n_books is None:
            books = init_codebook(vectors.reshape(-1, vectors.shape[-1]))
        else:  # each position's codebook from that position's vectors
            books = np.stack([init_codebook(vectors[:, m]) for m in range(vectors.shape[1])])
        codes = torch.as_tensor(np.asarray(books), dtype=torch.float32)
    net.quantizer.set_codebook_(comm.broadcast_(codes))


def train_tokenizer(
    net: PoseTokenizerNet,
    keypoints,
    observed: torch.Tensor | None,
    config: TrainConfig,
    *,
    init_codebook: Callable[[np.ndarray], np.ndarray],
    generator: torch.Generator,
    log: Callable[[dict], None] = lambda record: None,
    comm=None,
) -> list[dict]:
    """Train ``net`` in place by ``config.strategy`` and return the per-epoch history.

    ``keypoints`` and ``observed`` are tensors of the training poses, or
    ``keypoints`` is a :class:`StreamedData` (and ``observed`` None).
    ``init_codebook`` maps encoder outputs (n_vectors, D) to a codebook (V, D);
    the estimator passes scikit-learn's k-means here. ``comm`` (default: one
    process) is a :mod:`posetok.distributed` communicator.
    """
    if config.strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {config.strategy!r}")
    comm = LocalComm() if comm is None else comm
    data = keypoints if isinstance(keypoints, StreamedData) else _Data(keypoints, observed)
    device = next(net.parameters()).device
    history: list[dict] = []
    if comm.world_size > 1:
        for tensor in net.state_dict().values():  # every rank starts from rank 0's weights
            comm.broadcast_(tensor)
    net.quantizer.comm = comm
    try:
        both = list(net.encoder.parameters()) + list(net.decoder.parameters())
        run_phase(net, data, both, config.pretrain_epochs, config, False, generator, "pretrain", history, log, comm)
        _init_codebook(net, data, init_codebook, config, generator, comm)
        if config.strategy == "staged":
            net.encoder.requires_grad_(False)
            net.decoder = PoseDecoder(net.config).to(device)
            if comm.world_size > 1:
                for tensor in net.decoder.state_dict().values():
                    comm.broadcast_(tensor)
            run_phase(net, data, list(net.decoder.parameters()), config.n_epochs, config, True,
                      generator, "quantized", history, log, comm)
            net.encoder.requires_grad_(True)
        else:
            run_phase(net, data, both, config.n_epochs, config, True, generator, "joint", history, log, comm)
    finally:
        del net.quantizer.comm
    return history
