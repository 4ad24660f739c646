"""What every point-cloud reader checks of its input path first, and what every writer
takes."""

import os

import numpy as np

from omnicodec.errors import InputError


def existing_file(path, what):
    """``path`` as a str; InputError if it does not exist or is a folder (``what``: the
    format, for the message)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not a {what} file")
    return path


def cloud_arrays(points, attributes):
    """A writer's input -> ((N, 3) positions, {name: values}): ``points`` is a
    :class:`~omnicodec.data.PointCloud` (its attributes, with ``attributes`` added) or an
    (N, 3) array with optional ``attributes``."""
    from omnicodec.data import PointCloud

    if isinstance(points, PointCloud):
        points, attributes = points.positions, {**points.attributes, **(attributes or {})}
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"points must have shape (N, 3), not {points.shape}")
    return points, attributes or {}


def file_bytes(path, what):
    """The contents of ``path``; InputError if it is missing, a folder or unreadable."""
    path = existing_file(path, what)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
