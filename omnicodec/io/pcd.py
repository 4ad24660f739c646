"""PCL's PCD point clouds (versions 0.6 and 0.7): read from ascii, binary and
binary_compressed (LZF) data; written as binary.

x/y/z become the positions (in their own type), a packed ``rgb``/``rgba`` field the
``rgb`` attribute (and ``alpha``), normal_x/normal_y/normal_z the ``normals``, and every
other field an attribute under its own name ((N, COUNT) when COUNT > 1); the ``_``
padding fields PCL writes are skipped. Points whose coordinates are NaN (PCL's mark of an
invalid point in an organized cloud) are read as they are, as PLY's are: the codecs
refuse them with their count, no reader drops them.
"""

import dataclasses
import os
import re
import struct

import numpy as np

from omnicodec.errors import InputError
from omnicodec.io.atomic import atomic_output
from omnicodec.io.inputs import cloud_arrays, file_bytes
from omnicodec.io.ply import grouped, narrowed_integers

_HEADER_KEYS = ("VERSION", "FIELDS", "SIZE", "TYPE", "COUNT", "WIDTH", "HEIGHT", "VIEWPOINT", "POINTS", "DATA")
_DATA_KINDS = ("ascii", "binary", "binary_compressed")
# A field's TYPE letter and SIZE -> its values' type.
_DTYPES = {(letter, str(size)): np.dtype(f"<{code}{size}")
           for letter, code, sizes in (("F", "f", (4, 8)), ("I", "i", (1, 2, 4, 8)), ("U", "u", (1, 2, 4, 8)))
           for size in sizes}
_TYPE_LETTERS = {"f": "F", "i": "I", "u": "U"}
_PADDING = "_"
_PACKED_COLOURS = ("rgb", "rgba")  # one 4-byte field holding 0xAARRGGBB (as a float or an integer)
_NORMALS = ("normal_x", "normal_y", "normal_z")
_FIELD_NAME = re.compile(r"[!-~]+")  # printable ASCII, no spaces


@dataclasses.dataclass
class _Field:
    name: str
    dtype: np.dtype  # of one value, little-endian as in the file
    count: int

    @property
    def bytes(self):
        """Bytes per point."""
        return self.dtype.itemsize * self.count

    @property
    def packs_colour(self):
        return self.name in _PACKED_COLOURS and self.count == 1 and self.dtype.itemsize == 4


def read_pcd(path):
    """Read a PCD file into a :class:`~omnicodec.data.PointCloud` (see the module's
    docstring); InputError with a one-line reason naming ``path`` on bad input."""
    from omnicodec.data import PointCloud

    path = os.fspath(path)
    entries, body = _header(file_bytes(path, "PCD"), path)
    fields, points = _fields(entries, path), _point_count(entries, path)
    kind = " ".join(entries["DATA"])
    if kind not in _DATA_KINDS:
        raise InputError(f"{path}: unknown PCD DATA kind {kind!r} (PCD data is ascii, binary or binary_compressed)")
    columns = {"ascii": _ascii_columns, "binary": _binary_columns,
               "binary_compressed": _compressed_columns}[kind](body, fields, points, path)
    columns = {field.name: _per_point(columns[field.name], field, points) for field in fields if field.name != _PADDING}
    axes = [columns.pop(axis) for axis in "xyz"]
    positions = np.stack(axes, axis=1).astype(np.result_type(*axes))
    return PointCloud(positions, grouped(_unpacked_colour(columns, fields), {"normals": (_NORMALS,)}))


def _per_point(values, field, points):
    """A field's values as an (N,) or (N, COUNT) array of its own, in this machine's byte order."""
    shape = (points,) if field.count == 1 else (points, field.count)
    return np.array(values.reshape(shape), dtype=field.dtype.newbyteorder("="))


