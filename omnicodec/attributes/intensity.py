"""LiDAR intensity (or reflectance): one number per point, coded on the decoded voxels of
whichever geometry codec the request picks (omnicodec.attributes.attribute_codec).

Values are coded exactly as given: integers as they are; floats as whole multiples of
10^-d where they are (KITTI's intensities are hundredths in float32), else their float
bits; or, on request (``intensity_bits``), quantized to N bits over their range. A voxel
holding several points takes the rounded mean of their values (of float bit patterns, its
first point's).

Order and prediction, as G-PCC's levels of detail: the voxels in Morton order are split
into levels (every 2^LEVELS-th first, then those halfway between, down to every other),
and each value is predicted from its nearest already decoded voxels (inverse squared
distance weights, in integers), its residual coded under a logistic whose scale the
encoder fits per level and per spread of the neighbours' values and sends.
"""

import dataclasses
import struct
import zlib

import numpy as np
import torch

from omnicodec import bitstream, varint
from omnicodec.attributes.attribute_codec import AttributeCodec, attribute_details, carried_to, voxel_means
from omnicodec.attributes.levels import sequence_levels
from omnicodec.codec import Decoded, Encoded
from omnicodec.data import INTENSITY_ATTRIBUTES, PointCloud
from omnicodec.entropy import binary_reader, binary_writer, logistic
from omnicodec.errors import BitstreamError, InputError
from omnicodec.fixedpoint import floor_log2

LEVELS = 6
NEIGHBOURS = 4
SPREAD_BUCKETS = 12  # of log2(1 + the neighbours' spread); bucket 0 also for no neighbours
_HEADER = struct.Struct("<BBBBdd")  # representation, its parameter, dtype, name, low, high
_DTYPES = ("|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<f4", "<f8", "<u8", "<i8")
_INTEGER, _DECIMAL, _FLOAT_BITS, _QUANTIZED = range(4)
MAX_BITS = 16


def intensity_attribute(cloud):
    """(name, (N,) values) of the cloud's intensity or reflectance, or None."""
    attributes = getattr(cloud, "attributes", {}) or {}
    for name in INTENSITY_ATTRIBUTES:
        if name in attributes:
            return name, np.asarray(attributes[name])
    return None


@dataclasses.dataclass
class Representation:
    """How values map to the integers coded: ``kind`` (_INTEGER, _DECIMAL: multiples of
    10^-parameter, _FLOAT_BITS, _QUANTIZED: ``parameter`` bits over [low, high]) and the
    input's dtype."""

    kind: int
    parameter: int
    dtype: str
    low: float = 0.0
    high: float = 0.0

    def values(self, codes):
        """The integers coded -> values of the input's type."""
        dtype = np.dtype(self.dtype)
        if self.kind == _INTEGER:
            return codes.astype(dtype)
        if self.kind == _DECIMAL:
            return (codes / 10.0 ** self.parameter).astype(dtype)
        if self.kind == _FLOAT_BITS:
            return _from_ordered(codes, dtype)
        top = (1 << self.parameter) - 1
        values = self.low + codes * ((self.high - self.low) / top)
        return (np.rint(values) if dtype.kind in "iu" else values).astype(dtype)

    @property
    def description(self):
        return {_INTEGER: f"{np.dtype(self.dtype).name} values, exact",
                _DECIMAL: f"{np.dtype(self.dtype).name} multiples of 1e-{self.parameter}, exact",
                _FLOAT_BITS: f"{np.dtype(self.dtype).name} bit patterns, exact",
                _QUANTIZED: f"quantized to {self.parameter} bits over [{self.low:g}, {self.high:g}]"}[self.kind]


def represented(values, bits=None):
    """(int64 codes, :class:`Representation`) of ``values`` (1-D numbers), exact unless
    ``bits`` asks for quantization; InputError for what cannot be coded."""
    values = np.asarray(values)
    if values.dtype.byteorder == ">":  # a big-endian file's: the same numbers, little-endian
        values = values.astype(values.dtype.newbyteorder("<"))
    if values.ndim != 1:
        raise InputError(f"intensity must be one number per point, not shape {values.shape}")
    if values.dtype.str not in _DTYPES:
        raise InputError(f"intensity must be numbers, not {values.dtype}")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise InputError(f"{int((~np.isfinite(values)).sum())} point(s) have NaN or infinite intensity")
    if bits is not None:
        if int(bits) != bits or not 1 <= bits <= MAX_BITS:
            raise InputError(f"--intensity-bits must be 1 to {MAX_BITS}, not {bits}")
        low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 0.0)
        top = (1 << int(bits)) - 1
        codes = np.rint((values.astype(np.float64) - low) / ((high - low) / top if high > low else 1.0))
        return codes.astype(np.int64), Representation(_QUANTIZED, int(bits), values.dtype.str, low, high)
    if values.dtype.kind in "iu":
        if values.dtype.itemsize == 8 and len(values) and (values.max() > 2**62 or values.min() < -2**62):
            raise InputError("intensity values beyond +-2^62 cannot be coded")
        return values.astype(np.int64), Representation(_INTEGER, 0, values.dtype.str)
    for decimals in range(7):
        codes = np.rint(values.astype(np.float64) * 10.0 ** decimals)
        if np.abs(codes).max(initial=0) < 2**40 and np.array_equal(
                (codes / 10.0 ** decimals).astype(values.dtype), values):
            return codes.astype(np.int64), Representation(_DECIMAL, decimals, values.dtype.str)
    return _ordered(values), Representation(_FLOAT_BITS, 0, values.dtype.str)


