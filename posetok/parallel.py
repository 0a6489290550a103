"""Tokenize where the data lives: a fitted tokenizer over Dask arrays and DataFrames.

:func:`dask_transform` (and :func:`dask_inverse_transform`) apply a fitted
:class:`~posetok.PoseTokenizer` to a Dask array or DataFrame block by block,
lazily: the result is a Dask collection with the right shape, dtype and column
names, computed where the blocks live (a :class:`dask.distributed.Client`'s
workers, or local threads). The model enters the task graph once, as a single
task every block depends on, so a distributed scheduler sends it to each worker
once, not with every task. Each block's output is exactly what ``transform``
gives for those rows (a tokenizer's output for a pose does not depend on the
other poses of the call). Install the extra with ``pip install "posetok[dask]"``.

For other engines, :class:`BatchTransformer` is a callable that holds the model
and maps one batch at a time: Ray Data's ``map_batches`` builds it once per
worker (a callable class), Spark's ``mapInPandas`` once per task from a
broadcast model (recipes in the user guide, "Large data").
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

__all__ = ["dask_transform", "dask_inverse_transform", "BatchTransformer"]


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised only without dask
        raise ImportError('posetok.parallel needs Dask: pip install "posetok[dask]"') from exc
    return dask, da


def _apply(block, model, method, columns):
    """``model.method`` of one block (an array or a pandas DataFrame)."""
    out = getattr(model, method)(block)
    if columns is None:
        return out
    import pandas as pd

    if sp.issparse(out):
        out = out.toarray()
    return pd.DataFrame(out, columns=columns, index=block.index)


def _output_columns(tokenizer, method):
    """Names of the output columns of ``tokenizer.method``: ``get_feature_names_out()`` for
    ``transform``; the training columns' names (``x0, x1, ...`` for an array) for ``inverse_transform``."""
    if method == "transform":
        return list(tokenizer.get_feature_names_out())
    return list(getattr(tokenizer, "feature_names_in_", [f"x{i}" for i in range(tokenizer.n_features_in_)]))


def _map(tokenizer, X, method):
    check_is_fitted(tokenizer)
    dask, da = _import_dask()
    model = dask.delayed(tokenizer, pure=True, traverse=False)
    columns = _output_columns(tokenizer, method)
    n_out = len(columns)
    # the output of one pose tells the dtype (and sparsity) of every block's
    example = _example_output(tokenizer) if method == "transform" else np.empty((0, n_out))
    if hasattr(X, "map_partitions"):  # a Dask DataFrame
        import pandas as pd

        meta = pd.DataFrame({c: np.empty(0, dtype=example.dtype) for c in columns})
        return X.map_partitions(_apply, model, method, columns, meta=meta)
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a Dask array or DataFrame, got {type(X).__name__}; "
                        "call the tokenizer's own method on in-memory data")
    if X.ndim == 3:
        if X.shape[2] != tokenizer.n_dims_ or method != "transform":
            raise ValueError(f"X has shape {X.shape}; this tokenizer reads (n, n_keypoints, {tokenizer.n_dims_}) "
                             "poses")
        X = X.rechunk({1: -1, 2: -1})
    elif X.ndim == 2:
        X = X.rechunk({1: -1})
    else:
        raise ValueError(f"X must be a 2-D or 3-D Dask array, got {X.ndim} dimension(s)")
    meta = example[:0] if not sp.issparse(example) else sp.csr_matrix((0, n_out), dtype=example.dtype)
    drop = [2] if X.ndim == 3 else []
    return X.map_blocks(_apply, model, method, None, dtype=example.dtype, meta=meta,
                        chunks=(X.chunks[0], (n_out,)), drop_axis=drop)


def _example_output(tokenizer):
    """``transform``'s output for one pose (the decoding of ids 0), for its dtype and sparsity."""
    from .tokenizer import _ordinal

    ordinal = _ordinal(tokenizer)
    n_ids = ordinal.network_.config.n_tokens + ordinal.refinement_codebooks_.shape[0] * ordinal.n_keypoints_
    pose = ordinal.inverse_transform(np.zeros((1, n_ids), dtype=np.int64))
    return tokenizer.transform(pose)


