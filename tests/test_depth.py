"""Depth-camera frames: the camera estimated from the points, lossless coding as its depth
image, the model chosen by content, and bad input."""

import numpy as np
import pytest

from conftest import sphere_shell, synthetic_depth_frame, synthetic_sweep
from omnicodec import api, zoo
from omnicodec.cli.main import main
from omnicodec.data import PointCloud
from omnicodec.errors import BitstreamError
from omnicodec.scans import camera as cameras
from omnicodec.io import read_ply, write_ply
from omnicodec.scans import depth


@pytest.fixture(scope="module")
def frame():
    return synthetic_depth_frame()


def millimetres(positions):
    return np.rint(np.asarray(positions, np.float64) * 1000).astype(np.int32)


def as_set(positions):
    return set(map(tuple, np.asarray(positions)))


def test_camera_is_estimated_from_the_points(frame):
    coords = millimetres(frame).astype(np.int64)
    camera = cameras.estimate_camera(coords)
    assert camera is not None and camera.sign == 1 and (camera.width, camera.height) == (160, 120)
    unit = 1 << cameras.FIXED_BITS
    assert abs(camera.fx / unit - 131.25) < 0.05 and abs(camera.fy / unit - 131.25) < 0.05
    layout = cameras.depth_image(coords, camera)
    assert len(layout.chosen) == len(coords) and not len(layout.others)
    assert np.mean(layout.residual == 0) > 0.99
    for not_a_frame in (sphere_shell(), millimetres(synthetic_sweep()[0]).astype(np.int64)):
        assert cameras.estimate_camera(not_a_frame) is None


def test_integer_rebuild_and_its_rounding_buckets():
    camera = cameras.Camera(origin=(0, 0, 0), sign=1, fx=100 << cameras.FIXED_BITS, cx=0,
                            fy=100 << cameras.FIXED_BITS, cy=0, width=10, height=10)
    u = np.array([1, 1, 3, 5])
    z = np.array([50, 150, 50, 30])  # x = z u / 100: 0.5, 1.5, 1.5, 1.5 (halves round up)
    x, tie_x, y, tie_y = camera.xy(u, np.zeros(4, np.int64), z, 16)
    assert x.tolist() == [1, 2, 2, 2] and tie_x.tolist() == [0, 0, 0, 0]
    assert y.tolist() == [0, 0, 0, 0] and tie_y.tolist() == [8, 8, 8, 8]


@pytest.mark.parametrize("pose", ["as is", "looking down -z", "mirrored"])
def test_frames_are_coded_by_the_depth_model_losslessly(frame, pose):
    positions = frame * {"as is": [1, 1, 1], "looking down -z": [1, 1, -1], "mirrored": [-1, 1, 1]}[pose]
    data = api.compress(PointCloud(positions), voxel_size=0.001)
    header, decoded = api.decode(data)
    assert header.model_id == "depth-v2" and "depth camera" in decoded.details["sensor"]
    assert decoded.details["points coded by the sensor"] == len(positions)
    dense = api.compress(PointCloud(positions), voxel_size=0.001, model="occupancy-v1")
    # lossless on the same voxel grid as the dense model
    assert as_set(decoded.data.positions) == as_set(api.decompress(dense).positions)
    assert len(data) < 0.2 * len(dense)


def test_points_off_the_camera_go_to_the_dense_model(frame):
    positions = millimetres(frame)
    extra = np.array([[5, 5, 900], [6, 5, 900], [-300, 200, 1500], [0, 0, 2000], [1, 2, -40],
                      [300, 200, 12], [-250, 100, 13]], np.int32)  # the last two: strays next to the camera
    cloud = np.vstack([positions, extra, positions[:50] + [0, 0, 1]])  # off-ray points, a second point per pixel
    header, decoded = api.decode(api.compress(cloud, model="depth-v2"))
    assert decoded.details["other points"] > 0
    assert "160x120 pixels" in decoded.details["sensor"]  # the strays did not widen the image
    assert as_set(decoded.data.positions) == as_set(cloud)


