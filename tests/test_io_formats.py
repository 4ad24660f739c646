"""The LiDAR users' formats: PCL's PCD (ascii, binary, binary_compressed) and KITTI .bin:
round trips, PCL's conventions (packed colour, padding, COUNT > 1), bad input, the CLI."""

import re
import struct

import numpy as np
import pytest

from omnicodec.data import PointCloud
from omnicodec.errors import InputError
from omnicodec.io import read_data, read_kitti_bin, read_pcd, write_data, write_kitti_bin, write_pcd
from omnicodec.io.pcd import lzf_decompress
from tests.test_cli import run

RNG = np.random.default_rng(0)
COUNT = 300


def lzf_compress(data):
    """A reference liblzf compressor (greedy, 3-byte hash of the last position), to build
    binary_compressed files with literal runs, short, long and overlapping references."""
    out, literal, last, i = bytearray(), bytearray(), {}, 0

    def flush():
        while literal:
            out.append(min(len(literal), 32) - 1)
            out.extend(literal[:32])
            del literal[:32]

    while i < len(data):
        key = bytes(data[i:i + 3])
        ref = last.get(key) if len(key) == 3 else None
        last[key] = i
        if ref is None or i - ref > 8192:
            literal.append(data[i])
            i += 1
            continue
        length = 3
        while i + length < len(data) and length < 264 and data[ref + length] == data[i + length]:
            length += 1
        flush()
        distance, extra = i - ref - 1, length - 2
        if extra < 7:
            out.append((extra << 5) | (distance >> 8))
        else:
            out += bytes([(7 << 5) | (distance >> 8), extra - 7])
        out.append(distance & 0xFF)
        i += length
    flush()
    return bytes(out)


def pcd_bytes(columns, kind="binary", height=1, header_lines=(), version="0.7"):
    """A PCD file as PCL writes one: ``columns`` is (name, TYPE letter, (N,) or (N, C)
    values) per field (name "_": padding, left out of binary_compressed as PCL does)."""
    if kind == "binary_compressed":
        columns = [column for column in columns if column[0] != "_"]
    count = len(columns[0][2])
    shaped = [(name, letter, np.asarray(values).reshape(count, -1)) for name, letter, values in columns]
    header = [*header_lines, f"VERSION {version}" if version else "",
              "FIELDS " + " ".join(name for name, _, _ in shaped),
              "SIZE " + " ".join(str(values.dtype.itemsize) for _, _, values in shaped),
              "TYPE " + " ".join(letter for _, letter, _ in shaped),
              "COUNT " + " ".join(str(values.shape[1]) for _, _, values in shaped),
              f"WIDTH {count // height}", f"HEIGHT {height}", "VIEWPOINT 0 0 0 1 0 0 0", f"POINTS {count}",
              f"DATA {kind}"]
    head = ("\n".join(line for line in header if line) + "\n").encode()
    if kind == "ascii":  # PCL writes a packed colour as its integer bit pattern
        shaped = [(name, letter, values.view(np.uint32) if name in ("rgb", "rgba") else values)
                  for name, letter, values in shaped]
        rows = [" ".join(repr(value.item()) for _, _, values in shaped for value in values[i]) for i in range(count)]
        return head + ("\n".join(rows) + "\n").encode()
    if kind == "binary":
        records = np.empty(count, dtype=[(f"f{i}", values.dtype.newbyteorder("<"), values.shape[1:])
                                         for i, (_, _, values) in enumerate(shaped)])
        for i, (_, _, values) in enumerate(shaped):
            records[f"f{i}"] = values
        return head + records.tobytes()
    # Field after field, each its points' values in turn (a point's COUNT values together).
    raw = b"".join(values.astype(values.dtype.newbyteorder("<")).tobytes() for _, _, values in shaped)
    packed = lzf_compress(raw)
    return head + struct.pack("<II", len(packed), len(raw)) + packed


