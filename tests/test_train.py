"""The training recipe runs: a few steps of each kind on a tiny block file, resume, export;
per-kind options and defaults; light-field batches of one grid size; atomic checkpoints."""

import os

import h5py
import numpy as np
import pytest
import torch

from omnicodec import train
from omnicodec.grid import morton
from omnicodec.pointcloud.lossy import LossyModel, top_k_mask
from tests.conftest import sphere_shell


@pytest.fixture(scope="module")
def patches(tmp_path_factory):
    """Light-field patches of two grid sizes: 3 of 2x2 views (ids 0-2), 4 of 3x3 (ids 3-6)."""
    path = tmp_path_factory.mktemp("data") / "patches.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_dataset("patches_3x3", data=rng.integers(0, 256, (4, 3, 3, 16, 16, 3), dtype=np.uint8))
        f.create_dataset("patches_2x2", data=rng.integers(0, 256, (3, 2, 2, 16, 16, 3), dtype=np.uint8))
    return path


@pytest.mark.parametrize("kind, options", [("lossless", ["--blocks", "1"]),
                                           ("lossy", ["--levels", "2", "--latent-channels", "2"])])
def test_training_runs_resumes_and_exports(tmp_path, blocks, kind, options):
    run = tmp_path / "run"
    common = ["--data", str(blocks), "--run", str(run), "--kind", kind, "--batch", "2",
              "--channels", "8", "--threads", "1", *options]
    train.main([*common, "--steps", "2"])
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 2
    train.main([*common, "--steps", "3", "--resume"])
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 3
    train.main(["--run", str(run), "--export", str(tmp_path / "w.pt")])
    exported = torch.load(tmp_path / "w.pt", weights_only=True)
    assert exported["step"] == 3 and "state_dict" in exported


def test_light_field_training_runs(tmp_path, patches):
    run = tmp_path / "run"
    train.main(["--data", str(patches), "--run", str(run), "--kind", "lightfield", "--batch", "2",
                "--channels", "8", "--threads", "1", "--steps", "2", "--views-across", "2"])
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 2


def test_light_field_batches_are_full_and_of_one_grid_size(patches):
    data = train.LightFieldPatches(patches)
    ids = np.arange(data.count)
    rng = np.random.default_rng(0)
    sizes = set()
    for _ in range(20):
        drawn = data.draw(rng, ids, 5)
        assert len(drawn) == 5 and len(set(data.group_of(drawn))) == 1
        views = data.batch(drawn, rng)
        assert views.shape[0] == 5
        sizes.add(views.shape[1])
    assert sizes == {2, 3}
    with pytest.raises(ValueError):
        data.batch([0, 5], rng)  # a 2x2 patch and a 3x3 one
    chunks = data.chunks(ids, 2)
    assert all(len(c) <= 2 and len(set(data.group_of(c))) == 1 for c in chunks)
    assert np.concatenate(chunks).tolist() == ids.tolist()


def test_block_draws_consume_the_random_state_as_before(blocks):
    """Lossless and lossy runs stay reproducible: a draw is ``rng.choice(ids, size)``."""
    ids = np.arange(10)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert train.BlockSet(blocks).draw(a, ids, 6).tolist() == b.choice(ids, 6).tolist()
    assert a.bit_generator.state == b.bit_generator.state


@pytest.mark.parametrize("option, kind", [
    (option, kind) for option, (owners, _) in train.KIND_OPTIONS.items() if option != "device"
    for kind in ("lossless", "lossy", "lightfield") if kind not in owners])
def test_an_option_the_kind_does_not_use_is_an_error(capsys, option, kind):
    flag = "--" + option.replace("_", "-")
    with pytest.raises(SystemExit) as exit:
        train.parse_args(["--kind", kind, flag, "1"])
    assert exit.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert flag in error and kind in error
    owner = train.KIND_OPTIONS[option][0][0]
    assert getattr(train.parse_args(["--kind", owner, flag, "1"]), option) == 1


def test_device_is_for_the_kinds_that_move_to_a_gpu(capsys):
    assert train.parse_args(["--device", "cuda"]).device == "cuda"
    assert train.parse_args(["--kind", "depth"]).device == "cpu"
    with pytest.raises(SystemExit):
        train.parse_args(["--kind", "colour", "--device", "cuda"])
    assert "--device (lossless and lidar and depth only)" in capsys.readouterr().err


def test_defaults_per_kind():
    cache = os.path.expanduser("~/.cache/omnicodec")
    lossless = train.parse_args([])
    assert (lossless.kind, lossless.blocks, lossless.head_kernel, lossless.channels) == ("lossless", 2, 3, 32)
    assert lossless.run == f"{cache}/runs/lossless" and lossless.data == f"{cache}/train_blocks.h5"
    assert lossless.levels is None and lossless.lmbda is None
    lossy = train.parse_args(["--kind", "lossy"])
    assert (lossy.levels, lossy.latent_channels, lossy.lmbda) == (3, 8, 1.0)
    assert lossy.run == f"{cache}/runs/lossy" and lossy.blocks is None
    lightfield = train.parse_args(["--kind", "lightfield"])
    assert lightfield.run == f"{cache}/runs/lightfield" and lightfield.data == f"{cache}/lf_patches.h5"
    assert lightfield.views_across is None and lightfield.latent_channels is None


