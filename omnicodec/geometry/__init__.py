"""Points <-> voxels, octree scales and blocks. Pure numpy, no models."""

from omnicodec.geometry import blocks, morton, octree
from omnicodec.geometry.voxelize import VoxelGrid, devoxelize, validate_points, voxelize

__all__ = ["VoxelGrid", "blocks", "devoxelize", "morton", "octree", "validate_points", "voxelize"]