def _header(raw, path):
    """({header key: its tokens}, the bytes after the DATA line)."""
    entries, start = {}, 0
    while start < len(raw):
        end = raw.find(b"\n", start)
        end = len(raw) if end < 0 else end
        line, start = raw[start:end], end + 1
        tokens = line.decode("ascii", errors="replace").split()
        if not tokens or tokens[0].startswith("#"):
            continue
        key = "FIELDS" if tokens[0] == "COLUMNS" else tokens[0]  # COLUMNS: PCD 0.5's name
        if key not in _HEADER_KEYS:
            if not entries:
                raise InputError(f"{path}: not a PCD file (it does not start with a PCD header)")
            raise InputError(f"{path}: malformed PCD header (unexpected line {line[:40]!r})")
        if key in entries:
            raise InputError(f"{path}: malformed PCD header ({key} given twice)")
        entries[key] = tokens[1:]
        if key == "DATA":
            return entries, raw[start:]
    if not entries:
        raise InputError(f"{path}: not a PCD file (it does not start with a PCD header)")
    raise InputError(f"{path}: malformed PCD header (no DATA line)")


def _fields(entries, path):
    """The fields FIELDS, SIZE, TYPE and COUNT (default 1 each) describe, checked."""
    for key in ("FIELDS", "SIZE", "TYPE"):
        if not entries.get(key):
            raise InputError(f"{path}: malformed PCD header (no {key} line)")
    names = entries["FIELDS"]
    counts = entries.get("COUNT", ["1"] * len(names))
    for key, values in (("SIZE", entries["SIZE"]), ("TYPE", entries["TYPE"]), ("COUNT", counts)):
        if len(values) != len(names):
            raise InputError(f"{path}: malformed PCD header ({len(names)} FIELDS but {len(values)} {key} values)")
    fields = []
    for name, size, letter, count in zip(names, entries["SIZE"], entries["TYPE"], counts):
        if (letter, size) not in _DTYPES:
            raise InputError(f"{path}: PCD field {name!r} has TYPE {letter} of SIZE {size}, which PCD does not have")
        if not count.isdigit() or int(count) < 1:
            raise InputError(f"{path}: malformed PCD header (field {name!r} has COUNT {count})")
        fields.append(_Field(name, _DTYPES[letter, size], int(count)))
    named = [field.name for field in fields if field.name != _PADDING]
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        raise InputError(f"{path}: malformed PCD header (fields named {', '.join(twice)} twice)")
    missing = [axis for axis in "xyz" if axis not in named]
    if missing:
        raise InputError(f"{path}: PCD has no {'/'.join(missing)} field")
    if any(field.count != 1 for field in fields if field.name in "xyz"):
        raise InputError(f"{path}: PCD x/y/z fields must have COUNT 1")
    return fields


def _point_count(entries, path):
    """POINTS, checked against WIDTH x HEIGHT (HEIGHT defaults to 1, and WIDTH and POINTS to
    each other, as PCL reads them)."""
    numbers = {}
    for key in ("WIDTH", "HEIGHT", "POINTS"):
        if key in entries:
            tokens = entries[key]
            if len(tokens) != 1 or not tokens[0].isdigit():
                raise InputError(f"{path}: malformed PCD header ({key} must be a whole number, not "
                                 f"{' '.join(tokens)!r})")
            numbers[key] = int(tokens[0])
    if "WIDTH" not in numbers and "POINTS" not in numbers:
        raise InputError(f"{path}: malformed PCD header (no WIDTH or POINTS)")
    height = numbers.get("HEIGHT", 1)
    width = numbers.get("WIDTH", numbers.get("POINTS"))
    points = numbers.get("POINTS", width * height)
    if points != width * height:
        raise InputError(f"{path}: PCD header says POINTS {points}, but WIDTH x HEIGHT is {width} x {height}")
    return points


