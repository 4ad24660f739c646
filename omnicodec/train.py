"""Train omnicodec's models (``--kind``): the lossless occupancy model (the default) and the
lossy autoencoder on blocks prepared by ``python -m datasets.prepare``, the light-field model
on patches of ``python -m datasets.lightfields``, the colour model on the clouds of
``python -m datasets.colours``, the LiDAR and depth-camera predictors on the coding problems
of ``python -m datasets.lidar`` and ``python -m datasets.depth``.

    python -m omnicodec.train --data ~/.cache/omnicodec/train_blocks.h5 \
        --run ~/.cache/omnicodec/runs/lossless --steps 9000 --seed 0 [--resume]
    python -m omnicodec.train --run ~/.cache/omnicodec/runs/lossless --export omnicodec/weights/occupancy_v1.pt

Lossless: each step draws --batch random blocks, applies a random axis permutation and
flips, and minimizes the code length (binary cross-entropy, in bits) of every block's finest
scale given the next coarser one, over all 8 coding stages with the true earlier children
known. Light fields: each step draws --batch patches of one angular grid size. Colour: each step
draws --batch clouds, random quantization steps (in --quantized-share of the steps, else lossless), --points random
points of each, and minimizes their colours' code length given their true coded
neighbourhoods (held out: lossless and steps 8/16). LiDAR and depth cameras: each step draws
--values values of each coded field and minimizes their code length given what their prediction sees (held out:
the file's held-out sweeps).
An option the chosen kind does not use is an error; --data and --run default per kind
(``~/.cache/omnicodec/runs/<kind>``). A checkpoint (model, optimizer, step, random state)
is written atomically every --checkpoint-minutes, so ``--resume`` continues an interrupted
run exactly where it stopped.
"""

import argparse
import gc
import math
import os
import time

import h5py
import numpy as np
import torch

from omnicodec.attributes import colour_coding
from omnicodec.attributes.colour_coding import ycocg_r
from omnicodec.attributes.colour_model import ColourNet
from omnicodec.attributes.levels import child_ranks, contexts_of, point_levels
from omnicodec.entropy import logistic
from omnicodec.grid import morton, octree
from omnicodec.grid.octree import CODING_ORDER
from omnicodec.io.atomic import atomic_output
from omnicodec.lightfield.learned_transform import CHANNEL_WEIGHTS, LAMBDAS, LightFieldModel
from omnicodec.pointcloud.lossy import LossyModel, batched
from omnicodec.pointcloud.occupancy import OccupancyModel
from omnicodec.scans import sensor_coding
from omnicodec.scans.depth_network import DepthNet
from omnicodec.scans.lidar_network import LidarNet

# Options only some kinds use: those kinds, and their default for them.
KIND_OPTIONS = {
    "blocks": (("lossless",), 2),
    "head_kernel": (("lossless",), 3),
    "levels": (("lossy",), 3),
    "latent_channels": (("lossy",), 8),
    "lmbda": (("lossy",), 1.0),
    "views_across": (("lightfield",), None),
    "points": (("colour",), 4096),
    "quantized_share": (("colour",), 0.5),
    "values": (("lidar", "depth"), 16384),
    "device": (("lossless", "lidar", "depth"), "cpu"),
}
DATA_FILES = {"lossless": "train_blocks.h5", "lossy": "train_blocks.h5", "lightfield": "lf_patches.h5",
              "colour": "colour_clouds.h5", "lidar": "lidar_fields.h5", "depth": "depth_fields.h5"}
FIELD_NETWORKS = {"lidar": LidarNet, "depth": DepthNet}  # the kinds trained on coding problems


def _chunks(ids, size):
    return [ids[i:i + size] for i in range(0, len(ids), size)]


class BlockSet:
    """Blocks of the training file, with their finest-scale coding problem built on demand."""

    def __init__(self, path):
        with h5py.File(path, "r") as f:
            self.points = f["points"][:]
            self.offsets = f["offsets"][:]
            self.bits = int(f.attrs["block_bits"])
        self.count = len(self.offsets) - 1

    def draw(self, rng, ids, size):
        return rng.choice(ids, size)

    def chunks(self, ids, size):
        return _chunks(ids, size)

    def keys(self, index, rng):
        """Morton-sorted keys of a block under a random axis permutation and flips."""
        coords = self.points[self.offsets[index]:self.offsets[index + 1]].astype(np.int64)
        coords = coords[:, rng.permutation(3)]
        flips = rng.random(3) < 0.5
        coords[:, flips] = (2**self.bits - 1) - coords[:, flips]
        return np.sort(morton.encode(coords, self.bits))

    def example(self, index, rng):
        keys = self.keys(index, rng)
        parents, _ = octree.parents_of(keys)
        return morton.decode(parents, self.bits - 1), octree.child_masks(parents, keys)


