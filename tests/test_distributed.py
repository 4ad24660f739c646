"""Data-parallel training with torchrun: two processes on CPU (gloo) for a few steps of a
tiny model: the ranks stay identical, a resumed run goes on exactly, a rank without the
data stops them all with one message."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from omnicodec import train


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digest(model):
    return hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()


def _rank_main(rank, world, port, argvs, record, stop_at):
    """One rank of a spawned run: trains, recording its parameters' digest after each step
    (and stopping after ``stop_at`` steps, if given), or the error that stopped it."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    digests, error = [], None

    def on_step(model, step):
        digests.append(_digest(model))
        return step == stop_at

    try:
        train.train(train.parse_args(argvs[rank]), on_step)
    except SystemExit as exc:
        error = str(exc)
    with open(os.path.join(record, f"rank{rank}.json"), "w") as handle:
        json.dump({"digests": digests, "error": error}, handle)


def _spawn(argvs, record, stop_at=None, world=2):
    os.makedirs(record, exist_ok=True)
    mp.spawn(_rank_main, args=(world, _free_port(), argvs, str(record), stop_at), nprocs=world, join=True)
    return [json.load(open(os.path.join(record, f"rank{r}.json"))) for r in range(world)]


@pytest.fixture(scope="module")
def fields(tmp_path_factory):
    from conftest import synthetic_depth_frame
    from datasets import depth as depth_data
    from datasets.problems import store

    path = tmp_path_factory.mktemp("data") / "fields.h5"
    with h5py.File(path, "w") as f:
        for group in ("held_out", "train"):
            store(f, group, "frame/as is/1mm",
                  depth_data.coding_problems(synthetic_depth_frame().astype(np.float64), 0.001))
    return path


def _argv(fields, run, steps, *more):
    return ["--kind", "depth", "--data", str(fields), "--run-dir", str(run), "--values", "256", "--channels", "8",
            "--steps", str(steps), "--seed", "0", "--threads", "1", "--checkpoint-minutes", "0", *more]


def test_ranks_stay_identical_and_a_resumed_run_goes_on_exactly(fields, tmp_path):
    whole = _spawn([_argv(fields, tmp_path / "whole", 6)] * 2, tmp_path / "r1")
    assert len(whole[0]["digests"]) == 6 and whole[0]["digests"] == whole[1]["digests"]
    state = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)
    assert state["step"] == 6 and state["world_size"] == 2 and len(state["ranks"]) == 2
    # Stopped after step 3 (checkpointed there), then resumed to step 6.
    _spawn([_argv(fields, tmp_path / "cut", 6)] * 2, tmp_path / "r2", stop_at=3)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["step"] == 3
    resumed = _spawn([_argv(fields, tmp_path / "cut", 6, "--resume")] * 2, tmp_path / "r3")
    assert resumed[0]["digests"] == resumed[1]["digests"] == whole[0]["digests"][3:]
    # One process resumes a two-process run too (fresh random streams).
    train.main(_argv(fields, tmp_path / "cut", 8, "--resume"))
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["step"] == 8


@pytest.mark.parametrize("kind, options", [("lossless", ["--blocks", "1", "--batch", "1"]),
                                           ("lossy", ["--levels", "2", "--latent-channels", "2", "--batch", "1"])])
def test_other_kinds_train_on_two_processes(blocks, tmp_path, kind, options):
    argv = ["--kind", kind, "--data", str(blocks), "--run-dir", str(tmp_path / "run"), "--channels", "4",
            "--steps", "2", "--seed", "0", "--threads", "1", *options]
    ranks = _spawn([argv] * 2, tmp_path / "r")
    assert len(ranks[0]["digests"]) == 2 and ranks[0]["digests"] == ranks[1]["digests"]


def test_one_process_trains_as_before(fields, tmp_path):
    """No torchrun: the same steps as a plain run (the checkpoint has no per-rank part)."""
    train.main(_argv(fields, tmp_path / "a", 3))
    train.main(_argv(fields, tmp_path / "b", 3))
    a, b = (torch.load(tmp_path / name / "checkpoint.pt", weights_only=False) for name in "ab")
    assert a["world_size"] == 1 and "ranks" not in a
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_rank_without_the_data_stops_every_rank(fields, tmp_path):
    good, bad = _argv(fields, tmp_path / "run", 2), _argv(tmp_path / "nowhere.h5", tmp_path / "run", 2)
    outcome = _spawn([good, bad], tmp_path / "r")  # (torchrun gives every rank the same --data)
    for rank in outcome:
        assert rank["digests"] == []
        assert rank["error"].startswith("omnicodec.train: error: ")
        assert rank["error"].endswith(".h5: no such file on rank 1 (of 2)")


def test_torchrun_launch(fields, tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    assert torchrun, "torch installs torchrun beside this Python"
    result = subprocess.run([torchrun, "--nproc-per-node", "2", "--master-port", str(_free_port()), "-m",
                             "omnicodec.train", *_argv(fields, tmp_path / "run", 2)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("checkpoint at step 2") == 1  # rank 0 alone logs
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["world_size"] == 2
