"""What every point-cloud geometry codec shares: points -> voxel grid -> blocks -> a block
coder's sections, and back.

The voxel grid's frame (depth, offset, scale, input coordinate type) and counts are the
codec header; the first section is the block layout (block depth and the Morton keys of
the occupied blocks), then each block's sections from the subclass's block coder. The
stream's checksum covers the voxels the decoder rebuilds (Morton order, int32).
"""

import functools
import struct

import numpy as np

from omnicodec import bitstream, varint
from omnicodec.codec import Codec, Decoded, Encoded
from omnicodec.data import PointCloud
from omnicodec.errors import BitstreamError
from omnicodec.grid import blocks, devoxelize, morton, voxelize

MAX_BLOCK_POINTS = 1_500_000  # bounds peak memory: each block is coded on its own
MERGE_WARNING = 0.01  # a voxel grid that merges more of the input's points than this is reported
_NUMBERS = struct.Struct("<4dQQ")  # offset x/y/z, scale, input points, voxels


class GeometryCodec(Codec):
    """Base of the point-cloud geometry codecs: subclasses give :meth:`block_coder`, an
    object with ``sections_per_block``, ``compress_block(keys, depth, progress)`` ->
    (sections, rebuilt keys) and ``decompress_block(sections, depth, progress)`` -> keys."""

    options = ("voxel_size", "bits")
    unit = "point"
    lossless = True

    def block_coder(self):
        raise NotImplementedError

    @functools.cached_property
    def _blocks(self):
        return self.block_coder()

    def prepare(self, data, voxel_size=None, bits=None, with_point_voxels=False):
        """A PointCloud or an (N, 3) array -> (its voxel grid, its coordinate type)."""
        positions = np.asarray(data.positions if isinstance(data, PointCloud) else data)
        return (voxelize(positions, voxel_size=voxel_size, bits=bits, with_point_voxels=with_point_voxels),
                positions.dtype)

    def encode(self, prepared, rate=None, progress=None, reference=None, max_block_points=MAX_BLOCK_POINTS):
        return self.encode_voxels(prepared, progress, max_block_points, reference)[0]

    def decode(self, header, sections, progress=None, reference=None):
        return self.decode_voxels(header, sections, progress, reference)[0]

    def encode_voxels(self, prepared, progress=None, max_block_points=MAX_BLOCK_POINTS, reference=None):
        """(:class:`Encoded`, the (N, 3) voxel coordinates the decoder rebuilds, in Morton
        order): for codecs that code more of the cloud on these voxels. ``reference``: the
        frame before's, which geometry codecs that predict frames use (Codec.encode)."""
        grid, coord_dtype = prepared
        block_bits, block_keys, slices = blocks.partition(grid.keys, grid.bits, max_block_points)
        sections = [varint.encode([block_bits, len(block_keys),
                                   *[int(d) for d in np.diff(np.r_[0, block_keys])]])]
        local_mask = (1 << (3 * block_bits)) - 1
        rebuilt = []
        for block_key, piece in zip(block_keys, slices):
            block_sections, local = self._blocks.compress_block(grid.keys[piece] & local_mask,
                                                                block_bits, progress)
            sections += block_sections
            rebuilt.append((int(block_key) << (3 * block_bits)) | local)
        rebuilt = np.concatenate(rebuilt) if rebuilt else grid.keys
        coords = morton.decode(rebuilt, grid.bits)
        return Encoded(header=frame_header(grid, coord_dtype, len(rebuilt)), sections=sections,
                       checksum=checksum(coords),
                       decoded=PointCloud(devoxelize(coords, grid.offset, grid.scale, coord_dtype)),
                       details=self._details(grid.input_points, len(grid.keys), grid.bits,
                                             grid.integer_input, len(slices), grid.scale,
                                             grid.grid_choice)), coords

    def decode_voxels(self, header, sections, progress=None, reference=None):
        """(:class:`Decoded`, the (N, 3) voxel coordinates in Morton order)."""
        frame = self._frame(header)
        block_bits, block_keys = self._layout(sections[0] if sections else b"", frame["bits"])
        per_block = self._blocks.sections_per_block
        if len(sections) != 1 + per_block * len(block_keys):
            raise BitstreamError("bitstream section table does not match its block layout")
        keys = []
        for i, block_key in enumerate(block_keys):
            chunk = sections[1 + i * per_block: 1 + (i + 1) * per_block]
            local = self._blocks.decompress_block(chunk, block_bits, progress)
            keys.append((int(block_key) << (3 * block_bits)) | local)
        keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
        if len(keys) != frame["voxels"]:
            raise BitstreamError(f"decoded {len(keys)} voxels, the header says {frame['voxels']}")
        coords = morton.decode(keys, frame["bits"])
        positions = devoxelize(coords, frame["offset"], frame["scale"], np.dtype(frame["coord_dtype"]))
        return Decoded(PointCloud(positions), checksum(coords),
                       self._details(frame["input_points"], len(keys), frame["bits"],
                                     frame["integer_input"], len(block_keys), frame["scale"])), coords

    @classmethod
    def describe(cls, header):
        frame = cls._frame(header)
        return {"grid bits": frame["bits"], "input coordinate type": frame["coord_dtype"],
                "integer input": frame["integer_input"], "offset": list(frame["offset"]),
                "scale": frame["scale"], "input points": frame["input_points"],
                "voxels": frame["voxels"]}

    @classmethod
    def made_with(cls, header, options):
        return options.get("bits") is None or cls._frame(header)["bits"] == options["bits"]

    @classmethod
    def input_units(cls, header):
        return cls._frame(header)["input_points"]

    def _details(self, input_points, voxels, bits, integer_input, block_count, scale, grid_choice=None):
        if not self.lossless:
            note = "lossy"
        elif integer_input:
            note = "integer input, exact"
        else:
            note = "voxelized input: lossless on the voxel grid"
        details = {"input points": input_points, "voxels": voxels,
                   "duplicates merged": input_points - voxels,
                   "grid": f"{bits} bits per axis ({note})", "blocks": block_count,
                   "arithmetic": self.card.settings.get("arithmetic", "float")}
        if not integer_input:
            details["voxel size"] = f"{scale:.6g}" + (f" ({grid_choice})" if grid_choice else "")
            merged = input_points - voxels
            if self.lossless and merged > MERGE_WARNING * input_points:
                details["warning"] = (f"{merged} of {input_points} points ({100 * merged / input_points:.1f}%) "
                                      "fell into a voxel with another and were merged; a finer "
                                      "--voxel-size or --bits keeps them")
        return details

    @staticmethod
    def _frame(header):
        """The codec header's fields (see :meth:`encode`)."""
        try:
            flags, bits, length = header[0], header[1], header[2]
            coord_dtype = header[3:3 + length].decode("ascii")
            *offset, scale, input_points, voxels = _NUMBERS.unpack(header[3 + length:])
            np.dtype(coord_dtype)
        except (IndexError, UnicodeDecodeError, struct.error, TypeError):
            raise BitstreamError("point-cloud header is corrupted") from None
        if not 1 <= bits <= morton.MAX_BITS or np.dtype(coord_dtype).kind not in "iuf":
            raise BitstreamError("point-cloud header is corrupted")
        return {"integer_input": bool(flags & 1), "bits": bits, "coord_dtype": coord_dtype,
                "offset": tuple(offset), "scale": scale, "input_points": input_points,
                "voxels": voxels}

    @staticmethod
    def _layout(section, bits):
        """The layout section -> (block depth, Morton keys of the occupied blocks)."""
        values, _ = varint.decode(section)
        if len(values) < 2 or values[0] > bits or len(values) != 2 + values[1]:
            raise BitstreamError("block layout is corrupted")
        return values[0], np.cumsum(values[2:], dtype=np.int64)


def frame_header(grid, coord_dtype, voxels):
    """The codec header every geometry codec starts with: the voxel grid's frame and counts."""
    header = bytes([int(grid.integer_input), grid.bits]) + bitstream.ascii_field(np.dtype(coord_dtype).str)
    return header + _NUMBERS.pack(*(float(v) for v in grid.offset), float(grid.scale), grid.input_points, voxels)


def checksum(coords):
    """The stream's checksum of voxel coordinates in Morton order (as int32)."""
    return bitstream.checksum(coords.astype("<i4"))