def test_clouds_that_are_no_frame_keep_their_model(frame):
    points = sphere_shell()
    assert api.decode(api.compress(points))[0].model_id == "occupancy-v2"
    sweep = millimetres(synthetic_sweep()[0])
    assert api.decode(api.compress(sweep))[0].model_id == "lidar-v5"
    data = api.compress(points, model="depth-v2")  # asked for: every point by the dense model
    header, decoded = api.decode(data)
    assert decoded.details["other points"] == len(points) and as_set(decoded.data.positions) == as_set(points)
    assert len(data) <= len(api.compress(points, model="occupancy-v1")) + 128


def test_a_frame_at_a_rate_uses_the_dense_lossy_models(frame):
    positions = millimetres(frame)
    assert zoo.rates("pointcloud", PointCloud(positions)) == zoo.rates("pointcloud")
    header, _ = api.decode(api.compress(positions, rate=3))
    assert header.model_id.startswith("lossy-")


def test_cli_codes_a_frame_and_reports_its_camera(frame, tmp_path, capsys):
    src = tmp_path / "frame.ply"
    write_ply(src, PointCloud(frame))
    assert main(["compress", str(src), "-o", str(tmp_path / "f.ocz"), "--voxel-size", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "depth-v2" in out and "depth camera estimated from the points: 160x120 pixels" in out
    assert main(["decompress", str(tmp_path / "f.ocz"), "-o", str(tmp_path / "d.ply")]) == 0
    dense = api.decompress(api.compress(PointCloud(frame), voxel_size=0.001, model="occupancy-v1"))
    assert as_set(read_ply(tmp_path / "d.ply").positions) == as_set(dense.positions)


@pytest.mark.parametrize("damage", ["truncate", "flip", "camera"])
def test_damaged_depth_streams_are_refused(frame, damage, tmp_path, capsys):
    data = bytearray(api.compress(PointCloud(frame), voxel_size=0.001))
    if damage == "truncate":
        data = data[: len(data) * 2 // 3]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x55
    else:  # inside the camera section, early in the stream
        data[len(data) // 12] ^= 0xFF
    with pytest.raises(BitstreamError):
        api.decompress(bytes(data))
    src = tmp_path / "bad.ocz"
    src.write_bytes(bytes(data))
    assert main(["decompress", str(src), "-o", str(tmp_path / "out.ply")]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.ply").exists()


def test_corrupted_camera_sections_are_refused():
    camera = cameras.Camera(origin=(0, 0, 0), sign=1, fx=1 << 20, cx=0, fy=1 << 20, cy=0, width=8, height=8)
    good = depth._camera_section(camera, np.array([3, 5, 9]), 1, 0)
    assert depth._read_camera_section(good, 10)[1].tolist() == [3, 5, 9]
    huge = cameras.Camera((1 << 37, 0, 0), 1, 1 << 20, 0, 1 << 20, 0, 8, 8)
    for bad in (depth._camera_section(camera, np.array([3, 3, 9]), 1, 0),  # depths not increasing
                depth._camera_section(camera, np.array([3, 5, 9]), 3, 0),  # fallback beyond the table
                depth._camera_section(camera, np.array([3, 5, 1 << 10]), 1, 0),  # a depth off the grid
                depth._camera_section(camera, np.array([1 << 62, 1 << 63]), 1, 0),  # int64 would wrap
                depth._camera_section(huge, np.array([3]), 0, 0),  # a centre no grid has
                depth._camera_section(cameras.Camera((0, 0, 0), 1, 1, 0, 1, 0, 1 << 13, 1 << 13),
                                      np.array([3]), 0, 0)):  # too many pixels
        with pytest.raises(BitstreamError):
            depth._read_camera_section(bad, 10)
