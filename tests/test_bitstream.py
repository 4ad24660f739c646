import dataclasses
import struct
import zlib

import pytest

from omnicodec import bitstream, varint
from omnicodec.errors import BitstreamError

HEADER = bitstream.Header(
    codec=1, model_id="occupancy-v1", weights_hash=b"12345678", coder="torchac",
    checksum=b"abcdefgh", codec_header=b"\x01\x0a\x03<f4" + bytes(range(48)))
SECTIONS = [b"layout", b"", b"x" * 300, bytes(range(256))]


def packed():
    return bitstream.pack(HEADER, SECTIONS)


def with_crc(data):
    """``data`` with its last 4 bytes replaced by the CRC32 of the rest."""
    data = bytearray(data)
    data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])))
    return bytes(data)


def test_round_trip():
    header, sections = bitstream.unpack(packed())
    assert header == HEADER and header.version == bitstream.FORMAT_VERSION == 3
    assert sections == SECTIONS


def test_truncated_at_every_offset():
    data = packed()
    for cut in range(len(data)):
        with pytest.raises(BitstreamError):
            bitstream.unpack(data[:cut])


def test_flipped_bits_everywhere():
    data = packed()
    for position in range(0, len(data), 3):
        for bit in (0, 5):
            damaged = bytearray(data)
            damaged[position] ^= 1 << bit
            with pytest.raises(BitstreamError):
                bitstream.unpack(bytes(damaged))


def test_damaged_payload_fails_the_crc():
    data = bytearray(packed())
    data[-10] ^= 0x01
    with pytest.raises(BitstreamError, match="CRC32 mismatch"):
        bitstream.unpack(bytes(data))


def test_wrong_magic():
    with pytest.raises(BitstreamError, match="wrong magic"):
        bitstream.unpack(b"PK\x03\x04" + packed()[4:])


@pytest.mark.parametrize("version, message", [(bitstream.FORMAT_VERSION + 1, "newer omnicodec"),
                                              (0, "older omnicodec")])
def test_unreadable_version_is_refused_clearly(version, message):
    data = bytearray(packed())
    struct.pack_into("<H", data, 4, version)
    with pytest.raises(BitstreamError, match=message):
        bitstream.unpack(with_crc(data))


def test_trailing_data_is_refused():
    with pytest.raises(BitstreamError):
        bitstream.unpack(packed() + b"\0")


def version2(header, sections, mode, flags=0, version=2):
    """A stream as omnicodec 0.1.0 wrote it (format version 2, or 1 for point clouds): mode
    and flags after the version, the codec's fields inline before the checksum."""
    fields = header.codec_header[1:] if mode in (1, 2) else header.codec_header
    out = struct.pack("<4sHBB", bitstream.MAGIC, version, mode, flags)
    out += bitstream.ascii_field(header.model_id) + header.weights_hash
    out += bitstream.ascii_field(header.coder) + fields + header.checksum
    out += varint.encode([len(sections), *map(len, sections)]) + b"".join(sections)
    return with_crc(out + b"\0" * 4)


LIGHTFIELD = dataclasses.replace(
    HEADER, codec=3, model_id="lightfield-v1",
    codec_header=struct.pack("<4IBHf", 9, 9, 64, 48, 8, 128, 2.0) + varint.encode([2]) + b"{}")


@pytest.mark.parametrize("header, mode, version", [
    (HEADER, 1, 1), (dataclasses.replace(HEADER, codec=2), 2, 1),
    (HEADER, 1, 2), (dataclasses.replace(HEADER, codec=2), 2, 2), (LIGHTFIELD, 3, 2)])
def test_version_1_and_2_streams_still_unpack(header, mode, version):
    """Old modes are today's codec numbers; the flags byte leads a point cloud's header."""
    flags = header.codec_header[0] if mode in (1, 2) else 0
    old, sections = bitstream.unpack(version2(header, SECTIONS, mode, flags, version))
    assert old == dataclasses.replace(header, version=version) and sections == SECTIONS


def test_version_2_stream_of_an_unknown_mode_is_refused():
    with pytest.raises(BitstreamError, match="unknown codec mode 7"):
        bitstream.unpack(version2(HEADER, SECTIONS, 7))
