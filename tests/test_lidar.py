"""LiDAR sweeps: the sensor estimated from the points, lossless and lossy coding in its
coordinates, the model chosen by content, intensity, and bad input."""

import numpy as np
import pytest

from conftest import sphere_shell, synthetic_sweep
from omnicodec import api, zoo
from omnicodec.cli.main import main
from omnicodec.data import PointCloud
from omnicodec.errors import BitstreamError, InputError
from omnicodec.entropy import binary_reader, binary_writer, default_coder
from omnicodec.scans import lidar
from omnicodec.scans import sensor as sensors
from omnicodec.scans import sensor_coding
from omnicodec.io import read_ply, write_ply
from omnicodec.attributes import intensity as intensities


@pytest.fixture(scope="module")
def sweep():
    return synthetic_sweep()


def grid_set(positions):
    """The 1 mm voxels of float metres, as a set of tuples."""
    return set(map(tuple, np.rint(np.asarray(positions, np.float64) * 1000).astype(np.int64)))


def millimetres(positions):
    return np.unique(np.rint(np.asarray(positions, np.float64) * 1000).astype(np.int64), axis=0)


def test_sensor_is_estimated_from_the_points(sweep):
    coords = millimetres(sweep[0])
    sensor = sensors.estimate_sensor(coords)
    assert sensor is not None and 32 <= sensor.lasers <= 48
    assert abs(sensors.ANGLE_UNITS / sensor.step - 512) < 2  # the azimuth steps per turn
    chosen, laser, rho, *_, others = sensors.scan_order(coords, sensor)
    assert len(chosen) + len(others) == len(coords) and len(others) < 0.01 * len(coords)
    assert sensors.estimate_sensor(sphere_shell()) is None  # a closed surface is no sweep


def test_sweep_motion_is_found_and_sample_noise_is_not_taken_for_it(sweep):
    """A sweep de-skewed while the sensor travelled 0.8 m gets that travel; a sweep
    measured standing still keeps none: a motion one sample suggests must sharpen the
    cones of another sample too."""
    coords = millimetres(sweep[0])
    assert sensors.estimate_sensor(coords).motion == (0, 0)
    relative = coords.astype(np.float64)
    azimuth = np.mod(np.arctan2(relative[:, 1], relative[:, 0]) * sensors.RADIAN, sensors.ANGLE_UNITS)
    phase = np.mod(azimuth - sensors.ANGLE_UNITS // 2, sensors.ANGLE_UNITS) / sensors.ANGLE_UNITS - 0.5
    deskewed = np.unique(np.rint(relative + np.outer(phase, [800, 0, 0])).astype(np.int64), axis=0)
    sensor = sensors.estimate_sensor(deskewed)
    assert abs(sensor.motion[0] - 800) < 40 and abs(sensor.motion[1]) < 40
    rng = np.random.default_rng(0)
    assert not sensors._confirmed((coords, np.hypot(coords[:, 0], coords[:, 1])), (0, -60), 0, rng)


def test_fixed_point_trigonometry_is_exact_integers():
    angles = np.arange(0, sensors.ANGLE_UNITS, 4099)
    cos, sin = sensors.fixed_cos_sin(angles)
    assert cos.dtype == np.int64 and sin.dtype == np.int64
    exact = angles * 2 * np.pi / sensors.ANGLE_UNITS
    assert np.abs(cos / 2**30 - np.cos(exact)).max() < 1e-6
    assert np.abs(sin / 2**30 - np.sin(exact)).max() < 1e-6


def test_sweeps_are_coded_by_the_lidar_model_losslessly(sweep):
    positions, intensity = sweep
    data = api.compress(PointCloud(positions), voxel_size=0.001)
    header, decoded = api.decode(data)
    assert header.model_id == "lidar-v5"
    assert decoded.details["points coded by the sensor"] > 0.99 * len(positions)
    assert "spinning LiDAR" in decoded.details["sensor"]
    assert grid_set(decoded.data.positions) == grid_set(positions)
    dense = api.compress(PointCloud(positions), voxel_size=0.001, model="occupancy-v1")
    assert len(data) < 0.8 * len(dense)


def test_lidar_v2_streams_still_decode(sweep):
    """lidar-v3 sends what rounding leaves of x, y and z by where each value fell in its
    rounding interval (3-4% fewer bits on real sweeps; this small synthetic one is too short
    for the frequencies to pay for their learning); lidar-v2's streams (one logistic)
    still decode the same sweep."""
    cloud = PointCloud(sweep[0])
    older = api.compress(cloud, voxel_size=0.001, model="lidar-v2")
    newer = api.compress(cloud, voxel_size=0.001, model="lidar-v3")
    assert len(newer) < 1.02 * len(older)
    assert grid_set(api.decompress(older).positions) == grid_set(api.decompress(newer).positions) == grid_set(
        sweep[0])


@pytest.mark.parametrize("model", ["lidar-v4", "lidar-v5"])
def test_a_sweep_alone_is_coded_as_by_lidar_v3(sweep, model):
    """lidar-v4 and lidar-v5 predict a sequence's sweeps from the one before
    (tests/test_sequence.py); a sweep coded alone costs what it costs under lidar-v3, and
    one field more."""
    cloud = PointCloud(sweep[0])
    newer, older = (api.compress(cloud, voxel_size=0.001, model=name) for name in (model, "lidar-v3"))
    assert len(older) < len(newer) <= len(older) + 4
    assert grid_set(api.decompress(newer).positions) == grid_set(sweep[0])


def test_heights_off_their_cones_go_by_the_network(sweep):
    """A sweep whose heights spread beyond a voxel of the lasers' cones (a sensor that the
    estimate fits loosely) sends them by the network from their neighbours: still exact."""
    positions = sweep[0].astype(np.float64)
    positions[:, 2] += np.random.default_rng(2).integers(-2, 3, len(positions)) / 1000
    chosen = []
    original = lidar.ScanCoder._heights_by_rounding
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lidar.ScanCoder, "_heights_by_rounding",
                      staticmethod(lambda *args: chosen.append(original(*args)) or chosen[-1]))
        data = api.compress(PointCloud(positions), voxel_size=0.001, model="lidar-v3")
        assert grid_set(api.decompress(data).positions) == grid_set(positions)
    assert chosen == [False, False]


