"""Prepare the lossless model's training set: voxelized surface blocks in one HDF5 file.

    python -m datasets.prepare --data ../shared/data --out ~/.cache/omnicodec/train_blocks.h5

Sources (all in ../shared/data; never the evaluation frames such as the 8i soldier):
- meshes/*: each mesh with faces is randomly rotated, scaled into grids of 2^8, 2^9 and
  2^10 voxels, sampled at 8 points per voxel^2 and voxelized; point sets without faces
  (Armadillo) are voxelized at 2^7, where their points cover the surface.
- pointclouds/mvub/*: real upper-body captures, put back on their decoder's 9-bit (cwi9)
  or 8-bit (cwi8) grid, and the cwi9 ones also halved to 8 bits.
Each voxelized object is cut into aligned 64^3 blocks; blocks with fewer than 256 voxels
are dropped and at most --max-blocks random blocks are kept per object instance.

File layout: ``points`` (M, 3) uint8 block-local coordinates, ``offsets`` (B + 1,) int64
row ranges of each block, ``source`` (B,) index into the ``sources`` attribute.
"""

import argparse
import os
import pathlib

import h5py
import numpy as np

from datasets.meshes import fit_to_grid, random_rotation, read_mesh, sample_surface, voxelize_unique
from omnicodec.io import read_ply

BLOCK_BITS = 6
MIN_BLOCK_POINTS = 256
MESH_BITS = (8, 9, 10)
POINT_SET_BITS = 7
DENSITY = 8.0


def cut_blocks(coords, rng, max_blocks):
    """Aligned 2**BLOCK_BITS cubes of a voxel set -> list of block-local uint8 arrays."""
    block = coords >> BLOCK_BITS
    order = np.lexsort(block.T[::-1])
    coords, block = coords[order], block[order]
    cut = np.flatnonzero((np.diff(block, axis=0) != 0).any(axis=1)) + 1
    pieces = [p for p in np.split(coords, cut) if len(p) >= MIN_BLOCK_POINTS]
    if len(pieces) > max_blocks:
        pieces = [pieces[i] for i in rng.choice(len(pieces), max_blocks, replace=False)]
    return [(p & (2**BLOCK_BITS - 1)).astype(np.uint8) for p in pieces]


def decoder_cells(points):
    """MVUB decodes sit on a regular per-axis grid (cell centres of the decoder's octree):
    each point's integer cell indices, from each axis' median spacing."""
    coords = np.empty(points.shape, dtype=np.int64)
    for axis in range(3):
        values = np.unique(points[:, axis])
        cell = np.median(np.diff(values))
        coords[:, axis] = np.rint((points[:, axis] - values[0]) / cell)
    return coords


def decoder_grid(points, bits):
    """The unique cells of an MVUB decode (see :func:`decoder_cells`)."""
    return voxelize_unique(decoder_cells(points), bits)


def object_instances(data, rotations, rng):
    """Yield (name, voxel coords) for every source object instance."""
    for path in sorted((data / "meshes").iterdir()):
        vertices, faces = read_mesh(path)
        for r in range(rotations):
            rotation = random_rotation(rng)
            if faces is None:
                v = fit_to_grid(vertices, POINT_SET_BITS, rotation, rng)
                yield f"{path.name}/r{r}/b{POINT_SET_BITS}", voxelize_unique(v, POINT_SET_BITS)
                continue
            for bits in MESH_BITS:
                v = fit_to_grid(vertices, bits, rotation, rng)
                points = sample_surface(v, faces, DENSITY, rng)
                yield f"{path.name}/r{r}/b{bits}", voxelize_unique(points, bits)
    for path in sorted((data / "pointclouds" / "mvub").glob("*.ply")):
        bits = 9 if "cwi9" in path.name else 8
        coords = decoder_grid(read_ply(path).positions.astype(np.float64), bits)
        yield f"{path.name}/b{bits}", coords
        if bits == 9:
            yield f"{path.name}/b8", voxelize_unique(coords >> 1, 9)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", type=pathlib.Path)
    parser.add_argument("--out", default=os.path.expanduser("~/.cache/omnicodec/train_blocks.h5"))
    parser.add_argument("--rotations", type=int, default=3)
    parser.add_argument("--max-blocks", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    blocks, sources, names = [], [], []
    for name, coords in object_instances(args.data, args.rotations, rng):
        pieces = cut_blocks(coords, rng, args.max_blocks)
        print(f"{name}: {len(coords)} voxels -> {len(pieces)} blocks", flush=True)
        names.append(name)
        blocks += pieces
        sources += [len(names) - 1] * len(pieces)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("points", data=np.concatenate(blocks), compression="gzip")
        f.create_dataset("offsets", data=np.cumsum([0] + [len(b) for b in blocks]))
        f.create_dataset("source", data=np.asarray(sources, dtype=np.int32))
        f.attrs["sources"] = names
        f.attrs["block_bits"] = BLOCK_BITS
        f.attrs["seed"] = args.seed
    os.replace(tmp, args.out)
    total = sum(len(b) for b in blocks)
    print(f"wrote {args.out}: {len(blocks)} blocks, {total} voxels")


if __name__ == "__main__":
    main()