def _ascii_columns(body, fields, points, path):
    """Field name -> its values: one line per point."""
    try:
        lines = [line.split() for line in body.decode("ascii").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise InputError(f"{path}: malformed PCD ascii data (it has bytes that are not text)") from None
    per_point = sum(field.count for field in fields)
    if len(lines) != points:
        raise InputError(f"{path}: PCD ascii data has {len(lines)} points, its header says {points}")
    if any(len(line) != per_point for line in lines):
        wrong = next(i for i, line in enumerate(lines) if len(line) != per_point)
        raise InputError(f"{path}: PCD ascii point {wrong + 1} has {len(lines[wrong])} values, not {per_point}")
    table = np.array(lines, dtype=str).reshape(points, per_point)
    columns, start = {}, 0
    for field in fields:
        tokens, start = table[:, start:start + field.count], start + field.count
        try:
            columns[field.name] = _parsed(tokens, field)
        except (ValueError, OverflowError) as exc:
            raise InputError(f"{path}: malformed PCD ascii data in field {field.name!r} ({exc})") from None
    return columns


def _parsed(tokens, field):
    """Text values -> the field's type. PCL writes a packed colour of TYPE F as its integer
    bit pattern (as a float, some colours would be NaN); older files as the float."""
    if not (field.packs_colour and field.dtype.kind == "f"):
        return tokens.astype(field.dtype)
    whole = np.char.isdigit(tokens)
    bits = np.empty(tokens.shape, dtype="<u4")
    bits[whole] = tokens[whole].astype("<u4")
    bits[~whole] = tokens[~whole].astype("<f4").view("<u4")
    return bits.view(field.dtype)


def _binary_columns(body, fields, points, path):
    """Field name -> its values: point after point, each all its fields."""
    record = sum(field.bytes for field in fields)
    _check_size(len(body), points * record, f"{path}: PCD binary data")
    offsets = np.cumsum([0] + [field.bytes for field in fields[:-1]])
    named = [(field, int(offset)) for field, offset in zip(fields, offsets) if field.name != _PADDING]
    layout = np.dtype({"names": [field.name for field, _ in named],
                       "formats": [(field.dtype, (field.count,)) for field, _ in named],
                       "offsets": [offset for _, offset in named], "itemsize": record})
    records = np.frombuffer(body, dtype=layout, count=points)
    return {field.name: records[field.name] for field, _ in named}


def _compressed_columns(body, fields, points, path):
    """Field name -> its values: uint32 compressed and uncompressed sizes, then LZF data of
    field after field, each all its points' values."""
    if len(body) < 8:
        raise InputError(f"{path}: PCD binary_compressed data is truncated (it has no sizes)")
    compressed, size = struct.unpack("<II", body[:8])
    expected = points * sum(field.bytes for field in fields)
    if size != expected:
        raise InputError(f"{path}: PCD binary_compressed data unpacks to {size} bytes, but {points} points "
                         f"of its fields are {expected}")
    _check_size(len(body) - 8, compressed, f"{path}: PCD binary_compressed data")
    try:
        raw = lzf_decompress(body[8:], size)
    except ValueError as exc:
        raise InputError(f"{path}: PCD binary_compressed data is corrupted ({exc})") from None
    columns, start = {}, 0
    for field in fields:
        columns[field.name] = np.frombuffer(raw, dtype=field.dtype, count=points * field.count, offset=start)
        start += points * field.bytes
    return columns


def _check_size(size, expected, what):
    if size < expected:
        raise InputError(f"{what} is truncated ({size} bytes of {expected})")
    if size > expected:
        raise InputError(f"{what} has {size - expected} bytes more than its header describes")


def lzf_decompress(data, size):
    """The ``size`` bytes that liblzf's ``data`` decompress to; ValueError if it does not.
    Each control byte c is a run of c + 1 literal bytes (c < 32), or a copy of
    (c >> 5) + 2 bytes (7 + 2 plus the next byte when c >> 5 is 7) from ((c & 31) << 8) +
    the next byte + 1 bytes back, overlapping what it writes when that is nearer."""
    out, pos, end = bytearray(), 0, len(data)
    while pos < end and len(out) <= size:
        control = data[pos]
        pos += 1
        if control < 32:
            if pos + control + 1 > end:
                raise ValueError("a literal run goes past the end of the data")
            out += data[pos:pos + control + 1]
            pos += control + 1
            continue
        length = control >> 5
        if pos + (length == 7) >= end:
            raise ValueError("a back reference goes past the end of the data")
        if length == 7:
            length += data[pos]
            pos += 1
        distance = ((control & 31) << 8) + data[pos] + 1
        pos += 1
        length += 2
        start = len(out) - distance
        if start < 0:
            raise ValueError("a back reference points before the start of the data")
        if distance >= length:
            out += out[start:start + length]
        else:
            out += (out[start:] * (length // distance + 1))[:length]
    if len(out) != size:
        raise ValueError(f"it unpacks to {len(out)}{'+' if pos < end else ''} bytes, not {size}")
    return bytes(out)


def _unpacked_colour(columns, fields):
    """Columns with PCL's packed colour as ``rgb`` (N, 3) uint8 and, of an ``rgba`` field,
    ``alpha``; an ``rgb`` field's top byte is not colour (PCL fills it with 255 or 0)."""
    packing = {field.name for field in fields if field.packs_colour}
    name = next((name for name in _PACKED_COLOURS if name in packing), None)
    if name is None or (name == "rgba" and ("rgb" in columns or "alpha" in columns)):
        return columns
    columns = dict(columns)
    packed = columns.pop(name).view(np.uint32)
    columns["rgb"] = np.stack([(packed >> shift) & 0xFF for shift in (16, 8, 0)], axis=1).astype(np.uint8)
    if name == "rgba":
        columns["alpha"] = (packed >> 24).astype(np.uint8)
    return columns


def write_pcd(path, points, attributes=None):
    """Write a binary PCD v0.7 atomically, as PCL writes one: ``points`` is a
    :class:`~omnicodec.data.PointCloud` or an (N, 3) array with optional ``attributes``;
    ``rgb`` (N, 3) uint8 is packed into one float, ``normals`` (N, 3) are
    normal_x/normal_y/normal_z, any other attribute a field of its own name and type
    (COUNT C for (N, C)). 64-bit integers are narrowed to 32 bits where they all fit
    (older PCL has no 64-bit fields)."""
    points, attributes = cloud_arrays(points, attributes)
    columns = [(axis, points[:, i]) for i, axis in enumerate("xyz")]
    for name, values in attributes.items():
        columns += _pcd_columns(name, np.asarray(values), len(points), path)
    columns = [(name, _pcd_storable(values, name, path)) for name, values in columns]
    names = [name for name, _ in columns]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InputError(f"{path}: a PCD cannot have two fields named {', '.join(twice)}")
    records = np.empty(len(points), dtype=[(name, values.dtype.newbyteorder("<"), values.shape[1:])
                                           for name, values in columns])
    for name, values in columns:
        records[name] = values
    counts = [str(values.shape[1]) if values.ndim == 2 else "1" for _, values in columns]
    header = ("# .PCD v0.7 - Point Cloud Data file format (written by omnicodec)\nVERSION 0.7\n"
              f"FIELDS {' '.join(names)}\n"
              f"SIZE {' '.join(str(values.dtype.itemsize) for _, values in columns)}\n"
              f"TYPE {' '.join(_TYPE_LETTERS[values.dtype.kind] for _, values in columns)}\n"
              f"COUNT {' '.join(counts)}\nWIDTH {len(points)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n"
              f"POINTS {len(points)}\nDATA binary\n")
    with atomic_output(path) as handle:
        handle.write(header.encode("ascii"))
        handle.write(records.tobytes())


def _pcd_columns(name, values, count, path):
    """An attribute -> (field name, values) columns: rgb packed, normals split."""
    if values.shape[:1] != (count,) or values.ndim > 2:
        raise InputError(f"{path}: attribute {name!r} has shape {values.shape}, not ({count},) or ({count}, C)")
    if name == "rgb" and values.shape[1:] == (3,) and values.dtype == np.uint8:
        packed = (values[:, 0].astype(np.uint32) << 16) | (values[:, 1].astype(np.uint32) << 8) | values[:, 2]
        return [("rgb", packed.view(np.float32))]
    if name == "normals" and values.shape[1:] == (3,):
        return list(zip(_NORMALS, values.T))
    if not _FIELD_NAME.fullmatch(name) or name == _PADDING:
        raise InputError(f"{path}: attribute name {name!r} cannot be a PCD field name")
    return [(name, values)]


def _pcd_storable(values, name, path):
    """``values`` in a type PCD has: float16 as float32, bool as uint8, 64-bit integers
    narrowed where they fit."""
    if values.dtype == np.float16:
        return values.astype(np.float32)
    if values.dtype == np.bool_:
        return values.astype(np.uint8)
    if values.dtype.kind not in _TYPE_LETTERS:
        raise InputError(f"{path}: {name} has values of type {values.dtype}, which PCD cannot hold")
    if values.dtype.kind in "iu" and values.dtype.itemsize == 8:
        narrowed = narrowed_integers(values)
        return values if narrowed is None else narrowed
    return values
