"""Fitting on several processes: the collectives a distributed fit needs, in one place.

:class:`~posetok.PoseTokenizer` with ``distributed=True`` fits under
``torchrun --nproc-per-node N`` (or any launcher that initialises
:mod:`torch.distributed`): each process (rank) passes its own shard of the
training poses to ``fit`` and every rank ends with the same model. The training
loop talks to the other ranks only through a communicator:

- :class:`LocalComm`, one process: every operation is the identity, so a fit
  without ``distributed`` runs exactly as it always did;
- :class:`ProcessGroupComm`, the default process group of :mod:`torch.distributed`
  (``gloo`` on CPUs, ``nccl`` on GPUs, the same code path).

What is shared, and how (see the user guide, "Large data"):

- the normalisation statistics: per-coordinate counts, means and squared
  deviations of every shard, merged in rank order;
- the seed (rank 0's), so every rank builds the same network;
- gradients: averaged over ranks after every step (one all-reduce of all of
  them, with a flag that stops every rank together when one rank's loss is not
  finite);
- the EMA codebook statistics: per-code counts and sums summed over ranks
  before the moving average, so the codebooks stay identical;
- dead-code re-seeding: rank 0 decides and draws, then broadcasts the codebook;
- the k-means start and the refinement codebooks: samples from every rank are
  gathered, rank 0 fits, the result is broadcast;
- errors before training (a bad shard): every rank learns which rank failed and
  why, and raises, instead of waiting forever for a collective that never comes.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch

__all__ = ["LocalComm", "ProcessGroupComm", "DistributedFitError", "communicator", "process_group"]

# What torchrun (and torch.distributed's env:// initialisation) sets in every rank's environment.
_LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")

# Bytes of an error message passed between ranks.
_MESSAGE_BYTES = 1024


class DistributedFitError(RuntimeError):
    """Raised on every rank of a distributed fit when another rank failed."""


class LocalComm:
    """One process: every collective is the identity."""

    world_size = 1
    rank = 0
    is_main = True

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def broadcast_(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def gather_rows(self, array: np.ndarray) -> np.ndarray:
        return array

    def max_int(self, value: int) -> int:
        return int(value)

    def merge_moments(self, moments):
        return moments

    def agree(self, error: BaseException | None) -> None:
        if error is not None:
            raise error


class ProcessGroupComm:
    """The default :mod:`torch.distributed` process group.

    ``device`` is where the backend's tensors live: the CPU for gloo, the
    rank's GPU for nccl.
    """

    def __init__(self, device: torch.device):
        import torch.distributed as dist

        self._dist = dist
        self.world_size = dist.get_world_size()
        self.rank = dist.get_rank()
        self.is_main = self.rank == 0
        self.device = device

    def _to(self, tensor):
        return tensor.to(self.device)

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks, in place; returns it."""
        buffer = self._to(tensor)
        self._dist.all_reduce(buffer)
        if buffer is not tensor:
            tensor.copy_(buffer)
        return tensor

    def broadcast_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Overwrite ``tensor`` with rank 0's, in place; returns it."""
        buffer = self._to(tensor)
        self._dist.broadcast(buffer, 0)
        if buffer is not tensor:
            tensor.copy_(buffer)
        return tensor

    def max_int(self, value: int) -> int:
        buffer = self._to(torch.tensor([int(value)], dtype=torch.int64))
        self._dist.all_reduce(buffer, op=self._dist.ReduceOp.MAX)
        return int(buffer.item())

    def gather_rows(self, array: np.ndarray) -> np.ndarray:
        """Every rank's rows of ``array`` (n_r, ...), concatenated in rank order, on every rank."""
        array = np.ascontiguousarray(array)
        lengths = [torch.zeros(1, dtype=torch.int64, device=self.device) for _ in range(self.world_size)]
        self._dist.all_gather(lengths, self._to(torch.tensor([len(array)], dtype=torch.int64)))
        lengths = [int(n.item()) for n in lengths]
        longest = max(lengths)
        dtype = torch.float64 if array.dtype.kind == "f" else torch.int64
        padded = torch.zeros((longest, *array.shape[1:]), dtype=dtype)
        padded[: len(array)] = torch.as_tensor(array.astype(np.float64 if dtype == torch.float64 else np.int64))
        parts = [torch.empty_like(padded, device=self.device) for _ in range(self.world_size)]
        self._dist.all_gather(parts, self._to(padded))
        rows = [part[:n].cpu().numpy() for part, n in zip(parts, lengths)]
        return np.concatenate(rows).astype(array.dtype, copy=False)

    def merge_moments(self, moments):
        """The :class:`Moments` of all ranks' data, merged in rank order (the same on every rank)."""
        stacked = np.stack([moments.count, moments.mean, moments.m2])[None]
        every = self.gather_rows(stacked)
        merged = Moments(*every[0])
        for count, mean, m2 in every[1:]:
            merged = merged.merge(Moments(count, mean, m2))
        return merged

    def agree(self, error: BaseException | None) -> None:
        """Raise on every rank if any rank failed; a failing rank passes its ``error`` here.

        The failing rank re-raises its own error; the others raise a
        :class:`DistributedFitError` naming the rank and its message.
        """
        message = b"" if error is None else f"{type(error).__name__}: {error}".encode()[: _MESSAGE_BYTES - 1]
        mine = torch.zeros(_MESSAGE_BYTES, dtype=torch.uint8)
        mine[0] = error is not None
        mine[1 : 1 + len(message)] = torch.frombuffer(bytearray(message), dtype=torch.uint8) if message else 0
        every = [torch.zeros(_MESSAGE_BYTES, dtype=torch.uint8, device=self.device) for _ in range(self.world_size)]
        self._dist.all_gather(every, self._to(mine))
        failed = [(rank, bytes(t[1:].cpu().numpy()).rstrip(b"\0").decode(errors="replace"))
                  for rank, t in enumerate(every) if t[0]]
        if error is not None:
            raise error
        if failed:
            rank, text = failed[0]
            raise DistributedFitError(
                f"rank {rank} of {self.world_size} failed, so this distributed fit stops on every rank: {text}"
            )


