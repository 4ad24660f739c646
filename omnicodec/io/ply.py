"""The one PLY reader and writer of omnicodec (built on plyfile).

Reads ascii and binary (little/big endian) PLY with x/y/z of any numeric type,
tolerates any extra vertex properties and ignores faces unless asked for them.
"""

import numpy as np

from omnicodec.errors import InputError
from omnicodec.io.atomic import atomic_output
from omnicodec.io.inputs import cloud_arrays, existing_file

# The widest integer types of PLY (and of PCD, as older PCL reads it); 64-bit integers
# go to the first that holds all their values.
_WIDEST_COMMON_INTEGERS = ("i4", "u4")


# Attributes stored as several PLY properties: the attribute name -> its properties (written
# so), and other spellings files use for them (read too).
GROUPED_ATTRIBUTES = {"rgb": ("red", "green", "blue"), "normals": ("nx", "ny", "nz")}
OTHER_SPELLINGS = {"rgb": (("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue"))}
_PLY_SPELLINGS = {name: (members, *OTHER_SPELLINGS.get(name, ())) for name, members in GROUPED_ATTRIBUTES.items()}


def read_ply(path, with_faces=False):
    """Read a PLY file into a :class:`~omnicodec.data.PointCloud`: x/y/z as positions, every
    other numeric vertex property as an attribute (red/green/blue as ``rgb``, nx/ny/nz as
    ``normals``). Raise InputError with a one-line reason on bad input."""
    import plyfile

    from omnicodec.data import PointCloud

    path = existing_file(path, "PLY")
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
    return PointCloud(positions=points, attributes=grouped(properties, _PLY_SPELLINGS), faces=faces)


def grouped(properties, spellings):
    """Per-point properties (name -> (N,) values) -> attributes: for each attribute of
    ``spellings`` (its name -> the tuples of properties that hold its parts), the first
    complete tuple becomes one (N, C) attribute of their common type (unless a property has
    the attribute's name: then all keep theirs); every other property keeps its name."""
    attributes = dict(properties)
    for name, members in spellings.items():
        for spelling in members:
            if name not in attributes and all(member in attributes for member in spelling):
                columns = [attributes.pop(member) for member in spelling]
                attributes[name] = np.stack(columns, axis=1).astype(np.result_type(*columns))
    return attributes


def _ungrouped(attributes):
    """Attributes -> (PLY property name, (N,) values) columns."""
    columns = []
    for name, values in attributes.items():
        values = np.asarray(values)
        if values.ndim == 1:
            columns.append((name, values))
        elif name in GROUPED_ATTRIBUTES and values.shape[1:] == (len(GROUPED_ATTRIBUTES[name]),):
            columns += [(member, values[:, i]) for i, member in enumerate(GROUPED_ATTRIBUTES[name])]
        else:
            columns += [(f"{name}_{i}", values[:, i]) for i in range(values.shape[1])]
    return columns


def ply_storable(values):
    """``values`` in a type PLY has: float16 as float32; 64-bit integers in the widest PLY
    integer type that holds them all (int32, else uint32), else float64 where that is
    exact; InputError if nothing holds them."""
    values = np.asarray(values)
    if values.dtype == np.float16:
        return values.astype(np.float32)
    if values.dtype.kind not in "iu" or values.dtype.itemsize < 8:
        return values
    narrowed = narrowed_integers(values)
    if narrowed is not None:
        return narrowed
    largest = max(-int(values.min()), int(values.max()))
    if largest <= 2**53:
        return values.astype(np.float64)
    raise InputError(f"integer values up to {largest} cannot be stored exactly in a PLY file")


def narrowed_integers(values):
    """64-bit integer ``values`` as int32, else uint32, the first that holds them all; None
    if neither does (formats other tools read widely have no 64-bit integers, or not in
    every version)."""
    low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for code in _WIDEST_COMMON_INTEGERS:
        limits = np.iinfo(code)
        if limits.min <= low and high <= limits.max:
            return values.astype(code)
    return None


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


def write_ply(path, points, attributes=None, ascii=False):
    """Write a binary little-endian (or ``ascii``) PLY atomically: ``points`` is a
    :class:`~omnicodec.data.PointCloud` (its positions and attributes) or an (N, 3) array
    with optional ``attributes`` (name -> (N,) or (N, C) values, as read_ply gives them)."""
    import plyfile

    points, attributes = cloud_arrays(points, attributes)
    points = ply_storable(points)
    columns = [("x", points[:, 0]), ("y", points[:, 1]), ("z", points[:, 2])]
    columns += [(name, ply_storable(values)) for name, values in _ungrouped(attributes)]
    dtype = [(name, np.asarray(values).dtype.str) for name, values in columns]
    vertex = np.empty(len(points), dtype=dtype)
    for name, values in columns:
        vertex[name] = values
    element = plyfile.PlyElement.describe(vertex, "vertex")
    with atomic_output(path) as handle:
        plyfile.PlyData([element], text=ascii).write(handle)