def lidar_columns(count=COUNT):
    positions = RNG.normal(0, 20, (count, 3)).astype(np.float32)
    return positions, [("x", "F", positions[:, 0]), ("y", "F", positions[:, 1]), ("z", "F", positions[:, 2]),
                       ("intensity", "F", RNG.random(count).astype(np.float32))]


def packed_colour(rgb, top=0):
    return ((np.uint32(top) << 24) | (rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8)
            | rgb[:, 2])


# -- PCD ------------------------------------------------------------------------------------------


def test_pcd_round_trip_is_exact(tmp_path):
    cloud = PointCloud(RNG.normal(size=(COUNT, 3)).astype(np.float32), {
        "rgb": RNG.integers(0, 256, (COUNT, 3)).astype(np.uint8),
        "intensity": RNG.random(COUNT).astype(np.float32),
        "normals": RNG.normal(size=(COUNT, 3)).astype(np.float32),
        "histogram": RNG.random((COUNT, 5)),
        "ring": RNG.integers(0, 64, COUNT).astype(np.uint16)})
    write_data(tmp_path / "out.pcd", cloud)
    head = (tmp_path / "out.pcd").read_bytes().split(b"DATA binary\n")[0].decode()
    assert "FIELDS x y z rgb intensity normal_x normal_y normal_z histogram ring\n" in head
    assert "TYPE F F F F F F F F F U\n" in head and "COUNT 1 1 1 1 1 1 1 1 5 1\n" in head
    back = read_data(tmp_path / "out.pcd", "pointcloud")
    assert back.positions.dtype == np.float32 and np.array_equal(back.positions, cloud.positions)
    assert set(back.attributes) == set(cloud.attributes)  # rgb unpacked, normals grouped
    for name, values in cloud.attributes.items():
        assert back.attributes[name].dtype == values.dtype and np.array_equal(back.attributes[name], values)


def test_pcd_integer_positions_keep_their_type_and_64_bits_narrow(tmp_path):
    points = RNG.integers(-1000, 1000, (COUNT, 3))
    write_pcd(tmp_path / "out.pcd", points)
    back = read_pcd(tmp_path / "out.pcd")
    assert back.positions.dtype == np.int32 and np.array_equal(back.positions, points)
    big = np.array([[2**40, 0, 1], [2, 3, 4]])
    write_pcd(tmp_path / "big.pcd", big)
    assert read_pcd(tmp_path / "big.pcd").positions.dtype == np.int64
    assert np.array_equal(read_pcd(tmp_path / "big.pcd").positions, big)


@pytest.mark.parametrize("kind", ["ascii", "binary", "binary_compressed"])
def test_every_data_kind_reads_the_same_cloud(tmp_path, kind):
    """An organized cloud (HEIGHT > 1) with packed float rgb (PCL's top byte 255),
    COUNT > 1, padding and a uint8 field, in each DATA kind."""
    positions, columns = lidar_columns()
    rgb = RNG.integers(0, 256, (COUNT, 3)).astype(np.uint8)
    rgb[:3] = 255  # 0xFFFFFFFF as a float is NaN: packed colours must not go through float maths
    features = RNG.random((COUNT, 3)).astype(np.float64)
    columns += [("_", "U", np.zeros((COUNT, 3), np.uint8)), ("rgb", "F", packed_colour(rgb, 255).view(np.float32)),
                ("features", "F", features), ("label", "U", RNG.integers(0, 256, COUNT).astype(np.uint8))]
    path = tmp_path / "cloud.pcd"
    path.write_bytes(pcd_bytes(columns, kind, height=10))
    cloud = read_pcd(path)
    assert cloud.positions.dtype == np.float32 and np.array_equal(cloud.positions, positions)
    assert set(cloud.attributes) == {"intensity", "features", "label", "rgb"}
    assert np.array_equal(cloud.attributes["intensity"], columns[3][2])
    assert cloud.attributes["rgb"].dtype == np.uint8 and np.array_equal(cloud.attributes["rgb"], rgb)
    assert cloud.attributes["features"].shape == (COUNT, 3) and np.array_equal(cloud.attributes["features"], features)
    assert cloud.attributes["label"].dtype == np.uint8


