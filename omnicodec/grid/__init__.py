"""The voxel grid every point-cloud family codes on: points <-> voxels, Morton keys,
octree scales and the coding order of children, blocks. Pure numpy, no models."""

from omnicodec.grid import blocks, morton, octree
from omnicodec.grid.voxelize import VoxelGrid, devoxelize, validate_points, voxelize

__all__ = ["VoxelGrid", "blocks", "devoxelize", "morton", "octree", "validate_points", "voxelize"]
