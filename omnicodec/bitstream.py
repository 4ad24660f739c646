"""The one bitstream container of omnicodec (``.ocz`` files).

Layout (all integers little endian)::

    magic      4 bytes  b"OMNC"
    version    u16      FORMAT_VERSION
    mode       u8       codec mode (MODES)
    flags      u8       bit 0: the input was on an integer grid
    model id   u8 length + ASCII
    weights    8 bytes  first bytes of the model weights' SHA-256
    coder      u8 length + ASCII name of the entropy coder
    bits       u8       voxel grid depth (2**bits voxels per axis)
    dtype      u8 length + numpy dtype string of the input coordinates
    offset     3 x f64  | scale  f64   (point = offset + voxel * scale)
    points     u64      input points  | voxels u64 unique voxels coded
    geometry   8 bytes  first bytes of SHA-256 of the decoded voxels (Morton order, int32)
    sections   varint count, then one varint length per section
    payload    the sections, back to back
    crc32      u32      CRC32 of every byte before it

The container knows nothing of models: sections are opaque bytes.
"""

import dataclasses
import hashlib
import struct
import zlib

import numpy as np

from omnicodec import varint
from omnicodec.errors import BitstreamError

MAGIC = b"OMNC"
FORMAT_VERSION = 1
MODES = {1: "pointcloud-lossless", 2: "pointcloud-lossy"}
MODE_OF_KIND = {kind: mode for mode, kind in MODES.items()}
_FIXED = struct.Struct("<4sHBB")


@dataclasses.dataclass
class Header:
    mode: int
    model_id: str
    weights_hash: bytes
    coder: str
    bits: int
    coord_dtype: str
    offset: tuple
    scale: float
    input_points: int
    voxels: int
    geometry_checksum: bytes
    integer_input: bool = False

    @property
    def mode_name(self):
        return MODES.get(self.mode, f"unknown ({self.mode})")


def geometry_checksum(coords):
    """8-byte digest of voxel coordinates in their canonical (Morton) order."""
    data = np.ascontiguousarray(np.asarray(coords, dtype="<i4"))
    return hashlib.sha256(data.tobytes()).digest()[:8]


def _string(text):
    raw = text.encode("ascii")
    if len(raw) > 255:
        raise ValueError("header strings are at most 255 bytes")
    return bytes([len(raw)]) + raw


def pack(header, sections):
    """Header + sections -> the bytes of a complete file."""
    if header.mode not in MODES:
        raise ValueError(f"unknown codec mode {header.mode}")
    out = bytearray(_FIXED.pack(MAGIC, FORMAT_VERSION, header.mode, int(header.integer_input)))
    out += _string(header.model_id)
    out += header.weights_hash[:8].ljust(8, b"\0")
    out += _string(header.coder)
    out += bytes([header.bits])
    out += _string(header.coord_dtype)
    out += struct.pack("<4d", *header.offset, header.scale)
    out += struct.pack("<QQ", header.input_points, header.voxels)
    out += header.geometry_checksum[:8].ljust(8, b"\0")
    out += varint.encode([len(sections), *[len(section) for section in sections]])
    for section in sections:
        out += section
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, size):
        if self.pos + size > len(self.data):
            raise BitstreamError("bitstream is truncated")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def string(self):
        raw = self.take(self.take(1)[0])
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise BitstreamError("bitstream header is corrupted") from None

    def varints(self, count):
        values, self.pos = varint.decode(self.data, count, self.pos)
        return values


def unpack(data):
    """Bytes of a file -> (Header, list of sections). Raises BitstreamError on any defect."""
    data = bytes(data)
    if len(data) < _FIXED.size:
        raise BitstreamError("not an omnicodec bitstream (file too short)")
    magic, version, mode, flags = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise BitstreamError("not an omnicodec bitstream (wrong magic)")
    if version != FORMAT_VERSION:
        newer = "a newer" if version > FORMAT_VERSION else "an older"
        raise BitstreamError(
            f"bitstream format version {version} was written by {newer} omnicodec; "
            f"this one reads version {FORMAT_VERSION}")
    if len(data) < _FIXED.size + 4:
        raise BitstreamError("bitstream is truncated")
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    reader = _Reader(body)
    reader.pos = _FIXED.size
    try:
        model_id = reader.string()
        weights_hash = reader.take(8)
        coder = reader.string()
        bits = reader.take(1)[0]
        coord_dtype = reader.string()
        offset_scale = reader.unpack("<4d")
        input_points, voxels = reader.unpack("<QQ")
        checksum = reader.take(8)
        (count,) = reader.varints(1)
        if count > len(body):
            raise BitstreamError("bitstream header is corrupted")
        lengths = reader.varints(count)
    except BitstreamError:
        _check_crc(body, crc)  # a damaged header is reported as such when the CRC says so
        raise
    if reader.pos + sum(lengths) != len(body):
        _check_crc(body, crc)
        raise BitstreamError("bitstream is truncated" if reader.pos + sum(lengths) > len(body)
                             else "bitstream has trailing data")
    _check_crc(body, crc)
    if mode not in MODES:
        raise BitstreamError(f"unknown codec mode {mode} in bitstream")
    sections = [reader.take(length) for length in lengths]
    header = Header(mode=mode, model_id=model_id, weights_hash=weights_hash, coder=coder, bits=bits,
                    coord_dtype=coord_dtype, offset=tuple(offset_scale[:3]), scale=offset_scale[3],
                    input_points=input_points, voxels=voxels, geometry_checksum=checksum,
                    integer_input=bool(flags & 1))
    return header, sections


def _check_crc(body, crc):
    if zlib.crc32(body) != crc:
        raise BitstreamError("bitstream is corrupted or truncated (CRC32 mismatch)")
