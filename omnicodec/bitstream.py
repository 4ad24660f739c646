"""The one bitstream container of omnicodec (``.ocz`` files).

Layout of format version 3 (all integers little endian)::

    magic         4 bytes  b"OMNC"
    version       u16      FORMAT_VERSION
    codec         varint   number of the codec (registered in omnicodec/weights/*.toml)
    model         u8 length + ASCII id of the model (omnicodec.zoo)
    weights       8 bytes  first bytes of the model weights' SHA-256
    coder         u8 length + ASCII name of the entropy coder
    checksum      8 bytes  the codec's digest of the decoded data
    codec header  varint length + bytes that only the codec reads
    sections      varint count, then one varint length per section
    payload       the sections, back to back
    crc32         u32      CRC32 of every byte before it

The container knows nothing of models or codecs: the codec header and the sections are
opaque bytes. Versions 1 and 2 (omnicodec 0.1.0) still read: see :func:`_read_legacy`.
"""

import dataclasses
import hashlib
import struct
import zlib

import numpy as np

from omnicodec import varint
from omnicodec.errors import BitstreamError

MAGIC = b"OMNC"
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
CHECKSUM_BYTES = 8
_FIXED = struct.Struct("<4sH")


@dataclasses.dataclass(frozen=True)
class Header:
    """What every stream says about itself: ``codec`` is the codec's number,
    ``codec_header`` the codec's own bytes."""

    codec: int
    model_id: str
    weights_hash: bytes
    coder: str
    checksum: bytes
    codec_header: bytes
    version: int = FORMAT_VERSION


def checksum(array):
    """The 8-byte digest a codec records of its decoded data: SHA-256 of the array's
    little-endian values in C order."""
    array = np.asarray(array)
    data = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"), copy=False))
    return hashlib.sha256(data.tobytes()).digest()[:CHECKSUM_BYTES]


def ascii_field(text, encoding="ascii"):
    """A short string as stored in headers: u8 length, then the bytes (ASCII, or UTF-8
    for a sequence's frame names)."""
    raw = text.encode(encoding)
    if len(raw) > 255:
        raise ValueError("header strings are at most 255 bytes")
    return bytes([len(raw)]) + raw


def _digest(value):
    return bytes(value[:CHECKSUM_BYTES]).ljust(CHECKSUM_BYTES, b"\0")


def pack(header, sections):
    """Header + sections -> the bytes of a complete file (always the current version)."""
    out = bytearray(_FIXED.pack(MAGIC, FORMAT_VERSION))
    out += varint.encode([header.codec])
    out += ascii_field(header.model_id)
    out += _digest(header.weights_hash)
    out += ascii_field(header.coder)
    out += _digest(header.checksum)
    out += varint.encode([len(header.codec_header)]) + header.codec_header
    out += varint.encode([len(sections), *[len(section) for section in sections]])
    for section in sections:
        out += section
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


class _Reader:
    def __init__(self, data, pos):
        self.data, self.pos = data, pos

    def take(self, size):
        if self.pos + size > len(self.data):
            raise BitstreamError("bitstream is truncated")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def string(self):
        raw = self.take(self.take(1)[0])
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise BitstreamError("bitstream header is corrupted") from None

    def varints(self, count):
        values, self.pos = varint.decode(self.data, count, self.pos)
        return values

    def counted(self):
        """A varint count, checked against what is left, then that many varints."""
        (count,) = self.varints(1)
        if count > len(self.data) - self.pos:
            raise BitstreamError("bitstream header is corrupted")
        return self.varints(count)

    def blob(self):
        (length,) = self.varints(1)
        return self.take(length)