@pytest.mark.parametrize("largest", [None, 2])
def test_residuals_round_trip_with_escapes(largest):
    rng = np.random.default_rng(1)
    values = rng.choice([-1, 0, 0, 0, 0, 1], 6000)
    if largest is None:
        values[::97] = rng.integers(-(1 << 21), 1 << 21, len(values[::97]))
        values[:4] = [2, -3, 4, 1 << 21]
    else:
        values[::50] = 2 * rng.choice([-1, 1], len(values[::50]))
    ties = rng.integers(0, sensor_coding.RESIDUAL_BUCKETS, len(values))
    writer = binary_writer(default_coder())
    sensor_coding.residuals(sensor_coding.FieldIo(writer=writer), values, ties, largest)
    reader = binary_reader(default_coder(), writer.finish())
    decoded = sensor_coding.residuals(sensor_coding.FieldIo(reader=reader), None, ties, largest)
    reader.finish()
    np.testing.assert_array_equal(decoded, values)


def test_rounding_ties_say_where_a_value_rounds_from():
    one = 1 << 30
    ties = sensor_coding.rounding_ties(np.array([0, one // 2, one // 2 - 1, -one // 2, 3 * one + one // 4]), 30)
    assert list(ties) == [8, 0, 15, 0, 12]


@pytest.mark.parametrize("pose", ["rotated", "mirrored", "shifted"])
def test_any_pose_is_exact(sweep, pose):
    positions = sweep[0].astype(np.float64)
    if pose == "rotated":
        angle = 1.234
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        positions = positions @ rotation.T
    elif pose == "mirrored":
        positions = positions * [1, -1, 1]
    else:  # the sensor 7 m away from the frame's origin: no sweep seen from there
        positions = positions + [7.0, 0.0, 0.0]
    positions = np.rint(positions * 1000).astype(np.int32)  # integer millimetres
    data = api.compress(positions, model="lidar-v3")
    assert set(map(tuple, api.decompress(data).positions)) == set(map(tuple, positions))
    generic = api.compress(positions, model="occupancy-v1")
    assert len(data) <= len(generic) + 128  # never worse than the generic path (but its header)


def test_clouds_that_are_no_sweep_keep_the_dense_model():
    points = sphere_shell()
    header, decoded = api.decode(api.compress(points))
    assert header.model_id == "occupancy-v2"
    data = api.compress(points, model="lidar-v3")  # asked for: every point by the dense model
    header, decoded = api.decode(data)
    assert header.model_id == "lidar-v3" and decoded.details["other points"] == len(points)
    assert set(map(tuple, decoded.data.positions)) == set(map(tuple, points))


def test_placeholder_points_and_lone_beams_stay_exact(sweep):
    positions = np.rint(sweep[0].astype(np.float64) * 1000).astype(np.int32)
    with_zeros = np.vstack([positions, np.zeros((5, 3), np.int32)])  # zero-range placeholders
    decoded = api.decompress(api.compress(with_zeros, model="lidar-v3"))
    assert set(map(tuple, decoded.positions)) == set(map(tuple, with_zeros))
    for few in (positions[:1], positions[:300]):  # one point; a part of one beam
        decoded = api.decompress(api.compress(few, model="lidar-v3"))
        assert set(map(tuple, decoded.positions)) == set(map(tuple, few))


def test_lossy_rates_trade_bits_for_distortion(sweep):
    positions = np.rint(sweep[0].astype(np.float64) * 1000).astype(np.int32)
    sizes, errors = [], []
    for rate in zoo.rates("pointcloud", PointCloud(positions)):
        data = api.compress(positions, rate=rate)
        header, decoded = api.decode(data)
        assert header.model_id == f"lidar-v5-r{rate}"
        from scipy.spatial import cKDTree

        distance, _ = cKDTree(decoded.data.positions).query(positions)
        sizes.append(len(data))
        errors.append(float(np.sqrt(np.mean(distance**2))))
    assert len(sizes) >= 6 and sizes == sorted(sizes)
    assert errors[-1] < errors[0] and errors[-1] < 5


def test_intensity_is_coded_exactly_or_on_request_quantized(sweep, tmp_path):
    positions, intensity = sweep
    decoded = api.decompress(api.compress(PointCloud(positions, {"intensity": intensity}), voxel_size=0.001))
    order = np.lexsort(np.rint(decoded.positions.astype(np.float64) * 1000).T)
    original = np.lexsort(np.rint(positions.astype(np.float64) * 1000).T)
    assert decoded.attributes["intensity"].dtype == np.float32
    assert np.array_equal(decoded.attributes["intensity"][order], intensity[original])
    reflectance = (intensity * 100).astype(np.uint8)
    cloud = PointCloud(positions, {"reflectance": reflectance})
    decoded = api.decompress(api.compress(cloud, voxel_size=0.001))
    assert np.array_equal(decoded.attributes["reflectance"][order], reflectance[original])
    decoded = api.decompress(api.compress(cloud, voxel_size=0.001, intensity_bits=3))
    step = (reflectance.max() - reflectance.min()) / 7
    assert np.abs(decoded.attributes["reflectance"][order].astype(float) - reflectance[original]).max() <= step / 2 + 0.5


@pytest.mark.parametrize("values", [
    np.array([0.1, 1e-7, 3.25e10, -2.5], np.float32),  # no decimal precision: float bits
    np.array([1.5, -7.25, 0.0, 1e30], np.float64),
    np.array([-3, 70000, 5, 0], np.int32),
])
def test_intensity_representations_are_exact(values):
    codes, representation = intensities.represented(values)
    result = representation.values(codes)
    assert result.dtype == values.dtype and result.tobytes() == values.tobytes()


def test_intensity_of_any_kind_round_trips(sweep):
    positions = sweep[0][:2000]
    values = np.random.default_rng(1).normal(0, 1e6, len(positions)).astype(np.float32)
    decoded = api.decompress(api.compress(PointCloud(positions, {"intensity": values}), voxel_size=0.001))
    order = np.lexsort(np.rint(decoded.positions.astype(np.float64) * 1000).T)
    original = np.lexsort(np.rint(positions.astype(np.float64) * 1000).T)
    assert decoded.attributes["intensity"][order].tobytes() == values[original].tobytes()


def test_cli_codes_a_sweep_and_reports_its_sensor(sweep, tmp_path, capsys):
    src = tmp_path / "sweep.ply"
    write_ply(src, PointCloud(sweep[0], {"intensity": sweep[1]}))
    assert main(["compress", str(src), "-o", str(tmp_path / "s.ocz"), "--voxel-size", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "lidar-v5" in out and "spinning LiDAR" in out and "intensity bits per point" in out
    assert main(["decompress", str(tmp_path / "s.ocz"), "-o", str(tmp_path / "d.ply")]) == 0
    back = read_ply(tmp_path / "d.ply")
    assert grid_set(back.positions) == grid_set(sweep[0]) and "intensity" in back.attributes
    assert main(["compress", str(src), "-o", str(tmp_path / "g.ocz"), "--voxel-size", "0.001",
                 "--no-attributes"]) == 0
    assert "intensity" not in read_ply(_decompressed(tmp_path, "g")).attributes


def _decompressed(tmp_path, name):
    assert main(["decompress", str(tmp_path / f"{name}.ocz"), "-o", str(tmp_path / f"{name}.ply")]) == 0
    return tmp_path / f"{name}.ply"


@pytest.mark.parametrize("args, message", [
    (["--intensity-bits", "0"], "--intensity-bits must be 1 to 16"),
    (["--intensity-bits", "17"], "--intensity-bits must be 1 to 16"),
    (["--bits", "4"], None),  # a coarse grid: fine, merged points reported
])
def test_cli_bad_intensity_options(sweep, tmp_path, capsys, args, message):
    src = tmp_path / "sweep.ply"
    write_ply(src, PointCloud(sweep[0], {"intensity": sweep[1]}))
    code = main(["compress", str(src), "-o", str(tmp_path / "s.ocz"), *args])
    err = capsys.readouterr().err
    if message is None:
        assert code == 0
    else:
        assert code != 0 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "s.ocz").exists()


def test_nan_intensity_and_positions_are_refused(sweep):
    positions, intensity = sweep
    bad = intensity.copy()
    bad[3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        api.compress(PointCloud(positions, {"intensity": bad}), voxel_size=0.001)
    bad_positions = positions.copy()
    bad_positions[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        api.compress(PointCloud(bad_positions), voxel_size=0.001)
    with pytest.raises(InputError, match="exceeds"):
        api.compress(np.array([[0, 0, 0], [2**40, 0, 0]], np.int64), model="lidar-v2")


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_lidar_streams_are_refused(sweep, damage):
    data = bytearray(api.compress(PointCloud(sweep[0], {"intensity": sweep[1]}), voxel_size=0.001))
    if damage == "truncate":
        data = data[: len(data) * 2 // 3]
    else:
        data[len(data) // 2] ^= 0x55
    with pytest.raises(BitstreamError):
        api.decompress(bytes(data))


def test_a_sweep_has_the_lidar_rates_only(sweep):
    positions = np.rint(sweep[0].astype(np.float64) * 1000).astype(np.int32)
    rates = zoo.rates("pointcloud", PointCloud(positions))
    with pytest.raises(InputError, match=f"the rates for spinning-LiDAR sweeps are 1 to {rates[-1]}"):
        api.compress(positions, rate=rates[-1] + 1)
    data, encoded, codec = api.compress_to_bpp(positions, 4.0)
    assert codec.card.model_id.startswith("lidar-v5-r") and 8 * len(data) <= 4.0 * len(positions)


def test_big_endian_and_merged_intensities(tmp_path):
    values = np.array([1.5, 2.25, 3.0], dtype=">f4")
    codes, representation = intensities.represented(values)
    assert representation.values(codes).tolist() == [1.5, 2.25, 3.0]
    points = np.array([[0, 0, 0], [0, 0, 0], [5, 5, 5]], np.int32)  # two points in one voxel
    exact = np.array([3.14159265358979, 3.14159265358981, 1.0])  # no decimal precision: float bits
    decoded = api.decompress(api.compress(PointCloud(points, {"intensity": exact})))
    assert sorted(decoded.attributes["intensity"].tolist()) == [1.0, 3.14159265358979]


def test_quantized_integer_intensities_round():
    values = np.arange(256, dtype=np.uint8)
    codes, representation = intensities.represented(values, bits=3)
    step = 255 / 7
    assert np.abs(representation.values(codes).astype(float) - values).max() <= step / 2 + 0.5
