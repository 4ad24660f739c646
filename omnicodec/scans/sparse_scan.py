"""Sparse scans: clouds whose points lie apart on their grid (room reconstructions on a
1 mm grid, LiDAR rigs no single sensor explains), coded as cells plus offsets.

On such a grid the dense occupancy model spends 4-5 bits per point at every octree level
below the scale where points separate (it expects full surfaces; a child position alone
in its parent costs 3 bits when nothing predicts it), which is where most of its bits go.
:class:`SparseCodec` instead cuts the grid into cells of 2^k voxels a side, with k the
smallest (CELL_BITS) at which cells hold CELL_POINTS points on average, and sends:

- the occupied cells with the dense lossless model of its card's ``base`` (at the cell
  scale the points do form surfaces);
- how many points each cell holds, minus one, under one logistic the encoder fits;
- the points of each cell as a set of offsets (:func:`offset_sets`): log2 C(2^3k, n) bits
  for n points in a cell of 2^3k voxels.

A test on its grid (:meth:`SparseCodec.suits`) claims clouds whose points mostly sit
alone in their 4^3-voxel cell.
"""

import math

import numpy as np
import torch

from omnicodec import varint
from omnicodec.entropy import binary_frequencies, binary_reader, binary_writer, logistic
from omnicodec.errors import BitstreamError
from omnicodec.grid import morton
from omnicodec.scans.sensor_coding import SUITS_POINTS, SensorGeometryCodec

CELL_BITS = (2, 3, 4, 5, 6)  # cell sides tried, in voxel bits, finest first
CELL_POINTS = 2.0  # the finest cell holding this many points on average is the one used
SPARSE_POINTS = 1.3  # points per occupied 4^3 cell, at most, for a cloud to be sparse
COUNT_LIMIT = 1 << 22  # points of one cell, at most (a 2^6 cell holds 2^18)
_HEAD = 3  # cell bits, count location (x16), count log2 scale (x16)


def cell_bits(keys, bits):
    """The cell side (voxel bits) for sorted Morton ``keys`` of a ``bits`` grid."""
    for k in CELL_BITS:
        if k >= bits:
            break
        if len(keys) / len(np.unique(keys >> (3 * k))) >= CELL_POINTS:
            return k
    return max(0, min(CELL_BITS[-1], bits - 1))


def _log_choices(free, points):
    """log C(free, points) (float64; -inf where free < points)."""
    free, points = torch.as_tensor(free, dtype=torch.float64), torch.as_tensor(points, dtype=torch.float64)
    value = torch.lgamma(free + 1) - torch.lgamma((free - points).clamp(min=0) + 1) - torch.lgamma(points + 1)
    return torch.where(free >= points, value, torch.full_like(value, -math.inf))


_ODDS_BITS = 30  # fixed point of the integer odds' ratios


def _power_ratio(numerator, denominator, exponent):
    """(numerator / denominator)^exponent in fixed point 2^30 (int64 arrays, numerator <=
    denominator), by squaring, each product rounded down: integers only."""
    one = 1 << _ODDS_BITS
    base = (numerator << _ODDS_BITS) // np.maximum(denominator, 1)
    result = np.full(base.shape, one, dtype=np.int64)
    exponent = exponent.copy()
    while (exponent > 0).any():
        odd = (exponent & 1) == 1
        result = np.where(odd, (result * base) >> _ODDS_BITS, result)
        base = (base * base) >> _ODDS_BITS
        exponent >>= 1
    return result


