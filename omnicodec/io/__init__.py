"""File input/output: PLY point clouds, light fields and atomic writes. Knows nothing of codecs."""

import os

from omnicodec.errors import InputError
from omnicodec.io.atomic import atomic_output, write_bytes_atomic
from omnicodec.io.lightfield import FILE_SUFFIXES as LIGHTFIELD_SUFFIXES
from omnicodec.io.lightfield import read_lightfield, write_lightfield
from omnicodec.io.ply import read_ply, write_ply

__all__ = ["atomic_output", "file_kind", "read_data", "read_ply", "write_bytes_atomic",
           "write_data", "write_ply"]


def file_kind(path):
    """The kind of data a file or folder holds: "lightfield" for .h5/.hdf5/.npy or a
    folder of PNG views with no .ply in it, else "pointcloud"."""
    path = os.fspath(path)
    if path.lower().endswith(LIGHTFIELD_SUFFIXES):
        return "lightfield"
    if os.path.isdir(path):
        names = [name.lower() for name in os.listdir(path)]
        if any(n.endswith(".png") for n in names) and not any(n.endswith(".ply") for n in names):
            return "lightfield"
    return "pointcloud"


def read_data(path, kind, grid=None, dataset=None):
    """A PointCloud (PLY) or LightField (PNG folder, HDF5, npy; ``grid`` and ``dataset``
    as :func:`read_lightfield` takes them) from ``path``."""
    if kind == "lightfield":
        return read_lightfield(path, grid=grid, dataset=dataset)
    if grid is not None or dataset is not None:
        raise InputError("--grid and --dataset are light-field options; this input is a point cloud")
    return read_ply(path)


def write_data(path, data):
    """Write a PointCloud as PLY or a LightField as its path says, atomically."""
    from omnicodec.data import data_kind

    if data_kind(data) == "lightfield":
        write_lightfield(path, data)
    elif os.fspath(path).lower().endswith(LIGHTFIELD_SUFFIXES):
        raise InputError(f"{path}: a point cloud is written as PLY, not as a light-field file")
    else:
        write_ply(path, data)
