"""Prepare the colour model's training set: coloured voxel clouds in one HDF5 file.

    python -m datasets.colours --data ../shared/data --out ~/.cache/omnicodec/colour_clouds.h5

Sources (all in ../shared/data; never the evaluation frames such as the 8i soldier):
- pointclouds/mvub/*: real upper-body captures (colours from the MPEG anchor's decoder),
  put back on their decoder's grid;
- pointclouds_rgb/*: RGB-D and stereo table-top captures (metres), voxelized at 1 and
  2 mm;
- pointclouds/scannet_scene0011_00.ply: an indoor reconstruction, voxelized at 5 and 10 mm;
- meshes/lee_perry_smith_head.ply: a scanned head with per-vertex colour, sampled densely
  (colours interpolated across triangles) on 8- and 9-bit grids, in a random rotation.
A voxel's colour is the rounded mean of the points in it. File layout: one group per
cloud with ``coords`` (N, 3) int32 and ``rgb`` (N, 3) uint8, in Morton order.
"""

import argparse
import os
import pathlib

import h5py
import numpy as np

from datasets.meshes import fit_to_grid, random_rotation, read_mesh, sample_surface
from datasets.prepare import decoder_cells
from omnicodec.attributes.attribute_codec import voxel_means
from omnicodec.grid import morton
from omnicodec.io import read_ply

SCAN_VOXELS = {"pointclouds_rgb": (0.001, 0.002), "scannet": (0.005, 0.01)}
HEAD_BITS = (8, 9)
HEAD_ROTATIONS = 1
DENSITY = 8.0


def voxel_colours(coords, rgb):
    """Integer coordinates with per-point colours -> (unique voxels in Morton order, the
    rounded mean colour of each)."""
    coords = np.asarray(coords, dtype=np.int64)
    coords = coords - coords.min(axis=0)
    bits = max(1, int(coords.max()).bit_length())
    keys, voxel = np.unique(morton.encode(coords, bits), return_inverse=True)
    return morton.decode(keys, bits), voxel_means(np.asarray(rgb, dtype=np.int64), voxel.reshape(-1), len(keys))[0]


def coloured_clouds(data, rng):
    """Yield (name, voxel coords, colours) of every training cloud."""
    for path in sorted((data / "pointclouds" / "mvub").glob("*.ply")):
        cloud = read_ply(path)
        cells = decoder_cells(cloud.positions.astype(np.float64))
        yield path.name, *voxel_colours(cells, cloud.attributes["rgb"])
    scans = [(p, SCAN_VOXELS["pointclouds_rgb"]) for p in sorted((data / "pointclouds_rgb").glob("*.ply"))]
    scans.append((data / "pointclouds" / "scannet_scene0011_00.ply", SCAN_VOXELS["scannet"]))
    for path, sizes in scans:
        cloud = read_ply(path)
        positions = cloud.positions.astype(np.float64)
        for size in sizes:
            cells = np.rint((positions - positions.min(axis=0)) / size)
            yield f"{path.name}/{size * 1000:g}mm", *voxel_colours(cells, cloud.attributes["rgb"])
    head = data / "meshes" / "lee_perry_smith_head.ply"
    vertices, faces = read_mesh(head)
    colours = read_ply(head).attributes["rgb"].astype(np.float64)
    for r in range(HEAD_ROTATIONS):
        rotation = random_rotation(rng)
        for bits in HEAD_BITS:
            points, values = sample_surface(fit_to_grid(vertices, bits, rotation, rng), faces, DENSITY, rng,
                                            vertex_values=colours)
            yield f"{head.name}/r{r}/b{bits}", *voxel_colours(np.rint(points), np.rint(values))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", type=pathlib.Path)
    parser.add_argument("--out", default=os.path.expanduser("~/.cache/omnicodec/colour_clouds.h5"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hold-out", nargs="*", default=(),
                        help="file names left out (e.g. sarah9_frame0000_cwi9.ply), to judge the model on")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    total, held = 0, set()

    def kept(name):
        source = name.split("/")[0]
        if source in args.hold_out:
            held.add(source)
            return False
        return True

    with h5py.File(tmp, "w") as f:
        f.attrs["seed"] = args.seed
        clouds = (cloud for cloud in coloured_clouds(args.data, rng) if kept(cloud[0]))
        for index, (name, coords, rgb) in enumerate(clouds):
            group = f.create_group(f"{index:03d}")
            group.attrs["source"] = name
            group.create_dataset("coords", data=coords.astype(np.int32), compression="gzip")
            group.create_dataset("rgb", data=rgb.astype(np.uint8), compression="gzip")
            total += len(coords)
            print(f"{name}: {len(coords)} coloured voxels", flush=True)
    if set(args.hold_out) - held:  # a misspelt name would leave its cloud in the training set
        os.remove(tmp)
        parser.error(f"--hold-out names no source cloud: {', '.join(sorted(set(args.hold_out) - held))}")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {total} voxels")


if __name__ == "__main__":
    main()
