"""What the codecs that code a cloud in its sensor's own coordinates share (spinning-LiDAR
sweeps, omnicodec.scans.lidar; depth-camera frames, omnicodec.scans.depth), and the
sparse-scan codec (omnicodec.scans.sparse_scan), which codes cells with the dense model too.

Such a codec estimates its sensor from the points, sends the points the sensor explains as
integers under discretized logistics (a learned predictor's, or one per stream), and sends
the points it does not explain with the dense lossless model of its card's ``base`` on the
same voxel grid, so no cloud costs more than there beyond a header. The decoder rebuilds
the union, and the stream's checksum covers it as for any geometry codec.
"""

import dataclasses
import functools

import numpy as np
import torch

from omnicodec import catalogue
from omnicodec.codec import Decoded, Encoded
from omnicodec.data import PointCloud
from omnicodec.entropy import logistic
from omnicodec.entropy.adaptive import adaptive_bits, exp_golomb
from omnicodec.errors import BitstreamError, InputError
from omnicodec.grid import devoxelize, morton, voxelize
from omnicodec.pointcloud.geometry_codec import GeometryCodec, checksum, frame_header
from omnicodec.pointcloud.lossless import LosslessGeometryCodec

LIMIT = 1 << 22  # values beyond +-this are not coded (a 2^21 grid's ranges stay under it;
# the logistic coder is exact up to 2^23 apart)
SUITS_POINTS = 40000  # points a content check looks at, at most


class FieldIo:
    """Where a walk's values go: coded (writer), read (reader) or collected for training
    (``collect(field, features, reference, unit, values)``); ``integer``: the stream's
    logistics are integer ones (the integer models), not float ones."""

    def __init__(self, writer=None, reader=None, collect=None, integer=False):
        self.writer, self.reader, self.collect, self.integer = writer, reader, collect, integer

    def values(self, truth, location, scale, blend=None):
        """Code or read values under logistics: float ``location`` and ``scale``, or int64
        ones (LOCATION_BITS locations and log-scale indices: logistic.IntegerLogistic),
        those blended with a second prediction's where ``blend`` is (its locations, scale
        indices, weights in 1/1024: logistic.BlendedLogistic)."""
        if location.dtype == torch.int64:
            if blend is None:
                model = logistic.IntegerLogistic(location, scale, -LIMIT, LIMIT, logistic.OUTLIER_TAIL_FIXED)
            else:
                model = logistic.BlendedLogistic(location, scale, -LIMIT, LIMIT, logistic.OUTLIER_TAIL_FIXED, *blend)
            if self.reader is not None:
                return logistic.read_integer(self.reader, model)
            if self.writer is not None:
                logistic.write_integer(self.writer, truth, model)
            return truth
        if self.reader is not None:
            return logistic.read(self.reader, location, scale, -LIMIT, LIMIT, logistic.OUTLIER_TAIL)
        if self.writer is not None:
            logistic.write(self.writer, truth, location, scale, -LIMIT, LIMIT, logistic.OUTLIER_TAIL)
        return truth

    def flat(self, truth, count, mu16, log_scale16):
        """``count`` values under one logistic for the whole stream (its location and log2
        scale x16, from the stream's header)."""
        if self.collect is not None:
            return truth
        location, scale = logistic.sixteenths(count, mu16, log_scale16, self.integer)
        values = self.values(None if truth is None else torch.as_tensor(truth), location, scale)
        return np.asarray(values, dtype=np.int64)


RESIDUAL_BUCKETS = 16  # parts of a rounding's interval that residuals are coded by


def residuals(io, truth, ties, largest=None):
    """Code (``truth``) or read small integers, mostly 0: what rounding an exact value to
    an integer left of the true one. Is it 0, then its sign, both under adaptive
    frequencies by where the exact value fell in its rounding interval (``ties``, in
    RESIDUAL_BUCKETS parts: a value near an edge is the one that rounds off), then
    whether it is beyond 1: beyond is ``largest`` where residuals stop there (a camera's
    rebuild), else the magnitude beyond 2 follows as an exp-Golomb code."""
    hits = np.full(2 * RESIDUAL_BUCKETS + 1, 8, dtype=np.int64)
    seen = np.full(2 * RESIDUAL_BUCKETS + 1, 16, dtype=np.int64)
    given = truth is not None
    off = adaptive_bits(io, truth != 0 if given else None, ties, hits, seen)
    rows = np.flatnonzero(off)
    up = adaptive_bits(io, truth[rows] > 0 if given else None, RESIDUAL_BUCKETS + ties[rows], hits, seen)
    far = adaptive_bits(io, np.abs(truth[rows]) > 1 if given else None,
                        np.full(len(rows), 2 * RESIDUAL_BUCKETS), hits, seen)
    magnitude = np.where(far, largest or 2, 1)
    if largest is None:
        beyond = np.flatnonzero(far)
        magnitude[beyond] += exp_golomb(io, np.abs(truth[rows[beyond]]) - 2 if given else None, len(beyond))
    values = np.zeros(len(ties), dtype=np.int64)
    values[rows] = np.where(up, 1, -1) * magnitude
    return values


def rounding_ties(values, fraction_bits):
    """Where fixed-point ``values`` (``fraction_bits`` fractional bits) fell in the
    interval they round half up in, in RESIDUAL_BUCKETS parts (the ``ties`` of
    :func:`residuals`)."""
    within = (values + (1 << (fraction_bits - 1))) & ((1 << fraction_bits) - 1)
    return (within * RESIDUAL_BUCKETS) >> fraction_bits