def test_hand_written_ascii_pcd(tmp_path):
    """Comments, no VERSION, PCD 0.5's COLUMNS, rgb as PCL writes it (the integer bit
    pattern) and as older files do (the float), rgba with alpha, NaN kept."""
    path = tmp_path / "hand.pcd"
    grey = np.array([0x808080], np.uint32).view(np.float32)[0]
    path.write_text("# a comment\n"
                    "COLUMNS x y z rgb rgba\n"
                    "SIZE 4 4 4 4 4\n"
                    "TYPE F F F F U\n"
                    "WIDTH 3\n"
                    "POINTS 3\n"
                    "DATA ascii\n"
                    "1 2 3 4278255360 2164260863\n"
                    f"0.5 -1.25 1e3 {float(grey)!r} 0\r\n"
                    "\n"
                    "nan nan nan 255 16777215\n")
    cloud = read_pcd(path)
    np.testing.assert_array_equal(cloud.positions, [[1, 2, 3], [0.5, -1.25, 1000], [np.nan] * 3])
    # The rgb field wins; rgba is left as it is rather than overwrite it.
    assert cloud.attributes["rgb"].tolist() == [[0, 255, 0], [128, 128, 128], [0, 0, 255]]
    assert cloud.attributes["rgba"].tolist() == [0x80FFFFFF, 0, 0xFFFFFF]
    path.write_text("VERSION .7\nFIELDS x y z rgba\nSIZE 4 4 4 4\nTYPE F F F U\nCOUNT 1 1 1 1\nWIDTH 1\n"
                    "HEIGHT 1\nPOINTS 1\nDATA ascii\n1 2 3 2148606515\n")  # 0x80112233
    cloud = read_pcd(path)
    assert cloud.attributes["rgb"].tolist() == [[0x11, 0x22, 0x33]] and cloud.attributes["alpha"].tolist() == [0x80]


def test_lzf_decoder_on_known_bytes():
    assert lzf_decompress(b"\x00a\xe0\x01\x00", 11) == b"a" * 11  # a literal, then a long overlapping copy
    assert lzf_decompress(b"\x02abc\x20\x02", 6) == b"abcabc"
    data = bytes(RNG.integers(0, 4, 5000, dtype=np.uint8)) + bytes(3000) + bytes(range(256)) * 20
    assert lzf_decompress(lzf_compress(data), len(data)) == data
    for bad in (b"\x05ab", b"\x00a\x20\x05", b"\x00a\xe0", b"\x00a\x20"):
        with pytest.raises(ValueError):
            lzf_decompress(bad, 4)


def test_empty_pcd_is_an_empty_cloud(tmp_path):
    write_pcd(tmp_path / "empty.pcd", np.zeros((0, 3), np.float32))
    assert len(read_pcd(tmp_path / "empty.pcd")) == 0