def test_export_is_atomic(tmp_path, monkeypatch):
    run, out = tmp_path / "run", tmp_path / "weights" / "w.pt"
    run.mkdir()
    out.parent.mkdir()
    torch.save({"model": {"w": torch.ones(2)}, "config": {}, "step": 7, "args": {"kind": "lossless"}},
               run / "checkpoint.pt")
    train.main(["--run", str(run), "--export", str(out)])
    assert torch.load(out, weights_only=True)["step"] == 7

    def failing_save(obj, handle):
        handle.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(RuntimeError):
        train.main(["--run", str(run), "--export", str(out)])
    assert os.listdir(out.parent) == ["w.pt"]  # no temporary file left behind
    assert torch.load(out, weights_only=True)["step"] == 7  # the earlier export is intact


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


def _colour_clouds(path):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for index in range(3):
            coords = np.unique(sphere_shell(count=1500, seed=index), axis=0)
            group = f.create_group(f"{index:03d}")
            group.create_dataset("coords", data=coords.astype(np.int32))
            group.create_dataset("rgb", data=rng.integers(0, 256, (len(coords), 3)).astype(np.uint8))
    return path


def test_colour_training_steps_resume_and_export(tmp_path):
    path = _colour_clouds(tmp_path / "clouds.h5")
    run = tmp_path / "run"
    common = ["--kind", "colour", "--data", str(path), "--run", str(run), "--batch", "2", "--points", "256",
              "--channels", "8", "--seed", "0"]
    from omnicodec.attributes.colour_model import ColourNet

    _trains_resumes_and_exports(common, run, tmp_path / "colour.pt", ColourNet, {"hidden": 8})
    # a new run starts from the exported (shipped-format) weights: with a zero learning rate
    # its first step leaves them exactly as exported
    train.main(["--kind", "colour", "--data", str(path), "--run", str(tmp_path / "again"), "--batch", "2",
                "--points", "256", "--channels", "8", "--steps", "1", "--lr", "0", "--quantized-share", "0",
                "--init", str(tmp_path / "colour.pt")])
    started = torch.load(tmp_path / "again" / "checkpoint.pt", weights_only=False)
    exported = torch.load(tmp_path / "colour.pt", weights_only=False)["state_dict"]
    assert started["step"] == 1
    assert all(torch.equal(started["model"][name], value) for name, value in exported.items())


def test_colour_quantized_share_sets_how_often_colours_are_quantized(tmp_path):
    from omnicodec.attributes.colour_model import ColourNet

    clouds = train.ColourClouds(_colour_clouds(tmp_path / "clouds.h5"))
    model, rng = ColourNet(8), np.random.default_rng(0)

    def names(share):
        return {name for _ in range(12)
                for name in train.colour_batch_loss(model, clouds, [0], rng, 64, quantized_share=share)[1]}

    assert names(0.0) == {"bits/point lossless"}
    assert "bits/point lossless" not in names(1.0)


def _trains_resumes_and_exports(common, run, export, network, config):
    """Two steps, two more resumed, then the export loads into ``network``."""
    train.main(common + ["--steps", "2"])
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 2
    train.main(common + ["--steps", "4", "--resume"])
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] == 4 and all(state["config"][key] == value for key, value in config.items())
    train.main(["--run", str(run), "--export", str(export)])
    exported = torch.load(export, weights_only=True)
    network(**exported["config"]).load_state_dict(exported["state_dict"])


def test_lidar_training_steps_resume_and_export(tmp_path):
    from conftest import synthetic_sweep
    from datasets import lidar as lidar_data
    from datasets.problems import store
    from omnicodec.scans.lidar_network import LidarNet

    positions, _ = synthetic_sweep(lasers=16, columns=256)
    path = tmp_path / "fields.h5"
    with h5py.File(path, "w") as f:
        for group in ("held_out", "train"):
            problems = lidar_data.coding_problems(positions.astype(np.float64), 0.001)
            store(f, group, "sweep/as is/1mm", problems)
    run = tmp_path / "run"
    common = ["--kind", "lidar", "--data", str(path), "--run", str(run), "--values", "512", "--channels", "8",
              "--seed", "0"]
    _trains_resumes_and_exports(common, run, tmp_path / "lidar.pt", LidarNet, {"channels": 8})


def test_depth_training_steps_resume_and_export(tmp_path):
    from conftest import synthetic_depth_frame
    from datasets import depth as depth_data
    from datasets.problems import store
    from omnicodec.scans.depth_network import DepthNet

    path = tmp_path / "fields.h5"
    with h5py.File(path, "w") as f:
        for group in ("held_out", "train"):
            store(f, group, "frame/as is/1mm",
                             depth_data.coding_problems(synthetic_depth_frame().astype(np.float64), 0.001))
    run = tmp_path / "run"
    common = ["--kind", "depth", "--data", str(path), "--run", str(run), "--values", "512", "--channels", "8",
              "--seed", "0"]
    _trains_resumes_and_exports(common, run, tmp_path / "depth.pt", DepthNet, {"channels": 8})
