import numpy as np
import plyfile
import pytest

import omnicodec
from omnicodec.data import PointCloud
from omnicodec.errors import InputError
from omnicodec.io import read_ply, write_ply
from tests.conftest import sphere_shell
from tests.test_cli import run


def write_raw_ply(path, points, fmt="binary_little_endian", coord_type="f4", extra=True, faces=False):
    dtype = [("x", coord_type), ("y", coord_type), ("z", coord_type)]
    if extra:
        dtype += [("red", "u1"), ("green", "u1"), ("blue", "u1"), ("nx", "f4"), ("curv", "f8")]
    vertex = np.zeros(len(points), dtype=dtype)
    for i, axis in enumerate("xyz"):
        vertex[axis] = points[:, i]
    elements = [plyfile.PlyElement.describe(vertex, "vertex")]
    if faces:
        face = np.empty(2, dtype=[("vertex_indices", object)])
        face["vertex_indices"] = [np.array([0, 1, 2], "i4"), np.array([1, 2, 3, 0], "i4")]
        elements.append(plyfile.PlyElement.describe(face, "face"))
    text = fmt == "ascii"
    byte_order = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": "="}[fmt]
    plyfile.PlyData(elements, text=text, byte_order=byte_order).write(str(path))


POINTS = np.array([[0, 1, 2], [3, 4, 5], [1023, 0, 7], [5, 5, 5]], dtype=np.float64)


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
@pytest.mark.parametrize("coord_type", ["f4", "f8", "i4", "u2", "i2"])
def test_reads_every_format_and_type(tmp_path, fmt, coord_type):
    path = tmp_path / "cloud.ply"
    write_raw_ply(path, POINTS, fmt=fmt, coord_type=coord_type, faces=True)
    cloud = read_ply(path)
    assert cloud.positions.dtype == np.dtype(coord_type).newbyteorder("=")
    np.testing.assert_array_equal(cloud.positions, POINTS)
    # red/green/blue make one (N, 3) attribute; a lone nx is no normals, so it keeps its name.
    assert set(cloud.attributes) == {"rgb", "nx", "curv"}
    assert cloud.attributes["rgb"].shape == (4, 3) and cloud.attributes["rgb"].dtype == np.uint8
    assert cloud.normals is None and cloud.faces is None


def test_faces_are_read_on_request_and_fanned(tmp_path):
    path = tmp_path / "mesh.ply"
    write_raw_ply(path, POINTS, faces=True)
    faces = read_ply(path, with_faces=True).faces
    np.testing.assert_array_equal(faces, [[0, 1, 2], [1, 2, 3], [1, 3, 0]])


def test_write_then_read_round_trip(tmp_path):
    path = tmp_path / "out.ply"
    points = np.random.default_rng(0).normal(size=(100, 3))
    write_ply(path, points, {"red": np.arange(100, dtype=np.uint8)})
    cloud = read_ply(path)
    np.testing.assert_array_equal(cloud.positions, points)
    np.testing.assert_array_equal(cloud.attributes["red"], np.arange(100))


def test_grouped_attributes_round_trip(tmp_path):
    """rgb and normals are written as red/green/blue and nx/ny/nz and read back grouped;
    other (N, C) attributes as NAME_0.. columns."""
    rng = np.random.default_rng(0)
    attributes = {"rgb": rng.integers(0, 256, (100, 3)).astype(np.uint8),
                  "normals": rng.normal(size=(100, 3)).astype(np.float32),
                  "curv": rng.random(100), "uv": rng.random((100, 2)).astype(np.float32)}
    write_ply(tmp_path / "out.ply", PointCloud(rng.normal(size=(100, 3)), attributes))
    names = [p.name for p in plyfile.PlyData.read(str(tmp_path / "out.ply"))["vertex"].properties]
    assert names == ["x", "y", "z", "red", "green", "blue", "nx", "ny", "nz", "curv", "uv_0", "uv_1"]
    cloud = read_ply(tmp_path / "out.ply")
    assert set(cloud.attributes) == {"rgb", "normals", "curv", "uv_0", "uv_1"}
    for name in ("rgb", "normals", "curv"):
        assert cloud.attributes[name].dtype == attributes[name].dtype
        np.testing.assert_array_equal(cloud.attributes[name], attributes[name])
    assert cloud.normals.dtype == np.float64
    np.testing.assert_array_equal(cloud.normals, attributes["normals"])