FIT_SAMPLE = 1 << 15  # values a stream-wide scale is fitted on, at most


def best_log_scale(values, location16):
    """The log2 scale (x16) of the logistic at ``location16 / 16`` that codes ``values`` (an
    evenly spread sample of FIT_SAMPLE of them) in the fewest bits."""
    sample = values[::max(1, len(values) // FIT_SAMPLE)]
    return logistic.best_scale_exponent(sample, location16 / 16, range(-64, 160, 4), 16, -LIMIT, LIMIT,
                                        logistic.OUTLIER_TAIL)


def grid_keys(coords, bits):
    """Sorted unique Morton keys of rebuilt voxels, clamped into the grid (a lossy sweep's
    rounding may step just outside it)."""
    return morton.unique_keys(morton.encode(np.clip(coords, 0, (1 << bits) - 1), bits))


def frame_origin(offset, scale):
    """Where the input frame's origin, where a sensor's frame puts the sensor, falls on the
    voxel grid (voxels, float: the grid may put it between voxels)."""
    return tuple(float(v) for v in -np.asarray(offset, dtype=np.float64) / scale)


def sensor_origin(offset, scale):
    """The voxel of the input frame's origin."""
    return tuple(int(v) for v in np.rint(frame_origin(offset, scale)))


class SensorGeometryCodec(GeometryCodec):
    """Base of the sensor codecs: the other points' coding, and the frame that both
    sides rebuild from the sensor's points and the others'."""

    sensor_name = "sensor"  # how reports and errors name the stream's kind

    @classmethod
    def suits(cls, data):
        """Whether the cloud is this sensor's: the sensor is found on the default grid of at
        most SUITS_POINTS of its points (:meth:`suits_sample` picks them: a large cloud
        costs no more to rule out)."""
        positions = np.asarray(data.positions if isinstance(data, PointCloud) else data)
        if len(positions) > SUITS_POINTS:
            positions = positions[cls.suits_sample(positions)]
        try:
            grid = voxelize(positions)
        except InputError:
            return False
        return cls.sensor_found(grid)

    @staticmethod
    def suits_sample(positions):
        """Indices of SUITS_POINTS of ``positions`` the content check looks at."""
        raise NotImplementedError

    @staticmethod
    def sensor_found(grid):
        """Whether the sensor is found in the voxel grid ``grid``."""
        raise NotImplementedError

    @functools.cached_property
    def _others(self):
        """The dense lossless codec of the base model, for the points the sensor does not explain."""
        return LosslessGeometryCodec(catalogue.card(self.card.base), self.coder)

    def code_others(self, grid, coords, coord_dtype, progress, bits=None):
        """(sections, rebuilt coordinates in Morton order) of points coded by the dense
        lossless codec: the points the sensor does not explain, on the same grid, or
        coarser coordinates on a grid of ``bits`` (the sparse codec's cells)."""
        bits = bits or grid.bits
        keys = np.sort(morton.encode(coords, bits))
        part = dataclasses.replace(grid, keys=keys, bits=bits, input_points=len(keys), point_voxels=None)
        encoded, rebuilt = self._others.encode_voxels((part, coord_dtype), progress)
        return [encoded.header] + encoded.sections, rebuilt

    def decode_others(self, sections, count, progress):
        """The coordinates :meth:`code_others` sent (a header and its sections); ``count``:
        how many the stream says, if it says."""
        if not sections:
            raise BitstreamError(f"{self.sensor_name} stream lacks the section of its other points")
        _, coords = self._others.decode_voxels(sections[0], sections[1:], progress)
        if count is not None and len(coords) != count:
            raise BitstreamError(f"{self.sensor_name} stream's other points disagree with its header")
        return coords

    def encoded(self, grid, coord_dtype, rebuilt, sections, details):
        """(:class:`Encoded`, voxel coordinates in Morton order) of the union of ``rebuilt``
        coordinate arrays; a lossless codec checks that it rebuilds every input voxel."""
        keys = grid_keys(np.concatenate(rebuilt), grid.bits)
        if self.lossless and not np.array_equal(keys, grid.keys):
            raise AssertionError(f"the {self.sensor_name} coder's rebuilt cloud differs from its input")
        coords = morton.decode(keys, grid.bits)
        report = self._details(grid.input_points, len(keys), grid.bits, grid.integer_input, 0, grid.scale,
                               grid.grid_choice)
        del report["blocks"]
        return Encoded(header=frame_header(grid, coord_dtype, len(keys)), sections=sections,
                       checksum=checksum(coords), decoded=PointCloud(
                           devoxelize(coords, grid.offset, grid.scale, coord_dtype)),
                       details={**report, **details}), coords

    def decoded(self, frame, rebuilt, details):
        """(:class:`Decoded`, voxel coordinates in Morton order) of the union of ``rebuilt``."""
        keys = grid_keys(np.concatenate(rebuilt) if rebuilt else np.zeros((0, 3), dtype=np.int64), frame["bits"])
        if len(keys) != frame["voxels"]:
            raise BitstreamError(f"decoded {len(keys)} voxels, not the header's {frame['voxels']}")
        coords = morton.decode(keys, frame["bits"])
        positions = devoxelize(coords, frame["offset"], frame["scale"], np.dtype(frame["coord_dtype"]))
        report = self._details(frame["input_points"], len(keys), frame["bits"], frame["integer_input"], 0,
                               frame["scale"])
        del report["blocks"]
        return Decoded(PointCloud(positions), checksum(coords), {**report, **details}), coords
