"""Geometry distortion of a point cloud against a reference: D1 and D2 PSNR as MPEG pc_error.

The numbers are those of pc_error release-v0.14.2 (mpeg-pcc-dmetric) run with its default
settings and a given peak, ``pc_error -a A -b B [-n A_n] -r PEAK --hausdorff=1``:

* Both clouds are read as float32 (pc_error stores coordinates so), then duplicate points
  are merged (``--dropdups=2``: a point is kept once; for a normal, its first occurrence).
* One direction, "A->B", loops over the points of A and finds each one's nearest neighbour
  in B. D1 of a point is its squared distance to that neighbour; D2 is the squared length of
  the error vector projected on the neighbour's normal. MSE is the mean over the points of
  A, Hausdorff the maximum. "B->A" is the same with the roles swapped; "symmetric" takes,
  metric by metric, the worse (larger) of the two.
* PSNR = 10 log10(3 p^2 / MSE): the 3 because the error sums three coordinates.
* D2 uses only the reference's (A's) normals. B->A projects on the normals of A directly.
  A->B needs normals on B: pc_error makes them from A's (its ``scaleNormals``): each point
  of A adds its normal to its nearest point(s) of B, every B point averages what it got,
  and a B point that got nothing averages the normals of its own nearest point(s) of A.
  The averages are not renormalised, so opposite normals partly cancel: that is pc_error.
* Ties (``--averageNormals=1``): a point with several neighbours at the same distance gets
  as D2 the mean of the squared projections on every one of them (each with its own error
  vector and normal). For D2, "same distance" means a chain of sorted squared distances whose
  consecutive gaps are below 1e-8; for normal transfer it means exactly equal. pc_error
  looks at 10 (D2) or 5 (transfer) neighbours, 5 more while the last one still ties with the
  first, at most 30; which 30 of more than 30 exact ties it picks depends on its k-d tree.

Deliberate differences, none of which moves a value by more than rounding: everything runs
in float64, where pc_error sums the normals it carries over to B, and projects, in float32
(on the shared vectors the largest effect is 1.4e-6 relative, 6e-6 dB, on pair_06, where
thousands of normals land on each of B's 8 points); a zero Hausdorff distance is reported
as 0 (pc_error starts its maximum at DBL_MIN and prints 2.22507386e-308).
"""

import dataclasses
import math

import numpy as np
from scipy.spatial import cKDTree

from omnicodec.errors import InputError
from omnicodec.io import read_point_cloud

TIE_TOLERANCE = 1e-8
"""Consecutive squared distances closer than this are equal for D2 (pc_error's threshold)."""

MAX_TIED_NEIGHBOURS = 30
"""pc_error never looks at more neighbours than this when it gathers ties."""

FIRST_TIE_SEARCH = 10
"""How many neighbours pc_error first asks for when measuring D2 (then 5 more at a time)."""

DEFAULT_NORMAL_NEIGHBOURS = 20
"""k of the normal estimation: as the k-NN plane fit (open3d, knn=20) that made the shared
reference normals (metric_vectors/*/A_n.ply, soldier_vox10_0690_partial_n.ply)."""

_NORMAL_CHUNK = 1 << 16  # points per block of normal estimation: bounds its memory


@dataclasses.dataclass(frozen=True)
class Distortion:
    """Geometry distortion of one direction (or the symmetric worst of both).

    MSE and Hausdorff values are squared distances in the clouds' units; PSNRs are in dB
    (``inf`` for a zero error). The D2 fields are None when point-to-plane was not asked for.
    """

    d1_mse: float
    d1_psnr: float
    d1_hausdorff: float
    d1_hausdorff_psnr: float
    d2_mse: float | None = None
    d2_psnr: float | None = None
    d2_hausdorff: float | None = None
    d2_hausdorff_psnr: float | None = None

    @classmethod
    def from_errors(cls, peak, d1_mse, d1_hausdorff, d2_mse=None, d2_hausdorff=None):
        """Build from the squared errors, adding their PSNRs for this peak."""
        d2 = {}
        if d2_mse is not None:
            d2 = {"d2_mse": float(d2_mse), "d2_psnr": psnr(d2_mse, peak),
                  "d2_hausdorff": float(d2_hausdorff),
                  "d2_hausdorff_psnr": psnr(d2_hausdorff, peak)}
        return cls(d1_mse=float(d1_mse), d1_psnr=psnr(d1_mse, peak),
                   d1_hausdorff=float(d1_hausdorff),
                   d1_hausdorff_psnr=psnr(d1_hausdorff, peak), **d2)

    def as_dict(self):
        """pc_error's names ("D1_mse", "D2_hausdorff_psnr"...), D2 left out when absent."""
        return {name[:2].upper() + name[2:]: value
                for name, value in dataclasses.asdict(self).items() if value is not None}


