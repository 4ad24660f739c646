"""The data omnicodec codes, as plain arrays: a point cloud is positions plus named
per-point attributes (as in Open3D); a light field is a grid of views
(:class:`omnicodec.io.lightfield.LightField`). Readers fill them, codecs code what they
can, writers write what came back."""

import dataclasses

import numpy as np

from omnicodec.io.lightfield import LightField

__all__ = ["COLOUR_ATTRIBUTES", "INTENSITY_ATTRIBUTES", "KIND_NAMES", "LightField", "PointCloud", "data_kind"]

# A cloud's colour (``rgb``) and the PLY properties that hold parts of it when a file has
# only some of them: --no-colour drops all of these.
COLOUR_ATTRIBUTES = ("rgb", "red", "green", "blue", "r", "g", "b", "diffuse_red", "diffuse_green",
                     "diffuse_blue")

# A LiDAR sweep's per-point return strength, under the names files give it.
INTENSITY_ATTRIBUTES = ("intensity", "reflectance")

KIND_NAMES = {"pointcloud": "point cloud", "lightfield": "light field"}  # for messages


@dataclasses.dataclass
class PointCloud:
    """``positions``: (N, 3) in the source's coordinate type (integer or float).
    ``attributes``: name -> (N,) or (N, C) array per point: ``rgb`` (N, 3), ``normals``
    (N, 3), ``intensity``, or any other property a file has, under its own name.
    ``faces``: (F, 3) int64 triangles of a mesh, when read with them, else None."""

    positions: np.ndarray
    attributes: dict = dataclasses.field(default_factory=dict)
    faces: np.ndarray | None = None

    def __len__(self):
        return len(self.positions)

    @property
    def normals(self):
        """(N, 3) float64 normals, or None."""
        normals = self.attributes.get("normals")
        return None if normals is None else np.asarray(normals, dtype=np.float64)


def data_kind(data):
    """"pointcloud" or "lightfield": which kind of codec takes ``data`` (a PointCloud, an
    (N, 3) array of positions, or a LightField)."""
    return "lightfield" if isinstance(data, LightField) else "pointcloud"


def without_attributes(cloud, names):
    """The cloud without the attributes ``names`` (the same object if it has none of them)."""
    if not isinstance(cloud, PointCloud) or not set(names) & set(cloud.attributes):
        return cloud
    kept = {name: value for name, value in cloud.attributes.items() if name not in names}
    return dataclasses.replace(cloud, attributes=kept)
