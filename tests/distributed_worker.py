"""Run by tests/test_distributed.py under torchrun: ``distributed_worker.py SCENARIO OUT_DIR``.

Each rank fits on its own shard and writes what it ended with to OUT_DIR/rank{r}.npz
(or the errors it got to OUT_DIR/rank{r}.txt).
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

from posetok import PoseTokenizer
from posetok.datasets import make_stick_figures
from posetok.distributed import process_group

# the same settings as tests/test_distributed.py compares with
SMALL = dict(n_tokens=8, codebook_size=32, n_epochs=5, batch_size=256, random_state=0, n_threads=1)


def poses():
    X, _ = make_stick_figures(4000, random_state=0)
    X[::9, 6:8] = np.nan
    return X


def fit(out, rank, world):
    X = poses()
    shard = X[rank::world]
    joint = PoseTokenizer(**SMALL, mask_probability=0.2, refinement_stages=1, refinement_codebook_size=16,
                          distributed=True).fit(shard)
    # a staged fit streamed from each rank's own file on disk
    np.save(out / f"shard{rank}.npy", shard)
    staged = PoseTokenizer(**SMALL, strategy="staged", distributed=True).fit(
        np.load(out / f"shard{rank}.npy", mmap_mode="r"))
    arrays = {}
    for name, tok in (("joint", joint), ("staged", staged)):
        arrays.update({f"{name}/{k}": v.numpy() for k, v in tok.network_.state_dict().items()})
        arrays[f"{name}/refinement"] = tok.refinement_codebooks_
        arrays[f"{name}/mean"] = tok.mean_
        arrays[f"{name}/scale"] = np.array(tok.scale_)
        arrays[f"{name}/usage"] = np.array(tok.codebook_usage_)
        arrays[f"{name}/epochs"] = np.array(len(tok.history_))
        arrays[f"{name}/score"] = np.array(tok.score(make_stick_figures(1000, random_state=1)[0]))
    np.savez(out / f"rank{rank}.npz", **arrays)


def bad(out, rank, world):
    X = poses()[:600]
    messages = []
    half_missing = X.copy()
    if rank == 1:
        half_missing[5, 0] = np.nan
    narrower = X if rank == 0 else X[:, :-2]
    for data in (half_missing, narrower):
        try:
            PoseTokenizer(**SMALL, distributed=True).fit(data)
            messages.append("fitted")
        except Exception as exc:  # noqa: BLE001 - the test reads what each rank got
            messages.append(f"{type(exc).__name__}: {exc}")
    (out / f"rank{rank}.txt").write_text("\n".join(messages))


def threads():
    """Names of this process's threads (Linux)."""
    return sorted(Path(f"/proc/self/task/{t}/comm").read_text().strip() for t in os.listdir("/proc/self/task"))


def teardown(out):
    """A fit inside process_group; what threads are left once the group is destroyed."""
    with process_group("cpu") as (rank, world):
        PoseTokenizer(**{**SMALL, "n_epochs": 1}, distributed=True).fit(poses()[rank::world])
        during = threads()
    (out / f"rank{rank}.json").write_text(json.dumps({"during": during, "after": threads(), "world": world}))


if __name__ == "__main__":
    scenario, out = sys.argv[1], Path(sys.argv[2])
    if scenario == "teardown":
        teardown(out)
    else:
        with process_group("cpu") as (rank, world):
            {"fit": fit, "bad": bad}[scenario](out, rank, world)