@dataclasses.dataclass(frozen=True)
class PointMetrics:
    """D1/D2 distortion of a degraded cloud B against a reference cloud A.

    ``reference_points`` and ``degraded_points`` count the points after merging duplicates;
    ``normals_estimated`` says whether D2 used normals estimated by :func:`estimate_normals`.
    """

    peak: float
    reference_points: int
    degraded_points: int
    a_to_b: Distortion
    b_to_a: Distortion
    symmetric: Distortion
    normals_estimated: bool = False

    def as_dict(self):
        """The layout of pc_error's report (and of metric_vectors/*/expected.json)."""
        return {"peak": self.peak, "n_A": self.reference_points, "n_B": self.degraded_points,
                "A->B": self.a_to_b.as_dict(), "B->A": self.b_to_a.as_dict(),
                "symmetric": self.symmetric.as_dict()}


def psnr(mse, peak):
    """pc_error's geometry PSNR in dB: 10 log10(3 peak^2 / mse), ``inf`` when mse is 0."""
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(3.0 * peak * peak / mse)


def point_metrics(reference, degraded, peak, reference_normals=None, *,
                  point_to_plane=True, estimate_missing_normals=True):
    """D1 (point-to-point) and D2 (point-to-plane) distortion of ``degraded`` against ``reference``.

    ``reference`` (A) and ``degraded`` (B) are (N, 3) arrays; ``peak`` is the PSNR peak
    (1023 for vox10 data); ``reference_normals`` is (N, 3), one normal per reference point.
    Without them D2 uses :func:`estimate_normals` of the reference, unless
    ``estimate_missing_normals`` is False (then InputError). ``point_to_plane=False``
    computes D1 only, as pc_error does when it has no normals.
    """
    reference = _checked_points(reference, "reference")
    reference_points, first = _merge_duplicates(reference)
    degraded_points, _ = _merge_duplicates(_checked_points(degraded, "degraded cloud"))
    peak = check_peak(peak, reference_points)
    normals = None
    normals_estimated = False
    if point_to_plane:
        if reference_normals is not None:
            normals = _checked_normals(reference_normals, len(reference))[first]
        elif estimate_missing_normals:
            normals = estimate_normals(reference_points)
            normals_estimated = True
        else:
            raise InputError("D2 needs the reference's normals: none given, "
                             "and estimating them is disabled")

    a_to_b = _Neighbours.among(degraded_points, reference_points)
    b_to_a = _Neighbours.among(reference_points, degraded_points)
    degraded_normals = None if normals is None else _transfer_normals(normals, a_to_b, b_to_a)

    forward = _distortion(reference_points, degraded_points, degraded_normals, a_to_b, peak)
    backward = _distortion(degraded_points, reference_points, normals, b_to_a, peak)
    return PointMetrics(peak=peak, reference_points=len(reference_points),
                        degraded_points=len(degraded_points), a_to_b=forward, b_to_a=backward,
                        symmetric=_worse(forward, backward, peak),
                        normals_estimated=normals_estimated)


def file_metrics(path_a, path_b, peak, normals_path=None, *,
                 point_to_plane=True, estimate_missing_normals=True):
    """:func:`point_metrics` of two PLY files, A the reference, as ``pc_error -a A -b B -n N``.

    D2 takes the reference normals from ``normals_path`` (a PLY of the same points with
    nx/ny/nz) when given, else from A's own nx/ny/nz when it has them, else estimates them.
    """
    points, normals = reference_cloud(path_a, normals_path if point_to_plane else None)
    return point_metrics(points, read_point_cloud(path_b).positions, peak, normals,
                         point_to_plane=point_to_plane,
                         estimate_missing_normals=estimate_missing_normals)


