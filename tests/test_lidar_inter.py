"""Inter-sweep prediction of LiDAR ranges (omnicodec.scans.lidar_inter): the integer
azimuths, turns and range images the decoder computes, the blended logistic it codes
with (the same integers by the C++ kernel and the torch reference, and a round trip),
the encoder's motion search on a drive of known motion, and damaged motion fields."""

import zlib

import numpy as np
import pytest
import torch

from conftest import synthetic_sweep
from omnicodec import api, bitstream, fixedpoint, varint
from omnicodec.data import PointCloud
from omnicodec.entropy import binary_reader, binary_writer, logistic
from omnicodec.errors import BitstreamError
from omnicodec.scans import field_network, lidar, lidar_inter, lidar_network, sensor as sensors


def test_integer_azimuths_follow_atan2_everywhere():
    rng = np.random.default_rng(0)
    x, y = rng.integers(-2**21, 2**21, 20000), rng.integers(-2**21, 2**21, 20000)
    x[:8], y[:8] = [1, 0, -1, 0, 5, -5, 7, 0], [0, 1, 0, -1, 5, -5, -7, 0]
    azimuth = sensors.fixed_atan2(y, x)
    exact = np.mod(np.arctan2(y, x), 2 * np.pi) * sensors.RADIAN
    miss = (azimuth - exact + sensors.ANGLE_UNITS / 2) % sensors.ANGLE_UNITS - sensors.ANGLE_UNITS / 2
    assert np.abs(miss[:7]).max() <= 2 and np.abs(miss).max() <= 2
    assert azimuth.min() >= 0 and azimuth.max() < sensors.ANGLE_UNITS and azimuth[7] == 0
    squares = rng.integers(0, 2**44, 5000)
    assert [int(v) for v in fixedpoint.isqrt(squares)] == [int(np.floor(np.sqrt(float(v)))) for v in squares]


def test_moved_points_turn_and_shift_in_integers():
    points = np.array([[10000, 0, 5], [0, 20000, -3], [-7000, -7000, 0]], dtype=np.int64)
    quarter = sensors.ANGLE_UNITS // 4
    np.testing.assert_array_equal(lidar_inter.moved(points, lidar_inter.Motion(quarter, shift=(1, 2, 3))),
                                  [[1, 10002, 8], [-19999, 2, 0], [7001, -6998, 3]])
    np.testing.assert_array_equal(lidar_inter.moved(points, lidar_inter.Motion(pitch=quarter)),
                                  [[5, 0, -10000], [-3, 20000, 0], [0, -7000, 7000]])
    np.testing.assert_array_equal(lidar_inter.moved(points, lidar_inter.Motion(roll=quarter)),
                                  [[10000, -5, 0], [0, 3, 20000], [-7000, 0, -7000]])
    assert lidar_inter.moved(points, lidar_inter.Motion()).dtype == np.int64
    motion = lidar_inter.Motion(123457, sensors.ANGLE_UNITS - 2345, 678, (4, -5, 6))
    assert lidar_inter.Motion.nearest(motion.float_rotation(), np.array([4.2, -4.8, 6.4])) == motion


def _sensor_and_sweep(travel=0.0):
    positions, _ = synthetic_sweep(lasers=16, columns=256, seed=1, travel=travel, sensor_seed=3)
    coords = np.rint(positions.astype(np.float64) * 1000).astype(np.int64)
    return sensors.estimate_sensor(coords), coords


def test_a_range_image_of_the_same_sweep_predicts_its_own_ranges():
    sensor, coords = _sensor_and_sweep()
    chosen, laser, rho, azimuth, relative, _ = sensors.scan_order(coords, sensor)
    image = lidar_inter.RangeImage(relative, sensor)
    predicted, have = image.predict(laser, np.rint(azimuth).astype(np.int64))
    assert have.mean() > 0.95
    assert np.median(np.abs(predicted[have] - rho[have])) <= 2  # the points themselves, rounded
    nothing, none = lidar_inter.RangeImage(np.zeros((0, 3), np.int64), sensor).predict(laser[:5], azimuth[:5])
    assert not none.any() and not nothing.any()