def unpack(data):
    """Bytes of a file -> (Header, list of sections). Raises BitstreamError on any defect."""
    data = bytes(data)
    if len(data) < _FIXED.size:
        raise BitstreamError("not an omnicodec bitstream (file too short)")
    magic, version = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise BitstreamError("not an omnicodec bitstream (wrong magic)")
    if version not in READABLE_VERSIONS:
        newer = "a newer" if version > FORMAT_VERSION else "an older"
        raise BitstreamError(
            f"bitstream format version {version} was written by {newer} omnicodec; "
            f"this one reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    if len(data) < _FIXED.size + 4:
        raise BitstreamError("bitstream is truncated")
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    reader = _Reader(body, _FIXED.size)
    try:
        header = _read_current(reader) if version == FORMAT_VERSION else _read_legacy(reader, version)
        lengths = reader.counted()
    except BitstreamError:
        _check_crc(body, crc)  # a damaged header is reported as such when the CRC says so
        raise
    if reader.pos + sum(lengths) != len(body):
        _check_crc(body, crc)
        raise BitstreamError("bitstream is truncated" if reader.pos + sum(lengths) > len(body)
                             else "bitstream has trailing data")
    _check_crc(body, crc)
    return header, [reader.take(length) for length in lengths]


def _read_current(reader):
    (codec,) = reader.varints(1)
    model_id = reader.string()
    weights_hash, coder = reader.take(8), reader.string()
    checksum = reader.take(CHECKSUM_BYTES)
    return Header(codec=codec, model_id=model_id, weights_hash=weights_hash, coder=coder,
                  checksum=checksum, codec_header=reader.blob())


# Versions 1 and 2 (omnicodec 0.1.0) named the codec by a mode byte (the codec numbers
# kept them: 1 lossless and 2 lossy point clouds, 3 light fields) and kept its fields inline: point clouds (modes 1, 2): bits u8, coordinate dtype (u8 length + ASCII),
# offset 3 x f64, scale f64, input points u64, voxels u64, geometry checksum 8 bytes, with
# "integer input" in bit 0 of a flags byte after the mode; light fields (mode 3): U, V, H,
# W u32, sample bits u8, tile u16, rate f32, naming (varint length + JSON), views checksum.
# Their fields are exactly today's codec headers of those codecs, less the checksum, which
# moved into the common header, and, for point clouds, with the flags byte in front.
LEGACY_MODES = (1, 2, 3)
_LEGACY_CLOUD = struct.Struct("<B")
_LEGACY_CLOUD_NUMBERS = struct.Struct("<4dQQ")
_LEGACY_LIGHTFIELD = struct.Struct("<4IBHf")


def _read_legacy(reader, version):
    mode, flags = reader.take(2)
    if mode not in LEGACY_MODES:
        raise BitstreamError(f"unknown codec mode {mode} in a version {version} bitstream")
    model_id, weights_hash, coder = reader.string(), reader.take(8), reader.string()
    start = reader.pos
    if mode == 3:
        reader.take(_LEGACY_LIGHTFIELD.size)
        reader.blob()
        codec_header = reader.data[start:reader.pos]
    else:
        reader.take(_LEGACY_CLOUD.size)
        reader.string()
        reader.take(_LEGACY_CLOUD_NUMBERS.size)
        codec_header = bytes([flags & 1]) + reader.data[start:reader.pos]
    return Header(codec=mode, model_id=model_id, weights_hash=weights_hash,
                  coder=coder, checksum=reader.take(CHECKSUM_BYTES), codec_header=codec_header,
                  version=version)


def _check_crc(body, crc):
    if zlib.crc32(body) != crc:
        raise BitstreamError("bitstream is corrupted or truncated (CRC32 mismatch)")


def inflated(data, limit, what):
    """zlib-deflated ``data`` inflated, refusing more than ``limit`` bytes (a damaged
    stream must not make the decoder allocate without bound)."""
    inflater = zlib.decompressobj()
    try:
        result = inflater.decompress(data, limit)
    except zlib.error:
        raise BitstreamError(f"{what} is corrupted") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise BitstreamError(f"{what} is corrupted")
    return result


# Sequences (``.ocz`` files of many frames: a LiDAR drive, a run of depth frames). Layout of
# sequence format version 1::
#
#     magic         4 bytes  b"OMNS"
#     version       u16      SEQUENCE_VERSION
#     records, back to back, each:
#       kind        u8       RANDOM_ACCESS (decodes alone), PREDICTED (its codec predicts it
#                            from the frame before, which must be decoded first) or END (the
#                            last record)
#       name        u8 length + UTF-8: the frame's file name (may be empty; never a path)
#       length      varint   bytes of the frame (for END: the number of frames)
#       crc32       u32      CRC32 of the record's kind, name and length
#       frame       a complete stream as :func:`pack` writes it (nothing after END)
#
# Each frame keeps its own header and CRC, so damage stops decoding at the damaged frame
# while the frames before it still decode; a reader finds any frame by skipping records
# (it reads headers only).
SEQUENCE_MAGIC = b"OMNS"
SEQUENCE_VERSION = 1
RANDOM_ACCESS, PREDICTED, END = 0, 1, 255
_RECORD_CRC = struct.Struct("<I")


def is_sequence(data):
    """Whether ``data`` (bytes-like) begins as a sequence does."""
    return bytes(data[:len(SEQUENCE_MAGIC)]) == SEQUENCE_MAGIC


def _record_header(kind, name, length):
    head = bytes([kind]) + ascii_field(name, "utf-8") + varint.encode([length])
    return head + _RECORD_CRC.pack(zlib.crc32(head))


class SequenceWriter:
    """Writes a sequence to a binary ``handle`` frame by frame (each a stream as
    :func:`pack` made it); :meth:`finish` writes the end record."""

    def __init__(self, handle):
        self.handle, self.frames, self.file_names = handle, 0, set()
        handle.write(_FIXED.pack(SEQUENCE_MAGIC, SEQUENCE_VERSION))

    def name_problem(self, name):
        """Why ``name`` cannot name the next frame (see :func:`frame_name_problem`; or the
        file it decodes to is another frame's), or None."""
        file_name = frame_file_name(self.frames, name)
        return frame_name_problem(name) or (
            f"frame name {file_name!r} is already in this sequence" if file_name in self.file_names else None)

    def add(self, stream, name="", predicted=False):
        """Append a frame, one that decodes alone or (``predicted``) one predicted from the
        frame before; ``name``: its file name (see :meth:`name_problem`)."""
        problem = self.name_problem(name)
        if problem:
            raise ValueError(problem)
        if predicted and not self.frames:
            raise ValueError("a sequence's first frame cannot be predicted")
        self.handle.write(_record_header(PREDICTED if predicted else RANDOM_ACCESS, name, len(stream)))
        self.handle.write(stream)
        self.file_names.add(frame_file_name(self.frames, name))
        self.frames += 1

    def finish(self):
        self.handle.write(_record_header(END, "", self.frames))


def frame_name_problem(name):
    """Why ``name`` cannot name a frame (a decoder writes the frame to that file in its
    output folder, so it must be a plain file name), or None."""
    if name in (".", "..") or any(mark in name for mark in ("/", "\\", "\0")):
        return f"frame name {name!r} is not a plain file name"
    try:
        if len(name.encode("utf-8")) > 255:
            return f"frame name {name[:40]!r}... is longer than 255 bytes"
    except UnicodeEncodeError:
        return f"frame name {name!r} is not UTF-8"
    return None


def frame_file_name(index, name):
    """The file frame ``index`` named ``name`` decodes to: its name, else frame_NNNNNN.ply."""
    return name or f"frame_{index:06d}.ply"


@dataclasses.dataclass(frozen=True)
class Frame:
    """Where one frame of a sequence lies: its ``index``, whether it decodes alone
    (``random_access``), its ``name``, and its bytes' ``offset`` and ``length``."""

    index: int
    random_access: bool
    name: str
    offset: int
    length: int

    @property
    def file_name(self):
        return frame_file_name(self.index, self.name)


class SequenceReader:
    """The frames of a sequence in ``data`` (bytes-like: bytes, or an mmap of the file, of
    which only the frames asked for are read). ``frames`` lists those that are whole;
    ``damage`` says why the list stops early (a truncated or corrupted stream), else None."""

    def __init__(self, data):
        self.data = data
        if len(data) < _FIXED.size or not is_sequence(data):
            raise BitstreamError("not an omnicodec sequence")
        _, version = _FIXED.unpack_from(data)
        if version != SEQUENCE_VERSION:
            newer = "a newer" if version > SEQUENCE_VERSION else "an older"
            raise BitstreamError(f"sequence format version {version} was written by {newer} omnicodec; "
                                 f"this one reads version {SEQUENCE_VERSION}")
        self.frames, self.names, self.damage = [], set(), None
        try:
            self._scan(_FIXED.size)
        except BitstreamError as exc:
            self.damage = f"{exc} after frame {len(self.frames)}" if self.frames else str(exc)

    def _scan(self, pos):
        while True:
            kind, name, length, pos = self._record(pos)
            if kind == END:
                if length != len(self.frames):
                    raise BitstreamError(f"sequence ends after {len(self.frames)} frames; its end record "
                                         f"says {length}")
                if pos != len(self.data):
                    raise BitstreamError("sequence has trailing data")
                return
            if pos + length > len(self.data):
                raise BitstreamError("sequence is truncated")
            if kind == PREDICTED and not self.frames:
                raise BitstreamError("sequence is corrupted: its first frame needs a frame before it")
            frame = Frame(len(self.frames), kind == RANDOM_ACCESS, name, pos, length)
            if frame_name_problem(name) or frame.file_name in self.names:
                raise BitstreamError("sequence is corrupted (a frame name is not a plain, unique file name)")
            self.names.add(frame.file_name)
            self.frames.append(frame)
            pos += length

    def _record(self, pos):
        if pos >= len(self.data):
            raise BitstreamError("sequence is truncated")
        head_end = pos + 2 + self.data[pos + 1] if pos + 1 < len(self.data) else len(self.data) + 1
        reader = _Reader(bytes(self.data[pos:head_end + 16]), 0)
        try:
            kind, name = reader.take(1)[0], reader.take(reader.take(1)[0])
            (length,) = reader.varints(1)
            head = reader.data[:reader.pos]
            (crc,) = _RECORD_CRC.unpack(reader.take(_RECORD_CRC.size))
        except BitstreamError:
            raise BitstreamError("sequence is truncated") from None
        if zlib.crc32(head) != crc or kind not in (RANDOM_ACCESS, PREDICTED, END):
            raise BitstreamError("sequence is corrupted (a frame record fails its CRC32)")
        try:
            return kind, name.decode("utf-8"), length, pos + reader.pos
        except UnicodeDecodeError:
            raise BitstreamError("sequence is corrupted (a frame name is not UTF-8)") from None

    def stream(self, frame):
        """The bytes of ``frame`` (a :class:`Frame`): a stream :func:`unpack` reads."""
        return bytes(self.data[frame.offset:frame.offset + frame.length])