def reference_cloud(path, normals_path=None, cloud=None):
    """(points, normals or None) of a reference PLY: normals from ``normals_path`` (a PLY of
    the same points with nx/ny/nz) when given, else the file's own when it has them.
    ``cloud``: the PLY at ``path`` when the caller has read it already."""
    reference = read_point_cloud(path) if cloud is None else cloud
    if normals_path is None:
        return reference.positions, reference.normals
    carrier = read_point_cloud(normals_path)
    if carrier.normals is None:
        raise InputError(f"{normals_path}: PLY has no nx/ny/nz normals")
    if not _same_point_set(reference.positions, carrier.positions):
        raise InputError(f"{normals_path}: its points are not those of {path}")
    return carrier.positions, carrier.normals


def estimate_normals(points, k=DEFAULT_NORMAL_NEIGHBOURS):
    """Unit normals of an (N, 3) cloud by a plane fit (PCA) to each point's k nearest neighbours.

    The neighbourhood includes the point itself (k = min(k, N)); the normal is the
    eigenvector of the smallest eigenvalue of the neighbourhood's covariance, as open3d's
    ``estimate_normals(KDTreeSearchParamKNN(k))``, which made the shared reference normals.
    Orientation: open3d leaves the sign arbitrary; here every normal points away from the
    cloud's centroid, so that the normals pc_error averages (over equidistant neighbours,
    and when it carries them over to the degraded cloud) do not cancel on a smooth surface.
    """
    points = _checked_points(points, "cloud")
    if len(points) < 3:
        raise InputError(f"estimating normals needs at least 3 points, not {len(points)}")
    k = min(int(k), len(points))
    if k < 3:
        raise InputError(f"estimating normals needs k >= 3 neighbours, not {k}")
    tree = cKDTree(points, balanced_tree=False, compact_nodes=False)
    normals = np.empty_like(points)
    for start in range(0, len(points), _NORMAL_CHUNK):
        block = points[start:start + _NORMAL_CHUNK]
        _, neighbours = tree.query(block, k=k, workers=-1)
        patches = points[neighbours]
        patches -= patches.mean(axis=1, keepdims=True)
        _, vectors = np.linalg.eigh(patches.transpose(0, 2, 1) @ patches)
        normals[start:start + len(block)] = vectors[:, :, 0]
    inward = np.einsum("ij,ij->i", normals, points - points.mean(axis=0)) < 0
    normals[inward] *= -1
    return normals


@dataclasses.dataclass
class _Neighbours:
    """Nearest neighbours of query points among tree points, with pc_error's two kinds of ties.

    ``nearest`` and ``sqdist``: one neighbour per query point and its squared distance.
    ``chained`` and ``exact``: (query rows, neighbour indices) pairs of every neighbour at
    "the same distance" as the nearest one: within chained gaps < TIE_TOLERANCE (D2) or
    exactly equal (normal transfer); a point without ties has one pair.
    """

    nearest: np.ndarray
    sqdist: np.ndarray
    chained: tuple
    exact: tuple

    @classmethod
    def among(cls, tree_points, queries):
        """The neighbours of ``queries`` among ``tree_points`` (both (N, 3), duplicates merged)."""
        return cls.search(cKDTree(tree_points, balanced_tree=False, compact_nodes=False),
                          tree_points, queries)

    @classmethod
    def search(cls, tree, tree_points, queries):
        # Two neighbours settle most points. Those whose second neighbour may tie with the
        # first are searched again as pc_error does: 10 neighbours, and the few whose tenth
        # still ties exactly with the first up to its limit of 30.
        indices = _query(tree, queries, 2)
        sqdist = _squared_distances(queries, tree_points, indices)
        suspect = sqdist[:, 1] - sqdist[:, 0] < TIE_TOLERANCE
        alone = np.flatnonzero(~suspect)
        chained, exact = [(alone, indices[alone, 0])], [(alone, indices[alone, 0])]

        rows = np.flatnonzero(suspect)
        deep = _query(tree, queries[rows], FIRST_TIE_SEARCH)
        deep_sqdist = _squared_distances(queries[rows], tree_points, deep)
        crowded = deep_sqdist[:, -1] == deep_sqdist[:, 0]
        deepest_rows = rows[crowded]
        deepest = _query(tree, queries[deepest_rows], MAX_TIED_NEIGHBOURS)
        deepest_sqdist = _squared_distances(queries[deepest_rows], tree_points, deepest)
        groups = [(rows[~crowded], deep[~crowded], deep_sqdist[~crowded]),
                  (deepest_rows, deepest, deepest_sqdist)]
        for group_rows, group_indices, group_sqdist in groups:
            chained.append(_pairs(group_rows, group_indices, _chained_ties(group_sqdist)))
            exact.append(_pairs(group_rows, group_indices, group_sqdist == group_sqdist[:, :1]))
        return cls(nearest=indices[:, 0], sqdist=sqdist[:, 0],
                   chained=_concatenate_pairs(chained), exact=_concatenate_pairs(exact))


