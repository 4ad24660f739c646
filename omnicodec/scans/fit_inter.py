"""Fit the range head that sees the sweep before (lidar_network.INTER_FIELD) on a drive.

    python -m omnicodec.scans.fit_inter --drive ../shared/data/lidar_sequences/kitti_drive_d \\
        --train 1:12 --base lidar-v4 --start lidar-v1 --steps 8000 --lr 3e-3 --seed 0 \\
        --out omnicodec/weights/lidar_v5.pt

The drive's sweeps (float metres, in name order) go on a 1 mm grid as the drive benchmark
puts them. Each sweep after the first is predicted from the one before exactly as each
``--base`` model's encoder predicts it (its motion search and range image; at a lossy
rate, from the sweep before as that rate rebuilt it), and every range its walk codes with
a prediction from the sweep before is a coding problem: the head's features
(omnicodec.scans.lidar_network.inter_features), reference, unit and the value sent, the
same numbers coding sees. The head starts from the float range head of ``--start`` (the
bases' weights before rounding, the new features' weights at zero) and is fitted on the
problems of every base together, from the sweeps ``--train`` names (a Python slice of the
sweeps' indices; the others are held out, and their bits are reported per base); it is
then rounded into the integer network, which keeps the bases' heads as they are (the
bases share one weight file).
"""

import argparse
import copy
import os

import numpy as np
import torch
from torch import nn

from omnicodec.entropy import logistic
from omnicodec.scans.field_network import FEATURE_BITS, FieldNet, IntegerFieldNet, quantize_head, save
from omnicodec.scans.lidar_network import FEATURES, INTER_FEATURES, INTER_FIELD, LOG_SCALE_RANGE
from omnicodec.scans.sensor_coding import LIMIT, FieldIo

BATCH = 16384
GRID = 0.001  # metres: the drive benchmark's grid


def drive_clouds(folder):
    """(name, PointCloud on the GRID) of the drive's .ply sweeps, in name order."""
    from omnicodec.data import PointCloud
    from omnicodec.io import read_ply

    for name in sorted(n for n in os.listdir(folder) if n.endswith(".ply")):
        positions = np.asarray(read_ply(os.path.join(folder, name)).positions, dtype=np.float64)
        yield name, PointCloud(np.rint(positions / GRID).astype(np.int32))


def problems(clouds, codec):
    """Per sweep after the first, its INTER_FIELD problems (features, reference, unit,
    values) as int64 tensors, None for a sweep not predicted; the first sweep's is None."""
    from omnicodec.scans import lidar, sensor as sensors
    from omnicodec.scans.sensor_coding import sensor_origin

    coder = lidar.ScanCoder(codec.load_network())
    reference, found = None, []
    for _, cloud in clouds:
        prepared = codec.prepare(cloud)
        grid = prepared[0]
        sensor = sensors.estimate_sensor(grid.coords, sensor_origin(grid.offset, grid.scale))
        parts = []
        if sensor is not None and reference is not None:
            _, _, counts, start, truth = lidar.sweep_truth(grid.coords, sensor, codec.quantum, codec.keep_every)
            _, previous = codec.prediction(reference, grid.scale, sensor, counts, truth)
            io = FieldIo(collect=lambda field, *values: parts.append(values) if field == INTER_FIELD else None)
            if previous is not None:
                coder.walk(io, counts, start, sensor, (1, 1 << 15, 0, 0), codec.quantum, truth, codec.keep_every,
                           previous)
        found.append([torch.cat([part[i] for part in parts]) for i in range(4)] if parts else None)
        reference = codec.encode_voxels(prepared, reference=reference)[0].reference
    return found


class InterNet(FieldNet):
    """The float twin of the INTER_FIELD head, fitted on the integer features (scaled
    back to floats) and rounded into the integer network afterwards."""

    FIELDS = (INTER_FIELD,)
    FEATURES = FEATURES + INTER_FEATURES
    LOG_SCALE_RANGE = LOG_SCALE_RANGE