def batch_loss(model, blocks, indices, rng):
    """Mean code length in bits per child voxel of the blocks' finest scales."""
    coords, masks, batch = [], [], []
    for b, index in enumerate(indices):
        c, m = blocks.example(index, rng)
        coords.append(c)
        masks.append(m)
        batch.append(np.full(len(c), b))
    device = model.out_bias.device
    coords = torch.from_numpy(np.concatenate(coords)).to(device)
    masks = torch.from_numpy(np.concatenate(masks)).to(device)
    logits = model.all_stage_logits(coords, masks, torch.from_numpy(np.concatenate(batch)).to(device))
    targets = masks[:, list(CODING_ORDER)].to(torch.float32)
    nats = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
    return nats / math.log(2) / targets.sum()


class LightFieldPatches:
    """Light-field patches of ``python -m datasets.lightfields`` (one dataset per grid size)."""

    def __init__(self, path):
        self.file = h5py.File(path, "r")
        self.groups = [self.file[name] for name in sorted(self.file)]
        sizes = [len(group) for group in self.groups]
        self.offsets = np.cumsum([0] + sizes)
        self.count = int(self.offsets[-1])

    def group_of(self, indices):
        """The grid-size dataset of every index."""
        return np.searchsorted(self.offsets, indices, side="right") - 1

    def draw(self, rng, ids, size):
        """``size`` random ``ids`` of one grid size: the first one's, drawn among all."""
        first = rng.choice(ids)
        same = ids[self.group_of(ids) == self.group_of(first)]
        return np.concatenate([[first], rng.choice(same, size - 1)])

    def chunks(self, ids, size):
        """``ids`` in pieces of at most ``size``, each of one grid size."""
        groups = self.group_of(ids)
        return [chunk for group in np.unique(groups) for chunk in _chunks(ids[groups == group], size)]

    def batch(self, indices, rng, views_across=None):
        """Views of the patches (all of one grid size), as float in [0, 1], with the same
        random transposition and joint flips (u with y, v with x); with ``views_across``,
        the same random sub-grid of that many views across of each."""
        groups = np.unique(self.group_of(indices))
        if len(groups) != 1:
            raise ValueError(f"a batch needs patches of one grid size, got datasets {groups.tolist()}")
        group = int(groups[0])
        start = self.offsets[group]
        views = np.stack([self.groups[group][int(i) - start] for i in indices]).astype(np.float32) / 255
        if views_across and views.shape[1] > views_across:
            u, v = rng.integers(views.shape[1] - views_across + 1, size=2)
            views = views[:, u:u + views_across, v:v + views_across]
        if rng.random() < 0.5:
            views = views.transpose(0, 2, 1, 4, 3, 5)
        if rng.random() < 0.5:
            views = views[:, ::-1, :, ::-1]
        if rng.random() < 0.5:
            views = views[:, :, ::-1, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(views))


class ColourClouds:
    """Coloured clouds of ``python -m datasets.colours``, each with its coding contexts
    (built on first use and kept)."""

    def __init__(self, path):
        with h5py.File(path, "r") as f:
            self.clouds = [(f[name]["coords"][:].astype(np.int64), f[name]["rgb"][:].astype(np.int64))
                           for name in sorted(f)]
        self.count = len(self.clouds)
        self.contexts = {}

    def draw(self, rng, ids, size):
        return rng.choice(ids, size)

    def chunks(self, ids, size):
        return _chunks(ids, size)

    def context(self, index):
        """(levels, stages, (N, SLOTS) int32 neighbour rows, YCoCg-R colours)."""
        if index not in self.contexts:
            coords, rgb = self.clouds[index]
            bits = max(1, int(coords.max()).bit_length())
            keys = morton.encode(coords, bits)
            if (np.diff(keys) < 0).any():  # the coding walk takes the points in Morton order
                order = np.argsort(keys, kind="stable")
                self.clouds[index] = coords, rgb = coords[order], rgb[order]
                keys = keys[order]
            levels = point_levels(keys, bits)
            neighbours = contexts_of(coords, levels, bits)
            self.contexts[index] = (torch.from_numpy(levels), torch.from_numpy(child_ranks(coords, levels)),
                                    torch.from_numpy(neighbours), ycocg_r(rgb))
        return self.contexts[index]