def _ordered(values):
    """Float bit patterns as integers in the floats' order (so near values are near)."""
    width = values.dtype.itemsize * 8
    bits = values.view(np.int32 if width == 32 else np.int64).astype(np.int64)
    return np.where(bits < 0, -(bits & ((1 << (width - 1)) - 1)) - 1, bits)


def _from_ordered(codes, dtype):
    if dtype.itemsize == 4:
        bits = np.where(codes < 0, (-(codes + 1)) | (1 << 31), codes)
        return (bits & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
    return np.where(codes < 0, (-(codes + 1)) | np.int64(-2**63), codes).astype(np.int64).view(np.float64)


def _voxel_codes(codes, representation, point_voxels, voxels):
    """Each voxel's code: the rounded mean of its points' (float bit patterns have no mean
    to take: their first point's)."""
    if representation.kind != _FLOAT_BITS:
        return voxel_means(codes[:, None], point_voxels, voxels)[0]
    first = np.full(voxels, len(codes), dtype=np.int64)
    np.minimum.at(first, point_voxels, np.arange(len(codes)))
    return codes[first][:, None]


@dataclasses.dataclass
class IntensityInput:
    geometry: tuple  # what the geometry codec's prepare made
    name: str
    codes: np.ndarray  # per input point
    representation: Representation


class IntensityCodec(AttributeCodec):
    """Geometry by the geometry codec it wraps, intensity by level-of-detail prediction."""

    network = None
    options = ("voxel_size", "bits", "intensity_bits")
    coded_attributes = INTENSITY_ATTRIBUTES
    fields = _HEADER
    what = "point-cloud intensity"

    def prepare(self, data, voxel_size=None, bits=None, intensity_bits=None):
        found = intensity_attribute(data)
        if found is None:
            raise InputError("--intensity-bits needs a cloud with intensity (or reflectance)")
        name, values = found
        if len(values) != len(data):
            raise InputError(f"intensity has {len(values)} values for {len(data)} points")
        codes, representation = represented(values, intensity_bits)
        geometry = self.geometry.prepare(data, voxel_size=voxel_size, bits=bits, with_point_voxels=True)
        return IntensityInput(geometry, name, codes, representation)

    def encode(self, prepared, rate=None, progress=None, reference=None):
        geometry_encoded, coords = self.geometry_encode(prepared.geometry, progress, reference)
        grid = prepared.geometry[0]
        voxel_codes = _voxel_codes(prepared.codes, prepared.representation, grid.point_voxels, len(grid.keys))
        if len(coords) != len(grid.keys) or not self.geometry.lossless:
            voxel_codes = carried_to(grid.coords, voxel_codes, coords)
        codes = voxel_codes[:, 0]
        payload = _code(self.coder, coords, codes, self.integer)
        representation = prepared.representation
        header = self.pack_header(_fields_of(representation, prepared.name), geometry_encoded.header)
        sections = self.pack_sections(geometry_encoded.sections, [payload])
        merged = len(grid.point_voxels) - len(grid.keys)
        details = _details(geometry_encoded.details, self.geometry.card.model_id, geometry_encoded.sections,
                           [payload], grid.input_points, prepared.name, representation, merged)
        values = representation.values(codes)
        return Encoded(header=header, sections=sections, checksum=_checksum(coords, codes),
                       decoded=PointCloud(geometry_encoded.decoded.positions, {prepared.name: values}),
                       details=details, predicted=geometry_encoded.predicted, reference=geometry_encoded.reference)

    def decode(self, header, sections, progress=None, reference=None):
        own, geometry_fields = self.split_header(header)
        representation, name = _representation(own)
        geometry = self.geometry_of(geometry_fields)
        geometry_sections, (payload,) = self.split_sections(sections, 1)
        geometry_decoded, coords = self.geometry_decode(geometry, geometry_fields, geometry_sections, progress,
                                                        reference)
        codes = _read(self.coder, coords, payload, self.integer)
        details = _details(geometry_decoded.details, geometry_fields["geometry_model"], geometry_sections,
                           [payload], geometry.input_units(geometry_fields["geometry_header"]), name,
                           representation, None)
        return Decoded(PointCloud(geometry_decoded.data.positions, {name: representation.values(codes)}),
                       _checksum(coords, codes), details, geometry_decoded.predicted, geometry_decoded.reference)

    @classmethod
    def describe(cls, header):
        own, geometry_fields = cls.split_header(header)
        representation, name = _representation(own)
        return {**cls.describe_geometry(geometry_fields), name: representation.description}

    @classmethod
    def made_with(cls, header, options):
        own, geometry_fields = cls.split_header(header)
        representation, _ = _representation(own)
        asked = options.get("intensity_bits")
        return cls.geometry_made_with(geometry_fields, options) and (
            representation.parameter == asked if representation.kind == _QUANTIZED else asked is None)


def _fields_of(representation, name):
    return (representation.kind, representation.parameter, _DTYPES.index(representation.dtype),
            INTENSITY_ATTRIBUTES.index(name), representation.low, representation.high)


def _representation(own):
    kind, parameter, dtype, name, low, high = own
    if kind > _QUANTIZED or dtype >= len(_DTYPES) or name >= len(INTENSITY_ATTRIBUTES) or (
            kind == _QUANTIZED and not 1 <= parameter <= MAX_BITS) or not (np.isfinite(low) and np.isfinite(high)):
        raise BitstreamError("point-cloud intensity header is corrupted")
    return Representation(kind, parameter, _DTYPES[dtype], low, high), INTENSITY_ATTRIBUTES[name]


def _details(geometry_details, geometry_model, geometry_sections, own_sections, input_points, name,
             representation, merged):
    details = attribute_details(geometry_details, geometry_model, geometry_sections, own_sections, input_points,
                                "intensity")
    details["intensity"] = f"{name}: {representation.description}"
    if merged:
        details["intensity note"] = f"{merged} points shared a voxel with others: each voxel has their mean"
    return details


def _checksum(coords, codes):
    return bitstream.checksum(np.concatenate([coords.astype("<i8").reshape(-1), codes.astype("<i8")]))


def _batches(coords):
    """Yield (rows of one level, (M, NEIGHBOURS) their nearest voxels of coarser levels, -1
    for none), level by level."""
    from scipy.spatial import cKDTree

    level = sequence_levels(np.array([len(coords)]), LEVELS)[0]
    for lev in range(LEVELS + 1):
        rows = np.flatnonzero(level == lev)
        if not len(rows):
            continue
        if lev == 0:  # the first values: no neighbour known yet
            yield rows, np.full((len(rows), NEIGHBOURS), -1, dtype=np.int64)
            continue
        known = np.flatnonzero(level < lev)
        count = min(NEIGHBOURS, len(known))
        # A few more than needed, then the nearest by exact integer distance, ties by
        # index: the neighbours do not depend on how the tree breaks ties.
        extra = min(NEIGHBOURS + 2, len(known))
        _, found = cKDTree(coords[known]).query(coords[rows], k=extra)
        found = known[np.asarray(found).reshape(len(rows), extra)]
        distance = ((coords[found] - coords[rows][:, None, :]) ** 2).sum(axis=2)
        order = np.lexsort((found, distance), axis=1)[:, :count]
        found = np.take_along_axis(found, order, axis=1)
        yield rows, np.pad(found, ((0, 0), (0, NEIGHBOURS - count)), constant_values=-1)


def _prediction(coords, codes, rows, neighbours, low, high):
    """(int64 predictions in [low, high], bucket of each) from the known neighbours' codes."""
    present = neighbours >= 0
    safe = np.maximum(neighbours, 0)
    distance = ((coords[safe] - coords[rows][:, None, :]) ** 2).sum(axis=2)
    weight = np.where(present, (1 << 20) // np.maximum(distance, 1), 0)
    total = weight.sum(axis=1)
    values = codes[safe]
    # Offsets from low keep the weighted sums in int64 whatever the codes' magnitude.
    prediction = np.where(total > 0, low + (((values - low) * weight).sum(axis=1) + total // 2) // np.maximum(total, 1),
                          (low + high) // 2)
    prediction = np.clip(prediction, low, high)
    spread = np.where(total > 0, (np.abs(values - prediction[:, None]) * weight).sum(axis=1) // np.maximum(total, 1),
                      -1)
    bucket = np.where(spread < 0, 0, 1 + np.minimum(floor_log2(1 + np.maximum(spread, 0)), SPREAD_BUCKETS - 2))
    return prediction, bucket


EXACT_SPAN = 1 << 23  # the logistic coder is exact for values this far apart (float32)


def _code(coder, coords, codes, integer):
    """The intensity payload of voxels ``coords`` (Morton order) with ``codes``: each
    level's residuals from its predictions; codes spanning EXACT_SPAN or more (float bit
    patterns of very different values) are sent as they are, deflated."""
    low, high = (int(codes.min()), int(codes.max())) if len(codes) else (0, 0)
    if high - low >= EXACT_SPAN:
        return varint.encode([0]) + zlib.compress(codes.astype("<i8").tobytes(), 9)
    batches = list(_batches(coords))
    predicted = [_prediction(coords, codes, rows, neighbours, low, high) for rows, neighbours in batches]
    table = np.zeros((len(batches), SPREAD_BUCKETS), dtype=np.int64)
    for batch, ((rows, _), (prediction, bucket)) in enumerate(zip(batches, predicted)):
        for b in np.unique(bucket):
            table[batch, b] = _best_log_scale(codes[rows][bucket == b] - prediction[bucket == b])
    writer = binary_writer(coder)
    for batch, ((rows, _), (prediction, bucket)) in enumerate(zip(batches, predicted)):
        _residuals(writer, codes[rows] - prediction, table[batch, bucket], high - low, integer)
    return varint.encode([len(batches), *varint.signed([low, high, *table.reshape(-1)])]) + writer.finish()


def _residuals(io, residuals, scales, span, integer, reading=False):
    """Code (or read, ``residuals`` None) residuals under logistics at 0 with scales
    2^(scales / 8): in integer arithmetic (intensity-v2), or float (intensity-v1)."""
    if integer:
        model = logistic.IntegerLogistic(torch.zeros(len(scales), dtype=torch.int64),
                                         torch.from_numpy(scales * (logistic.SCALE_STEPS // 8)), -span, span,
                                         logistic.OUTLIER_TAIL_FIXED)
        if reading:
            return logistic.read_integer(io, model).numpy()
        logistic.write_integer(io, torch.from_numpy(residuals), model)
        return residuals
    zero = torch.zeros(len(scales), dtype=torch.float64)
    scale = torch.from_numpy(2.0 ** (scales / 8))
    if reading:
        return logistic.read(io, zero, scale, -span, span, logistic.OUTLIER_TAIL).numpy()
    logistic.write(io, torch.from_numpy(residuals), zero, scale, -span, span, logistic.OUTLIER_TAIL)
    return residuals


def _read(coder, coords, payload, integer):
    (levels,), pos = varint.decode(payload, 1)
    if levels == 0:  # sent as they are
        raw = np.frombuffer(bitstream.inflated(payload[pos:], 8 * len(coords), "intensity payload"), dtype="<i8")
        if len(raw) != len(coords):
            raise BitstreamError("intensity payload does not fit its geometry")
        return raw.astype(np.int64)
    if levels > LEVELS + 1:
        raise BitstreamError("intensity payload is corrupted")
    values, pos = varint.decode(payload, 2 + levels * SPREAD_BUCKETS, pos)
    low, high, *scales = varint.unsigned(values)
    if max(abs(low), abs(high)) >= 1 << 62 or any(abs(v) >= 1 << 12 for v in scales):
        raise BitstreamError("intensity payload is corrupted")
    table = np.array(scales, dtype=np.int64).reshape(levels, SPREAD_BUCKETS)
    batches = list(_batches(coords))
    if len(batches) != levels or not 0 <= high - low < EXACT_SPAN:
        raise BitstreamError("intensity payload does not fit its geometry")
    reader = binary_reader(coder, payload[pos:])
    codes = np.zeros(len(coords), dtype=np.int64)
    for batch, (rows, neighbours) in enumerate(batches):
        prediction, bucket = _prediction(coords, codes, rows, neighbours, low, high)
        codes[rows] = prediction + _residuals(reader, None, table[batch, bucket], high - low, integer, reading=True)
    reader.finish()
    if len(codes) and (codes.min() < low or codes.max() > high):
        raise BitstreamError("intensity payload decodes to values outside its range: corrupted stream")
    return codes


FIT_SAMPLE = 4096  # residuals a level's scales are fitted on, at most


def _best_log_scale(residuals):
    """log2 scale x8 of the logistic at 0 that codes ``residuals`` (an evenly spread
    sample of them) in the fewest bits."""
    sample = residuals[:: max(1, len(residuals) // FIT_SAMPLE)]
    return logistic.best_scale_exponent(sample, 0, range(-32, 8 * 40, 8), 8, -2**62, 2**62, logistic.OUTLIER_TAIL)
