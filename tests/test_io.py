import numpy as np
import plyfile
import pytest

from omnicodec.errors import InputError
from omnicodec.io import read_ply, write_ply


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
    assert cloud.points.dtype == np.dtype(coord_type).newbyteorder("=")
    np.testing.assert_array_equal(cloud.points, POINTS)
    assert set(cloud.properties) == {"red", "green", "blue", "nx", "curv"}
    assert cloud.faces is None


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
    np.testing.assert_array_equal(cloud.points, points)
    np.testing.assert_array_equal(cloud.properties["red"], np.arange(100))


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
