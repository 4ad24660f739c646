"""The training recipe runs: a few steps of each kind on a tiny block file, resume, export."""

import h5py
import numpy as np
import pytest
import torch

from omnicodec import train
from omnicodec.geometry import morton
from omnicodec.models.lossy import LossyModel, top_k_mask
from tests.conftest import sphere_shell


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "blocks.h5"
    clouds = [sphere_shell(radius=r, center=32, count=3000, seed=r) for r in (12, 18, 24)]
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=np.concatenate(clouds).astype(np.uint16))
        f.create_dataset("offsets", data=np.cumsum([0] + [len(c) for c in clouds]))
        f.attrs["block_bits"] = 6
    return path


@pytest.mark.parametrize("kind", ["lossless", "lossy"])
def test_training_runs_resumes_and_exports(tmp_path, blocks, kind):
    run = tmp_path / "run"
    common = ["--data", str(blocks), "--run", str(run), "--kind", kind, "--batch", "2",
              "--channels", "8", "--threads", "1", "--levels", "2", "--latent-channels", "2"]
    train.main([*common, "--steps", "2"])
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 2
    train.main([*common, "--steps", "3", "--resume"])
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 3
    train.main(["--run", str(run), "--export", str(tmp_path / "w.pt")])
    exported = torch.load(tmp_path / "w.pt", weights_only=True)
    assert exported["step"] == 3 and "state_dict" in exported


def test_light_field_training_runs(tmp_path):
    path = tmp_path / "patches.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_dataset("patches_3x3", data=rng.integers(0, 256, (4, 3, 3, 16, 16, 3), dtype=np.uint8))
        f.create_dataset("patches_2x2", data=rng.integers(0, 256, (3, 2, 2, 16, 16, 3), dtype=np.uint8))
    run = tmp_path / "run"
    train.main(["--data", str(path), "--run", str(run), "--kind", "lightfield", "--batch", "2",
                "--channels", "8", "--latent-channels", "4", "--threads", "1", "--steps", "2",
                "--lmbda", "0.01"])
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 2


def test_lossy_training_bits_are_finite_and_differentiable():
    model = LossyModel(levels=2, channels=8, latent_channels=2)
    keys = np.sort(morton.encode(sphere_shell(radius=10, center=16, count=800), 5))
    rate, occupancy = model.training_bits(keys, 5)
    total = rate + sum(occupancy)
    total.backward()
    assert len(occupancy) == 2 and torch.isfinite(total)
    assert model.analysis_embed.weight.grad is not None  # the latent path trains the encoder


def test_top_k_keeps_the_best_and_breaks_ties_by_key():
    logits = torch.tensor([0.5, 2.0, 0.5, -1.0, 0.5])
    keys = np.array([40, 10, 30, 20, 50])
    keep = top_k_mask(logits, keys, 3)
    # 2.0 first, then of the three 0.5s the two with the lowest keys (30 and 40).
    assert keep.tolist() == [True, True, True, False, False]
