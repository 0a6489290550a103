"""The scikit-learn estimator: :class:`PoseTokenizer`."""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import time
import warnings
import zlib
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .codec import PoseCodec, token_residuals
from .distributed import LocalComm, Moments, communicator
from .features import ENCODINGS, feature_names, features_from_ids, ids_from_features
from .io import load as load_model
from .io import save as save_model
from .nn import PoseTokenizerNet, TokenizerConfig
from .normalization import MODES, PoseNormalizer, check_boxes, frame
from .refinement import fit_residual_codebooks, kmeans_centres
from .streaming import BLOCK_SIZE, SAMPLE_SIZE, is_out_of_core, n_rows
from .training import (
    STRATEGIES,
    NonFiniteNetworkError,
    StreamedData,
    TrainConfig,
    _Data,
    _init_codebook,
    encode,
    run_epoch,
    train_tokenizer,
)

__all__ = ["PoseTokenizer", "CodebookCollapseWarning"]


class CodebookCollapseWarning(UserWarning):
    """Warned when a fitted codebook uses only a small fraction of its codes."""


_INPUT_ATTRIBUTES = ("n_features_in_", "feature_names_in_")

# A codebook is called collapsed when fewer than this fraction of the codes that
# the training data could fill (min(codebook_size, n_samples * n_tokens)) is used.
_COLLAPSE_FRACTION = 0.2


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch.cuda.is_available() is False; use 'auto' or 'cpu'")
    return torch.device(device)


def _refuse_booleans(X):
    """True/False are not coordinates: refuse them instead of reading them as 1.0 and 0.0."""
    dtypes = getattr(X, "dtypes", None)
    # pandas extension dtypes (Int64, boolean) have a kind too, but np.dtype() cannot read them
    if dtypes is not None and any(getattr(d, "kind", None) == "b" for d in np.atleast_1d(dtypes)):
        raise TypeError("X has boolean columns; keypoint coordinates must be numbers")
    if isinstance(X, np.ndarray):
        if X.dtype.kind == "b":
            raise TypeError("X is a boolean array; keypoint coordinates must be numbers")
        if X.dtype.kind == "O" and any(isinstance(v, bool | np.bool_) for v in X.ravel()):
            raise TypeError("X holds booleans; keypoint coordinates must be numbers")


def _flatten_keypoints(X, n_dims):
    """X with (n, K, D) arrays flattened to (n, D * K), and the coordinates per keypoint.

    ``n_dims`` is the parameter (``"auto"`` or an int) before fit and the fitted
    ``n_dims_`` after: an array's last axis must agree with an int; ``"auto"``
    takes it from a (n, K, D) array and means 2 for flat input. Anything but a
    (n, K, D) array is left to ``validate_data``.
    """
    if isinstance(X, (list, tuple)) and np.ndim(X) == 3:
        X = np.asarray(X)
    _refuse_booleans(X)
    if not isinstance(X, np.ndarray) or X.ndim != 3:
        return X, 2 if n_dims == "auto" else n_dims
    if n_dims != "auto" and X.shape[2] != n_dims:
        raise ValueError(
            f"X has shape {X.shape}, {X.shape[2]} coordinate(s) per keypoint, but n_dims is {n_dims}; "
            "pass (n_samples, n_keypoints, n_dims) arrays"
        )
    if X.shape[2] == 0:
        raise ValueError(f"X has shape {X.shape}: keypoints with no coordinates")
    return X.reshape(X.shape[0], -1), X.shape[2]


def _check_keypoint_columns(n_features: int, n_dims: int, param) -> None:
    if n_features % n_dims:
        hint = ""
        if param == "auto":
            hint = "; flat X is read as x, y pairs unless n_dims is set (3 for x, y, z; 1 for one value per keypoint)"
        raise ValueError(
            f"X has {n_features} feature(s), which is not a multiple of n_dims={n_dims}, "
            f"the coordinates per keypoint{hint}"
        )


def _observed_mask(X: np.ndarray, n_dims: int, offset: int = 0) -> np.ndarray:
    """(n, K) mask of observed joints; a joint is missing when all its coordinates are NaN.

    ``offset`` is the index of X's first row in the data (errors name the row there).
    """
    nan = np.isnan(X).reshape(len(X), -1, n_dims)
    part = nan.any(-1) != nan.all(-1)
    if part.any():
        row, joint = np.argwhere(part)[0]
        raise ValueError(
            f"keypoint {joint} of sample {row + offset} has some but not all of its {n_dims} coordinates NaN; "
            "a missing joint must have every coordinate NaN"
        )
    observed = ~nan[..., 0]
    empty = ~observed.any(1)
    if empty.any():
        row = np.flatnonzero(empty)[0] + offset
        raise ValueError(f"sample {row} has no observed keypoint (all coordinates are NaN)")
    return observed


def _read_rows(X, start, stop, n_features):
    """Rows ``start:stop`` of an out-of-core X as a validated float64 array (n, n_features)."""
    block = np.asarray(X[start:stop])
    block = check_array(block.reshape(len(block), n_features), dtype=np.float64, ensure_all_finite="allow-nan")
    return block


def _row_blocks(n):
    """``(start, stop)`` of consecutive blocks of ``BLOCK_SIZE`` rows."""
    for start in range(0, n, BLOCK_SIZE):
        yield start, min(start + BLOCK_SIZE, n)


def _read_blocks(X, n_features):
    """``(start, block)``: the rows of an out-of-core X, block by block, each validated (:func:`_read_rows`)."""
    for start, stop in _row_blocks(n_rows(X)):
        yield start, _read_rows(X, start, stop, n_features)


def _by_block(function, X, n_features):
    """``function`` of each block of rows of an out-of-core ``X``, in order; a
    :class:`~posetok.training.NonFiniteNetworkError` names rows of ``X``, not of its block."""
    for start, block in _read_blocks(X, n_features):
        try:
            yield function(block)
        except NonFiniteNetworkError as error:
            raise error.among(np.arange(start, start + len(block))) from None


def _code_counts(net, ids, X, read):
    """Uses of each code by the training poses (``ids``, or every block of an out-of-core ``X`` through
    ``read``), and the number of ids."""
    counts = torch.zeros(net.quantizer.n_codes, dtype=torch.float64)  # every code of every codebook
    if ids is not None:
        return counts + torch.bincount(net.quantizer.flat_ids(ids).reshape(-1), minlength=len(counts)), ids.numel()
    n_ids = 0
    for start, stop in _row_blocks(n_rows(X)):
        block_ids = encode(net, *read(start, stop))
        counts += torch.bincount(net.quantizer.flat_ids(block_ids).reshape(-1), minlength=len(counts))
        n_ids += block_ids.numel()
    return counts, n_ids


def _check_same_on_every_rank(comm, values: dict) -> None:
    """Refuse, on every rank, a distributed fit whose ranks differ in data shape or parameters
    (their collectives would not match, and a fit would hang or crash)."""
    names = sorted(values)
    digest = np.array([[zlib.crc32(repr(values[name]).encode()) for name in names]], dtype=np.int64)
    every = comm.gather_rows(digest)
    differ = [name for i, name in enumerate(names) if len(set(every[:, i])) > 1]
    if differ:
        raise ValueError(
            f"the ranks of this distributed fit differ in {', '.join(differ)}; every rank must fit the same "
            "PoseTokenizer parameters on poses with the same columns"
        )


def _network_input(normalised: np.ndarray, observed: np.ndarray):
    """Tensors the network reads: keypoints (n, K, n_dims) with missing joints at 0, and the mask."""
    keypoints = torch.as_tensor(np.nan_to_num(normalised), dtype=torch.float32)
    n_dims = normalised.shape[1] // observed.shape[1]
    return keypoints.reshape(*observed.shape, n_dims), torch.as_tensor(observed)


def _kmeans_codebook(vectors: np.ndarray, codebook_size: int, seed: int) -> np.ndarray:
    """Codebook of ``codebook_size`` vectors: k-means centres of ``vectors``.

    With fewer distinct vectors than codes, every distinct vector becomes a
    code and the rest are jittered copies; dead-code re-seeding moves them later.
    """
    distinct = np.unique(vectors, axis=0)
    if len(distinct) >= codebook_size:
        return kmeans_centres(vectors, codebook_size, seed)
    rng = np.random.default_rng(seed)
    fill = distinct[rng.integers(len(distinct), size=codebook_size - len(distinct))]
    jitter = 1e-3 * (vectors.std() + 1e-6) * rng.standard_normal(fill.shape)
    return np.concatenate([distinct, fill + jitter])


