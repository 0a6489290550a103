"""Poses that stay on disk: fitting and transforming arrays larger than memory.

:meth:`posetok.PoseTokenizer.fit` streams from an *out-of-core* array instead of
loading it: a :class:`numpy.memmap` (``np.load(path, mmap_mode="r")``), an
HDF5 dataset (``h5py``) or a Zarr array. One pass over the data, block by
block, validates it and computes the normalisation statistics (merged per
block, so exactly the statistics of all poses) and keeps a uniform sample of
poses for the k-means start, the refinement codebooks and the outlier check;
training then reads shuffled blocks (:class:`posetok.training.StreamedData`).
Memory holds a block and the sample, not the data: about constant in the
number of poses. :meth:`~posetok.PoseTokenizer.transform` and
:meth:`~posetok.PoseTokenizer.score` read such arrays block by block too (the
output of ``transform`` is in memory).

A streamed fit shuffles by blocks, so it is not bit-for-bit the fit of the same
poses loaded into memory (``np.asarray(X)`` gives that one); its quality is the
same within seed noise (tested).
"""

from __future__ import annotations

import numpy as np

__all__ = ["is_out_of_core", "BLOCK_SIZE", "SAMPLE_SIZE", "n_rows"]

#: Poses read from disk at a time.
BLOCK_SIZE = 65_536
#: Poses kept from the first pass for the k-means start, the refinement codebooks and checks.
SAMPLE_SIZE = 100_000


def is_out_of_core(X) -> bool:
    """Whether ``X`` is an array on disk that fit should stream: a memmap, an h5py dataset or a Zarr array."""
    if isinstance(X, np.memmap):
        return True
    module = type(X).__module__.split(".")[0]
    return module in ("h5py", "zarr") and hasattr(X, "shape") and hasattr(X, "dtype")


def n_rows(X) -> int:
    return int(X.shape[0])

