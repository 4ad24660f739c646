"""Sparse engines compared: one forward pass of the lossless model over a cloud's finest
scale (backbone context + the 8 coding stages), on each available engine, in one run.

    python -m benchmarks.engines [../shared/data/pointclouds/soldier_vox10_0690_partial.ply]
"""

import argparse
import time

import torch

from omnicodec import zoo
from omnicodec.grid import morton, octree, voxelize
from omnicodec.grid.octree import CODING_ORDER
from omnicodec.io import read_ply
from omnicodec.sparse import available_engines, use_engine


def forward_seconds(model, coords, repeats):
    known = torch.zeros((len(coords), 8))
    best = float("inf")
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            context = model.context(coords)
            for stage in range(len(CODING_ORDER)):
                model.stage_logits(context, known, stage)
            best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cloud", nargs="?",
                        default="../shared/data/pointclouds/soldier_vox10_0690_partial.ply")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    model = zoo.load(zoo.resolve("pointcloud").model_id)
    grid = voxelize(read_ply(args.cloud).positions)
    parents = octree.scales(grid.keys, grid.bits, grid.bits - 1)[0]
    coords = torch.from_numpy(morton.decode(parents, grid.bits - 1))
    times = {}
    for name in available_engines():
        with use_engine(name):
            times[name] = forward_seconds(model, coords, args.repeats)
        print(f"{name}: {times[name]:.2f} s for {len(coords):,} voxels "
              f"({torch.get_num_threads()} threads, best of {args.repeats})")
    if len(times) == 2:
        print(f"torch / minkowski time ratio: {times['torch'] / times['minkowski']:.2f}")


if __name__ == "__main__":
    main()