@pytest.mark.parametrize("weight", [0, 300, 1024])
def test_blended_logistic_round_trips_and_its_paths_agree(weight):
    rng = np.random.default_rng(weight)
    count = 3000
    location = torch.from_numpy(rng.integers(-5000, 5000, count) << logistic.LOCATION_BITS)
    scale = torch.from_numpy(rng.integers(0, 160, count))
    second = location + torch.from_numpy(rng.integers(-400, 400, count) << logistic.LOCATION_BITS)
    values = (second >> logistic.LOCATION_BITS) + torch.from_numpy(rng.integers(-30, 30, count))

    def model():
        return logistic.BlendedLogistic(location, scale, -2**20, 2**20, logistic.OUTLIER_TAIL_FIXED, second,
                                        torch.full((count,), 80), torch.full((count,), weight))

    writer = binary_writer("rans")
    logistic.write_integer(writer, values, model())
    data = writer.finish()
    reader = binary_reader("rans", data)
    assert torch.equal(logistic.read_integer(reader, model()), values)
    from omnicodec.sparse import integer

    rows, first, last = torch.arange(count), values - 3, values + 2
    with integer.use_implementation("reference"):
        reference = model()._mass(rows, first, last)
    assert torch.equal(model()._mass(rows, first, last), reference)
    if weight == 0:  # no weight: the first logistic's masses, the same integers
        plain = logistic.IntegerLogistic(location, scale, -2**20, 2**20, logistic.OUTLIER_TAIL_FIXED)
        assert torch.equal(plain._mass(rows, first, last), reference)
    with pytest.raises(ValueError, match="blend weights"):
        logistic.BlendedLogistic(location, scale, -10, 10, None, second, scale, torch.full((count,), 1025))