# Quantization steps colour training draws (Y's; chroma's is 1 or 2 times it), so the
# network knows every rate's.
COLOUR_TRAINING_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


def colour_batch_loss(model, clouds, indices, rng, points, steps=None, quantized_share=0.5):
    """Bits per point of the colours of ``points`` random points of each cloud, with the
    given quantization steps or random ones (quantized in ``quantized_share`` of the steps,
    else lossless)."""
    if steps is None:
        luma = 1 if rng.random() < 1 - quantized_share else int(rng.choice(COLOUR_TRAINING_STEPS[1:]))
        chroma = luma * int(rng.integers(1, 3)) if luma > 1 else 1
        steps = (luma, chroma, chroma)
    total, count = 0.0, 0
    ranges = colour_coding.channel_ranges(8)
    q_ranges = colour_coding.quantized_ranges(8, steps)
    for index in indices:
        levels, stages, neighbours, ycocg = clouds.context(int(index))
        rows = torch.from_numpy(rng.integers(0, len(levels), points))
        quantized = [colour_coding.quantize(ycocg[:, c], steps[c]) for c in range(3)]
        values = torch.from_numpy(np.stack([colour_coding.dequantize(quantized[c], steps[c], *ranges[c])
                                            for c in range(3)], axis=1)).to(torch.float32)
        predictions = colour_coding.channel_predictions(model, values, levels[rows], stages[rows],
                                                        neighbours[rows].to(torch.int64), steps)
        location, scale = next(predictions)
        for channel in range(3):
            target = torch.from_numpy(quantized[channel])[rows].to(torch.float32)
            total = total + logistic.bits(target, location / steps[channel], scale / steps[channel],
                                          *q_ranges[channel]).sum()
            if channel < 2:
                location, scale = predictions.send(values[rows, channel])
        count += len(rows)
    loss = total / count
    name = "lossless" if steps == (1, 1, 1) else "quantized" if steps != (8, 16, 16) else "steps 8/16"
    return loss, {f"bits/point {name}": loss.item()}


class CodingProblems:
    """The coding problems of ``python -m datasets.lidar`` or ``datasets.depth``: per
    field of ``fields``, every value with what its prediction sees. Index 0 is the
    held-out set, 1 the training set."""

    count = 2

    def __init__(self, path, fields):
        self.sets = []
        with h5py.File(path, "r") as f:
            for group in ("held_out", "train"):
                samples = []
                f[group].visit(lambda name: samples.append(name[:-len(fields[0])])
                               if name.endswith("/" + fields[0]) else None)
                self.sets.append({field: [np.concatenate([f[group][sample + field][part][:] for sample in samples])
                                          for part in ("features", "reference", "unit", "value")]
                                  for field in fields})

    def draw(self, rng, ids, size):
        return ids

    def chunks(self, ids, size):
        return [ids]

    def shard(self, rank, world):
        """Keep this rank's share of the training values: every ``world``-th one."""
        self.sets[1] = {field: [part[rank::world] for part in parts] for field, parts in self.sets[1].items()}


def field_batch_loss(model, fields, indices, rng, values):
    """Mean bits per value of each field (their sum: the loss), on ``values`` random values
    of each from the training set, or on all of the held-out set."""
    chosen = fields.sets[int(indices[0])]
    total, figures = 0.0, {}
    device = next(model.parameters()).device
    for field, (feats, reference, unit, value) in chosen.items():
        rows = rng.integers(0, len(value), values) if int(indices[0]) else np.arange(len(value))
        on = lambda array: torch.from_numpy(array[rows]).to(device)  # noqa: E731
        location, scale = model(field, on(feats), on(reference), on(unit))
        bits = logistic.bits(on(value).to(torch.float64), location, scale,
                             -sensor_coding.LIMIT, sensor_coding.LIMIT, logistic.OUTLIER_TAIL).mean()
        total = total + bits
        figures[f"bits/{field}"] = bits.item()
    return total, figures