def dask_transform(tokenizer, X):
    """``tokenizer.transform`` over a Dask array or DataFrame, block by block, lazily.

    Parameters
    ----------
    tokenizer : PoseTokenizer
        A fitted tokenizer (any ``encode``).
    X : dask.array.Array or dask.dataframe.DataFrame
        Poses of shape (n_samples, n_features) or (n_samples, n_keypoints,
        n_dims), chunked along rows only (other axes are joined into one chunk).

    Returns
    -------
    Xt : dask.array.Array or dask.dataframe.DataFrame
        The output of ``transform`` with the row chunks (partitions) of X: a
        Dask array for an array (of sparse blocks for ``encode="onehot"``), a
        DataFrame with ``get_feature_names_out()`` columns and X's index for a
        DataFrame (one-hot columns are then dense).

    Examples
    --------
    >>> import dask.array as da
    >>> from posetok import PoseTokenizer
    >>> from posetok.datasets import make_stick_figures
    >>> from posetok.parallel import dask_transform
    >>> X, _ = make_stick_figures(300, random_state=0)
    >>> tok = PoseTokenizer(n_tokens=4, codebook_size=16, n_epochs=2, random_state=0).fit(X)
    >>> ids = dask_transform(tok, da.from_array(X, chunks=(100, -1)))
    >>> ids
    dask.array<_apply, shape=(300, 4), dtype=int64, chunksize=(100, 4), chunktype=numpy.ndarray>
    >>> bool((ids.compute() == tok.transform(X)).all())
    True
    """
    return _map(tokenizer, X, "transform")


def dask_inverse_transform(tokenizer, Xt):
    """``tokenizer.inverse_transform`` over a Dask array or DataFrame of ids (or features), lazily.

    Returns a Dask array of poses ``(n_samples, n_features_in_)``, or a
    DataFrame with the training columns' names (``x0, x1, ...`` when the
    tokenizer was fitted on an array).
    """
    return _map(tokenizer, Xt, "inverse_transform")


class BatchTransformer:
    """A fitted tokenizer's ``transform`` (or another method) as a function of one batch.

    Made once per worker (Ray Data's ``map_batches`` with a callable class) or
    per task (Spark's ``mapInPandas``), then called on every batch.

    Parameters
    ----------
    model : PoseTokenizer, str or os.PathLike
        A fitted tokenizer, a ``.posetok`` file or a pretrained model's name
        (:func:`posetok.pretrained`); a file or name is loaded here, once.
    method : {"transform", "inverse_transform"}, default="transform"
    input_column : str, default="keypoints"
        For dict batches: the key of the poses, an array of shape
        ``(n, n_keypoints, n_dims)`` or ``(n, n_features)``.
    output_column : str, default="ids"
        For dict batches: the key of the output.
    keep : sequence of str, default=()
        Columns (keys) passed through unchanged, such as an id to join on.
        For a pandas batch every other column is an input column, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from posetok import PoseTokenizer
    >>> from posetok.datasets import make_stick_figures
    >>> X, _ = make_stick_figures(300, random_state=0)
    >>> tok = PoseTokenizer(n_tokens=4, codebook_size=16, n_epochs=2, random_state=0).fit(X)
    >>> batch = {"frame": np.arange(3), "keypoints": X[:3].reshape(3, 13, 2)}   # Ray Data's numpy format
    >>> out = BatchTransformer(tok, keep=["frame"])(batch)
    >>> sorted(out), out["ids"].shape
    (['frame', 'ids'], (3, 4))
    """

    def __init__(self, model, *, method="transform", input_column="keypoints", output_column="ids", keep=()):
        if method not in ("transform", "inverse_transform"):
            raise ValueError(f"method must be 'transform' or 'inverse_transform', got {method!r}")
        if not hasattr(model, "transform"):
            from .models import MODELS, pretrained
            from .tokenizer import PoseTokenizer

            model = pretrained(model) if str(model) in MODELS else PoseTokenizer.load(model)
        check_is_fitted(model)
        self.model = model
        self.method = method
        self.input_column = input_column
        self.output_column = output_column
        self.keep = list(keep)

    def __call__(self, batch):
        """The output for one batch: a dict of arrays for a dict, a DataFrame for a DataFrame."""
        apply = getattr(self.model, self.method)
        if isinstance(batch, dict):
            out = apply(np.asarray(batch[self.input_column]))
            return {**{k: batch[k] for k in self.keep}, self.output_column: out}
        import pandas as pd

        if not isinstance(batch, pd.DataFrame):
            raise TypeError(f"a batch must be a dict of arrays or a pandas DataFrame, got {type(batch).__name__}")
        inputs = batch.drop(columns=self.keep)
        named = self.method == "transform" and hasattr(self.model, "feature_names_in_")
        out = apply(inputs if named else inputs.to_numpy())  # names are checked when the model has them
        if sp.issparse(out):
            out = out.toarray()
        result = pd.DataFrame(out, columns=_output_columns(self.model, self.method), index=batch.index)
        return pd.concat([batch[self.keep], result], axis=1) if self.keep else result
