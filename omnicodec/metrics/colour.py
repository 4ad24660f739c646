"""Colour distortion of a point cloud against a reference: Y, Cb, Cr PSNR as MPEG pc_error.

The numbers are those of pc_error release-v0.14.2 (mpeg-pcc-dmetric) run as
``pc_error -a A -b B -c 1 --dropdups=2 --neighborsProc=1`` (its default ``--mseSpace=1``):

* Duplicate points (the same float32 position) are merged first, as for D1/D2; a merged
  point's colour is the mean of its points' colours by integer division (truncated), per
  R, G, B channel.
* One direction, "A->B", loops over the points of A. Each one's neighbours in B are the
  nearest point and every point "at the same distance" as D2 sees it (a chain of sorted
  squared distances whose consecutive gaps are below 1e-8, among the 10, 15... at most 30
  neighbours pc_error asks for: :mod:`omnicodec.metrics.pointcloud`). Their colour is the
  mean of their colours, each merged point counted once, rounded half away from zero
  (C ``round``) per channel to 8 bits.
* Both colours go to Y'CbCr by BT.709 from the 8-bit values: in float64,
  ``Y = (0.2126 R + 0.7152 G + 0.0722 B) / 255``,
  ``Cb = (-0.1146 R - 0.3854 G + 0.5 B) / 255 + 0.5``,
  ``Cr = (0.5 R - 0.4542 G - 0.0458 B) / 255 + 0.5``, each then stored as float32. The
  squared difference of a channel is taken in float32, summed in float64; the MSE is the
  mean over the points of A and PSNR = 10 log10(1 / MSE) (peak 1: the channels span [0, 1]).
* "B->A" is the same with the roles swapped; "symmetric" takes, channel by channel, the worse
  (larger) MSE of the two. The summary PSNR of a direction is (6 Y + Cb + Cr) / 8 of its
  channel PSNRs (MPEG's usual weighting).

Where more than 30 points of the other cloud tie exactly, pc_error averages the 30 that its
k-d tree returns first, which depends on that tree; here the 30 that SciPy's returns.
"""

import dataclasses
import math

import numpy as np

from omnicodec.errors import InputError
from omnicodec.io import read_point_cloud
from omnicodec.metrics.pointcloud import (
    _checked_points, _duplicate_groups, _Neighbours, _sum_rows,
)

# BT.709 R'G'B' -> Y'CbCr rows as pc_error writes them (its convertRGBtoYUV, type 1), and
# the offsets added after dividing by 255.
_BT709 = ((0.2126, 0.7152, 0.0722), (-0.1146, -0.3854, 0.5000), (0.5000, -0.4542, -0.0458))
_OFFSETS = (0.0, 0.5, 0.5)


@dataclasses.dataclass(frozen=True)
class ColourDistortion:
    """Colour distortion of one direction (or the symmetric worst of both): the mean squared
    error of Y, Cb and Cr (in [0, 1] units) and their PSNRs in dB (``inf`` for no error)."""

    y_mse: float
    cb_mse: float
    cr_mse: float
    y_psnr: float
    cb_psnr: float
    cr_psnr: float

    @classmethod
    def from_mse(cls, mse):
        """Build from the three channel MSEs (Y, Cb, Cr), adding their PSNRs."""
        y, cb, cr = (float(value) for value in mse)
        return cls(y_mse=y, cb_mse=cb, cr_mse=cr, y_psnr=colour_psnr(y),
                   cb_psnr=colour_psnr(cb), cr_psnr=colour_psnr(cr))

    @property
    def mse(self):
        """(Y, Cb, Cr) MSEs."""
        return (self.y_mse, self.cb_mse, self.cr_mse)

    @property
    def ycbcr_psnr(self):
        """The one-figure summary (6 Y + Cb + Cr) / 8 of the channel PSNRs, in dB."""
        return (6.0 * self.y_psnr + self.cb_psnr + self.cr_psnr) / 8.0

    def as_dict(self):
        """{"Y_mse", "Cb_mse", "Cr_mse", "Y_psnr", "Cb_psnr", "Cr_psnr", "YCbCr_psnr"}."""
        return {"Y_mse": self.y_mse, "Cb_mse": self.cb_mse, "Cr_mse": self.cr_mse,
                "Y_psnr": self.y_psnr, "Cb_psnr": self.cb_psnr, "Cr_psnr": self.cr_psnr,
                "YCbCr_psnr": self.ycbcr_psnr}


