"""The one PLY reader and writer of omnicodec (built on plyfile).

Reads ascii and binary (little/big endian) PLY with x/y/z of any numeric type,
tolerates any extra vertex properties and ignores faces unless asked for them.
"""

import dataclasses
import os

import numpy as np

from omnicodec.errors import InputError
from omnicodec.io.atomic import atomic_output


@dataclasses.dataclass
class Cloud:
    """Points read from a PLY file.

    ``points`` is (N, 3) in the file's own coordinate type (an integer or float dtype);
    ``properties`` holds every other vertex property by name (colours, normals, ...);
    ``faces`` is (F, 3) int64 triangles when requested and present, else None.
    """

    points: np.ndarray
    properties: dict
    faces: np.ndarray | None = None

    @property
    def normals(self):
        names = ("nx", "ny", "nz")
        if all(n in self.properties for n in names):
            return np.stack([self.properties[n] for n in names], axis=1).astype(np.float64)
        return None


def read_ply(path, with_faces=False):
    """Read a PLY file into a :class:`Cloud`; raise InputError with a one-line reason on bad input."""
    import plyfile

    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not a PLY file")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
            if magic[:3] != b"ply":
                raise InputError(f"{path}: not a PLY file (it does not start with 'ply')")
            handle.seek(0)
            data = plyfile.PlyData.read(handle)
    except InputError:
        raise
    except Exception as exc:  # plyfile raises many types on malformed input
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: malformed PLY ({reason})") from exc
    names = [element.name for element in data.elements]
    if "vertex" not in names:
        raise InputError(f"{path}: PLY has no 'vertex' element")
    vertex = data["vertex"].data
    fields = vertex.dtype.names or ()
    missing = [axis for axis in ("x", "y", "z") if axis not in fields]
    if missing:
        raise InputError(f"{path}: PLY vertices have no {'/'.join(missing)} property")
    dtypes = {np.dtype(vertex.dtype[axis]) for axis in ("x", "y", "z")}
    coord_dtype = np.result_type(*dtypes)
    if coord_dtype.kind not in "iuf":
        raise InputError(f"{path}: x/y/z must be numeric, not {coord_dtype}")
    points = np.stack([np.asarray(vertex[axis]) for axis in ("x", "y", "z")], axis=1).astype(coord_dtype)
    properties = {
        name: np.asarray(vertex[name])
        for name in fields
        if name not in ("x", "y", "z") and vertex.dtype[name].kind in "iuf"
    }
    faces = _read_faces(data, names, path) if with_faces else None
    return Cloud(points=points, properties=properties, faces=faces)


def _read_faces(data, names, path):
    """Triangles from a 'face' element (polygons fanned) or a 'tristrips' element."""
    if "face" in names and data["face"].count:
        face = data["face"].data
        key = next((k for k in face.dtype.names if "vert" in k), None)
        if key is None:
            raise InputError(f"{path}: face element has no vertex index list")
        triangles = []
        for polygon in face[key]:
            polygon = np.asarray(polygon, dtype=np.int64)
            for i in range(1, len(polygon) - 1):
                triangles.append((polygon[0], polygon[i], polygon[i + 1]))
        return np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    if "tristrips" in names:
        strips = data["tristrips"].data
        key = strips.dtype.names[0]
        triangles = []
        for strip in strips[key]:
            strip = np.asarray(strip, dtype=np.int64)
            # -1 restarts a strip; every other triangle flips orientation.
            for run in np.split(strip, np.flatnonzero(strip < 0)):
                run = run[run >= 0]
                for i in range(len(run) - 2):
                    a, b, c = run[i], run[i + 1], run[i + 2]
                    if a != b and b != c and a != c:
                        triangles.append((a, b, c) if i % 2 == 0 else (b, a, c))
        return np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    return None


def write_ply(path, points, properties=None, ascii=False):
    """Write points (and optional per-vertex properties) to a binary little-endian PLY, atomically."""
    import plyfile

    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"points must have shape (N, 3), not {points.shape}")
    columns = [("x", points[:, 0]), ("y", points[:, 1]), ("z", points[:, 2])]
    columns += list((properties or {}).items())
    dtype = [(name, np.asarray(values).dtype.str) for name, values in columns]
    vertex = np.empty(len(points), dtype=dtype)
    for name, values in columns:
        vertex[name] = values
    element = plyfile.PlyElement.describe(vertex, "vertex")
    with atomic_output(path) as handle:
        plyfile.PlyData([element], text=ascii).write(handle)
