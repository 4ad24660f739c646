"""The one bitstream container of omnicodec (``.ocz`` files).

Layout (all integers little endian)::

    magic      4 bytes  b"OMNC"
    version    u16      FORMAT_VERSION
    mode       u8       codec mode (MODES)
    flags      u8       bit 0: the input was on an integer grid
    model id   u8 length + ASCII
    weights    8 bytes  first bytes of the model weights' SHA-256
    coder      u8 length + ASCII name of the entropy coder
  point-cloud modes (1, 2):
    bits       u8       voxel grid depth (2**bits voxels per axis)
    dtype      u8 length + numpy dtype string of the input coordinates
    offset     3 x f64  | scale  f64   (point = offset + voxel * scale)
    points     u64      input points  | voxels u64 unique voxels coded
    geometry   8 bytes  first bytes of SHA-256 of the decoded voxels (Morton order, int32)
  light-field mode (3):
    shape      4 x u32  U, V (rows and columns of views), H, W (pixels of a view)
    sample     u8       bits per sample of the input (8 or 16)
    tile       u16      tile side in pixels (all views x tile x tile code independently)
    rate       f32      the rate (gain index) the latent was coded at
    naming     varint length + JSON of the input's view naming, so output matches it
    views      8 bytes  first bytes of SHA-256 of the decoded views (uint, C order)
  all modes:
    sections   varint count, then one varint length per section
    payload    the sections, back to back
    crc32      u32      CRC32 of every byte before it

The container knows nothing of models: sections are opaque bytes. Version 2 added mode 3;
version 1 streams (modes 1 and 2, same layout) still read.
"""

import dataclasses
import hashlib
import json
import struct
import zlib

import numpy as np

from omnicodec import varint
from omnicodec.errors import BitstreamError

MAGIC = b"OMNC"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MODES = {1: "pointcloud-lossless", 2: "pointcloud-lossy", 3: "lightfield"}
LIGHTFIELD_MODE = 3
MODE_OF_KIND = {kind: mode for mode, kind in MODES.items()}
_FIXED = struct.Struct("<4sHBB")


@dataclasses.dataclass
class LightFieldInfo:
    """What a light-field stream says about its content."""

    shape: tuple  # (U, V, H, W)
    sample_bits: int
    tile: int
    rate: float
    naming: dict
    views_checksum: bytes

    @property
    def pixels(self):
        u, v, h, w = self.shape
        return u * v * h * w


@dataclasses.dataclass
class Header:
    """A stream's header: the common fields, then either the point-cloud fields or
    ``lightfield``."""

    mode: int
    model_id: str
    weights_hash: bytes
    coder: str
    bits: int = 0
    coord_dtype: str = ""
    offset: tuple = (0.0, 0.0, 0.0)
    scale: float = 1.0
    input_points: int = 0
    voxels: int = 0
    geometry_checksum: bytes = b""
    integer_input: bool = False
    lightfield: LightFieldInfo = None

    @property
    def mode_name(self):
        return MODES.get(self.mode, f"unknown ({self.mode})")


def geometry_checksum(coords):
    """8-byte digest of voxel coordinates in their canonical (Morton) order."""
    data = np.ascontiguousarray(np.asarray(coords, dtype="<i4"))
    return hashlib.sha256(data.tobytes()).digest()[:8]


def views_checksum(views):
    """8-byte digest of decoded light-field views (little-endian samples, C order)."""
    views = np.asarray(views)
    data = np.ascontiguousarray(views.astype(views.dtype.newbyteorder("<"), copy=False))
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
    if header.mode == LIGHTFIELD_MODE:
        info = header.lightfield
        out += struct.pack("<4IBHf", *info.shape, info.sample_bits, info.tile, info.rate)
        naming = json.dumps(info.naming, sort_keys=True).encode("ascii")
        out += varint.encode([len(naming)]) + naming
        out += info.views_checksum[:8].ljust(8, b"\0")
    else:
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

    def json(self):
        (length,) = self.varints(1)
        try:
            value = json.loads(self.take(length).decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise BitstreamError("bitstream header is corrupted") from None
        if not isinstance(value, dict):
            raise BitstreamError("bitstream header is corrupted")
        return value

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
    if version not in READABLE_VERSIONS:
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
        if mode == LIGHTFIELD_MODE:
            fields = {"lightfield": _read_lightfield_info(reader)}
        else:
            fields = _read_cloud_fields(reader)
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
    header = Header(mode=mode, model_id=model_id, weights_hash=weights_hash, coder=coder,
                    integer_input=bool(flags & 1), **fields)
    return header, sections


def _read_cloud_fields(reader):
    bits = reader.take(1)[0]
    coord_dtype = reader.string()
    offset_scale = reader.unpack("<4d")
    input_points, voxels = reader.unpack("<QQ")
    return {"bits": bits, "coord_dtype": coord_dtype, "offset": tuple(offset_scale[:3]),
            "scale": offset_scale[3], "input_points": input_points, "voxels": voxels,
            "geometry_checksum": reader.take(8)}


def _read_lightfield_info(reader):
    *shape, sample_bits, tile, rate = reader.unpack("<4IBHf")
    naming = reader.json()
    return LightFieldInfo(shape=tuple(shape), sample_bits=sample_bits, tile=tile, rate=rate,
                          naming=naming, views_checksum=reader.take(8))


def _check_crc(body, crc):
    if zlib.crc32(body) != crc:
        raise BitstreamError("bitstream is corrupted or truncated (CRC32 mismatch)")
