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
- each point's offset in its cell, 3k bits (the points of a cell in Morton order).

A test on its grid (:meth:`SparseCodec.suits`) claims clouds whose points mostly sit
alone in their 4^3-voxel cell.
"""

import numpy as np
import torch

from omnicodec import varint
from omnicodec.entropy import binary_reader, binary_writer, logistic
from omnicodec.errors import BitstreamError
from omnicodec.geometry import morton
from omnicodec.models.sensor_coding import SUITS_POINTS, SensorGeometryCodec

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


def _offset_bits(io, offsets, k, count):
    """Code (``offsets``: int64 Morton codes inside the cell) or read ``count`` offsets of
    3k bits each, every bit at even odds, most significant first."""
    half = torch.full((count,), 1 << 15, dtype=torch.int32)
    values = np.zeros(count, dtype=np.int64)
    for bit in range(3 * k - 1, -1, -1):
        if offsets is not None:
            bits = (offsets >> bit) & 1
            io.write(half, torch.from_numpy(bits.astype(bool)))
        else:
            bits = np.asarray(io.read(half), dtype=np.int64)
        values |= bits << bit
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

    def encode_voxels(self, prepared, progress=None, max_block_points=None):
        grid, coord_dtype = prepared
        keys = grid.keys
        k = cell_bits(keys, grid.bits)
        cells, first, counts = np.unique(keys >> (3 * k), return_index=True, return_counts=True)
        extra = counts - 1
        location16 = 16 * int(np.median(extra)) if len(extra) else 0
        log_scale16 = logistic.best_scale_exponent(extra, location16 / 16, range(-64, 160, 4), 16, 0,
                                                   COUNT_LIMIT) if len(extra) else 0
        writer = binary_writer(self.coder)
        logistic.write(writer, torch.from_numpy(extra), torch.full((len(extra),), location16 / 16.0,
                       dtype=torch.float64), torch.full((len(extra),), 2.0 ** (log_scale16 / 16), dtype=torch.float64),
                       0, COUNT_LIMIT)
        _offset_bits(writer, keys & ((1 << (3 * k)) - 1), k, len(keys))
        cell_sections, cell_coords = self.code_others(grid, morton.decode(cells, grid.bits - k), coord_dtype,
                                                      progress, bits=grid.bits - k)
        sections = [varint.encode([k, *varint.signed([location16, log_scale16])]), writer.finish(), *cell_sections]
        if progress:
            progress(len(keys))
        rebuilt = _points(cell_coords, counts, keys & ((1 << (3 * k)) - 1), k, grid.bits)
        return self.encoded(grid, coord_dtype, [rebuilt], sections, _details(k, len(cells), sections))

    def decode_voxels(self, header, sections, progress=None):
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
        counts = 1 + np.asarray(logistic.read(
            reader, torch.full((len(cell_coords),), location16 / 16.0, dtype=torch.float64),
            torch.full((len(cell_coords),), 2.0 ** (log_scale16 / 16), dtype=torch.float64), 0, COUNT_LIMIT),
            dtype=np.int64)
        if counts.sum() != frame["voxels"]:
            raise BitstreamError("sparse-scan stream's cell counts disagree with its header")
        offsets = _offset_bits(reader, None, k, int(counts.sum()))
        reader.finish()
        if progress:
            progress(frame["voxels"])
        rebuilt = _points(cell_coords, counts, offsets, k, frame["bits"])
        return self.decoded(frame, [rebuilt], _details(k, len(cell_coords), sections))


def _points(cell_coords, counts, offsets, k, bits):
    """(N, 3) voxel coordinates of the points: each cell's corner plus its points' offsets
    (Morton codes inside the cell), cells in Morton order."""
    cells = morton.encode(cell_coords, bits - k)
    return morton.decode((np.repeat(cells, counts) << (3 * k)) | offsets, bits)


def _details(k, cells, sections):
    return {"sensor": f"none: a sparse scan, coded as {cells} cells of {1 << k} voxels a side and "
                      "the points' offsets in them",
            "cell bytes": sum(map(len, sections[2:])), "count and offset bytes": len(sections[1])}