class Moments:
    """Per-coordinate count, mean and sum of squared deviations of poses with NaN gaps.

    Chan et al.'s pairwise merge makes the statistics of several blocks (or
    ranks) from those of each, in one pass and without cancellation.
    """

    def __init__(self, count, mean, m2):
        self.count = np.asarray(count, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.m2 = np.asarray(m2, dtype=np.float64)

    @classmethod
    def of(cls, framed: np.ndarray) -> Moments:
        """Moments of ``framed`` (n, C), NaN ignored."""
        present = ~np.isnan(framed)
        count = present.sum(0).astype(np.float64)
        total = np.where(present, framed, 0.0).sum(0)
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        m2 = np.where(present, (framed - mean) ** 2, 0.0).sum(0)
        return cls(count, mean, m2)

    def merge(self, other: Moments) -> Moments:
        count = self.count + other.count
        delta = other.mean - self.mean
        weight = np.divide(other.count, count, out=np.zeros_like(count), where=count > 0)
        mean = self.mean + delta * weight
        m2 = self.m2 + other.m2 + delta**2 * self.count * weight
        return Moments(count, mean, m2)

    def mean_and_scale(self) -> tuple[np.ndarray, float]:
        """The per-coordinate mean (0 where never observed) and the root mean square deviation."""
        total = float(self.count.sum())
        scale = float(np.sqrt(self.m2.sum() / total)) if total else 1.0
        if not np.isfinite(scale) or scale <= 0:
            scale = 1.0
        return np.where(self.count > 0, self.mean, 0.0), scale


@contextlib.contextmanager
def process_group(device: str = "auto"):
    """Run the enclosed code as one rank of a ``torchrun`` job; yields ``(rank, world_size)``.

    Outside a launcher (no ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
    ``MASTER_PORT`` in the environment, which ``torchrun`` sets) it yields
    ``(0, 1)`` and does nothing else, so one script runs alone or under
    ``torchrun``. Under a launcher, with one process too (``torchrun
    --nproc-per-node 1`` on a machine with one GPU), it initialises the default
    process group unless the script already did (``nccl`` on the rank's GPU
    when ``device`` is ``"cuda"``, or ``"auto"`` with CUDA available; ``gloo``
    otherwise) and, when the block ends without an error, waits for every rank
    and destroys the group. A rank without a GPU of its own (more processes
    than GPUs) gets a ``ValueError``.

    Use it rather than calling ``init_process_group`` and
    ``destroy_process_group`` by hand: it imports :mod:`torch._dynamo` before
    the group exists. Torch's optimizers import that module on first use, and
    imported after the group exists it keeps the group alive past
    ``destroy_process_group`` (torch 2.13), so gloo's threads are torn down
    while the interpreter exits, which aborts the process now and then
    ("terminate called without an active exception"). A group the script
    initialised itself is left to the script.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the fit runs; picks the backend.

    Yields
    ------
    rank, world_size : int

    Examples
    --------
    >>> from posetok.distributed import process_group
    >>> with process_group() as (rank, world_size):  # not under torchrun here
    ...     print(rank, world_size)
    0 1
    """
    if not all(name in os.environ for name in _LAUNCHER_VARIABLES):
        yield 0, 1
        return
    with contextlib.suppress(ImportError, RuntimeError):  # a torch without it: its optimizers cannot import it either
        import torch._dynamo  # noqa: F401  (before the group: see above)
    import torch.distributed as dist

    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda:
        local_rank, n_gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local_rank >= n_gpus:
            raise ValueError(
                f"this rank (LOCAL_RANK={local_rank}) has no GPU of its own: the machine shows {n_gpus}; run at "
                f"most {n_gpus} process(es) per machine (torchrun --nproc-per-node {n_gpus}), or fit on CPUs "
                "with device='cpu' (gloo)"
            )
        torch.cuda.set_device(local_rank)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield dist.get_rank(), dist.get_world_size()
        if owned:  # tear the group down together: a rank leaving while rank 0 saves can abort under gloo
            dist.barrier()
    finally:
        if owned:
            dist.destroy_process_group()


def communicator(distributed: bool, device: torch.device):
    """The communicator for a fit: :class:`LocalComm` unless ``distributed``.

    With ``distributed=True`` the default process group must be initialised
    (``torch.distributed.init_process_group``, as every ``torchrun`` script does).
    """
    if not distributed:
        return LocalComm()
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "distributed=True needs an initialised torch.distributed process group: run the script under "
            "torchrun and call torch.distributed.init_process_group() (backend 'gloo' on CPUs, 'nccl' on GPUs) "
            "before fit; or set distributed=False"
        )
    if dist.get_backend() == "nccl" and device.type != "cuda":
        raise ValueError("the process group uses the nccl backend, which needs device='cuda'; use gloo on CPUs")
    return ProcessGroupComm(device if dist.get_backend() == "nccl" else torch.device("cpu"))