@contextlib.contextmanager
def _restoring_input_attributes(estimator):
    """Put back the previous ``n_features_in_`` and ``feature_names_in_`` if the block fails.

    validate_data writes them before fitting; the rest of a fit is built in
    locals and assigned at the end, so with this a failed or interrupted fit
    leaves the estimator exactly as it was.
    """
    previous = {k: estimator.__dict__[k] for k in _INPUT_ATTRIBUTES if k in estimator.__dict__}
    try:
        yield
    except BaseException:
        for k in _INPUT_ATTRIBUTES:
            estimator.__dict__.pop(k, None)
        estimator.__dict__.update(previous)
        raise


@contextlib.contextmanager
def _training_torch_state():
    """Gradients on, inference mode off and float32 by default for the duration of a fit.

    A caller's ``torch.inference_mode()``, ``torch.set_grad_enabled(False)`` or
    ``torch.set_default_dtype(torch.float64)`` must not break (or change) fitting;
    the caller's settings are restored afterwards.
    """
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            yield
    finally:
        torch.set_default_dtype(dtype)


# More threads than any machine has cores for one process: a file asking for more is refused
# rather than making torch start millions of threads.
_MAX_THREADS = 4096


@contextlib.contextmanager
def _torch_threads(n_threads, n_samples=None, fitting=False):
    """torch's intra-op thread count set to ``n_threads`` for the block, the caller's put back after.

    None leaves torch's setting alone; ``"auto"`` picks a count for ``n_samples`` poses
    (:func:`_auto_threads`). (The setting is per process, so calls from several Python
    threads at once share it.)
    """
    if n_threads is None:
        yield
        return
    if n_threads == "auto":
        n_threads = _auto_threads(n_samples, fitting)
    if isinstance(n_threads, bool) or not isinstance(n_threads, Integral) or not 1 <= n_threads <= _MAX_THREADS:
        raise ValueError(
            f"n_threads must be an integer from 1 to {_MAX_THREADS}, 'auto' or None, got {n_threads!r}"
        )
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# partial_fit's learning rate rises linearly over this many steps of all calls together.
_PARTIAL_WARMUP_STEPS = 100

# Fewer poses than this are encoded on one thread: the work is too small to share.
_ONE_THREAD_BELOW = 256
# A transform of at least this many poses measures the machine's load itself (20 ms, about 5 % of it).
_MEASURE_FROM = 16384
_LOAD = {"time": -np.inf, "free": None}


def _auto_threads(n_samples, fitting):
    """Threads for a call on ``n_samples`` poses: torch's setting, less the cores that other processes keep busy.

    A fit measures the load for 0.1 s first; a transform reuses a measurement made in the last
    2 s, measures for 20 ms when it is large, and uses one thread when it is small.
    """
    ceiling = torch.get_num_threads()
    if ceiling == 1 or (not fitting and n_samples is not None and n_samples < _ONE_THREAD_BELOW):
        return 1
    now = time.monotonic()
    if now - _LOAD["time"] > (0.5 if fitting else 2.0):  # fit_transform's inner fit reuses its measurement
        if not fitting and (n_samples is None or n_samples < _MEASURE_FROM):
            return ceiling
        _LOAD.update(free=_free_cores(0.1 if fitting else 0.02), time=time.monotonic())
    return max(1, min(ceiling, _LOAD["free"]))


def _cpu_set_size() -> int:
    """Cores this process may run on: its CPU set where the OS tells it, else every core."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _free_cores(window):
    """Cores of this process's CPU set not kept busy by other processes over ``window`` seconds.

    Linux: the machine's busy time from /proc/stat less this process's own CPU time. Elsewhere
    (or if /proc cannot be read) every core counts as free.
    """
    cores = _cpu_set_size()

    def busy():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
        user, nice, system, _, _, irq, softirq, steal = fields
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    try:
        wall, machine, own = time.monotonic(), busy(), time.process_time()
        time.sleep(window)
        others = (busy() - machine - (time.process_time() - own)) / (time.monotonic() - wall)
    except (OSError, ValueError, IndexError):
        return cores
    return max(1, cores - int(round(max(0.0, others))))


def _with_threads(method):
    """Run an estimator method under its ``n_threads``."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        X = args[0] if args else kwargs.get("X")
        n_samples = X.shape[0] if hasattr(X, "shape") and len(X.shape) else None
        fitting = method.__name__ in ("_fit_keeping_state", "_partial_fit_keeping_state", "fit_transform")
        n_threads = self.n_threads
        if n_threads is None and self.random_state is None:  # no seed, nothing to reproduce: share the machine
            n_threads = "auto"
        with _torch_threads(n_threads, n_samples, fitting):
            return method(self, *args, **kwargs)

    return wrapper


# Fitted with person boxes, this fraction of the training poses (drawn with the fit's seed) is
# framed by its joints instead of its box, so that the model also takes poses that have no box.
KEYPOINT_FRAMED_FRACTION = 0.5


def _seed(random_state) -> int:
    """One int32 seed for a fit. ``None`` draws fresh OS entropy, never numpy's global RNG."""
    if random_state is None:
        return int(np.random.default_rng().integers(np.iinfo(np.int32).max))
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# A coordinate this many robust standard deviations from the mean makes the fitted scale
# (a root mean square) so large that ordinary poses all normalise to nearly the same point.
_OUTLIER_RATIO = 50.0


def _warn_if_outliers(centred: np.ndarray, scale: float) -> None:
    """Warn when a few extreme coordinates dominate the normalisation scale."""
    values = np.abs(centred[~np.isnan(centred)])
    robust = 1.4826 * float(np.median(values))  # the standard deviation, for normal data
    if robust > 0 and scale > _OUTLIER_RATIO * robust:
        worst = float(values.max())
        warnings.warn(
            f"X has extreme outliers: a coordinate lies {worst / robust:.3g} robust standard deviations "
            f"from the mean, and they inflate the normalisation scale {scale / robust:.3g} times, so "
            "ordinary poses become nearly identical to the network and get the same tokens; remove or "
            "mark such joints as missing (NaN) before fitting",
            UserWarning,
            stacklevel=4,
        )


def _ordinal(tokenizer):
    """The tokenizer with integer-id output, whatever its ``encode`` (a shallow copy; nothing is refitted)."""
    if getattr(tokenizer, "encode", "ordinal") == "ordinal":
        return tokenizer
    ordinal = copy.copy(tokenizer)
    ordinal.encode = "ordinal"
    return ordinal


def _refuse_bool_numbers(estimator):
    """No bool where a parameter's constraints ask for a number: scikit-learn's ``Interval(Integral)``
    takes ``True`` as 1, and ``n_tokens=True`` is a mistake, not one token. Called after
    ``BaseEstimator._validate_params`` by the estimators that declare ``_parameter_constraints``."""
    for name, constraints in estimator._parameter_constraints.items():
        value = getattr(estimator, name)
        # (numpy's bool is no Integral or Real: scikit-learn's own check refuses it)
        if isinstance(value, bool) and any(isinstance(c, Interval) for c in constraints):
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must be a number, got {value!r} (a bool)"
            )


