"""Prepare the depth-camera model's training set: the coding problems of real RGB-D frames,
augmented.

    python -m datasets.depth --data ../shared/data --out ~/.cache/omnicodec/depth_fields.h5

Sources (../shared/data/pointclouds_rgb): organized 640x480 Kinect/PrimeSense frames in
float metres (PCL's tutorial clouds and the OSD learn scenes). The OSD test scenes are held
out (stored under ``held_out/``: validation only, never trained on). A frame on a grid
where no camera is found (most on 2 mm, where rounding blurs the pixels' lattice) is
skipped, as the codec leaves such clouds to the dense model. Each frame and its
augmentations (mirrored, upside down, on 1 and 2 mm grids) is voxelized on rint(metres /
voxel size), its camera estimated as the codec estimates it, and walked by the depth
coder: what every coded depth's prediction sees (features, reference, unit) and the
depth's rank are stored, so training (``omnicodec.train --kind depth``) sees exactly the
numbers coding does.
"""

import argparse
import pathlib

import h5py
import numpy as np
import torch

from datasets.problems import store
from omnicodec.io import read_ply
from omnicodec.scans import camera as cameras
from omnicodec.scans import depth
from omnicodec.scans.depth_network import FIELDS, DepthNet
from omnicodec.scans.sensor_coding import FieldIo

GRIDS = (0.001, 0.002)  # voxel sizes in metres
HELD_OUT = "pcl_mOSD_test"  # file names starting so are validation only


def frames(data):
    return sorted((data / "pointclouds_rgb").glob("*.ply"))


def variants(points):
    """(name, float positions) of a frame and its augmentations."""
    yield "as is", points
    yield "mirrored", points * np.array([-1.0, 1.0, 1.0])
    yield "upside down", points * np.array([1.0, -1.0, 1.0])


def coding_problems(positions, voxel_size):
    """{field: (features, reference, unit, value)} of one frame on a grid, or None."""
    grid = np.rint(positions / voxel_size).astype(np.int64)
    low = grid.min(axis=0)
    coords = np.unique(grid - low, axis=0)
    camera = cameras.estimate_camera(coords, tuple(float(v) for v in -low))
    if camera is None:
        return None
    _, table, truth, fallback = depth.frame_image(coords, camera)
    found = []
    io = FieldIo(collect=lambda field, *values: found.append(values))
    depth.DepthCoder(DepthNet()).walk(io, camera.height, camera.width, len(table), fallback, truth)
    return {FIELDS[0]: [torch.cat([part[i] for part in found]).numpy() for i in range(4)]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(out, "w") as f:
        for path in frames(pathlib.Path(args.data)):
            points = read_ply(path).positions.astype(np.float64)
            group = "held_out" if path.name.startswith(HELD_OUT) else "train"
            for variant, positions in variants(points):
                for size in GRIDS if group == "train" else GRIDS[:1]:
                    store(f, group, f"{path.name}/{variant}/{size * 1000:g}mm", coding_problems(positions, size))
                if group == "held_out":
                    break


if __name__ == "__main__":
    main()
