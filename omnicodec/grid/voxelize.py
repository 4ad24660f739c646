"""Points <-> integer voxels: quantization with offset/scale and duplicate merging."""

import dataclasses

import numpy as np

from omnicodec.errors import InputError
from omnicodec.grid import morton

DEFAULT_BITS = 10


@dataclasses.dataclass
class VoxelGrid:
    """A voxelized cloud: unique voxel keys in Morton order plus the map back to the input frame.

    A voxel with integer coordinates v stands for the point ``offset + v * scale``.
    """

    keys: np.ndarray
    bits: int
    offset: np.ndarray
    scale: float
    input_points: int
    integer_input: bool
    point_voxels: np.ndarray | None = None  # each input point's voxel (index into keys), if asked
    grid_choice: str | None = None  # how the default grid of float input was chosen

    @property
    def coords(self):
        return morton.decode(self.keys, self.bits)

    @property
    def duplicates_merged(self):
        return self.input_points - len(self.keys)

    def to_points(self, dtype=np.float64):
        return devoxelize(self.coords, self.offset, self.scale, dtype)


def validate_points(points):
    """Check an (N, 3) numeric array of finite coordinates; return it as a numpy array."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"points must have shape (N, 3), not {points.shape}")
    if points.dtype.kind not in "iuf":
        raise InputError(f"points must be numeric, not {points.dtype}")
    if len(points) == 0:
        raise InputError("empty point cloud: nothing to compress")
    if points.dtype.kind == "f":
        bad = ~np.isfinite(points).all(axis=1)
        if bad.any():
            raise InputError(f"{int(bad.sum())} point(s) have NaN or infinite coordinates")
    return points


def is_integer_grid(points):
    return points.dtype.kind in "iu" or bool(np.all(points == np.round(points)))


MAX_DECIMALS = 6  # precision detection looks for whole units of 1 down to 1e-6
KEEP_FRACTION = 0.001  # the default grid of unknown precision merges at most this (or the exact duplicates)


def detected_voxel_size(points):
    """The precision float coordinates already have, 10^-k for the smallest k in
    0..MAX_DECIMALS at which every coordinate is a whole number of such units (within the
    rounding of its float type), or None. KITTI stores whole millimetres: 0.001."""
    values = np.asarray(points)
    as_float = values.astype(np.float64)
    eps = np.finfo(values.dtype).eps if values.dtype.kind == "f" else np.finfo(np.float64).eps
    magnitude = float(np.abs(as_float).max()) if as_float.size else 0.0
    for decimals in range(MAX_DECIMALS + 1):
        unit = 10.0 ** decimals
        tolerance = 4 * magnitude * eps * unit + 1e-9
        if tolerance >= 0.05:
            return None
        scaled = as_float * unit
        if np.all(np.abs(scaled - np.rint(scaled)) <= tolerance):
            return 10.0 ** -decimals
    return None


def _merged_count(coords_float, offset, scale):
    keys = np.rint((coords_float - offset) / scale).astype(np.int64)
    return len(keys) - len(np.unique(keys, axis=0))


def default_voxel_size(points):
    """The grid of float input given neither --voxel-size nor --bits: the precision the
    coordinates have (:func:`detected_voxel_size`), else the coarsest of 2^10..2^21 voxels
    across that merges almost nothing (KEEP_FRACTION of the points, or only the exact
    duplicates). Returns (voxel size, how it was chosen)."""
    as_float = np.asarray(points, dtype=np.float64)
    offset = as_float.min(axis=0)
    extent = float((as_float.max(axis=0) - offset).max())
    detected = detected_voxel_size(points)
    if detected is not None and (extent / detected < 2 ** morton.MAX_BITS or extent == 0):
        return detected, "the coordinates' own precision"
    allowed = max(int(KEEP_FRACTION * len(as_float)), len(as_float) - len(np.unique(as_float, axis=0)))
    low, high = DEFAULT_BITS, morton.MAX_BITS
    while low < high:  # merged points only fall as the grid gets finer
        middle = (low + high) // 2
        if _merged_count(as_float, offset, extent / (2**middle - 1) if extent else 1.0) <= allowed:
            high = middle
        else:
            low = middle + 1
    return (extent / (2**low - 1) if extent else 1.0), f"{low} bits across: the coarsest grid that merges almost nothing"


def voxelize(points, voxel_size=None, bits=None, with_point_voxels=False):
    """Quantize points to a voxel grid of at most 2**bits per axis, merging duplicates.

    Integer input (or float input holding only whole numbers) with neither option is kept
    as is: offset 0 when all coordinates are non-negative and shifting would not make the
    grid shallower (so an 8i vox10 frame keeps its own grid), else the minimum. Otherwise the
    bounding box is fitted into 2**bits voxels or cut into cubes of ``voxel_size``; other
    float input with neither option gets :func:`default_voxel_size` (its own precision, or a
    grid that merges almost nothing), named in ``grid_choice``.
    """
    points = validate_points(points)
    if voxel_size is not None and bits is not None:
        raise InputError("give either a voxel size or a bit depth, not both")
    if voxel_size is not None and not (np.isfinite(voxel_size) and voxel_size > 0):
        raise InputError(f"voxel size must be a positive number, not {voxel_size}")
    if bits is not None and not 1 <= bits <= morton.MAX_BITS:
        raise InputError(f"bit depth must be between 1 and {morton.MAX_BITS}, not {bits}")
    integer_input = voxel_size is None and bits is None and is_integer_grid(points)
    grid_choice = None
    if voxel_size is None and bits is None and not integer_input:
        voxel_size, grid_choice = default_voxel_size(points)
    if integer_input:
        lowest = points.min(axis=0).astype(np.float64)
        highest = points.max(axis=0).astype(np.float64)
        # Keep the file's own grid origin unless shifting makes the grid shallower.
        keep_origin = (lowest >= 0).all() and (
            int(highest.max()).bit_length() <= int((highest - lowest).max()).bit_length())
        offset = np.zeros(3) if keep_origin else lowest
        scale = 1.0
        coords = np.rint(points.astype(np.float64) - offset).astype(np.int64)
    else:
        as_float = points.astype(np.float64)
        offset = as_float.min(axis=0)
        extent = float((as_float.max(axis=0) - offset).max())
        if voxel_size is not None:
            scale = float(voxel_size)
        else:
            depth = DEFAULT_BITS if bits is None else bits
            scale = extent / (2**depth - 1) if extent > 0 else 1.0
        coords = np.rint((as_float - offset) / scale).astype(np.int64)
    top = int(coords.max())
    depth = max(1, top.bit_length())
    if depth > morton.MAX_BITS:
        raise InputError(
            f"coordinate range {top + 1} exceeds 2^{morton.MAX_BITS} voxels per axis; "
            "pass a coarser --voxel-size or --bits"
        )
    point_keys = morton.encode(coords, depth)
    keys, point_voxels = (np.unique(point_keys, return_inverse=True) if with_point_voxels
                          else (morton.unique_keys(point_keys), None))
    return VoxelGrid(
        keys=keys, bits=depth, offset=np.asarray(offset, dtype=np.float64), scale=scale,
        input_points=len(points), integer_input=integer_input, point_voxels=point_voxels,
        grid_choice=grid_choice,
    )


def devoxelize(coords, offset, scale, dtype=np.float64):
    """Voxel coordinates -> points in the input frame, cast to ``dtype``."""
    points = np.asarray(coords, dtype=np.float64) * scale + np.asarray(offset, dtype=np.float64)
    if np.dtype(dtype).kind in "iu":
        return np.rint(points).astype(dtype)
    return points.astype(dtype)