def lightfield_batch_loss(model, patches, indices, rng, views_across, rate=None):
    """Bits per pixel + lambda * MSE on the 8-bit scale at a random rate (or the given
    one); and the parts."""
    rate = int(rng.integers(model.rates)) if rate is None else rate
    views = patches.batch(indices, rng, views_across)
    bits, channel_mse = model.training_terms(views, rate)
    bpp = bits / (views.numel() / 3)
    mse = sum(w * m for w, m in zip(CHANNEL_WEIGHTS, channel_mse))
    psnr_yuv = sum(w * 10 * math.log10(255**2 / max(m.item(), 1e-9))
                   for w, m in zip(CHANNEL_WEIGHTS, channel_mse))
    figures = {f"bpp{rate + 1}": bpp.item(), f"psnr_yuv{rate + 1}": psnr_yuv}
    return bpp + LAMBDAS[rate] * mse, figures


def lossy_batch_loss(model, blocks, indices, rng, lmbda):
    """Rate + lmbda * occupancy code length, in bits per voxel of the blocks; and the parts."""
    keys = np.concatenate([batched(b, blocks.keys(index, rng), blocks.bits)
                           for b, index in enumerate(indices)])
    rate, occupancy = model.training_bits(keys, blocks.bits)
    total = sum(occupancy)
    loss = (rate + lmbda * total) / len(keys)
    return loss, {"rate": rate.item() / len(keys), "occupancy": total.item() / len(keys)}


def step_loss(model, blocks, indices, rng, args, rate=None):
    """(loss to minimize, figures to print) of one batch for the model being trained
    (light fields: at a random rate, or the given one)."""
    if args.kind == "lossy":
        return lossy_batch_loss(model, blocks, indices, rng, args.lmbda)
    if args.kind == "lightfield":
        return lightfield_batch_loss(model, blocks, indices, rng, args.views_across, rate)
    if args.kind in FIELD_NETWORKS:
        return field_batch_loss(model, blocks, indices, rng, args.values)
    if args.kind == "colour":
        return colour_batch_loss(model, blocks, indices, rng, args.points,
                                 None if rate is None else ((1, 1, 1), (8, 16, 16))[rate], args.quantized_share)
    loss = batch_loss(model, blocks, indices, rng)
    return loss, {"bits/voxel": loss.item()}


def make_model(args):
    if args.kind == "lossy":
        return LossyModel(args.levels, args.channels, args.latent_channels)
    if args.kind == "lightfield":
        return LightFieldModel(args.channels)
    if args.kind == "colour":
        return ColourNet(args.channels)
    if args.kind in FIELD_NETWORKS:
        return FIELD_NETWORKS[args.kind](args.channels)
    return OccupancyModel(args.channels, args.blocks, args.head_kernel)


class StepLoss(torch.nn.Module):
    """One training step's loss as a module's forward: what DistributedDataParallel wraps,
    so that the backward pass averages the gradients over the ranks."""

    def __init__(self, model, args):
        super().__init__()
        self.model, self.args = model, args

    def forward(self, blocks, indices, rng):
        return step_loss(self.model, blocks, indices, rng, self.args)


def rank_and_world():
    """(this process's rank, the number of processes) under torchrun (its environment),
    else (0, 1)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _start_distributed(args, rank, world):
    """Join the torchrun process group (gloo on CPU); then every rank checks the data file,
    so one rank without it stops them all with one clear message."""
    import torch.distributed as dist

    if args.device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    missing = [None] * world
    dist.all_gather_object(missing, not os.path.exists(args.data))
    if any(missing):
        ranks = ", ".join(str(r) for r, gone in enumerate(missing) if gone)
        dist.destroy_process_group()
        raise SystemExit(f"omnicodec.train: error: {args.data}: no such file on rank {ranks} (of {world})")


def _random_states(rng):
    return {"numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}


def train(args, on_step=None):
    """Train (or resume) the run; ``on_step(model, step)`` is called after each step, and a
