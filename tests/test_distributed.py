"""Fitting with torch.distributed: two gloo processes under torchrun, with a timeout."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from posetok import PoseTokenizer
from posetok.datasets import make_stick_figures
from posetok.distributed import process_group

from .distributed_worker import SMALL, poses

WORKER = Path(__file__).with_name("distributed_worker.py")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="torchrun with gloo is tested on Linux")


def _torchrun(scenario, out, timeout=300, n_processes=2):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n_processes),
               str(WORKER), scenario, str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    _torchrun("fit", out)
    return [dict(np.load(out / f"rank{r}.npz")) for r in (0, 1)]


def test_every_rank_ends_with_identical_models(two_ranks):
    rank0, rank1 = two_ranks
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        np.testing.assert_array_equal(rank0[key], rank1[key], err_msg=key)
    assert rank0["joint/refinement"].shape == (1, 13, 16, 2) and np.abs(rank0["joint/refinement"]).sum() > 0


def test_statistics_are_those_of_all_shards(two_ranks):
    reference = PoseTokenizer(**{**SMALL, "n_epochs": 1}).fit(poses())
    np.testing.assert_allclose(two_ranks[0]["joint/mean"], reference.mean_, rtol=1e-12)
    assert float(two_ranks[0]["joint/scale"]) == pytest.approx(reference.scale_, rel=1e-12)


@pytest.mark.parametrize("name, params", [
    ("joint", dict(mask_probability=0.2, refinement_stages=1, refinement_codebook_size=16)),
    ("staged", dict(strategy="staged")),
])
def test_two_ranks_learn_as_well_as_one_process(two_ranks, name, params):
    X, X_test = poses(), make_stick_figures(1000, random_state=1)[0]
    single = PoseTokenizer(**SMALL, **params).fit(X)
    # The same data and seed split over two ranks (each half the batch): within seed noise of
    # one process (two seeds of one process differ by about 10 % here).
    assert -float(two_ranks[0][f"{name}/score"]) <= 1.25 * -single.score(X_test)
    assert float(two_ranks[0][f"{name}/usage"]) >= 0.9
    assert int(two_ranks[0][f"{name}/epochs"]) == len(single.history_)


def test_a_failing_rank_stops_every_rank_with_a_clear_error(tmp_path):
    _torchrun("bad", tmp_path, timeout=180)
    rank0 = (tmp_path / "rank0.txt").read_text().splitlines()
    rank1 = (tmp_path / "rank1.txt").read_text().splitlines()
    assert rank1[0].startswith("ValueError: keypoint 0 of sample 5 has some but not all")
    assert rank0[0].startswith("DistributedFitError: rank 1 of 2 failed")
    assert "keypoint 0 of sample 5" in rank0[0]
    for messages in (rank0, rank1):
        assert messages[1].startswith("ValueError: the ranks of this distributed fit differ in n_features")


def test_distributed_needs_a_process_group(stick_figures):
    with pytest.raises(ValueError, match="init_process_group"):
        PoseTokenizer(n_tokens=4, n_epochs=1, distributed=True).fit(stick_figures[0])


def _run(command, timeout=300):
    # two gloo ranks on CPUs, also on a machine with one GPU (where "auto" would pick nccl)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_cli_fit_under_torchrun_writes_one_model_from_rank_0(tmp_path):
    X = poses()[:3000]
    np.savez(tmp_path / "poses.npz", keypoints=X.reshape(-1, 13, 2))
    out = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
                "posetok", "fit", str(tmp_path / "poses.npz"), "-o", str(tmp_path / "m.posetok"), "--n-tokens", "4",
                "--codebook-size", "16", "--n-epochs", "2", "--quiet", "--n-threads", "1"])
    assert out.count("posetok fit: 3000 poses of 13 2-D keypoints on 2 processes") == 1
    tok = PoseTokenizer.load(tmp_path / "m.posetok")
    assert tok.n_tokens == 4 and tok.distributed is True and tok.codebook_usage_ >= 0.9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.posetok", "poses.npz"]


def test_distributed_example_streams_each_rank_shard(tmp_path):
    example = Path(__file__).resolve().parents[1] / "examples" / "distributed_fit.py"
    np.save(tmp_path / "poses.npy", poses()[:3000].reshape(-1, 13, 2))
    out = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                str(example), str(tmp_path / "poses.npy"), str(tmp_path / "m.posetok"), "--n-tokens", "4",
                "--codebook-size", "16", "--n-epochs", "2"])
    assert "3000 poses on 2 processes" in out and out.count("[PoseTokenizer] epoch 2/2") == 1
    assert PoseTokenizer.load(tmp_path / "m.posetok").n_keypoints_ == 13


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread names from /proc")
def test_process_group_leaves_no_gloo_threads_behind(tmp_path):
    # A group kept alive past destroy_process_group is torn down while the interpreter
    # exits, which aborted a rank now and then (CI, 2026-12-02); process_group avoids it.
    _torchrun("teardown", tmp_path)
    for r in (0, 1):
        seen = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert seen["world"] == 2 and any(name.startswith("pt_gloo") for name in seen["during"])
        assert not [name for name in seen["after"] if "gloo" in name], seen["after"]


def test_torchrun_with_one_process_fits_with_distributed(tmp_path):
    # A machine with one GPU runs `torchrun --nproc-per-node 1`: process_group must set the
    # group up there too, or a fit with distributed=True finds none (seen on the first GPU run).
    _torchrun("teardown", tmp_path, n_processes=1)
    seen = json.loads((tmp_path / "rank0.json").read_text())
    assert seen["world"] == 1 and any(name.startswith("pt_gloo") for name in seen["during"])


def test_more_ranks_than_gpus_is_a_clear_error(monkeypatch):
    # `torchrun --nproc-per-node 2` on a machine with one GPU: CUDA's "invalid device ordinal" before
    for name, value in dict(RANK="1", WORLD_SIZE="2", LOCAL_RANK="1", MASTER_ADDR="localhost",
                            MASTER_PORT="29999").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"LOCAL_RANK=1\) has no GPU of its own: the machine shows 1"):
        with process_group("cuda"):
            pass


def test_process_group_outside_a_launcher_is_one_process(monkeypatch):
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with process_group() as (rank, world):
        assert (rank, world) == (0, 1)
    monkeypatch.setenv("WORLD_SIZE", "1")
    with process_group("cpu") as (rank, world):
        assert (rank, world) == (0, 1)
