"""A safe file format for fitted tokenizers.

A ``.posetok`` file is a zip archive with two members:

- ``model.json``: the format name and version, the posetok version that
  wrote it, the estimator's parameters and its fitted attributes;
- ``state.pt``: the network's tensors and (from format version 2) the
  refinement codebooks under ``"refinement_codebooks"``, read back with
  ``torch.load(..., weights_only=True)``, which never runs code from the file.

Format version 3 adds the ``n_dims`` parameter (coordinates per keypoint);
files of versions 1 and 2, written before it existed, hold 2-D models and
load as such. Format version 4 adds the ``codebooks`` parameter (a codebook
per token position, ``codebook`` of shape ``(n_tokens, V, D)`` in
``state.pt``); older files hold one shared codebook and load as such.

Unlike joblib or pickle files, a ``.posetok`` file from an untrusted source
cannot execute code when loaded.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from ._version import __version__

__all__ = ["save", "load", "FORMAT_VERSION"]

FORMAT_NAME = "posetok-tokenizer"
FORMAT_VERSION = 4
"""Version of the file layout written; versions 1 (no refinement), 2 (2-D only), 3 (one shared
codebook) and 4 are read, others refused."""

_READABLE_VERSIONS = (1, 2, 3, 4)
_REFINEMENT_KEY = "refinement_codebooks"

_FITTED = ("n_features_in_", "n_keypoints_", "n_dims_", "mean_", "scale_", "history_", "codebook_usage_", "device_",
           "fit_time_", "fitted_with_boxes_")


def _target(path) -> Path:
    """The regular file that ``save`` writes: through a symbolic link to its target; never a device."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not str(path):
        raise ValueError("path is empty; give the name of the .posetok file to write")
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()  # replace the file the link points to, and keep the link
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a device, socket or pipe)"
        raise ValueError(f"cannot save to {path}: it is {kind}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: the folder {path.parent} does not exist")
    return path


def save(tokenizer, path) -> Path:
    """Write a fitted :class:`~posetok.PoseTokenizer` to ``path`` atomically.

    The file is first written beside ``path`` under a temporary name and then
    renamed, so a crash never leaves a half-written file under the final name.
    The file is built in memory and, on Linux, written as an anonymous file
    that only gets its hidden temporary name (``.NAME.*.tmp``) just before
    the rename, so a killed process leaves nothing behind (elsewhere at most
    that temporary file, safe to delete). A symbolic link is
    followed: the file it points to is replaced and the link stays. A path
    that is a folder or a device is refused.

    Parameters
    ----------
    tokenizer : fitted PoseTokenizer
    path : str or os.PathLike

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> import tempfile, os
    >>> from posetok import PoseTokenizer
    >>> from posetok.datasets import make_stick_figures
    >>> from posetok.io import save
    >>> X, _ = make_stick_figures(200, random_state=0)
    >>> tok = PoseTokenizer(n_tokens=2, codebook_size=8, n_epochs=1, random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = save(tok, os.path.join(d, "tok.posetok"))
    ...     (PoseTokenizer.load(path).transform(X) == tok.transform(X)).all()
    np.True_
    """
    from sklearn.utils.validation import check_is_fitted

    # what only a PoseTokenizer has (io sits below tokenizer: importing it here would be a cycle)
    if not callable(getattr(tokenizer, "_fitted_params", None)):
        raise TypeError(
            f"posetok.io.save writes a PoseTokenizer, got {type(tokenizer).__name__}; "
            "save other estimators (a PoseImputer, a Pipeline) with joblib.dump"
        )
    check_is_fitted(tokenizer)
    path = _target(path)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "posetok_version": __version__,
        # the parameters as fitted: set_params after fit changes neither the model nor the file
        "params": _to_json({**tokenizer.get_params(), **tokenizer._fitted_params()}),
        "fitted": {name: _to_json(getattr(tokenizer, name)) for name in _FITTED},
    }
    output = getattr(tokenizer, "_sklearn_output_config", {}).get("transform")
    if output is not None:
        meta["output"] = output  # set_output(transform=...) survives the round trip
    if hasattr(tokenizer, "feature_names_in_"):
        meta["fitted"]["feature_names_in_"] = [str(n) for n in tokenizer.feature_names_in_]
    tensors = io.BytesIO()
    state = dict(tokenizer.network_.state_dict())
    state[_REFINEMENT_KEY] = torch.as_tensor(tokenizer.refinement_codebooks_)
    torch.save(state, tensors)
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.json", json.dumps(meta, indent=1))
        zf.writestr("state.pt", tensors.getvalue())
    _write_atomically(path, content.getvalue())
    return path