true answer ends the run there, as if its last step (under torchrun, every rank's must
answer alike).

    Under ``torchrun --nproc-per-node N`` each process trains on its shard of the data
    (every N-th training block, or value of a field), DistributedDataParallel averages the
    gradients, and rank 0 alone writes the checkpoints and the log; the checkpoint keeps
    every rank's random state, so a resumed run with as many processes goes on exactly,
    and one with another number draws fresh streams from (seed, rank, step). One process
    (no torchrun) trains exactly as without it."""
    rank, world = rank_and_world()
    if world > 1:
        _start_distributed(args, rank, world)
    try:
        _train(args, rank, world, on_step)
        if world > 1:  # rank 0 may still be writing: tear down together
            torch.distributed.barrier()
    finally:
        if world > 1:
            gc.collect()  # the DistributedDataParallel wrapper (in cycles) goes before its group
            torch.distributed.destroy_process_group()


def _train(args, rank, world, on_step):
    torch.set_num_threads(args.threads)
    os.makedirs(args.run, exist_ok=True)
    checkpoint_path = os.path.join(args.run, "checkpoint.pt")
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed if world == 1 else [args.seed, rank])
    device = args.device or "cpu"
    if device == "cuda":  # MinkowskiEngine is built for the CPU here; the torch engine runs anywhere
        from omnicodec.sparse import set_engine

        set_engine("torch")
    model = make_model(args).to(device)
    groups = (model.parameter_groups(args.lr) if hasattr(model, "parameter_groups")
              else [{"params": list(model.parameters()), "base_lr": args.lr}])
    optimizer = torch.optim.Adam(groups, lr=args.lr)
    step = 0
    say = print if rank == 0 else (lambda *_, **__: None)
    if args.init and not (args.resume and os.path.exists(checkpoint_path)):
        initial = torch.load(args.init, weights_only=False, map_location=device)
        model.load_state_dict(initial["model"] if "model" in initial else initial["state_dict"])
        say(f"initialized from {args.init}", flush=True)
    if args.resume and os.path.exists(checkpoint_path):
        state = torch.load(checkpoint_path, weights_only=False, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        if state.get("world_size", 1) == world:  # each rank goes on with its own streams
            mine = state["ranks"][rank] if world > 1 else state
            rng.bit_generator.state = mine["numpy_rng"]
            torch.set_rng_state(mine["torch_rng"].cpu())
        else:
            rng = np.random.default_rng([args.seed, rank, step])
            torch.manual_seed(args.seed + 7919 * rank + step)
        say(f"resumed at step {step}" + (f" on {world} processes" if world > 1 else ""), flush=True)
    if world > 1:  # every rank must start from the same step: each reads the run folder itself
        steps = [None] * world
        torch.distributed.all_gather_object(steps, step)
        if len(set(steps)) > 1:
            raise SystemExit(f"omnicodec.train: error: the ranks would start at steps {steps}: give every "
                             "rank the same run folder (a shared filesystem) to resume from")
    if args.kind in FIELD_NETWORKS:
        blocks = CodingProblems(args.data, FIELD_NETWORKS[args.kind].FIELDS)
    else:
        blocks = {"lightfield": LightFieldPatches, "colour": ColourClouds}.get(args.kind, BlockSet)(args.data)
    held_out = np.arange(blocks.count)[:: 50]  # every 50th block (or cloud) never trains
    train_ids = np.setdiff1d(np.arange(blocks.count), held_out)
    stepper = StepLoss(model, args)
    if world > 1:
        if hasattr(blocks, "shard"):
            blocks.shard(rank, world)
        else:
            train_ids = train_ids[rank::world] if len(train_ids) >= world else train_ids
        stepper = torch.nn.parallel.DistributedDataParallel(
            stepper, device_ids=[torch.cuda.current_device()] if args.device == "cuda" else None,
            find_unused_parameters=True)
    last_save, running = time.time(), []
    while step < args.steps:
        factor = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        lr = args.lr * factor
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        loss, figures = stepper(blocks, blocks.draw(rng, train_ids, args.batch), rng)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        stop = on_step is not None and bool(on_step(model, step))
        running.append(figures)
        if step % 50 == 0:
            say(f"step {step} lr {lr:.2e} train " + _mean_figures(running), flush=True)
            running = []
        save = time.time() - last_save > args.checkpoint_minutes * 60 or step == args.steps or stop
        if world > 1:  # rank 0's clock decides for all
            flag = torch.tensor([int(save)], device=device)  # NCCL broadcasts GPU tensors only
            torch.distributed.broadcast(flag, 0)
            save = bool(flag.item())
            ranks = [None] * world
            if save:
                torch.distributed.all_gather_object(ranks, _random_states(rng))
        if save and rank == 0:
            with atomic_output(checkpoint_path) as handle:
                torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()},
                            "optimizer": optimizer.state_dict(),
                            "step": step, **_random_states(rng), "world_size": world,
                            **({"ranks": ranks} if world > 1 else {}), "config": model.config,
                            "args": vars(args)}, handle)
            with torch.no_grad():
                check_rng = np.random.default_rng(0)
                rates = {"lightfield": range(getattr(model, "rates", 0)), "colour": (0, 1)}.get(args.kind, [None])
                held = [step_loss(model, blocks, chunk, check_rng, args, rate)[1]
                        for rate in rates for chunk in blocks.chunks(held_out, 8)]
            print(f"checkpoint at step {step}; held-out " + _mean_figures(held), flush=True)
        if save:
            last_save = time.time()
        if stop:
            break


def _mean_figures(figures):
    names = sorted({name for f in figures for name in f})
    return ", ".join(f"{name} {np.mean([f[name] for f in figures if name in f]):.4f}" for name in names)


def export(args):
    """Write the checkpoint's weights (config + state dict) as a package weight file; light-field
    weights are stored as float16 (half the size; they load back into float32 layers)."""
    state = torch.load(os.path.join(args.run, "checkpoint.pt"), weights_only=False, map_location="cpu")
    weights = state["model"]
    if state["args"].get("kind") == "lightfield":
        weights = {name: value.half() if value.is_floating_point() else value
                   for name, value in weights.items()}
    with atomic_output(args.export) as handle:
        torch.save({"config": state["config"], "state_dict": weights, "step": state["step"],
                    "args": state["args"]}, handle)
    print(f"wrote {args.export} (step {state['step']})")


def parse_args(argv=None):
    """Arguments, with the defaults of the chosen --kind filled in; an option that kind does
    not use is an error rather than silently ignored."""
    parser = argparse.ArgumentParser(
        description="Train omnicodec's models (lossless occupancy, lossy autoencoder, light field, "
                    "colour, LiDAR or depth camera).")
    parser.add_argument("--data", help="training file (default: ~/.cache/omnicodec/train_blocks.h5, "
                                       "light fields: ~/.cache/omnicodec/lf_patches.h5)")
    parser.add_argument("--run", "--run-dir", dest="run",
                        help="run folder (default: ~/.cache/omnicodec/runs/KIND); under torchrun write "
                             "--run-dir: its own --run-path makes --run ambiguous there")
    parser.add_argument("--steps", type=int, default=9000)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--blocks", type=int, help="lossless: residual blocks per scale")
    parser.add_argument("--head-kernel", type=int, help="lossless: kernel size of the output head")
    parser.add_argument("--kind", choices=("lossless", "lossy", "lightfield", "colour", "lidar", "depth"),
                        default="lossless")
    parser.add_argument("--levels", type=int, help="lossy: levels the decoder regrows")
    parser.add_argument("--latent-channels", type=int, help="lossy: latent channels")
    parser.add_argument("--lmbda", type=float,
                        help="lossy: weight of the occupancy code length against the latent rate")
    parser.add_argument("--views-across", type=int,
                        help="lightfield: train on random sub-grids of this many views across "
                             "(default: all views)")
    parser.add_argument("--points", type=int, help="colour: points drawn from each cloud per step")
    parser.add_argument("--quantized-share", type=float,
                        help="colour: share of the steps whose colours are quantized (the others lossless)")
    parser.add_argument("--values", type=int, help="lidar, depth: values of each field drawn per step")
    parser.add_argument("--init", help="start from this checkpoint's weights (e.g. another rate) or a "
                        "shipped weight file's (omnicodec/weights/colour_v1.pt)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="lossless, lidar, depth: where to train (default cpu; cuda: the torch sparse "
                             "engine, OMNICODEC_ENGINE=torch, and under torchrun one GPU per process, NCCL)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-minutes", type=float, default=3.0)
    parser.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    parser.add_argument("--export", help="write the run's weights to this file and exit")
    args = parser.parse_args(argv)
    unused = [f"--{name.replace('_', '-')} ({' and '.join(kinds)} only)" for name, (kinds, _) in KIND_OPTIONS.items()
              if args.kind not in kinds and getattr(args, name) is not None]
    if unused:
        parser.error(f"not used by --kind {args.kind}: {', '.join(unused)}")
    for name, (kinds, default) in KIND_OPTIONS.items():
        if args.kind in kinds and getattr(args, name) is None:
            setattr(args, name, default)
    args.data = args.data or os.path.expanduser(f"~/.cache/omnicodec/{DATA_FILES[args.kind]}")
    args.run = args.run or os.path.expanduser(f"~/.cache/omnicodec/runs/{args.kind}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.export:
        export(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