def _query(tree, queries, k):
    """(M, k) indices of each query's k nearest tree points; len(tree points) where fewer exist."""
    if len(queries) == 0:
        return np.empty((0, k), dtype=np.intp)
    _, indices = tree.query(queries, k=k, workers=-1)
    return indices.reshape(len(queries), k)


def _squared_distances(queries, tree_points, indices):
    """Squared distances recomputed exactly as pc_error sums them ((dx^2 + dy^2) + dz^2);
    cKDTree returns square roots, which would blur exact ties. inf for missing neighbours."""
    missing = indices == len(tree_points)
    error = queries[:, None, :] - tree_points[np.where(missing, 0, indices)]
    sqdist = error[..., 0] ** 2 + error[..., 1] ** 2 + error[..., 2] ** 2
    sqdist[missing] = np.inf
    return sqdist


def _chained_ties(sqdist):
    """Mask of the neighbours pc_error's D2 averages over, from (M, K) sorted squared distances.

    A neighbour ties when every gap from the first one to it is below TIE_TOLERANCE, among
    the first ``FIRST_TIE_SEARCH + 5j`` neighbours: pc_error stops widening its search once
    the last neighbour it got no longer exactly equals the first.
    """
    with np.errstate(invalid="ignore"):  # inf - inf past the last existing neighbour
        gaps = np.abs(np.diff(sqdist, axis=1)) < TIE_TOLERANCE
    chain = np.logical_and.accumulate(gaps, axis=1)
    exact_ties = (sqdist == sqdist[:, :1]).sum(axis=1)
    searched = FIRST_TIE_SEARCH + 5 * np.ceil(np.maximum(exact_ties - FIRST_TIE_SEARCH + 1, 0) / 5)
    searched = np.minimum(searched, MAX_TIED_NEIGHBOURS)
    within = np.arange(sqdist.shape[1]) < searched[:, None]
    return np.concatenate([np.ones((len(sqdist), 1), bool), chain], axis=1) & within


def _pairs(rows, indices, mask):
    return np.repeat(rows, mask.sum(axis=1)), indices[mask]


def _concatenate_pairs(parts):
    return tuple(np.concatenate(column) for column in zip(*parts))


def _transfer_normals(reference_normals, a_to_b, b_to_a):
    """pc_error's normals on the degraded cloud B, made from the reference's (scaleNormals).

    Each reference point adds its normal to its nearest B point(s) (exact ties) and each B
    point averages what it received; a B point that received none averages the normals of
    its own nearest reference point(s). Not renormalised, as in pc_error.
    """
    size = len(b_to_a.nearest)
    sources, targets = a_to_b.exact
    counts = np.bincount(targets, minlength=size)
    normals = _sum_rows(reference_normals[sources], targets, size)
    orphans = counts == 0
    rows, neighbours = b_to_a.exact
    keep = orphans[rows]
    rows, neighbours = rows[keep], neighbours[keep]
    normals += _sum_rows(reference_normals[neighbours], rows, size)
    counts += np.bincount(rows, minlength=size)
    return normals / counts[:, None]


def _sum_rows(values, rows, size):
    """(size, 3) sums of ``values`` grouped by ``rows``."""
    return np.stack([np.bincount(rows, values[:, axis], minlength=size) for axis in range(3)],
                    axis=1)


