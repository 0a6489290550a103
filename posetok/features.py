"""Output encodings of token ids: what :class:`~posetok.PoseTokenizer` hands a classifier.

``PoseTokenizer(encode=...)`` picks one, in the spirit of scikit-learn's
``KBinsDiscretizer(encode=...)``:

- ``"ordinal"``: the integer ids themselves (the compact code, for storage,
  language models and :class:`~posetok.video.BagOfTokens`);
- ``"onehot"`` / ``"onehot-dense"``: one column per (token position, code),
  as a sparse or dense matrix;
- ``"codes"``: each token replaced by its code vector, so that similar codes
  give similar features (``n_tokens * token_dim`` floats);
- ``"latent"``: the encoder's continuous token vectors before quantization,
  the codes plus the detail that quantization drops.

Refinement ids (``refinement_stages > 0``) follow the token part: one-hot over
each keypoint's refinement codebook, or the chosen correction itself (its ``n_dims``
coordinates) in
``"codes"`` and ``"latent"``.

Every encoding can be turned back into ids (:func:`ids_from_features`), so
``inverse_transform`` accepts the output of ``transform`` whatever the encoding:
one-hot rows by their one active column per block, code vectors and latent
vectors by their nearest code (for ``"latent"`` this is the quantization
``transform`` itself would apply). This module knows numpy and torch, not
scikit-learn estimators.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from .nn import nearest_code
from .refinement import nearest_per_keypoint

__all__ = ["ENCODINGS", "features_from_ids", "ids_from_features", "feature_names"]

ENCODINGS = ("ordinal", "onehot", "onehot-dense", "codes", "latent")


def _onehot(ids, n_codes):
    """Sparse (n, n_columns * n_codes) indicator of integer ids (n, n_columns)."""
    n, n_columns = ids.shape
    cols = (np.arange(n_columns) * n_codes + ids).ravel()
    rows = np.repeat(np.arange(n), n_columns)
    return sp.csr_matrix((np.ones(n * n_columns), (rows, cols)), shape=(n, n_columns * n_codes))


def features_from_ids(encoding, ids, n_tokens, codebook, refinement_codebooks, latent=None):
    """Encode ids ``(n, n_tokens + s * K)`` as ``encoding``.

    Parameters
    ----------
    encoding : str
        One of :data:`ENCODINGS`.
    ids : ndarray of shape (n, n_tokens + s * K), int64
        Token ids, then the refinement ids of ``s`` whole stages.
    n_tokens : int
    codebook : ndarray of shape (V, D), or (n_tokens, V, D) for one codebook per token position
    refinement_codebooks : ndarray of shape (S, K, R, n_dims)
    latent : ndarray of shape (n, n_tokens, D), default=None
        The continuous token vectors, needed for ``"latent"`` only.

    Returns
    -------
    features : ndarray or scipy.sparse.csr_matrix of shape (n, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> codebook = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> no_refinement = np.zeros((0, 1, 2, 2))
    >>> ids = np.array([[2, 0]])
    >>> features_from_ids("onehot-dense", ids, 2, codebook, no_refinement)
    array([[0., 0., 1., 1., 0., 0.]])
    >>> features_from_ids("codes", ids, 2, codebook, no_refinement)
    array([[4., 5., 0., 1.]])
    """
    if encoding == "ordinal":
        return ids
    tokens, refinement = ids[:, :n_tokens], ids[:, n_tokens:]
    n = len(ids)
    books = _per_position(codebook, n_tokens)
    if encoding in ("onehot", "onehot-dense"):
        n_codes = refinement_codebooks.shape[2]
        blocks = [_onehot(tokens, books.shape[1])]
        if refinement.shape[1]:
            blocks.append(_onehot(refinement, n_codes))
        out = sp.hstack(blocks, format="csr")
        return out if encoding == "onehot" else out.toarray()
    if encoding == "codes":
        token_part = books[np.arange(n_tokens), tokens].reshape(n, -1)
    elif encoding == "latent":
        if latent is None:
            raise ValueError("the 'latent' encoding needs the continuous token vectors")
        token_part = np.asarray(latent, dtype=np.float64).reshape(n, -1)
    else:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    parts = [token_part.astype(np.float64)]
    if refinement.shape[1]:
        n_keypoints = refinement_codebooks.shape[1]
        stages = refinement.reshape(n, -1, n_keypoints)
        offsets = [
            refinement_codebooks[s][np.arange(n_keypoints), stages[:, s]] for s in range(stages.shape[1])
        ]  # each (n, K, n_dims)
        parts.append(np.stack(offsets, 1).reshape(n, -1))
    return np.hstack(parts)


def _ids_from_onehot(block, n_codes, what):
    n, width = block.shape
    dense = block.toarray() if sp.issparse(block) else np.asarray(block)
    if not np.all(np.isfinite(dense)):
        raise ValueError(f"one-hot {what} must be finite")
    grouped = dense.reshape(n, width // n_codes, n_codes)
    if not (np.isin(grouped, (0, 1)).all() and (grouped.sum(-1) == 1).all()):
        raise ValueError(
            f"one-hot {what} must hold exactly one 1 (and zeros) in each block of {n_codes} columns"
        )
    return grouped.argmax(-1)


def _per_position(codebook, n_tokens):
    """The codebook of each token position, (n_tokens, V, D): a shared codebook (V, D) repeated (a view)."""
    return codebook if codebook.ndim == 3 else np.broadcast_to(codebook, (n_tokens, *codebook.shape))


def _nearest(vectors, codebook):
    """Nearest row of ``codebook`` (V, d) for each row of ``vectors`` (n, d), exact, float64."""
    if not len(vectors):
        return np.zeros(0, dtype=np.int64)
    return nearest_code(torch.as_tensor(vectors, dtype=torch.float64),
                        torch.as_tensor(codebook, dtype=torch.float64)).numpy()


def ids_from_features(encoding, X, n_tokens, codebook, refinement_codebooks):
    """Invert :func:`features_from_ids`: ids ``(n, n_tokens + s * K)`` of features ``X``.

    The number of refinement stages ``s`` is read from the width of ``X``; a
    width that fits no whole number of stages is refused with a ValueError.

    Examples
    --------
    >>> import numpy as np
    >>> codebook = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> no_refinement = np.zeros((0, 1, 2, 2))
    >>> ids_from_features("codes", np.array([[3.9, 5.2, 0.1, 0.9]]), 2, codebook, no_refinement)
    array([[2, 0]])
    """
    n_stages, n_keypoints, n_refinement_codes, n_dims = refinement_codebooks.shape
    books = _per_position(codebook, n_tokens)
    n_codes, token_dim = books.shape[1:]
    onehot = encoding in ("onehot", "onehot-dense")
    token_width = n_tokens * (n_codes if onehot else token_dim)
    stage_width = n_keypoints * (n_refinement_codes if onehot else n_dims)
    widths = [token_width + s * stage_width for s in range(n_stages + 1)]
    n = X.shape[0]
    if X.ndim != 2 or X.shape[1] not in widths:
        raise ValueError(
            f"{encoding!r} features must have shape (n_samples, one of {widths}) (tokens, then up to "
            f"{n_stages} refinement stage(s)), got {X.shape}"
        )
    stages = (X.shape[1] - token_width) // stage_width
    if onehot:
        tokens = _ids_from_onehot(X[:, :token_width], n_codes, "token columns")
        refinement = (
            _ids_from_onehot(X[:, token_width:], n_refinement_codes, "refinement columns")
            if stages else np.zeros((n, 0), dtype=np.int64)
        )
        return np.hstack([tokens, refinement]).astype(np.int64)
    X = np.asarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{encoding!r} features must be finite")
    vectors = X[:, :token_width].reshape(n, n_tokens, token_dim)
    if codebook.ndim == 2:  # one search of the shared codebook for every position
        tokens = _nearest(vectors.reshape(-1, token_dim), codebook).reshape(n, n_tokens)
    else:
        tokens = np.stack([_nearest(vectors[:, m], codebook[m]) for m in range(n_tokens)], 1).reshape(n, n_tokens)
    offsets = X[:, token_width:].reshape(n, stages, n_keypoints, n_dims)
    # each stage's corrections by the refinement's own per-keypoint search
    refinement = [nearest_per_keypoint(offsets[:, s], refinement_codebooks[s]) for s in range(stages)]
    return np.hstack([tokens, *refinement]).astype(np.int64)


def feature_names(encoding, n_tokens, codebook_size, token_dim, n_stages, n_keypoints, refinement_codebook_size,
                  n_dims):
    """Output column names of ``encoding``.

    ``token_{m}`` (ordinal), ``token_{m}_{c}`` (one-hot: code c at position m),
    ``token_{m}_dim{d}`` (codes and latent); refinement columns likewise with
    ``refinement{s}_{k}`` for keypoint k of stage s (``_dim0``, ``_dim1``, ... for
    the ``n_dims`` coordinates of its correction).

    Examples
    --------
    >>> feature_names("onehot", 1, 2, 3, 0, 1, 4, 2).tolist()
    ['token_0_0', 'token_0_1']
    >>> feature_names("codes", 1, 2, 2, 1, 1, 4, 2).tolist()
    ['token_0_dim0', 'token_0_dim1', 'refinement1_0_dim0', 'refinement1_0_dim1']
    """
    tokens = [f"token_{m}" for m in range(n_tokens)]
    refinement = [f"refinement{s + 1}_{k}" for s in range(n_stages) for k in range(n_keypoints)]
    if encoding == "ordinal":
        names = tokens + refinement
    elif encoding in ("onehot", "onehot-dense"):
        names = [f"{t}_{c}" for t in tokens for c in range(codebook_size)]
        names += [f"{r}_{c}" for r in refinement for c in range(refinement_codebook_size)]
    else:
        names = [f"{t}_dim{d}" for t in tokens for d in range(token_dim)]
        names += [f"{r}_dim{d}" for r in refinement for d in range(n_dims)]
    return np.asarray(names, dtype=object)
