"""Prepare the LiDAR model's training set: the coding problems of real sweeps, augmented.

    python -m datasets.lidar --data ../shared/data --out ~/.cache/omnicodec/lidar_fields.h5

Sources (../shared/data): lidar/*.ply (KITTI HDL-64E, nuScenes HDL-32E, Ouster 32- and
128-beam sweeps, Argoverse) and pointclouds/semantickitti_000000.ply, float metres in
the sensor frame. Each sweep, and each of its augmentations (a random rotation about the
vertical axis, a mirror image, every other laser dropped (a sensor of half the beams),
coarser grids, and lossy rates' coarser units and dropped returns), is voxelized, its sensor estimated as the codec estimates it, and
walked by the scan coder: what every coded value's prediction sees (features, reference,
unit) and the value are stored per field, so training (``omnicodec.train --kind lidar``)
sees exactly the numbers coding does. Sweeps whose sensor is not found are skipped (the
codec codes those with the dense model). ``--hold-out`` names sweeps kept for validation
(stored under ``held_out/``).
"""

import argparse
import pathlib

import h5py
import numpy as np
import torch

from datasets.problems import store
from omnicodec.io import read_ply
from omnicodec.scans import lidar
from omnicodec.scans import sensor as sensors
from omnicodec.scans.lidar_network import FIELDS, LidarNet
from omnicodec.scans.sensor_coding import FieldIo

GRIDS = (0.001, 0.002, 0.005)  # voxel sizes in metres
HOLD_OUT = ("kitti_object_000114.ply",)
LOSSY = ((4, 1), (16, 1), (64, 1), (96, 2), (192, 4), (256, 8))  # (quantum, keep_every) of the lossy rates' kind


def sweeps(data):
    return sorted((data / "lidar").glob("*.ply")) + [data / "pointclouds" / "semantickitti_000000.ply"]


def variants(points, rng):
    """(name, float positions) of a sweep and its augmentations."""
    yield "as is", points
    angle = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(angle), np.sin(angle)
    rotated = points @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T
    yield "rotated", rotated
    yield "mirrored", points * np.array([1.0, -1.0, 1.0])


def coding_problems(positions, voxel_size, drop_lasers=False, quantum=1, keep_every=1):
    """{field: (features, reference, unit, value)} of one sweep on a grid, or None."""
    coords = np.unique(np.rint(positions / voxel_size).astype(np.int64), axis=0)
    sensor = sensors.estimate_sensor(coords)
    if sensor is None:
        return None
    if drop_lasers:  # a sensor with half the beams: keep the points of every other laser
        chosen, laser, *_ = sensors.scan_order(coords, sensor)
        coords = coords[chosen[laser % 2 == 0]]
        sensor = sensors.estimate_sensor(coords)
        if sensor is None:
            return None
    _, _, counts, start, truth = lidar.sweep_truth(coords, sensor, quantum, keep_every)
    found = {field: [] for field in FIELDS}
    io = FieldIo(collect=lambda field, *values: found[field].append(values))
    lidar.ScanCoder(LidarNet()).walk(io, counts, start, sensor, (1, 1 << 15, 0, 0), quantum, truth, keep_every)
    return {field: [torch.cat([part[i] for part in found[field]]).numpy() for i in range(4)]
            for field in FIELDS}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    out = pathlib.Path(args.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(out, "w") as f:
        for path in sweeps(pathlib.Path(args.data)):
            points = read_ply(path).positions.astype(np.float64)
            group = "held_out" if path.name in HOLD_OUT else "train"
            for variant, positions in variants(points, rng):
                for size in GRIDS if variant == "as is" else GRIDS[:1]:
                    for drop in (False, True) if variant == "as is" and size == GRIDS[0] else (False,):
                        store(f, group, f"{path.name}/{variant}/{size * 1000:g}mm" + ("/half" if drop else ""),
                               coding_problems(positions, size, drop))
            for quantum, keep_every in LOSSY:
                store(f, group, f"{path.name}/lossy/{quantum}x{keep_every}",
                       coding_problems(points, GRIDS[0], quantum=quantum, keep_every=keep_every))


if __name__ == "__main__":
    main()