@pytest.mark.parametrize("low, high, stored", [
    (0, 100, "i4"), (-300, 300, "i4"), (-2**31, 2**31 - 1, "i4"), (0, 2**31, "u4"),
    (0, 2**32 - 1, "u4"),
])
def test_int64_positions_round_trip_in_the_widest_ply_integer(tmp_path, low, high, stored):
    points = np.array([[low, 0, high], [high, low, 0], [1, 2, 3]], dtype=np.int64)
    write_ply(tmp_path / "out.ply", points)
    vertex = plyfile.PlyData.read(str(tmp_path / "out.ply"))["vertex"].data
    assert {vertex.dtype[axis].str[1:] for axis in "xyz"} == {stored}
    np.testing.assert_array_equal(read_ply(tmp_path / "out.ply").positions, points)


def test_float16_positions_are_written_as_float32(tmp_path):
    points = np.array([[0.5, 1.25, -2.0], [3.0, 0.0, 1.0]], dtype=np.float16)
    write_ply(tmp_path / "out.ply", points)
    cloud = read_ply(tmp_path / "out.ply")
    assert cloud.positions.dtype == np.float32 and np.array_equal(cloud.positions, points)


@pytest.mark.parametrize("value", [2**32, -2**31 - 1, 2**40, 2**53, -2**53])
def test_integers_too_large_for_ply_integers_are_stored_as_exact_float64(tmp_path, value):
    points = np.array([[value, 0, 1], [2, 3, 4]], dtype=np.int64)
    write_ply(tmp_path / "out.ply", points, {"index": points[:, 0]})
    cloud = read_ply(tmp_path / "out.ply")
    assert cloud.positions.dtype == cloud.attributes["index"].dtype == np.float64
    assert cloud.positions.astype(np.int64).tolist() == points.tolist()
    assert cloud.attributes["index"].astype(np.int64).tolist() == [value, 2]


@pytest.mark.parametrize("points, attributes", [
    (np.array([[2**53 + 1, 0, 0]], dtype=np.int64), None),
    (np.array([[0, -2**53 - 1, 0]], dtype=np.int64), None),
    (np.array([[0, 0, 2**64 - 1]], dtype=np.uint64), None),
    (np.zeros((1, 3), dtype=np.int64), {"index": np.array([2**62], dtype=np.int64)}),
])
def test_integers_beyond_float64_precision_are_refused(tmp_path, points, attributes):
    with pytest.raises(InputError, match="cannot be stored exactly in a PLY file") as caught:
        write_ply(tmp_path / "out.ply", points, attributes)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_int64_cloud_decompressed_on_the_command_line(tmp_path, capsys):
    """omnicodec 0.1.0 could not write what it decoded from int64 input (field type 'i8')."""
    points = sphere_shell()
    assert points.dtype == np.int64
    (tmp_path / "c.ocz").write_bytes(omnicodec.compress(points))
    code, _, err = run(["decompress", tmp_path / "c.ocz", "-o", tmp_path / "back.ply", "-q"], capsys)
    assert code == 0, err
    decoded = read_ply(tmp_path / "back.ply").positions
    assert decoded.dtype.kind == "i"
    assert np.array_equal(np.unique(decoded, axis=0), np.unique(points, axis=0))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_ply(tmp_path / "nope.ply")


def test_not_a_ply(tmp_path):
    path = tmp_path / "fake.ply"
    path.write_text("hello world\n")
    with pytest.raises(InputError, match="not a PLY"):
        read_ply(path)


def test_malformed_ply(tmp_path):
    path = tmp_path / "bad.ply"
    write_raw_ply(path, POINTS)
    path.write_bytes(path.read_bytes()[:-20])  # binary body cut short
    with pytest.raises(InputError, match="malformed PLY"):
        read_ply(path)


def test_ply_without_xyz(tmp_path):
    path = tmp_path / "noxyz.ply"
    vertex = np.zeros(3, dtype=[("a", "f4"), ("b", "f4")])
    plyfile.PlyData([plyfile.PlyElement.describe(vertex, "vertex")]).write(str(path))
    with pytest.raises(InputError, match="no x/y/z"):
        read_ply(path)


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "out.ply"
    with pytest.raises(InputError):
        write_ply(path, np.zeros((3, 2)))
    assert list(tmp_path.iterdir()) == []


def test_a_property_named_like_a_group_keeps_every_property(tmp_path):
    """A PLY with a packed rgb property and red/green/blue loses neither."""
    points = np.zeros((3, 3), dtype=np.float32)
    columns = {"rgb": np.array([1.0, 2.0, 3.0], dtype=np.float32),
               "red": np.arange(3, dtype=np.uint8), "green": np.arange(3, dtype=np.uint8),
               "blue": np.arange(3, dtype=np.uint8)}
    write_ply(tmp_path / "c.ply", points, columns)
    cloud = read_ply(tmp_path / "c.ply")
    assert set(cloud.attributes) == set(columns)
    for name, values in columns.items():
        np.testing.assert_array_equal(cloud.attributes[name], values)