def bad_pcd_files(tmp_path):
    """Case -> (file, the reason the message gives)."""
    positions, columns = lidar_columns(4)
    good = pcd_bytes(columns).decode("latin-1")
    ascii_head, ascii_data = pcd_bytes(columns, "ascii").split(b"DATA ascii\n")
    ascii_head += b"DATA ascii\n"
    compressed = pcd_bytes(columns, "binary_compressed")
    head, data = compressed.split(b"DATA binary_compressed\n")
    head += b"DATA binary_compressed\n"
    cases = {
        "missing": (None, "no such file"),
        "folder": ("folder", "is a folder"),
        "not a pcd": ("this is no point cloud\n", "not a PCD file"),
        "binary garbage": (bytes(range(256)) * 4, "not a PCD file"),
        "no DATA": (good.split("DATA")[0], "no DATA line"),
        "unknown DATA": (good.replace("DATA binary", "DATA zipped"), "unknown PCD DATA kind 'zipped'"),
        "SIZE length": (good.replace("SIZE 4 4 4 4", "SIZE 4 4 4"), "4 FIELDS but 3 SIZE values"),
        "TYPE length": (good.replace("TYPE F F F F", "TYPE F F F F F"), "4 FIELDS but 5 TYPE values"),
        "COUNT length": (good.replace("COUNT 1 1 1 1", "COUNT 1 1"), "4 FIELDS but 2 COUNT values"),
        "bad TYPE": (good.replace("TYPE F F F F", "TYPE F F F X"), "TYPE X of SIZE 4"),
        "bad SIZE": (good.replace("SIZE 4 4 4 4", "SIZE 4 4 4 2"), "TYPE F of SIZE 2"),
        "bad COUNT": (good.replace("COUNT 1 1 1 1", "COUNT 1 1 1 0"), "COUNT 0"),
        "no SIZE": (good.replace("SIZE 4 4 4 4\n", ""), "no SIZE line"),
        "twice": (good.replace("WIDTH", "WIDTH 4\nWIDTH"), "WIDTH given twice"),
        "unknown line": (good.replace("WIDTH", "COLOUR blue\nWIDTH"), "unexpected line"),
        "POINTS": (good.replace("POINTS 4", "POINTS 5"), "POINTS 5, but WIDTH x HEIGHT is 4 x 1"),
        "WIDTH": (good.replace("WIDTH 4", "WIDTH four"), "WIDTH must be a whole number"),
        "no z": (good.replace("FIELDS x y z", "FIELDS x y w"), "no z field"),
        "x COUNT": (good.replace("COUNT 1 1 1 1", "COUNT 2 1 1 1"), "COUNT 1"),
        "duplicate field": (good.replace("FIELDS x y z intensity", "FIELDS x y z x"), "named x twice"),
        "truncated binary": (good[:-5], "truncated (59 bytes of 64)"),
        "extra binary": (good + "\0" * 16, "16 bytes more"),
        "ascii points": (ascii_head + ascii_data.rsplit(b"\n", 2)[0] + b"\n", "3 points, its header says 4"),
        "ascii values": (ascii_head + ascii_data.replace(b"\n", b" 1\n", 1), "point 1 has 5 values, not 4"),
        "ascii number": (ascii_head + b"x" + ascii_data, "malformed PCD ascii data in field 'x'"),
        "compressed sizes": (head + data[:5], "no sizes"),
        "compressed truncated": (compressed[:-3], "truncated"),
        "compressed size": (head + data[:4] + struct.pack("<I", 60) + data[8:],
                            "unpacks to 60 bytes, but 4 points of its fields are 64"),
        "compressed corrupted": (head + data[:8] + b"\x3f" + data[9:], "points before the start"),
    }
    files = {}
    for case, (content, reason) in cases.items():
        path = tmp_path / f"{case.replace(' ', '_')}.pcd"
        if content == "folder":
            path.mkdir()
        elif content is not None:
            path.write_bytes(content if isinstance(content, bytes) else content.encode("latin-1"))
        files[case] = path, reason
    return files


BAD_PCD_CASES = ["missing", "folder", "not a pcd", "binary garbage", "no DATA", "unknown DATA", "SIZE length",
                 "TYPE length", "COUNT length", "bad TYPE", "bad SIZE", "bad COUNT", "no SIZE", "twice",
                 "unknown line", "POINTS", "WIDTH", "no z", "x COUNT", "duplicate field", "truncated binary",
                 "extra binary", "ascii points", "ascii values", "ascii number", "compressed sizes",
                 "compressed truncated", "compressed size", "compressed corrupted"]