def _distortion(queries, tree_points, tree_normals, neighbours, peak):
    """One direction: D1 from the nearest neighbours; D2 (when normals are given) averaged
    over the chained ties, each projected on its own normal."""
    d1 = neighbours.sqdist
    if tree_normals is None:
        return Distortion.from_errors(peak, d1.mean(), d1.max())
    rows, indices = neighbours.chained
    projections = np.einsum("ij,ij->i", queries[rows] - tree_points[indices], tree_normals[indices])
    ties = np.bincount(rows, minlength=len(queries))
    d2 = np.bincount(rows, projections ** 2, minlength=len(queries)) / ties
    return Distortion.from_errors(peak, d1.mean(), d1.max(), d2.mean(), d2.max())


def _worse(first, second, peak):
    """The symmetric distortion: metric by metric, the larger error of the two directions."""
    def larger(name):
        values = (getattr(first, name), getattr(second, name))
        return None if values[0] is None else max(values)

    return Distortion.from_errors(peak, larger("d1_mse"), larger("d1_hausdorff"),
                                  larger("d2_mse"), larger("d2_hausdorff"))


def _checked_points(points, name):
    """(N, 3) finite coordinates rounded to float32 as pc_error stores them, held as float64."""
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: coordinates are not numbers ({exc})") from exc
    if array.ndim != 2 or array.shape[1] != 3:
        raise InputError(f"{name}: points must have shape (N, 3), not {array.shape}")
    if len(array) == 0:
        raise InputError(f"{name}: the cloud is empty")
    if not np.isfinite(array).all():
        raise InputError(f"{name}: coordinates contain NaN or infinity")
    if np.abs(array).max() > np.finfo(np.float32).max:
        raise InputError(f"{name}: coordinates do not fit in float32")
    return array.astype(np.float32).astype(np.float64)


def _checked_normals(normals, count):
    try:
        array = np.asarray(normals, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"reference normals are not numbers ({exc})") from exc
    if array.shape != (count, 3):
        raise InputError(f"reference normals must have shape ({count}, 3), one per point, "
                         f"not {array.shape}")
    if not np.isfinite(array).all():
        raise InputError("reference normals contain NaN or infinity")
    return array.astype(np.float32).astype(np.float64)


PEAK_SPAN = 10  # the widest reference a peak may measure, in peaks


def check_peak(peak, reference_points):
    """The peak as a float; InputError unless it is positive and at least a tenth of the
    reference's bounding-box side.

    A much smaller peak means a wrong unit or bit depth and PSNRs that compare with nothing;
    a peak under the side is a convention of some data: MPEG's LiDAR conditions use 30000
    on 1 mm grids of sweeps up to ~200 m across.
    """
    try:
        peak = float(peak)
    except (TypeError, ValueError) as exc:
        raise InputError(f"peak must be a number, not {peak!r}") from exc
    if not math.isfinite(peak) or peak <= 0:
        raise InputError(f"peak must be a positive number, not {peak}")
    extent = float(np.ptp(reference_points, axis=0).max())
    if extent > PEAK_SPAN * peak:
        raise InputError(f"peak {peak:g} does not fit the data: the reference spans {extent:g}, "
                         f"more than {PEAK_SPAN} times the peak")
    return peak


def _merge_duplicates(points):
    """Unique points (pc_error's --dropdups=2) and the index of each one's first occurrence."""
    first, _ = _duplicate_groups(points)
    return points[first], first


def _duplicate_groups(points):
    """(first, group) of an (N, 3) cloud: the index of each unique point's first occurrence
    (unique points in a fixed order) and, for every point, the number of its unique point.

    Compares float32 bit patterns, after adding 0 so that -0.0 and 0.0 are one point.
    """
    rows = np.ascontiguousarray(points.astype(np.float32) + np.float32(0))
    keys = rows.view(np.dtype((np.void, rows.itemsize * 3))).ravel()
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    return first, group.reshape(-1)


def _same_point_set(first, second):
    """Whether two (N, 3) arrays hold the same points once duplicates are merged."""
    return np.array_equal(_merge_duplicates(_checked_points(first, "reference"))[0],
                          _merge_duplicates(_checked_points(second, "normals file"))[0])
