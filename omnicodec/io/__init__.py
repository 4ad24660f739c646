"""File input/output: PLY point clouds and atomic writes. Knows nothing of codecs."""

from omnicodec.io.atomic import atomic_output, write_bytes_atomic
from omnicodec.io.ply import Cloud, read_ply, write_ply

__all__ = ["Cloud", "atomic_output", "read_ply", "write_bytes_atomic", "write_ply"]