class PoseTokenizer(TransformerMixin, BaseEstimator):
    """Turn human poses (2-D or 3-D keypoints) into discrete tokens and back (PCT stage 1).

    A compositional MLP-Mixer encoder maps the K keypoints of a pose to
    ``n_tokens`` token vectors; each is replaced by the nearest of
    ``codebook_size`` codes of an EMA vector-quantized codebook, so a pose
    becomes ``n_tokens`` integers. A pose decoder maps the codes back to
    keypoints. Coordinates are normalised internally from fitted statistics:
    any unit works and :meth:`inverse_transform` answers in the units of X.

    Parameters
    ----------
    n_tokens : int, default=32
        Number of tokens per pose (M in the paper).
    n_dims : int or "auto", default="auto"
        Coordinates per keypoint: 2 for image keypoints, 3 for 3-D joints
        (mocap, lifted poses, landmark trackers' x, y, z), 1 for one value per
        keypoint. ``"auto"`` reads it from an ``(n_samples, n_keypoints,
        n_dims)`` array and means 2 for flat input; flat 3-D input needs
        ``n_dims=3``. Every part follows it: the network's input and output,
        the missing-joint rule (all coordinates NaN), both normalisations and
        the refinement codebooks.
    codebook_size : int, default=256
        Number of codes of the codebook (V). Each pose costs
        ``n_tokens * log2(codebook_size)`` bits.
    codebooks : {"shared", "per_token"}, default="shared"
        ``"shared"``: one codebook serves every token position, as in PCT.
        ``"per_token"``: each token position has a codebook of
        ``codebook_size`` codes of its own (the same bits per pose; id ``v`` at
        position ``m`` is code ``v`` of book ``m``). A shared codebook is used
        unevenly, each position taking part of it; per-position codebooks use
        all their codes at every position, which lowered the held-out error of
        32 x 256 tokens by 9 % on 2-D and 15 % on 3-D stick figures and raised
        COCO's OKS-AR at 32 and 64 bits (see the benchmarks page), for about
        5 % more fit time.
    token_dim : int, default=32
        Dimension of a token vector and of each code (D).
    encoder_width, decoder_width : int, default=64
        Channels per keypoint inside the encoder and the decoder (H, H').
    encoder_depth, decoder_depth : int, default=2
        Number of MLP-Mixer blocks in the encoder and the decoder.
    token_mlp_width : int, default=64
        Hidden width of the MLPs that mix across keypoints.
    dropout : float, default=0.0
        Dropout inside the mixer MLPs.
    strategy : {"joint", "staged"}, default="joint"
        Both first pre-train encoder and decoder without quantization for
        ``pretrain_epochs`` (if any) and start the codebook by k-means on the
        encoder's outputs. ``"joint"`` then trains encoder, codebook and
        decoder together for ``n_epochs`` through the straight-through
        estimator. ``"staged"`` (the stick-figure article's fix) freezes the
        encoder and trains a fresh decoder with the codebook for ``n_epochs``.
        Joint is the default because it measures better: see docs/.
    n_epochs : int, default=60
        Epochs of training with the codebook.
    pretrain_epochs : int or "auto", default="auto"
        Epochs of pre-training without quantization. ``"auto"`` means 0 for
        ``"joint"`` and ``n_epochs // 2`` for ``"staged"``.
    batch_size : int, default=512
        Poses per optimisation step.
    learning_rate : float, default=5e-3
        Peak AdamW learning rate of the warm-up + cosine schedule of each phase.
    commitment_weight : float, default=1.0
        Weight of the commitment loss ``||z - sg(q)||^2``.
    refinement_stages : int, default=0
        Stages of residual refinement after the decoder (0: none). Each stage
        quantizes every keypoint's remaining error (``n_dims`` coordinates) with that keypoint's
        own k-means codebook of ``refinement_codebook_size`` codes and adds one
        id per keypoint to the output of :meth:`transform` (see
        :mod:`posetok.refinement`). Refinement is for compression: on COCO,
        from about 120 bits per pose, a few tokens plus refinement stages
        reconstruct far better than more tokens (docs/benchmarks.md). The refinement ids are
        corrections, not compositional tokens; a pose classifier should use
        the first ``n_tokens`` columns.
    refinement_codebook_size : int, default=256
        Codes per keypoint and refinement stage. A pose then costs
        ``n_tokens * log2(codebook_size) + refinement_stages * n_keypoints *
        log2(refinement_codebook_size)`` bits (``bits_per_pose_``).
    mask_probability : float, default=0.0
        Probability of hiding each observed joint from the encoder during
        training (it stays supervised), so the tokens learn to recover missing
        joints. The official PCT tokenizer uses 0.2.
    rotation_range : float, default=0.0
        Largest angle, in degrees (0 to 180), by which each training pose is
        turned at random, afresh in every batch, about the centroid of its
        observed joints: an augmentation, as ``mask_probability`` is one, that
        teaches the tokenizer orientations the training poses do not show (180
        turns them every way). In 2-D the turn is in the image plane; in 3-D it
        is about ``rotation_axis``, which must then be given. The turn is made
        before any scaling, so a pose keeps its shape (with
        ``normalize="pose"``, in the pose's own frame, which is not fitted
        again around the turned pose). Only the training batches are turned;
        ``transform``, the codebook's k-means start and refinement stages see
        the poses as given. 0 turns nothing (and leaves fits exactly as without
        it). On 3-D stick figures that face every way about the vertical, 180
        lowered the held-out error of 23 per-token codebooks of 2 048 codes by
        5-8 % and the default's by under 1 % (three seeds; docs/benchmarks.md,
        "3-D stick figures").
    rotation_axis : int or None, default=None
        For 3-D poses with ``rotation_range > 0``: the coordinate axis the
        poses are turned about, their vertical (1 for y up, 2 for z up).
        Must be None for 2-D poses, whose turn is in their only plane.
    normalize : {"dataset", "pose"}, default="dataset"
        ``"dataset"``: one per-coordinate mean and one global scale fitted on X,
        so tokens encode where a pose is and how large it is, and
        :meth:`inverse_transform` returns the units of X. ``"pose"``: each pose
        is first centred on the box around its observed keypoints and divided
        by that box's largest side (in 3-D also its depth), so tokens ignore
        position and size (what
        an action classifier wants); :meth:`inverse_transform` and
        :meth:`score` then work in that per-pose frame (centre 0, larger side
        1). To normalise by a detector's person box instead, apply
        :func:`posetok.datasets.normalize_to_box` before fitting.
    encode : {"ordinal", "onehot", "onehot-dense", "codes", "latent"}, default="ordinal"
        What :meth:`transform` returns, as in scikit-learn's
        ``KBinsDiscretizer(encode=...)`` (see :mod:`posetok.features`):
        ``"ordinal"``, the integer ids; ``"onehot"``, a sparse matrix with one
        column per (token position, code); ``"onehot-dense"``, the same as a
        dense array; ``"codes"``, each token's code vector
        (``n_tokens * token_dim`` floats); ``"latent"``, the encoder's
        continuous token vectors before quantization. For a linear classifier
        ``"latent"`` measured best on every dataset and training size we tried
        (docs/benchmarks.md): standardise it (``StandardScaler``) first. This is
        an output format, not part of the model: it may be changed with
        ``set_params`` after fit (for instance on a pretrained tokenizer), and
        :meth:`inverse_transform` accepts the output of every encoding.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to train. The fitted modules are always moved back to the CPU.
    n_threads : int, "auto" or None, default=None
        Torch threads for :meth:`fit`, :meth:`transform`,
        :meth:`inverse_transform` and :meth:`score`: set for the duration of
        the call and put back afterwards. None (the default) means
        ``"auto"`` when ``random_state`` is None, and otherwise leaves torch's
        setting (``torch.get_num_threads()``, all cores by default) as it is,
        so that a seed reproduces its model. On a
        machine whose cores are busy with other work, threads that wait for
        each other can make a fit two to three times slower: ``"auto"`` takes
        torch's setting less the cores other processes keep busy (measured
        for 0.1 s at the start of a fit; Linux), and one thread for
        transforms of under 256 poses; ``n_threads=1`` is never slowed by
        other work but is slower on an idle machine (docs/benchmarks.md,
        "Scale"). A fit's result depends on its thread count (floating-point
        sums are split differently), so with ``"auto"`` two fits with the same
        seed agree only when the machine was as busy; the ids of a fitted
        model did not change with the thread count in our tests. Inside
        ``GridSearchCV(n_jobs=k)`` joblib already gives each worker process
        ``cores // k`` threads. At most 4096.
    distributed : bool, default=False
        Fit on several processes with :mod:`torch.distributed` (run under
        ``torchrun``; the default process group must be initialised, gloo on
        CPUs or nccl on GPUs). Each process passes its own shard of the poses
        to :meth:`fit` and every process ends with the same model: the
        normalisation statistics, gradients and EMA codebook statistics are
        shared, rank 0's seed, k-means start, refinement codebooks and dead-code
        re-seeding are broadcast (:mod:`posetok.distributed`). ``batch_size`` is
        the batch of all processes together. An error on one process (a bad
        shard, different parameters) is raised on every process.
    verbose : int, default=0
        Print one progress line per epoch when positive (epoch k of n, losses,
        codebook usage, time left). 0 is silent, as in scikit-learn; with the
        defaults a fit takes about 10 s per 1 000 training poses on 2 CPU
        cores (96 s for 10 000 in ``posetok demo``), so set ``verbose=1`` to
        follow a long one.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, k-means and re-seeding. The same
        seed gives the same tokens on the CPU with the same number of torch
        threads (floating-point sums depend on how the work is split), on any
        number of cores; on a GPU that is not guaranteed. ``None``
        draws a fresh seed from the operating system (and, with
        ``n_threads=None``, lets the thread count follow the machine's load).
        numpy's and torch's global RNG states are never touched.

    Attributes
    ----------
    n_features_in_ : int
        Number of columns of X, flattened (``n_dims_ * n_keypoints_``).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of X, when X is a DataFrame with string column names.
    n_keypoints_ : int
        Number of keypoints K learned from X.
    n_dims_ : int
        Coordinates per keypoint the model was fitted with (``n_dims`` resolved).
    codec_ : posetok.codec.PoseCodec
        The fitted state below the estimator: network, refinement codebooks
        and normalisation. ``network_``, ``refinement_codebooks_``,
        ``normalizer_``, ``mean_``, ``scale_`` and ``normalize_`` read it.
    normalizer_ : posetok.normalization.PoseNormalizer
        The fitted normalisation (mode, mean and scale).
    normalize_ : str
        The ``normalize`` the model was fitted with; :meth:`transform` keeps
        using it whatever ``set_params`` says until the next fit (so do the
        sizes: ``network_.config`` holds them).
    mean_ : ndarray of shape (n_features_in_,)
        Per-coordinate mean of the training poses (missing joints ignored).
    scale_ : float
        One scale for all coordinates, so that the normalisation is isotropic.
    network_ : posetok.nn.PoseTokenizerNet
        The trained torch module, on the CPU.
    history_ : list of dict
        One record per epoch: phase, losses, mean joint error (in X units),
        codebook usage, perplexity, re-seeded codes and seconds.
    codebook_usage_ : float
        Fraction of the codes used by the training poses after fitting (of
        every position's codes, with ``codebooks="per_token"``).
    refinement_codebooks_ : ndarray of shape (refinement_stages, n_keypoints_, refinement_codebook_size, n_dims_)
        The refinement codes, in the normalised units of the network (X units
        divided by ``scale_``); empty when ``refinement_stages=0``.
    bits_per_pose_ : float
        Bits of one pose's output of :meth:`transform`.
    device_ : str
        Device the model was trained on.
    fit_time_ : float
        Seconds spent in :meth:`fit`.
    fitted_with_boxes_ : bool
        Whether :meth:`fit` was given person boxes (``boxes=``), so that the
        model has learnt poses framed by their box; giving boxes to a model
        fitted without them warns.

    See Also
    --------
    sklearn.preprocessing.KBinsDiscretizer : Discretizes each feature on its own.

    Examples
    --------
    >>> from posetok import PoseTokenizer
    >>> from posetok.datasets import make_stick_figures
    >>> X, _ = make_stick_figures(300, random_state=0)
    >>> tok = PoseTokenizer(n_tokens=4, codebook_size=16, n_epochs=2,
    ...                     pretrain_epochs=2, random_state=0).fit(X)
    >>> ids = tok.transform(X[:3])
    >>> ids.shape, ids.dtype
    ((3, 4), dtype('int64'))
    >>> tok.inverse_transform(ids).shape
    (3, 26)
    """

    _parameter_constraints: dict = {
        "n_tokens": [Interval(Integral, 1, None, closed="left")],
        "n_dims": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "codebook_size": [Interval(Integral, 2, None, closed="left")],
        "codebooks": [StrOptions({"shared", "per_token"})],
        "token_dim": [Interval(Integral, 1, None, closed="left")],
        "encoder_width": [Interval(Integral, 1, None, closed="left")],
        "encoder_depth": [Interval(Integral, 0, None, closed="left")],
        "decoder_width": [Interval(Integral, 1, None, closed="left")],
        "decoder_depth": [Interval(Integral, 0, None, closed="left")],
        "token_mlp_width": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "strategy": [StrOptions(set(STRATEGIES))],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "commitment_weight": [Interval(Real, 0, None, closed="left")],
        "refinement_stages": [Interval(Integral, 0, None, closed="left")],
        "refinement_codebook_size": [Interval(Integral, 2, None, closed="left")],
        "mask_probability": [Interval(Real, 0, 1, closed="left")],
        "rotation_range": [Interval(Real, 0, 180, closed="both")],
        "rotation_axis": [Interval(Integral, 0, 2, closed="both"), None],
        "normalize": [StrOptions(set(MODES))],
        "encode": [StrOptions(set(ENCODINGS))],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "n_threads": [Interval(Integral, 1, _MAX_THREADS, closed="both"), StrOptions({"auto"}), None],
        "distributed": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_tokens=32,
        *,
        n_dims="auto",
        codebook_size=256,
        codebooks="shared",
        token_dim=32,
        encoder_width=64,
        encoder_depth=2,
        decoder_width=64,
        decoder_depth=2,
        token_mlp_width=64,
        dropout=0.0,
        strategy="joint",
        n_epochs=60,
        pretrain_epochs="auto",
        batch_size=512,
        learning_rate=5e-3,
        commitment_weight=1.0,
        refinement_stages=0,
        refinement_codebook_size=256,
        mask_probability=0.0,
        rotation_range=0.0,
        rotation_axis=None,
        normalize="dataset",
        encode="ordinal",
        device="auto",
        n_threads=None,
        distributed=False,
        verbose=0,
        random_state=None,
    ):
        self.n_tokens = n_tokens
        self.n_dims = n_dims
        self.codebook_size = codebook_size
        self.codebooks = codebooks
        self.token_dim = token_dim
        self.encoder_width = encoder_width
        self.encoder_depth = encoder_depth
        self.decoder_width = decoder_width
        self.decoder_depth = decoder_depth
        self.token_mlp_width = token_mlp_width
        self.dropout = dropout
        self.strategy = strategy
        self.n_epochs = n_epochs
        self.pretrain_epochs = pretrain_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.commitment_weight = commitment_weight
        self.refinement_stages = refinement_stages
        self.refinement_codebook_size = refinement_codebook_size
        self.mask_probability = mask_probability
        self.rotation_range = rotation_range
        self.rotation_axis = rotation_axis
        self.normalize = normalize
        self.encode = encode
        self.device = device
        self.n_threads = n_threads
        self.distributed = distributed
        self.verbose = verbose
        self.random_state = random_state

    def __sklearn_is_fitted__(self):
        return "codec_" in self.__dict__

    def _validate_params(self):
        """scikit-learn's parameter check, and no bool where a number is meant (:func:`_refuse_bool_numbers`)."""
        super()._validate_params()
        _refuse_bool_numbers(self)

    def __setstate__(self, state):
        # tokenizers pickled before these parameters existed load as they were fitted
        state.setdefault("rotation_range", 0.0)
        state.setdefault("rotation_axis", None)
        super().__setstate__(state)

    def _rotation_plane(self, n_dims):
        """The two axes turned by ``rotation_range`` for poses of ``n_dims`` coordinates (None without
        a turn); a clear error where the turn is not defined."""
        if self.rotation_range == 0:
            if self.rotation_axis is not None and n_dims != 3:
                raise ValueError(f"rotation_axis is for 3-D poses; these poses have n_dims={n_dims}: leave it None")
            return None
        if n_dims == 2:
            if self.rotation_axis is not None:
                raise ValueError("2-D poses turn in their only plane: leave rotation_axis None "
                                 f"(got {self.rotation_axis})")
            plane = (0, 1)
        elif n_dims == 3:
            if self.rotation_axis is None:
                raise ValueError("rotation_range turns 3-D poses about an axis: set rotation_axis to their vertical "
                                 "axis (1 for y up, 2 for z up)")
            plane = tuple(a for a in range(3) if a != self.rotation_axis)
        else:
            raise ValueError(f"rotation_range turns 2-D or 3-D poses; these poses have n_dims={n_dims}: leave it 0")
        return plane

    def _rotation(self, n_dims, normalizer, device):
        """TrainConfig's rotation fields for poses of ``n_dims`` coordinates: none without ``rotation_range``;
        the offset is made on the training ``device`` once, not copied there at every step."""
        plane = self._rotation_plane(n_dims)
        if plane is None:
            return {}
        offset = np.asarray(normalizer.mean, dtype=np.float64).reshape(-1, n_dims) / normalizer.scale
        return {"rotation_range": math.radians(self.rotation_range), "rotation_plane": plane,
                "rotation_offset": torch.as_tensor(offset, dtype=torch.float32, device=device)}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = []
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, boxes=None):
        """Fit the tokenizer to poses.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_dims * n_keypoints) or (n_samples, n_keypoints, n_dims)
            Keypoints flattened as ``x0, y0, x1, y1, ...`` (``x0, y0, z0, x1,
            ...`` in 3-D), or as an array of keypoints. A missing joint is NaN
            in every coordinate; it is left out of the loss. An array on disk
            (a :class:`numpy.memmap`, an h5py dataset, a Zarr array) is
            streamed in blocks instead of loaded (:mod:`posetok.streaming`).
            With ``distributed=True``, this process's shard of the poses.
        y : None
            Ignored.
        boxes : array-like of shape (n_samples, 2 * n_dims), default=None
            Person boxes, with ``normalize="pose"`` only: per pose the lowest
            corner and the size of its box (COCO's ``x, y, w, h`` in 2-D), or
            a row of NaN for a pose without one. A pose with a box is framed
            by the box (centred on it, divided by its larger side) instead of
            by its joints, so the tokens can tell where hidden joints lie
            within the box. Half the training poses (drawn with
            ``random_state``) are framed by their joints all the same, so
            that the model also takes poses without a box. In-memory,
            single-process fits only.

        Returns
        -------
        self : PoseTokenizer
            The fitted tokenizer.
        """
        self._fit_keeping_state(X, boxes)
        return self

    @_with_threads
    def _fit_keeping_state(self, X, boxes=None):
        """``_fit`` under the training torch state; a failed fit leaves the estimator as it was."""
        with _restoring_input_attributes(self), _training_torch_state():
            return self._fit(X, boxes)

    def _check_boxes(self, boxes, n_samples, n_dims, mode=None):
        """Validated boxes, or None; boxes only make sense with per-pose frames (``mode``: the
        normalisation they are for, by default the fitted one)."""
        if boxes is None:
            return None
        fitting = mode is not None
        mode = self.normalize_ if mode is None else mode
        if mode != "pose":
            raise ValueError(f"boxes are used with normalize='pose' only (each pose framed by its box); this "
                             f"tokenizer has normalize={mode!r}: normalise by the boxes yourself "
                             "(posetok.datasets.normalize_to_box) or use normalize='pose'")
        boxes = check_boxes(boxes, n_samples, n_dims)
        if not fitting and not getattr(self, "fitted_with_boxes_", False):
            warnings.warn("this tokenizer was fitted without boxes: it has only seen poses framed by their joints, "
                          "and a person box frames a pose differently (it is larger); refit it with fit(X, boxes=...) "
                          "to use boxes", UserWarning, stacklevel=3)
        return boxes

    def _fit(self, X, boxes=None):
        tic = time.perf_counter()
        device = _resolve_device(self.device)
        comm = communicator(self.distributed, device)
        if comm.world_size > 1 and device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        streamed = is_out_of_core(X)
        seed = int(comm.broadcast_(torch.tensor([_seed(self.random_state)], dtype=torch.int64)).item())

        # Each rank validates its own data; a failure there is told to every rank.
        error = None
        try:
            shard = self._scan(X, seed + comm.rank) if streamed else self._validated_for_fit(X, comm, seed)
        except Exception as exc:
            if comm.world_size == 1:
                raise
            error = exc
        comm.agree(error)
        n_dims, n_features = shard["n_dims"], shard["n_features"]
        if boxes is not None:
            if streamed or comm.world_size > 1:
                raise ValueError("boxes are supported for in-memory, single-process fits only")
            boxes = self._check_boxes(boxes, len(shard["X"]), n_dims, self.normalize)
            keypoint_framed = np.random.default_rng(seed).random(len(boxes)) < KEYPOINT_FRAMED_FRACTION
            boxes[keypoint_framed] = np.nan
        if comm.world_size > 1:
            # rank 0's seed is used by all; threads and printing may differ per rank
            params = {k: v for k, v in self.get_params().items() if k not in ("random_state", "n_threads", "verbose")}
            _check_same_on_every_rank(comm, {"n_features": n_features, "n_dims": n_dims, **params})
        moments = comm.merge_moments(shard["moments"]) if shard["moments"] is not None else None
        if moments is None:
            normalizer = PoseNormalizer.fit(shard["X"], self.normalize, n_dims=n_dims, boxes=boxes)
            ever_observed = shard["observed"].any(0)
        else:
            mean, scale = moments.mean_and_scale()
            normalizer = PoseNormalizer(self.normalize, mean, scale, n_dims)
            ever_observed = moments.count[::n_dims] > 0

        never = np.flatnonzero(~ever_observed)
        if len(never) and comm.is_main:
            warnings.warn(
                f"keypoint(s) {never.tolist()} are missing (NaN) in every training pose: the tokenizer "
                "cannot learn where they are, and inverse_transform will return made-up coordinates for "
                "them; drop those columns or fit on poses where they are observed",
                UserWarning,
                stacklevel=3,
            )
        scale = normalizer.scale
        checked = shard["sample"] if streamed else shard["X"]
        if comm.is_main:
            _warn_if_outliers(normalizer.transform(checked, None if streamed else boxes) * scale, scale)
        sample = None
        if shard["sample"] is not None:
            sample = _network_input(normalizer.transform(shard["sample"]), _observed_mask(shard["sample"], n_dims))
        if streamed:
            def read(start, stop):
                block = _read_rows(X, start, stop, n_features)
                return _network_input(normalizer.transform(block), _observed_mask(block, n_dims, start))

            data = StreamedData(read, n_rows(X), BLOCK_SIZE, sample, device)
            keypoints = observed_t = None
        else:
            keypoints, observed_t = _network_input(normalizer.transform(shard["X"], boxes), shard["observed"])
            data = keypoints.to(device)

        config = self._network_config(n_features // n_dims, n_dims)
        train_config = TrainConfig(
            strategy=self.strategy,
            n_epochs=self.n_epochs,
            pretrain_epochs=self._pretrain_epochs(),
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            commitment_weight=self.commitment_weight,
            mask_probability=self.mask_probability,
            **self._rotation(n_dims, normalizer, device),
        )

        n_total = train_config.pretrain_epochs + train_config.n_epochs
        elapsed = []

        def log(record):
            record["mean_joint_error"] *= scale
            elapsed.append(record["time"])
            if self.verbose and comm.is_main:
                usage = f", codebook usage {record['codebook_usage']:.0%}" if "codebook_usage" in record else ""
                left = (n_total - len(elapsed)) * sum(elapsed) / len(elapsed)
                print(
                    f"[PoseTokenizer] epoch {record['epoch']}/{n_total} ({record['phase']}): "
                    f"loss {record['reconstruction_loss']:.4f}, "
                    f"joint error {record['mean_joint_error']:.4g}{usage}, {record['time']:.1f}s, "
                    f"about {left:.0f}s left",
                    flush=True,
                )

        # Everything is built in locals and assigned at the end, so an error or an
        # interrupt leaves the estimator as it was before fit.
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            net = PoseTokenizerNet(config).to(device)
            history = train_tokenizer(
                net,
                data,
                None if streamed else observed_t.to(device),
                train_config,
                init_codebook=lambda v: _kmeans_codebook(v, self.codebook_size, seed),
                generator=torch.Generator().manual_seed(seed + comm.rank),
                log=log,
                comm=comm,
            )
        net = net.cpu().eval()
        ids = None if streamed else encode(net, keypoints, observed_t)
        counts, n_ids = _code_counts(net, ids, X, read if streamed else None)
        if comm.world_size > 1:
            counts = comm.sum_(counts)
            n_ids = int(comm.sum_(torch.tensor([float(n_ids)], dtype=torch.float64)).item())
        n_used, n_codes = int((counts > 0).sum()), len(counts)
        attainable = min(n_codes, n_ids)
        if n_used < _COLLAPSE_FRACTION * attainable and comm.is_main:
            warnings.warn(
                f"the codebook collapsed: the training poses use {n_used} of {n_codes} "
                f"codes ({n_used / n_codes:.1%}); try strategy='staged', more epochs, "
                "or a smaller codebook_size",
                CodebookCollapseWarning,
                stacklevel=2,
            )

        if streamed or comm.world_size > 1:
            refinement = self._fit_refinement_shared(net, *sample, seed, comm)
        else:
            refinement = self._fit_refinement(net, keypoints, shard["observed"], ids, seed)

        self.n_keypoints_ = config.n_keypoints
        self.codec_ = PoseCodec(net, refinement, normalizer)
        self.bits_per_pose_ = self._bits_per_pose()
        self.history_ = history
        self.codebook_usage_ = n_used / n_codes
        self.device_ = str(device)
        self.fit_time_ = time.perf_counter() - tic
        self.fitted_with_boxes_ = boxes is not None
        self.__dict__.pop("_partial_", None)  # a new fit: partial_fit starts a new optimizer
        if streamed:
            return None, None, None
        return self.codec_.with_refinement(keypoints, observed_t, ids.numpy().astype(np.int64)), keypoints, observed_t

    def _validated_for_fit(self, X, comm, seed):
        """In-memory training poses, validated: X (n, C) float64 and its mask; with several ranks also
        the shard's normalisation moments and a sample of its rows (for the shared refinement fit)."""
        X, n_dims = _flatten_keypoints(X, self.n_dims)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        _check_keypoint_columns(X.shape[1], n_dims, self.n_dims)
        observed = _observed_mask(X, n_dims)
        moments = sample = None
        if comm.world_size > 1:
            moments = Moments.of(frame(X, self.normalize, n_dims)[0])
            rows = np.random.default_rng(seed + comm.rank).permutation(len(X))[: SAMPLE_SIZE // comm.world_size]
            sample = X[np.sort(rows)]
        return {"X": X, "observed": observed, "n_dims": n_dims, "n_features": X.shape[1], "moments": moments,
                "sample": sample}

    def _scan(self, X, seed):
        """One pass over an out-of-core X: validation, normalisation moments and a uniform sample of rows."""
        n_features, n_dims = self._out_of_core_shape(X)
        n = n_rows(X)
        keep = min(1.0, SAMPLE_SIZE / n)
        rng = np.random.default_rng(seed)
        moments, sample = None, []
        for start, block in _read_blocks(X, n_features):
            _observed_mask(block, n_dims, start)
            m = Moments.of(frame(block, self.normalize, n_dims)[0])
            moments = m if moments is None else moments.merge(m)
            sample.append(block[rng.random(len(block)) < keep])
        sample = np.concatenate(sample)
        if not len(sample):
            sample = _read_rows(X, 0, 1, n_features)
        self.__dict__.pop("feature_names_in_", None)
        self.n_features_in_ = n_features
        return {"n_dims": n_dims, "n_features": n_features, "moments": moments, "sample": sample}

    def _out_of_core_shape(self, X):
        """(n_features, n_dims) of an array on disk of shape (n, C) or (n, K, D), checked."""
        if np.dtype(X.dtype).kind not in "iuf":
            raise TypeError(f"X must hold numbers; the array on disk has dtype {X.dtype}")
        if len(X.shape) == 3:
            n_dims = X.shape[2]
            if self.n_dims != "auto" and n_dims != self.n_dims:
                raise ValueError(f"X has shape {X.shape}, {n_dims} coordinate(s) per keypoint, "
                                 f"but n_dims is {self.n_dims}")
            n_features = X.shape[1] * n_dims
        elif len(X.shape) == 2:
            n_dims = 2 if self.n_dims == "auto" else self.n_dims
            n_features = X.shape[1]
        else:
            raise ValueError(f"X must be 2-D (n_samples, n_features) or 3-D (n_samples, n_keypoints, n_dims), "
                             f"got shape {X.shape}")
        if X.shape[0] == 0 or n_features == 0:
            raise ValueError(f"X has shape {X.shape}: fit needs at least one sample and one feature")
        _check_keypoint_columns(n_features, n_dims, self.n_dims)
        return n_features, n_dims

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train on one batch of poses, continuing from the previous calls (incremental learning).

        For data that arrives in pieces or is fed block by block (dask-ml's
        ``Incremental``): the first call on an unfitted tokenizer fits the
        normalisation to its poses (so make it representative: the scale is
        not revised later), builds the network and starts the codebook by
        k-means on them; every call then trains encoder, codebook and decoder
        together for one pass over ``X`` in minibatches of ``batch_size``, at
        ``learning_rate`` after a linear warm-up over the first 100 steps of
        all calls (no cosine decay: the number of calls is not known), with
        masking and dead-code re-seeding as in :meth:`fit`. Refinement
        codebooks, if any, are refitted to the residuals of the latest
        call's poses. On a fitted tokenizer (by :meth:`fit`, or loaded) the
        first call continues from its model with a new optimizer; the
        optimizer's state is kept between calls (and by pickle/joblib, not by
        :meth:`save`). ``n_epochs``, ``pretrain_epochs`` and the staged
        strategy belong to :meth:`fit`; ``strategy="staged"`` and
        ``distributed=True`` are refused.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_dims * n_keypoints) or (n_samples, n_keypoints, n_dims)
            A batch of poses, as for :meth:`fit`.
        y : None
            Ignored.

        Returns
        -------
        self : PoseTokenizer

        Examples
        --------
        >>> from posetok import PoseTokenizer
        >>> from posetok.datasets import make_stick_figures
        >>> X, _ = make_stick_figures(600, random_state=0)
        >>> tok = PoseTokenizer(n_tokens=4, codebook_size=16, random_state=0)
        >>> for batch in np.array_split(X, 3):
        ...     tok = tok.partial_fit(batch)
        >>> len(tok.history_), tok.transform(X[:2]).shape
        (3, (2, 4))
        """
        if self.strategy != "joint":
            raise ValueError("partial_fit trains encoder, codebook and decoder together: it needs strategy='joint' "
                             f"(got {self.strategy!r}); the staged strategy needs fit")
        if self.distributed:
            raise ValueError("partial_fit runs in one process; fit with distributed=True under torchrun instead")
        self._partial_fit_keeping_state(X)
        return self

    @_with_threads
    def _partial_fit_keeping_state(self, X):
        with _restoring_input_attributes(self), _training_torch_state():
            self._partial_fit(X)

    def _partial_fit(self, X):
        tic = time.perf_counter()
        fitted = "codec_" in self.__dict__
        if fitted:
            X = self._validated(X)
            n_dims, normalizer, net = self.n_dims_, self.normalizer_, copy.deepcopy(self.network_)
            observed = _observed_mask(X, n_dims)
        else:
            shard = self._validated_for_fit(X, LocalComm(), 0)
            X, observed, n_dims, normalizer, net = shard["X"], shard["observed"], shard["n_dims"], None, None
        if normalizer is None:
            normalizer = PoseNormalizer.fit(X, self.normalize, n_dims=n_dims)
            _warn_if_outliers(normalizer.transform(X) * normalizer.scale, normalizer.scale)
        keypoints, observed_t = _network_input(normalizer.transform(X), observed)
        state = self.__dict__.get("_partial_") if fitted else None
        seed = state["seed"] if state else _seed(self.random_state)
        calls, steps = (state["calls"], state["steps"]) if state else (0, 0)
        device = _resolve_device(self.device)
        train_config = TrainConfig(batch_size=self.batch_size, learning_rate=self.learning_rate,
                                   commitment_weight=self.commitment_weight, mask_probability=self.mask_probability,
                                   **self._rotation(n_dims, normalizer, device))
        generator = torch.Generator().manual_seed(seed + calls)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed + calls)
            data = _Data(keypoints.to(device), observed_t.to(device))
            if net is None:
                net = PoseTokenizerNet(self._network_config(X.shape[1] // n_dims, n_dims)).to(device)
                _init_codebook(net, data, lambda v: _kmeans_codebook(v, self.codebook_size, seed), train_config,
                               generator, LocalComm())
            net = net.to(device)
            optimizer = torch.optim.AdamW(list(net.encoder.parameters()) + list(net.decoder.parameters()),
                                          lr=self.learning_rate, weight_decay=train_config.weight_decay)
            if state is not None and state["optimizer"] is not None:
                optimizer.load_state_dict(state["optimizer"])  # moves its tensors to the parameters' device
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: min(1.0, (steps + step + 1) / _PARTIAL_WARMUP_STEPS))
            record = run_epoch(net, data, optimizer, scheduler, train_config, True, generator)
        net = net.cpu().eval()
        history = list(self.__dict__.get("history_", [])) if fitted else []
        record = {"phase": "partial", "epoch": len(history) + 1, **record, "time": time.perf_counter() - tic}
        record["mean_joint_error"] *= normalizer.scale
        history.append(record)
        if self.verbose:
            print(f"[PoseTokenizer] partial_fit call {calls + 1}: loss {record['reconstruction_loss']:.4f}, "
                  f"joint error {record['mean_joint_error']:.4g}, codebook usage {record['codebook_usage']:.0%}",
                  flush=True)
        ids = encode(net, keypoints, observed_t)
        n_used = len(torch.unique(net.quantizer.flat_ids(ids)))
        n_steps = math.ceil(len(X) / self.batch_size)
        optimizer_state = optimizer.state_dict()
        optimizer_state["state"] = {k: {n: t.cpu() if torch.is_tensor(t) else t for n, t in v.items()}
                                    for k, v in optimizer_state["state"].items()}

        self.n_keypoints_ = net.config.n_keypoints
        self.codec_ = PoseCodec(net, self._fit_refinement(net, keypoints, observed, ids, seed), normalizer)
        self.bits_per_pose_ = self._bits_per_pose()
        self.history_ = history
        self.codebook_usage_ = n_used / net.quantizer.n_codes
        self.device_ = str(device)
        self.fit_time_ = time.perf_counter() - tic
        self.fitted_with_boxes_ = fitted and getattr(self, "fitted_with_boxes_", False)
        self._partial_ = {"seed": seed, "calls": calls + 1, "steps": steps + n_steps, "optimizer": optimizer_state}

    @_fit_context(prefer_skip_nested_validation=True)
    @_with_threads
    def fit_transform(self, X, y=None, boxes=None):
        """Fit, then return the output of :meth:`transform` on X, reusing the ids fit computed.

        As :meth:`sklearn.cluster.KMeans.fit_transform` reuses the labels of
        fit, the training poses are not encoded a second time (except for
        ``encode="latent"``, whose continuous vectors fit does not keep).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_dims * n_keypoints) or (n_samples, n_keypoints, n_dims)
        y : None
            Ignored.
        boxes : array-like of shape (n_samples, 2 * n_dims), default=None
            Person boxes, as in :meth:`fit`.

        Returns
        -------
        Xt : ndarray or scipy.sparse.csr_matrix
            As :meth:`transform` returns it.
        """
        ids, keypoints, observed = self._fit_keeping_state(X, boxes)
        if boxes is not None:  # fit framed half the poses by their joints: encode them as given
            return self.transform(X, boxes=boxes)
        if ids is None:  # streamed from disk: the ids were not kept
            return self.transform(X)
        latent = self.codec_.latent(keypoints, observed) if self.encode == "latent" else None
        return features_from_ids(self.encode, ids, self.network_.config.n_tokens, self.codebook_,
                                 self.refinement_codebooks_, latent=latent)

    # ------------------------------------------------------------ transform
    @_with_threads
    def transform(self, X, boxes=None):
        """Encode poses into token ids, or the features ``encode`` names.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_dims * n_keypoints) or (n_samples, n_keypoints, n_dims)
            Keypoints as in :meth:`fit`; missing joints are NaN.
        boxes : array-like of shape (n_samples, 2 * n_dims), default=None
            Person boxes (``normalize="pose"`` only), as in :meth:`fit`: a
            pose with a box is framed by it, one without (no ``boxes``, or a
            row of NaN) by its observed joints.

        Returns
        -------
        Xt : ndarray or scipy.sparse.csr_matrix
            With ``encode="ordinal"``, int64 ids of shape (n_samples, n_tokens +
            refinement_stages * n_keypoints_): token ids in ``[0,
            codebook_size)``, followed (with ``refinement_stages > 0``) by the
            refinement ids in ``[0, refinement_codebook_size)``: stage 1's id of
            every keypoint, then stage 2's, and so on. A missing joint gets the
            ids of a zero correction. Other encodings return the same ids as
            floats of the widths :mod:`posetok.features` describes
            (:meth:`get_feature_names_out` names the columns).
        """
        if is_out_of_core(X):
            if boxes is not None:
                raise ValueError("boxes are supported for in-memory poses only")
            parts = list(_by_block(self.transform, X, self.n_features_in_))
            return sp.vstack(parts, format="csr") if sp.issparse(parts[0]) else np.concatenate(parts)
        keypoints, observed = self._normalised(X, boxes)
        ids, latent = self.codec_.encode(keypoints, observed, with_latent=self.encode == "latent")
        return features_from_ids(self.encode, ids, self.codec_.n_tokens, self.codebook_,
                                 self.refinement_codebooks_, latent=latent)

    @_with_threads
    def inverse_transform(self, X, boxes=None):
        """Decode token ids into poses, in the units of the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_tokens + s * n_keypoints_)
            Integer ids as :meth:`transform` returns them, token ids in
            ``[0, codebook_size)`` and refinement ids in
            ``[0, refinement_codebook_size)``. Any number ``s`` of whole
            refinement stages from 0 to ``refinement_stages`` may be given: the
            first stages alone decode at lower fidelity. With another
            ``encode``, the output of :meth:`transform` in that encoding (code
            and latent vectors are read as their nearest code).
        boxes : array-like of shape (n_samples, 2 * n_dims_), default=None
            With ``normalize="pose"``, the person box of every pose (no NaN
            row): the decoded poses are then mapped from their frames back to
            the units of the boxes. Without boxes such a tokenizer returns
            each pose in its own frame (centre 0, larger side 1).

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_dims_ * n_keypoints_)
            Decoded keypoints flattened as ``x0, y0, x1, y1, ...``; every joint
            is present. This is the flat layout also when the tokenizer was
            fitted on ``(n, K, D)`` arrays: ``.reshape(-1, n_keypoints_,
            n_dims_)`` gives that shape back.
        """
        check_is_fitted(self)
        if self.encode == "ordinal":
            ids = self._check_tokens(X)
        else:
            ids = ids_from_features(self.encode, self._check_features(X), self.network_.config.n_tokens,
                                    self.codebook_, self.refinement_codebooks_)
        boxes = self._check_boxes(boxes, len(ids), self.n_dims_)
        if not len(ids):
            return np.empty((0, self.n_features_in_))
        return self.codec_.decode(ids, boxes=boxes)

    @_with_threads
    def score(self, X, y=None, boxes=None):
        """Negative mean per-joint reconstruction error, in the units of X.

        Only observed joints count; with ``normalize="pose"`` the error is
        measured in the per-pose frame. Higher is better, so
        :class:`~sklearn.model_selection.GridSearchCV` can tune the tokenizer
        without labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_dims * n_keypoints) or (n_samples, n_keypoints, n_dims)
            Poses to encode and decode.
        y : None
            Ignored.
        boxes : array-like of shape (n_samples, 2 * n_dims), default=None
            Person boxes, as in :meth:`transform`; the error is then measured in
            the frames they give.

        Returns
        -------
        score : float
            Minus the mean Euclidean distance between observed joints and their
            reconstruction.
        """
        total, count = 0.0, 0
        if is_out_of_core(X) and boxes is not None:
            raise ValueError("boxes are supported for in-memory poses only")

        def distances(block):
            keypoints, observed = self._normalised(block, boxes)
            return np.linalg.norm(self.codec_.residuals(keypoints, observed), axis=-1)[observed.numpy()]

        for dist in _by_block(distances, X, self.n_features_in_) if is_out_of_core(X) else [distances(X)]:
            total, count = total + float(dist.sum()), count + len(dist)
        return -total / count * self.scale_

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: ``token_0``, ``token_1``, ..., then ``refinement1_0``, ...

        ``refinement{s}_{k}`` is the id of keypoint ``k`` in refinement stage
        ``s``. Other encodings add a suffix: ``token_3_17`` is the one-hot
        column of code 17 at position 3, ``token_3_dim5`` dimension 5 of its
        code or latent vector.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored apart from validation against ``feature_names_in_``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if len(input_features) != self.n_features_in_:
                raise ValueError(
                    f"input_features has {len(input_features)} names, expected {self.n_features_in_}"
                )
            names_in = getattr(self, "feature_names_in_", None)
            if names_in is not None and not np.array_equal(input_features, names_in):
                raise ValueError("input_features is not equal to feature_names_in_")
        config = self.network_.config
        return feature_names(self.encode, config.n_tokens, config.codebook_size, config.token_dim,
                             self._n_refinement_stages, self.n_keypoints_, self.refinement_codebooks_.shape[2],
                             self.n_dims_)

    def save(self, path):
        """Write the fitted tokenizer to ``path`` in the safe ``.posetok`` format.

        The file holds JSON and tensors only and is written atomically; see
        :mod:`posetok.io`. Prefer it to joblib/pickle, which must only be
        loaded from trusted sources.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        path : pathlib.Path
        """
        return save_model(self, path)

    @classmethod
    def load(cls, path):
        """Read a tokenizer written by :meth:`save`; never executes code from the file.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        tokenizer : PoseTokenizer
        """
        return load_model(path, cls)

    @property
    def codebook_(self) -> np.ndarray:
        """The codes: shape (codebook_size, token_dim), row i is token id i; with ``codebooks="per_token"``
        shape (n_tokens, codebook_size, token_dim), ``codebook_[m, i]`` is id i at position m."""
        check_is_fitted(self)
        return self.network_.quantizer.codebook.numpy().copy()

    # -------------------------------------------------------------- helpers
    def _network_config(self, n_keypoints: int, n_dims: int) -> TokenizerConfig:
        return TokenizerConfig(
            n_keypoints=n_keypoints,
            n_dims=n_dims,
            n_tokens=self.n_tokens,
            token_dim=self.token_dim,
            codebook_size=self.codebook_size,
            encoder_width=self.encoder_width,
            encoder_depth=self.encoder_depth,
            decoder_width=self.decoder_width,
            decoder_depth=self.decoder_depth,
            token_mlp_width=self.token_mlp_width,
            dropout=self.dropout,
            per_token_codebooks=self.codebooks == "per_token",
        )

    @_with_threads
    def _reconstruct(self, X, boxes=None, latent=False):
        """Encode and decode validated poses X (n, n_dims_ * K); the poses in the units of X itself, also with
        ``normalize="pose"``.

        :meth:`inverse_transform` cannot do this for ``normalize="pose"``, since
        ids carry no position or size; here each pose's own frame (from its
        observed joints) maps the decoding back. Used by :class:`~posetok.PoseImputer`,
        which has validated X already. ``latent=True`` decodes the encoder's continuous token vectors
        instead of their nearest codes (and no refinement stage).
        """
        keypoints, observed = self._network_inputs(X, boxes)
        if latent:
            return self.codec_.decode_latent(keypoints, observed, X, boxes)
        return self.codec_.decode(self.codec_.encode(keypoints, observed)[0], X, boxes)

    @property
    def network_(self) -> PoseTokenizerNet:
        """The trained torch module, on the CPU (the fitted codec's network)."""
        check_is_fitted(self)
        return self.codec_.network

    @property
    def n_dims_(self) -> int:
        """Coordinates per keypoint of the fitted model."""
        check_is_fitted(self)
        return self.codec_.network.config.n_dims

    @property
    def refinement_codebooks_(self) -> np.ndarray:
        """The refinement codes, in the network's normalised units (the fitted codec's)."""
        check_is_fitted(self)
        return self.codec_.refinement_codebooks

    @property
    def normalizer_(self) -> PoseNormalizer:
        """The fitted normalisation (the fitted codec's)."""
        check_is_fitted(self)
        return self.codec_.normalizer

    @property
    def mean_(self) -> np.ndarray:
        """Per-coordinate mean of the training poses (in the per-pose frame with ``normalize="pose"``)."""
        return self.normalizer_.mean

    @property
    def scale_(self) -> float:
        """The one scale of the normalisation (isotropic)."""
        return self.normalizer_.scale

    @property
    def normalize_(self) -> str:
        """The ``normalize`` the model was fitted with."""
        return self.normalizer_.mode

    @property
    def _n_refinement_stages(self) -> int:
        # the fitted stages, not the parameter, which set_params may have changed since fit
        return self.refinement_codebooks_.shape[0]

    def _bits_per_pose(self) -> float:
        """Bits of one pose's ids, from the fitted model (not parameters changed since)."""
        n_stages, n_keypoints, n_refinement_codes, _ = self.refinement_codebooks_.shape
        config = self.network_.config
        refinement = n_stages * n_keypoints * np.log2(n_refinement_codes)
        return float(config.n_tokens * np.log2(config.codebook_size) + refinement)

    def _fitted_params(self) -> dict:
        """The parameters that define the fitted model, as it was fitted.

        ``set_params`` after fit changes the parameters but not the model
        (as in scikit-learn); :mod:`posetok.io` saves these values.
        """
        config = self.network_.config
        n_stages, _, n_refinement_codes, _ = self.refinement_codebooks_.shape
        return {
            "n_tokens": config.n_tokens, "codebook_size": config.codebook_size, "token_dim": config.token_dim,
            "encoder_width": config.encoder_width, "encoder_depth": config.encoder_depth,
            "decoder_width": config.decoder_width, "decoder_depth": config.decoder_depth,
            "token_mlp_width": config.token_mlp_width, "dropout": config.dropout,
            "refinement_stages": n_stages, "refinement_codebook_size": n_refinement_codes,
            "normalize": self.normalize_,
            # "auto" stays "auto" (it read the fitted n_dims_ from X); another value is replaced
            "n_dims": self.n_dims if self.n_dims in ("auto", config.n_dims) else config.n_dims,
        }

    def _fit_refinement_shared(self, net, keypoints, observed, seed, comm) -> np.ndarray:
        """Refinement codebooks from a sample of poses (of every rank): rank 0 fits, the others receive."""
        _, n_keypoints, n_dims = keypoints.shape
        shape = (self.refinement_stages, n_keypoints, self.refinement_codebook_size, n_dims)
        if not self.refinement_stages:
            return np.zeros(shape)
        residuals = comm.gather_rows(token_residuals(net, keypoints, encode(net, keypoints, observed)))
        observed = comm.gather_rows(observed.numpy().astype(np.int64)).astype(bool)
        codebooks = np.zeros(shape)
        if comm.is_main:
            codebooks = fit_residual_codebooks(residuals, observed, self.refinement_stages,
                                               self.refinement_codebook_size, seed)
        return comm.broadcast_(torch.as_tensor(codebooks)).numpy()

    def _fit_refinement(self, net, keypoints, observed, ids, seed) -> np.ndarray:
        """Refinement codebooks fitted to the training poses' residuals after decoding ``ids``."""
        _, n_keypoints, n_dims = keypoints.shape
        if not self.refinement_stages:
            return np.zeros((0, n_keypoints, self.refinement_codebook_size, n_dims))
        return fit_residual_codebooks(
            token_residuals(net, keypoints, ids), observed, self.refinement_stages, self.refinement_codebook_size, seed
        )

    def _pretrain_epochs(self) -> int:
        if self.pretrain_epochs != "auto":
            return self.pretrain_epochs
        return self.n_epochs // 2 if self.strategy == "staged" else 0

    def _normalised(self, X, boxes=None):
        """The network's inputs (keypoints, observed mask) for poses X (and boxes) as the user gives them."""
        X = self._validated(X)
        return self._network_inputs(X, self._check_boxes(boxes, len(X), self.n_dims_))

    def _validated(self, X):
        check_is_fitted(self)
        X, _ = _flatten_keypoints(X, self.n_dims_)
        return validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)

    def _network_inputs(self, X, boxes=None):
        """The network's inputs for validated poses X (n, n_dims_ * K) and boxes."""
        return _network_input(self.normalizer_.transform(X, boxes), _observed_mask(X, self.n_dims_))

    def _check_features(self, X):
        """Features of a non-ordinal encoding as a 2-D float array or sparse matrix."""
        if sp.issparse(X):
            return X.tocsr()
        if hasattr(X, "to_numpy"):
            X = X.to_numpy()
        X = np.asarray(X)
        if X.dtype.kind not in "iuf":
            raise TypeError(f"{self.encode!r} features must be numbers, got an array of dtype {X.dtype}")
        if X.ndim != 2:
            raise ValueError(f"{self.encode!r} features must be a 2-D array, got shape {X.shape}")
        return X

    def _check_tokens(self, X):
        if hasattr(X, "to_numpy"):
            X = X.to_numpy()
        ids = np.asarray(X)
        if ids.dtype.kind not in "iuf":  # booleans, strings and objects are not ids
            raise TypeError(f"token ids must be integers, got an array of dtype {ids.dtype}")
        n_stages, _, n_refinement_codes, _ = self.refinement_codebooks_.shape
        n_tokens, codebook_size = self.network_.config.n_tokens, self.network_.config.codebook_size
        widths = [n_tokens + s * self.n_keypoints_ for s in range(n_stages + 1)]
        if ids.ndim != 2 or ids.shape[1] not in widths:
            expected = f"(n_samples, {n_tokens})"
            if n_stages:
                expected = (
                    f"(n_samples, n_tokens + s * n_keypoints_) = (n_samples, one of {widths}): "
                    f"{n_tokens} token ids and up to {n_stages} refinement stage(s) "
                    f"of {self.n_keypoints_} ids"
                )
            raise ValueError(f"token ids must have shape {expected}, got {ids.shape}")
        if ids.dtype.kind == "f":
            if not np.all(np.isfinite(ids)) or np.any(ids != np.round(ids)):
                raise ValueError("token ids must be whole numbers; got non-integral or non-finite floats")
        for what, part, size in (
            ("token ids", ids[:, : n_tokens], codebook_size),
            ("refinement ids", ids[:, n_tokens :], n_refinement_codes),
        ):
            if part.size and (part.min() < 0 or part.max() >= size):
                raise ValueError(f"{what} must lie in [0, {size}); got values from {part.min()} to {part.max()}")
        return ids.astype(np.int64)
