import os
from pathlib import Path

import numpy as np
import pytest

from posetok.datasets import make_stick_figures

#: Small files the tests read (tests/data/README.md says what each is).
DATA_DIR = Path(__file__).parent / "data"

# A configuration small enough for a test to fit in well under a second.
TINY = dict(
    n_tokens=4,
    codebook_size=16,
    token_dim=8,
    encoder_width=16,
    encoder_depth=1,
    decoder_width=16,
    decoder_depth=1,
    token_mlp_width=8,
    n_epochs=2,
    pretrain_epochs=1,
    batch_size=64,
    random_state=0,
)


def pytest_configure(config):
    """Under pytest-xdist (``pytest -n N``), share the cores between the workers: each worker, and
    each process a test starts (``torchrun``, the CLI, Dask workers, benchmark scripts), gets its
    share of the threads instead of all of them, so N workers do not run N times as many threads as
    there are cores (oversubscribed torch threads spin and slow every fit)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        from posetok.tokenizer import _cpu_set_size

        share = max(1, _cpu_set_size() // int(workers))
        os.environ.setdefault("OMP_NUM_THREADS", str(share))  # inherited by the processes tests start
        torch.set_num_threads(share)


@pytest.fixture(scope="session")
def stick_figures():
    X, y = make_stick_figures(400, random_state=0)
    return X, y


@pytest.fixture(scope="session")
def tiny_fitted(stick_figures):
    from posetok import PoseTokenizer

    return PoseTokenizer(**TINY).fit(stick_figures[0])


def hide_joints(X, fraction, seed, n_dims=2):
    """Copy of X with a random fraction of joints set to NaN (never a whole pose)."""
    rng = np.random.default_rng(seed)
    kp = X.reshape(len(X), -1, n_dims).copy()
    hide = rng.random(kp.shape[:2]) < fraction
    hide[np.arange(len(kp)), rng.integers(kp.shape[1], size=len(kp))] = False
    kp[hide] = np.nan
    return kp.reshape(len(X), -1)