@pytest.mark.parametrize("case", BAD_PCD_CASES)
def test_bad_pcd_is_a_one_line_input_error_naming_the_file(tmp_path, case):
    path, reason = bad_pcd_files(tmp_path)[case]
    with pytest.raises(InputError) as caught:
        read_pcd(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message, message


def test_pcd_writer_refuses_what_pcd_cannot_hold(tmp_path):
    points = np.zeros((2, 3), np.float32)
    for attributes, reason in (({"my field": np.zeros(2)}, "cannot be a PCD field name"),
                               ({"name": np.array(["a", "b"])}, "which PCD cannot hold"),
                               ({"normals": np.zeros((2, 3)), "normal_x": np.zeros(2)}, "two fields named normal_x"),
                               ({"grid": np.zeros((2, 2, 2))}, "has shape (2, 2, 2)")):
        with pytest.raises(InputError, match=re.escape(reason)):
            write_pcd(tmp_path / "out.pcd", points, attributes)
    assert list(tmp_path.iterdir()) == []


# -- KITTI .bin -----------------------------------------------------------------------------------


def test_kitti_bin_round_trip(tmp_path):
    positions, columns = lidar_columns()
    path = tmp_path / "000000.bin"
    np.stack([*positions.T, columns[3][2]], axis=1).astype("<f4").tofile(path)
    cloud = read_data(path, "pointcloud")
    assert cloud.positions.dtype == np.float32 and np.array_equal(cloud.positions, positions)
    assert list(cloud.attributes) == ["intensity"] and np.array_equal(cloud.attributes["intensity"], columns[3][2])
    write_data(tmp_path / "out.bin", cloud)
    assert (tmp_path / "out.bin").read_bytes() == path.read_bytes()


def test_kitti_bin_writes_reflectance_as_float32_and_zero_without_intensity(tmp_path):
    points = RNG.integers(-100, 100, (COUNT, 3))
    reflectance = RNG.integers(0, 256, COUNT).astype(np.uint8)
    write_kitti_bin(tmp_path / "r.bin", PointCloud(points, {"reflectance": reflectance}))
    cloud = read_kitti_bin(tmp_path / "r.bin")
    assert np.array_equal(cloud.positions, points) and np.array_equal(cloud.attributes["intensity"], reflectance)
    write_kitti_bin(tmp_path / "none.bin", points)
    assert not read_kitti_bin(tmp_path / "none.bin").attributes["intensity"].any()


@pytest.mark.parametrize("points, attributes, reason", [
    (np.zeros((2, 3)), {"rgb": np.zeros((2, 3), np.uint8)}, "x, y, z and intensity only, not rgb"),
    (np.zeros((2, 3)), {"intensity": np.zeros(2), "reflectance": np.zeros(2)}, "not reflectance"),
    (np.full((2, 3), 0.1), None, "positions would change as float32"),
    (np.zeros((2, 3)), {"intensity": np.array([1, 2**25 + 1])}, "intensity would change as float32"),
])
def test_kitti_bin_writer_loses_nothing_silently(tmp_path, points, attributes, reason):
    with pytest.raises(InputError, match=reason):
        write_kitti_bin(tmp_path / "out.bin", points, attributes)
    assert list(tmp_path.iterdir()) == []


def test_bad_kitti_bin(tmp_path):
    path = tmp_path / "odd.bin"
    path.write_bytes(bytes(20))
    with pytest.raises(InputError, match="^" + re.escape(f"{path}: not a KITTI .bin (20 bytes")):
        read_kitti_bin(path)
    for missing, reason in ((tmp_path / "missing.bin", "no such file"), (tmp_path, "is a folder")):
        with pytest.raises(InputError, match=reason):
            read_kitti_bin(missing)
    (tmp_path / "empty.bin").write_bytes(b"")
    assert len(read_kitti_bin(tmp_path / "empty.bin")) == 0


# -- NaN, empty input and the command line --------------------------------------------------------


@pytest.mark.parametrize("name", ["nan.pcd", "nan.bin", "inf.bin", "empty.bin", "empty.pcd"])
def test_nan_and_empty_input_are_refused_on_compression_as_for_ply(tmp_path, capsys, name):
    """Readers keep every point as the file has it (NaN too, as read_ply does); compressing
    refuses NaN and infinite coordinates with their count, and empty clouds."""
    points = np.array([[0, 1, 2], [np.nan, np.nan, np.nan], [3, 4, 5]], np.float32)
    if name.startswith("inf"):
        points[1, 2] = np.inf
    if name.startswith("empty"):
        points = points[:0]
    write_data(tmp_path / name, PointCloud(points, {"intensity": np.ones(len(points), np.float32)}))
    assert len(read_data(tmp_path / name, "pointcloud")) == len(points)
    code, _, err = run(["compress", tmp_path / name, "-o", tmp_path / "out.ocz"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "out.ocz").exists()
    assert ("empty point cloud" if name.startswith("empty") else "1 point(s) have NaN or infinite coordinates") in err


@pytest.mark.parametrize("source, output", [("in.pcd", "out.pcd"), ("in.bin", "out.bin"), ("in.pcd", "out.bin")])
def test_cli_round_trip(tmp_path, capsys, source, output):
    """Lossless: integer-valued float32 positions and float32 intensity come back exactly."""
    positions = RNG.integers(-60, 60, (COUNT, 3)).astype(np.float32)
    positions = np.unique(positions, axis=0)
    intensity = np.round(RNG.random(len(positions)), 2).astype(np.float32)
    write_data(tmp_path / source, PointCloud(positions, {"intensity": intensity}))
    code, _, err = run(["compress", tmp_path / source, "-o", tmp_path / "s.ocz", "-q"], capsys)
    assert code == 0, err
    code, _, err = run(["decompress", tmp_path / "s.ocz", "-o", tmp_path / output, "-q"], capsys)
    assert code == 0, err
    back = read_data(tmp_path / output, "pointcloud")
    order, original = np.lexsort(back.positions.T), np.lexsort(positions.T)
    assert back.positions.dtype == np.float32 and np.array_equal(back.positions[order], positions[original])
    assert np.array_equal(back.attributes["intensity"][order], intensity[original])


def test_folders_of_pcd_and_bin_are_point_clouds_and_batches_take_them(tmp_path):
    from omnicodec import batch
    from omnicodec.io import file_kind

    cloud = PointCloud(np.arange(30, dtype=np.float32).reshape(10, 3), {"intensity": np.ones(10, np.float32)})
    write_pcd(tmp_path / "a.pcd", cloud)
    write_kitti_bin(tmp_path / "b.bin", cloud)
    (tmp_path / "preview.png").write_bytes(b"")  # a picture beside the scans does not make a light field
    assert file_kind(tmp_path) == "pointcloud"
    pairs = batch.plan("compress", str(tmp_path), str(tmp_path / "out"))
    assert [pair[1] for pair in pairs] == [str(tmp_path / "out" / "a.ocz"), str(tmp_path / "out" / "b.ocz")]
    write_pcd(tmp_path / "b.pcd", cloud)
    with pytest.raises(InputError, match="would both be written"):
        batch.plan("compress", str(tmp_path), str(tmp_path / "out"))


def test_metrics_read_every_point_cloud_format(tmp_path):
    from omnicodec.metrics.pointcloud import file_metrics

    cloud = PointCloud(np.arange(60, dtype=np.float32).reshape(20, 3))
    write_pcd(tmp_path / "a.pcd", cloud)
    write_kitti_bin(tmp_path / "b.bin", cloud)
    metrics = file_metrics(tmp_path / "a.pcd", tmp_path / "b.bin", 100, point_to_plane=False)
    assert metrics.reference_points == 20 and metrics.symmetric.d1_psnr == float("inf")