@pytest.mark.parametrize("span", [8, 2**20])
def test_the_encoders_batches_are_the_walks(span):
    """logistic.write_integer takes every round's masses at once (the encoder knows each
    row's path): the same batches, frequencies and decisions as the walk the decoder
    takes, round by round, under a plain and a blended logistic, with values at their
    centres, at the bounds and far out."""
    rng = np.random.default_rng(span)
    count = 2000
    location = torch.from_numpy(rng.integers(-span, span, count) << logistic.LOCATION_BITS)
    scale = torch.from_numpy(rng.integers(-40, 200, count))
    values = torch.from_numpy(np.clip((location >> logistic.LOCATION_BITS).numpy()
                                      + rng.integers(-3, 4, count) * rng.integers(0, 2000, count) // 100, -span, span))
    values[:20] = location[:20] >> logistic.LOCATION_BITS
    values[20:30], values[30:40] = -span, span
    models = (lambda: logistic.IntegerLogistic(location, scale, -span, span, logistic.OUTLIER_TAIL_FIXED),
              lambda: logistic.BlendedLogistic(location, scale, -span, span, logistic.OUTLIER_TAIL_FIXED,
                                               location + 900, torch.full((count,), 60), torch.full((count,), 400)))
    for model in models:
        walked = []
        logistic._walk(model(), lambda frequencies, decisions: walked.append((frequencies, decisions)) or decisions,
                       values)
        batched = logistic._encoding_batches(model(), values)
        assert len(batched) == len(walked) > 4
        for (frequencies, decisions), (expected_frequencies, expected_decisions) in zip(batched, walked):
            assert torch.equal(frequencies, expected_frequencies) and torch.equal(decisions, expected_decisions)
    for rows, low, high in ((0, -span, span), (5, 3, 3)):  # no values; a single value possible
        model = logistic.IntegerLogistic(torch.full((rows,), 3 << logistic.LOCATION_BITS), torch.zeros(rows,
                                         dtype=torch.int64), low, high)
        walked = []
        logistic._walk(model, lambda frequencies, decisions: walked.append((frequencies, decisions)) or decisions,
                       torch.full((rows,), 3))
        batched = logistic._encoding_batches(model, torch.full((rows,), 3))
        assert len(batched) == len(walked) == 2 and all(torch.equal(x, y) for pair in zip(batched, walked)
                                                        for x, y in zip(*pair))


def test_the_encoder_finds_how_far_the_sensor_moved():
    sensor, before = _sensor_and_sweep(0.0)
    _, after = _sensor_and_sweep(0.8)
    origin = np.asarray(sensor.origin, np.int64)
    reference = lidar_inter.Reference(before - origin, 0.001)
    motions = lidar_inter.estimate_motion(reference, after - origin, 0.001)
    _, laser, rho, azimuth, relative, _ = sensors.scan_order(after, sensor)
    motion, image = lidar_inter.predictor(reference, motions, sensor, laser, np.rint(azimuth).astype(np.int64),
                                          rho)
    assert motion in motions and image.predict(laser, np.rint(azimuth).astype(np.int64))[1].mean() > 0.9
    for motion in motions:
        assert abs(motion.shift[0] + 800) < 150 and abs(motion.shift[1]) < 100  # the street moved back 0.8 m
        for angle in (motion.yaw, motion.pitch, motion.roll):
            assert min(angle, sensors.ANGLE_UNITS - angle) < sensors.ANGLE_UNITS // 360  # within a degree
    assert lidar_inter.estimate_motion(lidar_inter.Reference(before[:10] - origin, 0.001), after - origin,
                                       0.001) == [lidar_inter.Motion()]


def test_damaged_motion_fields_are_refused():
    sweeps = [PointCloud(synthetic_sweep(lasers=16, columns=256, seed=i, travel=0.8 * i, sensor_seed=3)[0])
              for i in range(2)]
    sequence = api.Sequence(api.compress_sequence(sweeps))
    header, sections = bitstream.unpack(sequence.reader.stream(sequence.frames[1]))
    sensor_section = bitstream.inflated(sections[0], lidar.SENSOR_SECTION_LIMIT, "test")
    values, _ = varint.decode(sensor_section)
    assert values[-7] == 1  # predicted, then the yaw, pitch, roll and the shift
    for damaged in (values[:-7] + [2], values[:-7] + [1, 0, sensors.ANGLE_UNITS, 0, 0, 0, 0], values[:-1]):
        with pytest.raises(BitstreamError, match="sensor section is corrupted|truncated or corrupted"):
            lidar._read_sensor_section(zlib.compress(varint.encode(damaged)), with_motion=True)
    no_lasers = sensors.Sensor(origin=(0, 0, 0), z0=np.zeros(0, np.int64), tan=np.zeros(0, np.int64), step=1)
    empty = np.zeros(0, np.int64)
    section = lidar._sensor_section(no_lasers, empty, empty, (1, 1 << 15, 0, 0), 1, 5, [1, 0, 0, 0, 0, 0, 0])
    with pytest.raises(BitstreamError, match="sensor section is corrupted"):  # predicted, with no lasers
        lidar._read_sensor_section(section, with_motion=True)


def _synthetic_drive(frames=3):
    return [PointCloud(synthetic_sweep(lasers=16, columns=256, seed=i, travel=0.8 * i, sensor_seed=3)[0])
            for i in range(frames)]


@pytest.mark.parametrize("older_model,model", [("lidar-v4", "lidar-v5"), ("lidar-v4-r5", "lidar-v5-r5")])
def test_lidar_v5_offers_its_inter_head_and_the_decoder_follows(monkeypatch, older_model, model):
    """Where the sweep before predicts a batch of ranges, lidar-v5's encoder (lossless, or
    at a rate) keeps the head that sees that prediction or lidar-v4's, whichever its
    estimate says codes the batch in fewer bits, and sends which: the drive costs about
    what lidar-v4's does at most, and the decoder runs the inter head only for the batches
    that chose it."""
    sweeps = _synthetic_drive()
    older = api.compress_sequence(sweeps, model=older_model)
    newer = api.compress_sequence(sweeps, model=model)
    # Frames 1 and 2: a bit per batch and the float estimates' misses, with bytes to spare.
    assert len(newer) <= len(older) + 2 * 3 * lidar.LEVELS
    heads = []
    forward = field_network.IntegerFieldNet.forward
    monkeypatch.setattr(field_network.IntegerFieldNet, "forward",
                        lambda self, field, *rest: heads.append(field) or forward(self, field, *rest))
    decoded = [frame for _, _, frame in api.Sequence(newer).decode()]
    assert lidar_network.INTER_FIELD in heads  # and one range head a batch, as one arc head
    assert heads.count("rho") + heads.count(lidar_network.INTER_FIELD) == heads.count("arc")
    monkeypatch.undo()
    for frame, (_, _, before) in zip(decoded, api.Sequence(older).decode()):  # the same points, fewer bits
        assert np.array_equal(frame.data.positions, before.data.positions)


def test_inter_features_say_nothing_where_there_is_no_prediction():
    features = torch.arange(3 * lidar_network.FEATURES, dtype=torch.int64).reshape(3, -1)
    one = 1 << logistic.LOCATION_BITS
    reference = torch.tensor([100 * one, 100 * one, 100 * one])
    unit = torch.tensor([one, 4 * one, one])
    extended = lidar_network.inter_features(features, reference, unit, np.array([180, 180, 5]),
                                            np.array([True, True, False]), 1)
    assert extended.shape == (3, lidar_network.FEATURES + lidar_network.INTER_FEATURES)
    assert torch.equal(extended[:, :lidar_network.FEATURES], features)
    assert extended[2, lidar_network.FEATURES:].tolist() == [0, 0, 0]
    have, values, units = extended[:2, lidar_network.FEATURES:].T.tolist()
    assert have == [4096, 4096] and values[0] == values[1] > 0 and units[0] > units[1] > 0  # 80 voxels, 80 and 20 units


def test_the_inter_head_is_fitted_from_a_drive_and_starts_as_its_start(tmp_path):
    """omnicodec.scans.fit_inter: the head starts as the float range head it grows from
    (its new features weigh nothing), and a short fit on a small drive writes an integer
    network with lidar-v4's heads unchanged and the inter head beside them."""
    from omnicodec import catalogue, zoo
    from omnicodec.io import write_ply
    from omnicodec.scans import fit_inter

    start = zoo.load("lidar-v1").heads["rho"]
    head = fit_inter.started_head(start).heads[lidar_network.INTER_FIELD]
    features = torch.randn(50, lidar_network.FEATURES)
    with torch.no_grad():
        torch.testing.assert_close(head(torch.cat([features, torch.randn(50, lidar_network.INTER_FEATURES)], 1)),
                                   start(features), rtol=1e-6, atol=1e-6)
    for index, sweep in enumerate(_synthetic_drive()):
        write_ply(tmp_path / f"frame_{index:04d}.ply", sweep)
    out = tmp_path / "inter.pt"
    fit_inter.main(["--drive", str(tmp_path), "--train", "1:2", "--steps", "3", "--out", str(out)])
    state = torch.load(out)
    assert state["config"]["field_features"] == {lidar_network.INTER_FIELD: lidar_network.FEATURES
                                                 + lidar_network.INTER_FEATURES}
    base = catalogue.build("lidar-v4", lidar.LidarCodec.network).state_dict()
    for name, value in base.items():
        assert torch.equal(state["state_dict"][name].to(torch.int64), value)
    assert state["state_dict"][f"{lidar_network.INTER_FIELD}_weight0"].shape == (
        32, lidar_network.FEATURES + lidar_network.INTER_FEATURES)


def test_models_that_predict_nothing_ignore_a_reference():
    """The protocol hands the frame before's reference to every codec: lidar-v3, which
    predicts nothing, codes a sweep the same with one as without."""
    first, second = _synthetic_drive(2)
    codec, prepared = api.prepare(first, model="lidar-v5")
    reference = api.encode(codec, prepared)[1].reference
    older, prepared = api.prepare(second, model="lidar-v3")
    alone = api.encode(older, prepared)[0]
    assert api.encode(older, prepared, reference=reference)[0] == alone