def _upper_frequencies(size, lo, mid, hi, m, integer):
    """Frequencies of "the least of the m offsets left is above mid", it being in
    [lo, hi]: P(least >= t) is C(size - t, m) / C(size - lo, m) (float models), or, in
    integers (sparse-v2), ((size - t) / (size - lo))^m, which it is for m = 1 and close to
    for few points in a large cell."""
    if integer:
        at_mid = _power_ratio(size - mid - 1, size - lo, m)
        at_hi = _power_ratio(size - hi - 1, size - lo, m)
        whole = (1 << _ODDS_BITS) - at_hi
        ratio = np.clip(((at_mid - at_hi) << 16) // np.maximum(whole, 1), 1, (1 << 16) - 1)
        return torch.from_numpy(np.where(whole > 0, ratio, 1 << 15).astype(np.int32))
    base = _log_choices(size - lo, m)
    lower = torch.expm1(_log_choices(size - mid - 1, m) - base)  # -P(lo <= x <= mid), scaled
    share = lower / torch.expm1(_log_choices(size - hi - 1, m) - base)
    return binary_frequencies((1 - share).clamp(0, 1))


def offset_sets(io, offsets, counts, k, integer=False):
    """Code (``offsets``: each cell's Morton offsets, ascending) or read the points of every
    cell as a set of distinct offsets in [0, 2^3k), which costs log2 C(2^3k, n) bits a cell
    (log2 n! fewer than one offset after another). A cell's next offset, the previous one
    known, is the least of the m points left, drawn at even odds from the values after it:
    P(least >= x) is proportional to C(2^3k - x, m). It is sent by bisection of its range,
    each step's odds from those."""
    size = 1 << (3 * k)
    starts = np.cumsum(counts) - counts
    values = np.zeros(int(counts.sum()), dtype=np.int64)
    after = np.zeros(len(counts), dtype=np.int64)  # the least value each cell's next offset can take
    for i in range(int(counts.max()) if len(counts) else 0):
        cells = np.flatnonzero(counts > i)
        left = counts[cells] - i  # points of the cell still to send, this one included
        low, high = after[cells].copy(), size - left  # the others need room after it
        if (high < low).any():
            raise BitstreamError("sparse-scan stream's cell counts exceed their cells")
        truth = None if offsets is None else offsets[starts[cells] + i]
        while True:
            active = np.flatnonzero(high > low)
            if not len(active):
                break
            lo, hi, m = low[active], high[active], left[active]
            mid = (lo + hi) // 2
            frequencies = _upper_frequencies(size, lo, mid, hi, m, integer)
            if truth is not None:
                upper = truth[active] > mid
                io.write(frequencies, torch.from_numpy(upper))
            else:
                upper = np.asarray(io.read(frequencies), dtype=bool)
            low[active] = np.where(upper, mid + 1, lo)
            high[active] = np.where(upper, hi, mid)
        values[starts[cells] + i] = low
        after[cells] = low + 1
    return values


class SparseCodec(SensorGeometryCodec):
    """Sparse scans, lossless (``sparse-v1``): cells by the dense model, then counts and
    offsets (see the module's docstring)."""

    sensor_name = "sparse-scan"

    @staticmethod
    def suits_sample(positions):
        """The SUITS_POINTS points of least x: a slab of the cloud, so its density is the
        cloud's own (a random sample would be sparser)."""
        return np.argpartition(positions[:, 0], SUITS_POINTS)[:SUITS_POINTS]

    @staticmethod
    def sensor_found(grid):
        keys = grid.keys
        return len(keys) >= 64 and len(keys) / len(np.unique(keys >> 6)) <= SPARSE_POINTS

    def encode_voxels(self, prepared, progress=None, max_block_points=None, reference=None):
        grid, coord_dtype = prepared
        keys = grid.keys
        k = cell_bits(keys, grid.bits)
        cells, first, counts = np.unique(keys >> (3 * k), return_index=True, return_counts=True)
        extra = counts - 1
        location16 = 16 * int(np.median(extra)) if len(extra) else 0
        log_scale16 = logistic.best_scale_exponent(extra, location16 / 16, range(-64, 160, 4), 16, 0,
                                                   COUNT_LIMIT) if len(extra) else 0
        writer = binary_writer(self.coder)
        _extra_points(writer, extra, len(extra), location16, log_scale16, self.integer)
        offset_sets(writer, keys & ((1 << (3 * k)) - 1), counts, k, self.integer)
        cell_sections, cell_coords = self.code_others(grid, morton.decode(cells, grid.bits - k), coord_dtype,
                                                      progress, bits=grid.bits - k)
        sections = [varint.encode([k, *varint.signed([location16, log_scale16])]), writer.finish(), *cell_sections]
        if progress:
            progress(len(keys))
        rebuilt = _points(cell_coords, counts, keys & ((1 << (3 * k)) - 1), k, grid.bits)
        return self.encoded(grid, coord_dtype, [rebuilt], sections, _details(k, len(cells), sections))

    def decode_voxels(self, header, sections, progress=None, reference=None):
        frame = self._frame(header)
        if len(sections) < 3:
            raise BitstreamError("sparse-scan stream has too few sections")
        values, end = varint.decode(sections[0])
        if len(values) != _HEAD or end != len(sections[0]):
            raise BitstreamError("sparse-scan header is corrupted")
        k, (location16, log_scale16) = values[0], varint.unsigned(values[1:])
        if not 0 <= k < max(frame["bits"], 1) or abs(location16) >= 16 * COUNT_LIMIT or abs(log_scale16) >= 1 << 12:
            raise BitstreamError("sparse-scan header is corrupted")
        cell_coords = self.decode_others(sections[2:], None, progress)
        reader = binary_reader(self.coder, sections[1])
        counts = 1 + _extra_points(reader, None, len(cell_coords), location16, log_scale16, self.integer)
        if counts.sum() != frame["voxels"]:
            raise BitstreamError("sparse-scan stream's cell counts disagree with its header")
        offsets = offset_sets(reader, None, counts, k, self.integer)
        reader.finish()
        if progress:
            progress(frame["voxels"])
        rebuilt = _points(cell_coords, counts, offsets, k, frame["bits"])
        return self.decoded(frame, [rebuilt], _details(k, len(cell_coords), sections))


def _extra_points(io, extra, count, location16, log_scale16, integer):
    """Code (``io`` a writer, ``extra`` given) or read (a reader) each cell's points minus
    one under the stream's logistic (location and log2 scale x16): an integer one
    (sparse-v2), or a float one."""
    location, scale = logistic.sixteenths(count, location16, log_scale16, integer)
    if integer:
        model = logistic.IntegerLogistic(location, scale, 0, COUNT_LIMIT)
        if extra is None:
            return logistic.read_integer(io, model).numpy()
        logistic.write_integer(io, torch.from_numpy(extra), model)
        return extra
    if extra is None:
        return np.asarray(logistic.read(io, location, scale, 0, COUNT_LIMIT), dtype=np.int64)
    logistic.write(io, torch.from_numpy(extra), location, scale, 0, COUNT_LIMIT)
    return extra


def _points(cell_coords, counts, offsets, k, bits):
    """(N, 3) voxel coordinates of the points: each cell's corner plus its points' offsets
    (Morton codes inside the cell), cells in Morton order."""
    cells = morton.encode(cell_coords, bits - k)
    return morton.decode((np.repeat(cells, counts) << (3 * k)) | offsets, bits)


def _details(k, cells, sections):
    return {"sensor": f"none: a sparse scan, coded as {cells} cells of {1 << k} voxels a side and "
                      "the points' offsets in them",
            "cell bytes": sum(map(len, sections[2:])), "count and offset bytes": len(sections[1])}
