"""LEB128-style unsigned varints, used by the container and the codecs' small headers."""

from omnicodec.errors import BitstreamError


def encode(values):
    out = bytearray()
    for value in values:
        value = int(value)
        if value < 0:
            raise ValueError("varints are unsigned")
        while True:
            out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
            value >>= 7
            if not value:
                break
    return bytes(out)


def decode(data, count=None, pos=0):
    """Read ``count`` varints (all of ``data`` when None) from ``pos`` -> (values, new pos)."""
    values = []
    while (count is None and pos < len(data)) or (count is not None and len(values) < count):
        value, shift = 0, 0
        while True:
            if pos >= len(data) or shift > 63:
                raise BitstreamError("bitstream is truncated or corrupted (bad varint)")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        values.append(value)
    return values, pos


def signed(values):
    """Signed integers -> the unsigned ones varints hold (zigzag: 0, -1, 1, -2 -> 0, 1, 2, 3)."""
    return [(v << 1) ^ (v >> 63) for v in (int(x) for x in values)]


def unsigned(values):
    """Inverse of :func:`signed`."""
    return [(v >> 1) ^ -(v & 1) for v in values]