def head_bits(net, features, reference, unit, values):
    """Code lengths (bits) of ``values`` under the logistics of ``net``'s head (an
    :class:`InterNet`), from the integer problems."""
    one = float(1 << logistic.LOCATION_BITS)
    location, scale = net(INTER_FIELD, features.to(torch.float32) / (1 << FEATURE_BITS),
                          reference.to(torch.float64) / one, unit.to(torch.float64) / one)
    return logistic.bits(values.to(torch.float64), location, scale, -LIMIT, LIMIT, logistic.OUTLIER_TAIL)


def started_head(start_head):
    """An :class:`InterNet` whose head is a copy of a float range head taking
    INTER_FEATURES more features, their weights at zero: it predicts as the head it starts
    from."""
    first = start_head[0]
    head = nn.Sequential(nn.Linear(first.in_features + INTER_FEATURES, first.out_features), nn.ReLU(),
                         *copy.deepcopy(start_head[2:]))
    with torch.no_grad():
        head[0].weight.zero_()
        head[0].weight[:, :first.in_features] = first.weight
        head[0].bias.copy_(first.bias)
    net = InterNet(first.out_features)
    net.heads[INTER_FIELD] = head
    return net


def fit(net, train, held_out, steps, lr, seed, log=print):
    """Adam on random batches of the training problems (a cosine schedule); logs the bits
    per value of the training set and of each held-out set (``held_out``: name -> problems)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)

    def report(step):
        with torch.no_grad():
            held = ", ".join(f"{name} {float(head_bits(net, *problems_).mean()):.4f}"
                             for name, problems_ in held_out.items())
            log(f"step {step}: bits per range, training {float(head_bits(net, *train).mean()):.4f}; held out: {held}")

    report(0)
    for step in range(1, steps + 1):
        rows = torch.randint(0, len(train[3]), (BATCH,), generator=generator)
        loss = head_bits(net, *(part[rows] for part in train)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 1000 == 0 or step == steps:
            report(step)
    return net


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drive", required=True, help="a folder of a drive's consecutive .ply sweeps")
    parser.add_argument("--train", default="1:12", help="the sweeps fitted on (a slice); the others are held out")
    parser.add_argument("--base", default="lidar-v4",
                        help="the integer models (comma-separated) whose coding problems are fitted on and whose "
                             "shared heads are kept")
    parser.add_argument("--start", default="lidar-v1", help="the float model whose range head the fit starts from")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from omnicodec import zoo
    from omnicodec.entropy import default_coder

    torch.manual_seed(args.seed)
    codecs = [zoo.codec_for(model, default_coder()) for model in args.base.split(",")]
    if len({codec.card.sha256 for codec in codecs}) != 1:
        raise SystemExit("the base models must share one weight file")
    if INTER_FIELD in codecs[0].load_network().config["fields"]:
        raise SystemExit(f"the base models have a {INTER_FIELD} head already: name the models it was fitted beside")
    train, held_out = {}, {}
    for codec in codecs:
        found = problems(drive_clouds(args.drive), codec)
        chosen = np.zeros(len(found), dtype=bool)
        chosen[slice(*(int(part) if part else None for part in args.train.split(":")))] = True
        for kept, which in ((train, chosen), (held_out, ~chosen)):
            parts = [found[i] for i in np.flatnonzero(which) if found[i] is not None]
            if not parts:
                raise SystemExit(f"--train {args.train} leaves no predicted sweep to fit on or to hold out")
            kept[codec.card.model_id] = [torch.cat([part[k] for part in parts]) for k in range(4)]
    train = [torch.cat([problems_[k] for problems_ in train.values()]) for k in range(4)]
    print(f"{len(train[3])} ranges to fit on")
    fitted = fit(started_head(zoo.load(args.start).heads["rho"]), train, held_out, args.steps, args.lr, args.seed)

    base = codecs[0].load_network()
    config = {key: value for key, value in base.config.items() if key != "arithmetic"}
    net = IntegerFieldNet(**{**config, "fields": [*config["fields"], INTER_FIELD],
                             "field_features": {INTER_FIELD: config["features"] + INTER_FEATURES}})
    net.load_state_dict(base.state_dict(), strict=False)  # all but the new head's
    quantize_head(net, INTER_FIELD, fitted.heads[INTER_FIELD])
    save(net, args.out)


if __name__ == "__main__":
    main()
