import struct
import zlib

import pytest

from omnicodec import bitstream
from omnicodec.errors import BitstreamError

HEADER = bitstream.Header(
    mode=1, model_id="occupancy-v1", weights_hash=b"12345678", coder="torchac", bits=10, coord_dtype="<f4",
    offset=(1.5, -2.0, 3.0), scale=0.25, input_points=1000, voxels=900,
    geometry_checksum=b"abcdefgh", integer_input=True)
SECTIONS = [b"layout", b"", b"x" * 300, bytes(range(256))]


def packed():
    return bitstream.pack(HEADER, SECTIONS)


def test_round_trip():
    header, sections = bitstream.unpack(packed())
    assert header == HEADER
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


def test_wrong_magic():
    with pytest.raises(BitstreamError, match="wrong magic"):
        bitstream.unpack(b"PK\x03\x04" + packed()[4:])


def test_future_version_is_refused_clearly():
    data = bytearray(packed())
    struct.pack_into("<H", data, 4, bitstream.FORMAT_VERSION + 1)
    data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])))
    with pytest.raises(BitstreamError, match="newer omnicodec"):
        bitstream.unpack(bytes(data))


def test_trailing_data_is_refused():
    with pytest.raises(BitstreamError):
        bitstream.unpack(packed() + b"\0")
