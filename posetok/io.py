"""A safe file format for fitted tokenizers.

A ``.posetok`` file is a zip archive with two members:

- ``model.json``: the format name and version, the posetok version that
  wrote it, the estimator's parameters and its fitted attributes;
- ``state.pt``: the network's tensors and (from format version 2) the
  refinement codebooks under ``"refinement_codebooks"``, read back with
  ``torch.load(..., weights_only=True)``, which never runs code from the file.

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

__all__ = ["save", "load", "FORMAT_VERSION"]

FORMAT_NAME = "posetok-tokenizer"
FORMAT_VERSION = 2
"""Version of the file layout written; versions 1 (no refinement) and 2 are read, others refused."""

_READABLE_VERSIONS = (1, 2)
_REFINEMENT_KEY = "refinement_codebooks"

_FITTED = ("n_features_in_", "n_keypoints_", "mean_", "scale_", "history_", "codebook_usage_", "device_", "fit_time_")


def save(tokenizer, path) -> Path:
    """Write a fitted :class:`~posetok.PoseTokenizer` to ``path`` atomically.

    The file is first written beside ``path`` under a temporary name and then
    renamed, so a crash never leaves a half-written file under the final name.

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
    >>> from posetok.io import save, load
    >>> X, _ = make_stick_figures(200, random_state=0)
    >>> tok = PoseTokenizer(n_tokens=2, codebook_size=8, n_epochs=1, random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = save(tok, os.path.join(d, "tok.posetok"))
    ...     (load(path).transform(X) == tok.transform(X)).all()
    np.True_
    """
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    check_is_fitted(tokenizer)
    path = Path(path)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "posetok_version": __version__,
        # the parameters as fitted: set_params after fit changes neither the model nor the file
        "params": {**tokenizer.get_params(), **tokenizer._fitted_params()},
        "fitted": {name: _to_json(getattr(tokenizer, name)) for name in _FITTED},
    }
    if hasattr(tokenizer, "feature_names_in_"):
        meta["fitted"]["feature_names_in_"] = [str(n) for n in tokenizer.feature_names_in_]
    tensors = io.BytesIO()
    state = dict(tokenizer.network_.state_dict())
    state[_REFINEMENT_KEY] = torch.as_tensor(tokenizer.refinement_codebooks_)
    torch.save(state, tensors)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("model.json", json.dumps(meta, indent=1))
                zf.writestr("state.pt", tensors.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path):
    """Read a tokenizer written by :func:`save`; never executes code from the file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    tokenizer : PoseTokenizer
        Fitted, with its network on the CPU.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a posetok model, is truncated or damaged, or was
        written in another format version.
    """
    from . import __version__
    from .nn import PoseTokenizerNet
    from .tokenizer import PoseTokenizer

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such posetok model file: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if not {"model.json", "state.pt"} <= names:
                raise ValueError(f"{path} is not a posetok model file (no model.json and state.pt inside)")
            meta = json.loads(zf.read("model.json"))
            state_bytes = zf.read("state.pt")
    except (zipfile.BadZipFile, EOFError, json.JSONDecodeError, zipfile.LargeZipFile) as exc:
        raise ValueError(f"{path} is not a posetok model file, or it is truncated or damaged ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a posetok model file")
    if meta.get("format_version") not in _READABLE_VERSIONS:
        raise ValueError(
            f"{path} was written by posetok {meta.get('posetok_version')} in file format version "
            f"{meta.get('format_version')}; posetok {__version__} reads versions "
            f"{', '.join(map(str, _READABLE_VERSIONS))} only"
        )
    try:
        state = torch.load(io.BytesIO(state_bytes), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"the tensors in {path} cannot be read: {exc}") from exc
    tok = PoseTokenizer(**meta["params"])
    fitted = meta["fitted"]
    n_keypoints = fitted["n_keypoints_"]
    net = PoseTokenizerNet(tok._network_config(n_keypoints))
    refinement = state.pop(_REFINEMENT_KEY, torch.zeros((0, n_keypoints, tok.refinement_codebook_size, 2)))
    expected = (tok.refinement_stages, n_keypoints, tok.refinement_codebook_size, 2)
    try:
        net.load_state_dict(state)
        if tuple(refinement.shape) != expected:
            raise RuntimeError(f"refinement codebooks of shape {tuple(refinement.shape)}, expected {expected}")
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ValueError(f"the tensors in {path} do not fit the model it describes: {exc}") from exc
    for name, value in fitted.items():
        if name == "mean_":
            value = np.asarray(value, dtype=float)
        elif name == "feature_names_in_":
            value = np.asarray(value, dtype=object)
        setattr(tok, name, value)
    tok.network_ = net.eval()
    tok.normalize_ = tok.normalize
    tok.refinement_codebooks_ = refinement.double().numpy()
    tok.bits_per_pose_ = tok._bits_per_pose()
    return tok


def _to_json(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value
