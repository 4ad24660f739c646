"""File input/output: point clouds, light fields and atomic writes. Knows nothing of codecs.

Point clouds are read and written as their path's suffix says: ``.pcd`` is PCL's PCD (read
ascii, binary and binary_compressed; written binary), ``.bin`` a KITTI velodyne sweep
(float32 x, y, z, intensity), anything else PLY. Light fields are PNG folders, HDF5 or
.npy (:mod:`omnicodec.io.lightfield`).
"""

import os

from omnicodec.errors import InputError
from omnicodec.io.atomic import atomic_output, write_bytes_atomic
from omnicodec.io.kitti import read_kitti_bin, write_kitti_bin
from omnicodec.io.lightfield import FILE_SUFFIXES as LIGHTFIELD_SUFFIXES
from omnicodec.io.lightfield import read_lightfield, write_lightfield
from omnicodec.io.pcd import read_pcd, write_pcd
from omnicodec.io.ply import read_ply, write_ply

__all__ = ["atomic_output", "file_kind", "read_data", "read_kitti_bin", "read_pcd", "read_ply",
           "read_point_cloud", "write_bytes_atomic", "write_data", "write_kitti_bin", "write_pcd", "write_ply"]

# A point-cloud file's suffix -> its (reader, writer); PLY for every other suffix.
POINT_CLOUD_FORMATS = {".pcd": (read_pcd, write_pcd), ".bin": (read_kitti_bin, write_kitti_bin)}
POINT_CLOUD_SUFFIXES = (".ply", *POINT_CLOUD_FORMATS)


def file_kind(path):
    """The kind of data a file or folder holds: "lightfield" for .h5/.hdf5/.npy or a
    folder of PNG views with no point-cloud file in it, else "pointcloud"."""
    path = os.fspath(path)
    if path.lower().endswith(LIGHTFIELD_SUFFIXES):
        return "lightfield"
    if os.path.isdir(path):
        names = [name.lower() for name in os.listdir(path)]
        if any(n.endswith(".png") for n in names) and not any(n.endswith(POINT_CLOUD_SUFFIXES) for n in names):
            return "lightfield"
    return "pointcloud"


def read_data(path, kind, grid=None, dataset=None):
    """A PointCloud (PLY, PCD or KITTI .bin, as the suffix says) or LightField (PNG folder,
    HDF5, npy; ``grid`` and ``dataset`` as :func:`read_lightfield` takes them) from ``path``."""
    if kind == "lightfield":
        return read_lightfield(path, grid=grid, dataset=dataset)
    if grid is not None or dataset is not None:
        raise InputError("--grid and --dataset are light-field options; this input is a point cloud")
    return read_point_cloud(path)


def read_point_cloud(path):
    """A PointCloud from a PLY, PCD or KITTI .bin file, as its suffix says."""
    return _point_cloud_format(path)[0](path)


def write_data(path, data):
    """Write a PointCloud as PLY, PCD or KITTI .bin, or a LightField, as its path says, atomically."""
    from omnicodec.data import data_kind

    if data_kind(data) == "lightfield":
        write_lightfield(path, data)
    elif os.fspath(path).lower().endswith(LIGHTFIELD_SUFFIXES):
        raise InputError(f"{path}: a point cloud is written as PLY, PCD or KITTI .bin, not as a light-field file")
    else:
        _point_cloud_format(path)[1](path, data)


def _point_cloud_format(path):
    """(reader, writer) of the point-cloud format ``path``'s suffix names."""
    return POINT_CLOUD_FORMATS.get(os.path.splitext(os.fspath(path))[1].lower(), (read_ply, write_ply))