def _write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to a new file and rename it over ``path``.

    The whole file is built in memory first, so the temporary file only lives
    for one write and fsync. On Linux it is first an anonymous file
    (``O_TMPFILE``) that vanishes if the process is killed, and gets a name
    only just before the rename.
    """
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask  # the permissions of any new file, not mkstemp's 0600
    tmp = path.parent / f".{path.name}.{os.getpid()}.{id(content):x}.tmp"
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY, mode)
    except (AttributeError, OSError):  # not Linux, or a file system without O_TMPFILE
        fd = None
    if fd is not None:
        try:
            _write_all(fd, content)
            os.link(f"/proc/self/fd/{fd}", tmp, follow_symlinks=True)
            linked = True
        except OSError:  # e.g. no /proc: the named temporary file below
            linked = False
        finally:
            os.close(fd)
        if linked:
            _replace(tmp, path)
            return
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        os.fchmod(fd, mode)
        _write_all(fd, content)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    _replace(tmp, path)


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# Caps checked before anything is read or allocated: a real model.json is a few kB to a
# few MB (the history grows with epochs); the largest real models are tens of MB.
MAX_JSON_BYTES = 16 * 2**20
MAX_STATE_BYTES = 1024 * 2**20

_META_KEYS = {"format", "format_version", "posetok_version", "params", "fitted", "output"}
_OUTPUTS = ("default", "pandas", "polars")
_REQUIRED_FITTED = {"n_features_in_", "n_keypoints_", "mean_", "scale_"}  # and n_dims_ from version 3
# what save writes beyond those (feature_names_in_ only when the tokenizer has them); n_dims_ is
# neither: required from version 3, unknown before
_OPTIONAL_FITTED = set(_FITTED) - _REQUIRED_FITTED - {"n_dims_"} | {"feature_names_in_"}


def _refuse(path, what):
    raise ValueError(f"{path}: {what}")


def _read_members(path):
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {info.filename: info for info in zf.infolist()}
            if not {"model.json", "state.pt"} <= infos.keys():
                _refuse(path, "not a posetok model file (no model.json and state.pt inside)")
            for name, cap in (("model.json", MAX_JSON_BYTES), ("state.pt", MAX_STATE_BYTES)):
                if infos[name].file_size > cap:
                    _refuse(path, f"{name} is {infos[name].file_size} bytes, more than a model can need ({cap})")
            return zf.read("model.json"), zf.read("state.pt")
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a posetok model file, or it is truncated or damaged ({exc})") from exc


def _from_json_param(value):
    if isinstance(value, dict) and set(value) == {"RandomState"}:
        state = value["RandomState"]
        if not (isinstance(state, list) and len(state) == 5 and isinstance(state[1], list)
                and len(state[1]) == 624 and all(isinstance(v, int) and 0 <= v < 2**32 for v in state[1])):
            raise ValueError("random_state: a malformed RandomState state")
        rng = np.random.RandomState()
        rng.set_state((str(state[0]), np.asarray(state[1], dtype=np.uint32), int(state[2]), int(state[3]),
                       float(state[4])))
        return rng
    return value


def _check_params(path, params, estimator_class):
    from sklearn.utils._param_validation import InvalidParameterError

    if not isinstance(params, dict):
        _refuse(path, "params must be a JSON object")
    known = estimator_class().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        _refuse(path, f"unknown parameter {unknown[0]!r} in params")
    for name, value in params.items():
        # JSON true/false are Python bools, which are also ints: refuse them where a number belongs
        if isinstance(value, bool) and not isinstance(known[name], bool) and name != "verbose":
            _refuse(path, f"invalid params: {name} must be a number, got {value!r}")
    try:
        params = {k: _from_json_param(v) if k == "random_state" else v for k, v in params.items()}
        tok = estimator_class(**params)
        tok._validate_params()
    except (InvalidParameterError, ValueError, TypeError) as exc:
        _refuse(path, f"invalid params: {exc}")
    return tok


def _is_int(value, low):
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _check_fitted(path, fitted, version, n_dims_param):
    """Each fitted attribute by name, type, range and shape; returns them converted."""
    if not isinstance(fitted, dict):
        _refuse(path, "fitted must be a JSON object")
    keys = set(fitted)
    # n_dims_ came with format version 3 and is required there; older files hold 2-D models without it
    required = _REQUIRED_FITTED | ({"n_dims_"} if version >= 3 else set())
    if not required <= keys:
        _refuse(path, f"fitted lacks {sorted(required - keys)[0]!r}")
    if keys - required - _OPTIONAL_FITTED:
        _refuse(path, f"unknown fitted attribute {sorted(keys - required - _OPTIONAL_FITTED)[0]!r}")
    n_dims = fitted.get("n_dims_", 2)
    if not _is_int(n_dims, 1):
        _refuse(path, f"n_dims_ must be a positive integer, got {n_dims!r}")
    if n_dims_param not in ("auto", n_dims):
        _refuse(path, f"params say n_dims={n_dims_param!r}, but the model was fitted with n_dims_={n_dims}")
    n_features, n_keypoints = fitted["n_features_in_"], fitted["n_keypoints_"]
    if not _is_int(n_keypoints, 1):
        _refuse(path, f"n_keypoints_ must be a positive integer, got {n_keypoints!r}")
    if n_features != n_dims * n_keypoints or not _is_int(n_features, 1):
        _refuse(path, f"n_features_in_ must be n_dims * n_keypoints_ = {n_dims * n_keypoints}, got {n_features!r}")
    mean = fitted["mean_"]
    if not (isinstance(mean, list) and len(mean) == n_features and all(_is_number(v) for v in mean)):
        _refuse(path, f"mean_ must be a list of {n_features} finite numbers")
    if not (_is_number(fitted["scale_"]) and fitted["scale_"] > 0):
        _refuse(path, f"scale_ must be a finite positive number, got {fitted['scale_']!r}")
    out = {"n_features_in_": n_features, "n_keypoints_": n_keypoints, "n_dims_": n_dims,
           "mean_": np.asarray(mean, dtype=float), "scale_": float(fitted["scale_"])}
    history = fitted.get("history_", [])
    if not (isinstance(history, list) and all(isinstance(r, dict) for r in history)):
        _refuse(path, "history_ must be a list of objects")
    out["history_"] = history
    usage = fitted.get("codebook_usage_", float("nan"))
    if not (isinstance(usage, int | float) and not isinstance(usage, bool) and (0 <= usage <= 1 or usage != usage)):
        _refuse(path, f"codebook_usage_ must be a number in [0, 1], got {usage!r}")
    out["codebook_usage_"] = float(usage)
    device = fitted.get("device_", "cpu")
    if not isinstance(device, str) or len(device) > 64:
        _refuse(path, f"device_ must be a short string, got {device!r}")
    out["device_"] = device
    fit_time = fitted.get("fit_time_", 0.0)
    if not (_is_number(fit_time) and fit_time >= 0):
        _refuse(path, f"fit_time_ must be a non-negative number, got {fit_time!r}")
    out["fit_time_"] = float(fit_time)
    with_boxes = fitted.get("fitted_with_boxes_", False)  # written since boxes= exists; before, never
    if not isinstance(with_boxes, bool):
        _refuse(path, f"fitted_with_boxes_ must be true or false, got {with_boxes!r}")
    out["fitted_with_boxes_"] = with_boxes
    if "feature_names_in_" in fitted:
        names = fitted["feature_names_in_"]
        if not (isinstance(names, list) and len(names) == n_features and all(isinstance(n, str) for n in names)):
            _refuse(path, f"feature_names_in_ must be a list of {n_features} strings")
        out["feature_names_in_"] = np.asarray(names, dtype=object)
    return out


def _check_state(path, state, config, expected_refinement):
    """The tensors against the network ``config`` describes, without allocating it."""
    from .nn import PoseTokenizerNet

    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        _refuse(path, "state.pt must hold a dictionary of tensors")
    for part, depth in (("encoder", config.encoder_depth), ("decoder", config.decoder_depth)):
        found = {k.split(".")[2] for k in state if k.startswith(f"{part}.blocks.")}
        if found != {str(i) for i in range(len(found))} or len(found) != depth:
            _refuse(path, f"params say {part}_depth={depth}, the tensors hold {len(found)} {part} blocks")
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated for the sizes the file claims
            expected = {k: tuple(v.shape) for k, v in PoseTokenizerNet(config).state_dict().items()}
    except (RuntimeError, TypeError, ValueError, OverflowError) as exc:
        _refuse(path, f"the params describe a network that cannot be built: {exc}")
    expected[_REFINEMENT_KEY] = expected_refinement
    if set(state) != set(expected) - ({_REFINEMENT_KEY} if _REFINEMENT_KEY not in state else set()):
        missing = sorted(set(expected) - set(state) - {_REFINEMENT_KEY})
        extra = sorted(set(state) - set(expected))
        _refuse(path, f"the tensors do not fit the model the params describe: missing {missing[:3]}, "
                      f"unexpected {extra[:3]}")
    for key, tensor in state.items():
        if tuple(tensor.shape) != expected[key]:
            _refuse(path, f"tensor {key!r} has shape {tuple(tensor.shape)}, the params describe {expected[key]}")
        if not tensor.is_floating_point():
            _refuse(path, f"tensor {key!r} must hold floats, got {tensor.dtype}")
        if not torch.isfinite(tensor).all():
            _refuse(path, f"tensor {key!r} holds NaN or infinite values")


def load(path, estimator_class=None):
    """Read a tokenizer written by :func:`save`; never executes code from the file.

    Every field is checked (type, range, shape) before anything is built, and
    sizes are checked before anything is allocated. Use
    :meth:`posetok.PoseTokenizer.load`, which passes its class here (so that
    this module never imports the estimator layer).

    Parameters
    ----------
    path : str or os.PathLike
    estimator_class : type
        :class:`~posetok.PoseTokenizer`, or a subclass.

    Returns
    -------
    tokenizer : PoseTokenizer
        Fitted, with its network on the CPU.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a posetok model, is truncated or damaged, was
        written in another format version, or any field is out of place; the
        message names the field.
    """
    from .codec import PoseCodec
    from .nn import PoseTokenizerNet
    from .normalization import PoseNormalizer

    if estimator_class is None:
        raise TypeError("posetok.io.load needs the estimator class; call PoseTokenizer.load(path) instead")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such posetok model file: {path}")
    json_bytes, state_bytes = _read_members(path)
    try:
        meta = json.loads(json_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: model.json is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a posetok model file")
    if meta.get("format_version") not in _READABLE_VERSIONS or isinstance(meta.get("format_version"), bool):
        raise ValueError(
            f"{path} was written by posetok {meta.get('posetok_version')} in file format version "
            f"{meta.get('format_version')}; posetok {__version__} reads versions "
            f"{', '.join(map(str, _READABLE_VERSIONS))} only"
        )
    if set(meta) - _META_KEYS:
        _refuse(path, f"unknown field {sorted(set(meta) - _META_KEYS)[0]!r} in model.json")
    if meta.get("output", "default") not in _OUTPUTS:
        _refuse(path, f"output must be one of {_OUTPUTS}, got {meta.get('output')!r}")
    tok = _check_params(path, meta.get("params"), estimator_class)
    if meta["format_version"] < 3 and "n_dims" in meta["params"]:
        _refuse(path, f"n_dims is not a parameter of file format version {meta['format_version']} (2-D models only)")
    if meta["format_version"] < 4 and "codebooks" in meta["params"]:
        _refuse(path, f"codebooks is not a parameter of file format version {meta['format_version']} "
                "(one shared codebook only)")
    fitted = _check_fitted(path, meta.get("fitted"), meta["format_version"], tok.n_dims)
    n_keypoints, n_dims = fitted["n_keypoints_"], fitted["n_dims_"]
    config = tok._network_config(n_keypoints, n_dims)
    try:
        state = torch.load(io.BytesIO(state_bytes), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"the tensors in {path} cannot be read: {exc}") from exc
    expected_refinement = (tok.refinement_stages, n_keypoints, tok.refinement_codebook_size, n_dims)
    _check_state(path, state, config, expected_refinement)
    refinement = state.pop(_REFINEMENT_KEY, torch.zeros(expected_refinement))
    net = PoseTokenizerNet(config)
    net.load_state_dict(state)
    for name, value in fitted.items():  # only the attributes _check_fitted knows and checked
        if name not in ("mean_", "scale_", "n_dims_"):  # these live in the normaliser and the network
            setattr(tok, name, value)
    normalizer = PoseNormalizer(tok.normalize, fitted["mean_"], fitted["scale_"], n_dims)
    tok.codec_ = PoseCodec(net.eval(), refinement.double().numpy(), normalizer)
    tok.bits_per_pose_ = tok._bits_per_pose()
    if "output" in meta:
        tok.set_output(transform=meta["output"])
    return tok


def _to_json(value):
    if isinstance(value, np.random.RandomState):
        name, keys, pos, has_gauss, gauss = value.get_state()
        return {"RandomState": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)]}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_, np.str_)):
        return value.item()
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value
