"""KITTI velodyne ``.bin`` sweeps: a flat little-endian float32 array of x, y, z and
reflectance per point, read as float32 positions and the ``intensity`` attribute (the
name the LiDAR codec looks for first), written likewise.

Non-finite values are read as they are, as PLY's are (the codecs refuse them with their
count), and an empty file is an empty cloud.
"""

import os

import numpy as np

from omnicodec.errors import InputError
from omnicodec.io.atomic import atomic_output
from omnicodec.io.inputs import cloud_arrays, file_bytes

_POINT = np.dtype("<f4")
_VALUES_PER_POINT = 4  # x, y, z, reflectance


def read_kitti_bin(path):
    """Read a KITTI ``.bin`` into a :class:`~omnicodec.data.PointCloud`; InputError naming
    ``path`` if its size is no whole number of points."""
    from omnicodec.data import PointCloud

    path = os.fspath(path)
    raw = file_bytes(path, "KITTI .bin")
    point_bytes = _VALUES_PER_POINT * _POINT.itemsize
    if len(raw) % point_bytes:
        raise InputError(f"{path}: not a KITTI .bin ({len(raw)} bytes is no whole number of {point_bytes}-byte "
                         "points of float32 x, y, z, reflectance)")
    values = np.frombuffer(raw, dtype=_POINT).reshape(-1, _VALUES_PER_POINT)
    return PointCloud(values[:, :3].astype(np.float32), {"intensity": values[:, 3].astype(np.float32)})


def write_kitti_bin(path, points, attributes=None):
    """Write a KITTI ``.bin`` atomically: ``points`` is a :class:`~omnicodec.data.PointCloud`
    or an (N, 3) array with optional ``attributes``, of which only an ``intensity`` (or
    ``reflectance``) fits the format: it is written as float32, 0 without one. InputError
    for other attributes and for values float32 would change (the format loses nothing
    silently)."""
    from omnicodec.data import INTENSITY_ATTRIBUTES

    points, attributes = cloud_arrays(points, attributes)
    intensity_name = next((name for name in INTENSITY_ATTRIBUTES if name in attributes), None)
    others = [name for name in attributes if name != intensity_name]
    if others:
        raise InputError(f"{path}: a KITTI .bin holds x, y, z and intensity only, not {', '.join(others)}: "
                         "write .pcd or .ply to keep them")
    intensity = np.zeros(len(points)) if intensity_name is None else np.asarray(attributes[intensity_name])
    if intensity.shape != (len(points),):
        raise InputError(f"{path}: {intensity_name} has shape {intensity.shape}, not ({len(points)},)")
    values = np.empty((len(points), _VALUES_PER_POINT), dtype=_POINT)
    for columns, source, what in ((slice(0, 3), points, "positions"), (3, intensity, intensity_name)):
        values[:, columns] = source
        if not np.array_equal(values[:, columns], source, equal_nan=True):
            raise InputError(f"{path}: {what} would change as float32, all a KITTI .bin holds: write .pcd or "
                             ".ply to keep them exactly")
    with atomic_output(path) as handle:
        handle.write(values.tobytes())