@dataclasses.dataclass(frozen=True)
class ColourMetrics:
    """Colour distortion of a degraded cloud B against a reference cloud A; the point counts
    are those after merging duplicates."""

    reference_points: int
    degraded_points: int
    a_to_b: ColourDistortion
    b_to_a: ColourDistortion
    symmetric: ColourDistortion

    def as_dict(self):
        return {"n_A": self.reference_points, "n_B": self.degraded_points,
                "A->B": self.a_to_b.as_dict(), "B->A": self.b_to_a.as_dict(),
                "symmetric": self.symmetric.as_dict()}


def colour_psnr(mse):
    """pc_error's colour PSNR in dB: 10 log10(1 / mse), ``inf`` when mse is 0."""
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(1.0 / mse)


def ycbcr(rgb):
    """(N, 3) float32 Y'CbCr in [0, 1] of (N, 3) 8-bit RGB, exactly as pc_error converts it."""
    rgb = np.asarray(rgb, dtype=np.float64)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    return np.stack([((kr * r + kg * g + kb * b) / 255.0 + offset).astype(np.float32)
                     for (kr, kg, kb), offset in zip(_BT709, _OFFSETS)], axis=1)


def colour_metrics(reference_positions, reference_rgb, degraded_positions, degraded_rgb):
    """Y, Cb, Cr distortion of cloud B (``degraded_*``) against cloud A (``reference_*``).

    Positions are (N, 3) arrays, colours (N, 3) 8-bit R, G, B (whole numbers 0 to 255, any
    numeric type), one per point. Returns :class:`ColourMetrics`, equal to pc_error's
    ``-c 1 --dropdups=2 --neighborsProc=1`` report.
    """
    reference, reference_colours = _merged_cloud(reference_positions, reference_rgb, "reference")
    degraded, degraded_colours = _merged_cloud(degraded_positions, degraded_rgb, "degraded cloud")
    forward = _direction(reference_colours, degraded_colours,
                         _Neighbours.among(degraded, reference))
    backward = _direction(degraded_colours, reference_colours,
                          _Neighbours.among(reference, degraded))
    worse = ColourDistortion.from_mse(np.maximum(forward.mse, backward.mse))
    return ColourMetrics(reference_points=len(reference), degraded_points=len(degraded),
                         a_to_b=forward, b_to_a=backward, symmetric=worse)


def file_colour_metrics(path_a, path_b):
    """:func:`colour_metrics` of two PLY files with red/green/blue, A the reference, as
    ``pc_error -a A -b B -c 1 --dropdups=2 --neighborsProc=1``."""
    clouds = []
    for path in (path_a, path_b):
        cloud = read_point_cloud(path)
        rgb = cloud.attributes.get("rgb")
        if rgb is None:
            raise InputError(f"{path}: the cloud has no colours (red/green/blue) to compare")
        clouds += [cloud.positions, rgb]
    return colour_metrics(*clouds)


def _merged_cloud(positions, rgb, name):
    """(unique points, their (M, 3) int64 colours): duplicates merged as pc_error's
    --dropdups=2, a merged point's colour the truncated mean of its points' colours."""
    points = _checked_points(positions, name)
    colours = _checked_colours(rgb, len(points), name)
    first, group = _duplicate_groups(points)
    counts = np.bincount(group, minlength=len(first))
    sums = _sum_rows(colours, group, len(first)).astype(np.int64)
    return points[first], sums // counts[:, None]


def _direction(query_colours, tree_colours, neighbours):
    """One direction: each query point against the rounded mean colour of its tied
    neighbours (each pair of ``neighbours.chained``)."""
    rows, indices = neighbours.chained
    size = len(query_colours)
    ties = np.bincount(rows, minlength=size)[:, None]
    sums = _sum_rows(tree_colours[indices], rows, size).astype(np.int64)
    nearest = (2 * sums + ties) // (2 * ties)  # sums / ties rounded half away from zero
    errors = ycbcr(query_colours) - ycbcr(nearest)
    return ColourDistortion.from_mse(np.mean(errors * errors, axis=0, dtype=np.float64))


def _checked_colours(rgb, count, name):
    """(count, 3) int64 colours; InputError unless they are whole numbers 0 to 255."""
    try:
        array = np.asarray(rgb)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: colours are not numbers ({exc})") from exc
    if array.shape != (count, 3):
        raise InputError(f"{name}: colours must have shape ({count}, 3), one R, G, B per "
                         f"point, not {array.shape}")
    if array.dtype.kind not in "iuf":
        raise InputError(f"{name}: colours must be numbers, not {array.dtype}")
    if (not np.isfinite(array).all() or array.min() < 0 or array.max() > 255
                  or (array.dtype.kind == "f" and (array != np.round(array)).any())):
        raise InputError(f"{name}: colours must be 8-bit values, whole numbers 0 to 255")
    return array.astype(np.int64)
