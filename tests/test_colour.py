"""Colour coding: YCoCg-R, the logistic coder, the octree levels, the colour codec through
the API and the CLI, and its bad input."""

import json
import zlib

import numpy as np
import pytest
import torch

import omnicodec
from omnicodec import api, evaluate
from omnicodec.attributes import colour_coding
from omnicodec.attributes.levels import NEIGHBOUR_OFFSETS, child_ranks, contexts_of, level_contexts, point_levels
from omnicodec.cli.main import main
from omnicodec.entropy import available_coders, binary_reader, binary_writer, logistic
from omnicodec.errors import BitstreamError, InputError
from omnicodec.grid import morton
from omnicodec.io import read_ply, write_ply
from tests.conftest import sphere_shell


SMALL_CLOUD = sphere_shell(count=100)
SMALL = len(SMALL_CLOUD)


def coloured_shell(count=3000, seed=0):
    """A voxelized sphere shell with smooth colours plus a little noise."""
    points = sphere_shell(count=count, seed=seed)
    rng = np.random.default_rng(seed)
    rgb = np.clip(points * 4 - 30 + rng.integers(0, 12, points.shape), 0, 255).astype(np.uint8)
    return omnicodec.PointCloud(points, {"rgb": rgb})


def voxel_colours(cloud):
    """{voxel: colour} of a decoded cloud (one point per voxel)."""
    return {tuple(p): tuple(c) for p, c in zip(cloud.positions.tolist(), cloud.attributes["rgb"].tolist())}


def merged(cloud):
    """{voxel: rounded mean colour} of a cloud with duplicates: what the default keeps."""
    groups = {}
    for p, c in zip(cloud.positions.tolist(), cloud.attributes["rgb"].tolist()):
        groups.setdefault(tuple(p), []).append(c)
    return {p: tuple((np.sum(cs, axis=0) + len(cs) // 2) // len(cs)) for p, cs in groups.items()}


def test_ycocg_r_is_exactly_invertible():
    rgb = np.random.default_rng(0).integers(0, 65536, (10000, 3))
    assert np.array_equal(colour_coding.rgb_from_ycocg_r(colour_coding.ycocg_r(rgb)), rgb)
    corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)])
    ycocg = colour_coding.ycocg_r(corners)
    for channel, (low, high) in enumerate(colour_coding.channel_ranges(8)):
        assert low <= ycocg[:, channel].min() and ycocg[:, channel].max() <= high


@pytest.mark.parametrize("coder", available_coders())
def test_logistic_coder_round_trip_and_length(coder):
    rng = np.random.default_rng(1)
    count = 5000
    mu = torch.from_numpy(rng.uniform(-20, 280, count)).float()
    scale = torch.from_numpy(rng.uniform(0.01, 30, count)).float()
    q = (mu + torch.from_numpy(rng.laplace(0, 1, count)).float() * scale).round().clamp(0, 255).long()
    writer = binary_writer(coder)
    logistic.write(writer, q, mu, scale, 0, 255)
    payload = writer.finish()
    reader = binary_reader(coder, payload)
    assert torch.equal(logistic.read(reader, mu, scale, 0, 255), q)
    reader.finish()
    ideal = float(logistic.bits(q.float(), mu, scale, 0, 255).sum())
    assert 8 * len(payload) < 1.03 * ideal + 256
    with pytest.raises(ValueError):
        logistic.write(binary_writer(coder), torch.tensor([256]), torch.zeros(1), torch.ones(1), 0, 255)


def test_levels_see_only_what_was_coded_before():
    coords = np.unique(sphere_shell(count=2000), axis=0)
    bits = 7
    keys = morton.encode(coords, bits)
    order = np.argsort(keys)
    coords, keys = coords[order], keys[order]
    levels = point_levels(keys, bits)
    assert levels[0] == bits and (levels[1:] < bits).all()
    ranks = child_ranks(coords, levels)
    coded = np.zeros(len(coords), dtype=bool)
    order = []
    for level, stage, rows, neighbours in level_contexts(coords, levels, bits):
        assert (levels[rows] == level).all() and (ranks[rows] == stage).all()
        seen = neighbours[neighbours >= 0]
        assert coded[seen].all()  # every neighbour a context uses is already decoded
        assert not coded[rows].any()
        coded[rows] = True
        order.append((level, stage))
    assert coded.all() and order == sorted(order, key=lambda item: (-item[0], item[1]))


def test_level_contexts_name_each_neighbour_cell_representative():
    """The neighbour rows are the first point (Morton order) of each cell around the
    point's own, at its scale and one up, -1 for an empty cell or, at its own scale, one
    not coded yet: checked against a plain dictionary of cells."""
    coords = np.unique(sphere_shell(count=1500), axis=0)
    bits = 7
    keys = morton.encode(coords, bits)
    coords, keys = coords[np.argsort(keys)], np.sort(keys)
    levels = point_levels(keys, bits)
    ranks = child_ranks(coords, levels)
    first_of = [{} for _ in range(bits + 2)]
    for row, point in enumerate(coords):
        for scale in range(bits + 1):
            first_of[scale].setdefault(tuple(point >> scale), row)
    for level, stage, rows, neighbours in level_contexts(coords, levels, bits):
        for row, found in zip(rows, neighbours):
            for up in range(2):
                cells = first_of[level + up]
                for column, offset in enumerate(NEIGHBOUR_OFFSETS):
                    other = cells.get(tuple((coords[row] >> (level + up)) + offset), -1)
                    if not up and other >= 0 and not (levels[other] > level
                                                      or (levels[other] == level and ranks[other] < stage)):
                        other = -1
                    assert found[27 * up + column] == other


def test_lossless_colour_round_trip_and_report(tmp_path):
    cloud = coloured_shell()
    data = omnicodec.compress(cloud)
    back = omnicodec.decompress(data)
    assert back.attributes["rgb"].dtype == np.uint8
    assert voxel_colours(back) == merged(cloud)
    header, decoded = api.decode(data)
    assert header.model_id == "colour-v5"
    details = decoded.details
    assert details["geometry model"] == "occupancy-v2" and details["colour"].startswith("lossless")
    assert details["geometry bytes"] + details["colour bytes"] < len(data)
    assert details["colour bits per point"] > 0
    fields = api.describe(header)
    assert fields["colour rate"] == "lossless" and fields["geometry model"] == "occupancy-v2"


def test_api_colours_keyword_and_sixteen_bit_and_float_colours():
    cloud = coloured_shell(count=1500)
    positions, rgb = cloud.positions, cloud.attributes["rgb"]
    back = omnicodec.decompress(omnicodec.compress(positions, colours=rgb))
    assert voxel_colours(back) == merged(cloud)
    deep = (rgb.astype(np.uint16) * 257 + 3)
    back = omnicodec.decompress(omnicodec.compress(positions, colours=deep))
    assert back.attributes["rgb"].dtype == np.uint16
    assert voxel_colours(back) == merged(omnicodec.PointCloud(positions, {"rgb": deep}))
    floats = rgb / 255.0
    back = omnicodec.decompress(omnicodec.compress(positions, colours=floats))
    assert back.attributes["rgb"].dtype == np.float32
    np.testing.assert_allclose(np.sort(back.attributes["rgb"], axis=0),
                               np.sort(np.array(list(merged(cloud).values())) / 255.0, axis=0), atol=1e-6)


def test_lossy_colour_rates_spend_more_bits_for_less_error():
    cloud = coloured_shell()
    reference = merged(cloud)
    sizes, errors = [], []
    for rate in range(1, evaluate.colour_rate_count() + 1):
        data = omnicodec.compress(cloud, colour_rate=rate)
        back = voxel_colours(omnicodec.decompress(data))
        assert back.keys() == reference.keys()
        sizes.append(len(data))
        errors.append(np.mean([(np.subtract(back[p], reference[p]) ** 2).mean() for p in reference]))
    assert sizes == sorted(sizes) and sizes[-1] < len(omnicodec.compress(cloud))
    assert errors[-1] < errors[0]


def test_lossy_geometry_recolours_the_decoded_points():
    cloud = coloured_shell(count=6000)
    back = omnicodec.decompress(omnicodec.compress(cloud, rate=9))
    assert "rgb" in back.attributes and len(back.attributes["rgb"]) == len(back.positions)
    # Each decoded point's colour is close to the colour of the original points near it.
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(cloud.positions).query(back.positions)
    difference = np.abs(back.attributes["rgb"].astype(int) - cloud.attributes["rgb"][nearest].astype(int))
    assert np.median(difference) <= 12


def test_keep_duplicates_returns_the_multiset():
    cloud = coloured_shell(count=2000)
    rng = np.random.default_rng(3)
    extra = rng.choice(len(cloud.positions), 400)
    positions = np.concatenate([cloud.positions, cloud.positions[extra]])
    rgb = np.concatenate([cloud.attributes["rgb"], rng.integers(0, 256, (400, 3)).astype(np.uint8)])
    back = omnicodec.decompress(omnicodec.compress(positions, colours=rgb, keep_duplicates=True))
    assert sorted(map(tuple, np.hstack([back.positions, back.attributes["rgb"]]).tolist())) == \
        sorted(map(tuple, np.hstack([positions, rgb]).tolist()))
    merged_back = omnicodec.decompress(omnicodec.compress(positions, colours=rgb))
    assert len(merged_back.positions) == len(np.unique(positions, axis=0))


@pytest.mark.parametrize("colours, options, message", [
    (np.full((SMALL, 3), np.nan), {}, "NaN"),
    (np.full((SMALL, 3), 1.5), {}, "[0, 1]"),
    (-np.ones((SMALL, 3), np.int32), {}, "[0, 65535]"),
    (np.zeros((SMALL, 2), np.uint8), {}, "shape"),
    (np.zeros((SMALL + 1, 3), np.uint8), {}, "shape"),
    (np.zeros((SMALL, 3), np.uint8), {"colour_rate": 99}, "out of range"),
    (np.zeros((SMALL, 3), np.uint8), {"rate": 5, "keep_duplicates": True}, "lossless geometry"),
    (np.zeros((SMALL, 3), np.uint8), {"colour_rate": 2, "keep_duplicates": True}, "colour-rate"),
])
def test_bad_colour_input(colours, options, message):
    points = SMALL_CLOUD
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        omnicodec.compress(points, colours=colours, **options)


def test_colour_rate_needs_colour():
    with pytest.raises(InputError, match="needs a cloud with colours"):
        omnicodec.compress(SMALL_CLOUD, colour_rate=2)


def test_damaged_colour_sections_are_refused():
    data = bytearray(omnicodec.compress(coloured_shell(count=1500)))
    for damage in (lambda d: d[: len(d) - 40], lambda d: d[:-60] + bytes([d[-60] ^ 0x10]) + d[-59:]):
        with pytest.raises(BitstreamError):
            omnicodec.decompress(bytes(damage(bytes(data))))


def test_cli_colour_flags_and_rgb_output(tmp_path, capsys):
    src, ocz, back = tmp_path / "c.ply", tmp_path / "c.ocz", tmp_path / "back.ply"
    write_ply(src, coloured_shell(count=1500))
    assert main(["compress", str(src), "-o", str(ocz), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    for name in ("geometry bytes", "colour bytes", "geometry bits per point", "colour bits per point",
                 "bits per input point", "bytes"):
        assert name in report
    assert main(["decompress", str(ocz), "-o", str(back), "-q"]) == 0
    decoded = read_ply(back)
    assert decoded.attributes["rgb"].dtype == np.uint8 and len(decoded.positions) > 0
    assert main(["compress", str(src), "-o", str(tmp_path / "l.ocz"), "--colour-rate", "2", "-q"]) == 0
    assert main(["compress", str(src), "-o", str(tmp_path / "g.ocz"), "--no-colour", "-q"]) == 0
    assert "rgb" not in omnicodec.decompress((tmp_path / "g.ocz").read_bytes()).attributes
    capsys.readouterr()
    assert main(["compress", str(src), "-o", str(tmp_path / "x.ocz"), "--colour-rate", "0"]) == 2
    assert "colour rate 0 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "x.ocz").exists()


def _adapted(net):
    """(tensor, scale) of the weights the adaptation changes, float or integer."""
    from omnicodec.attributes import adaptation

    if net.integer:
        return [(tensor, float(1 << bits)) for tensor, bits in net.adapted_buffers()]
    return [(parameter, 1.0) for parameter in adaptation.head_parameters(net)]


@pytest.mark.parametrize("model", ["colour-v1", "colour-v2"])
def test_adaptation_block_round_trip_and_damage(model):
    from omnicodec import zoo
    from omnicodec.attributes import adaptation

    net = zoo.load(model)
    deltas = [torch.full(tensor.shape, 0.01) for tensor, _ in _adapted(net)]
    deltas[0][0, 0] = -0.5
    block = adaptation._packed(deltas, net)
    adapted = adaptation.apply(net, block)
    for (tuned, scale), (shipped, _), delta in zip(_adapted(adapted), _adapted(net), deltas):
        assert tuned.dtype == shipped.dtype
        assert torch.allclose((tuned - shipped).double() / scale, delta.double(),
                              atol=float(delta.abs().max()) / 250 + 1e-7)
    assert adaptation.apply(net, b"") is net
    for damaged in (block[:-3], b"not zlib", zlib.compress(b"\x00" * 10)):
        with pytest.raises(ValueError):
            adaptation.apply(net, damaged)


def _walk_input(count=4000, seed=0):
    """(coords, levels, bits, ycocg) of a coloured shell in the colour walk's order."""
    cloud = coloured_shell(count=count, seed=seed)
    coords = np.unique(cloud.positions, axis=0)
    bits = int(coords.max()).bit_length()
    keys = morton.encode(coords, bits)
    order = np.argsort(keys)
    ycocg = colour_coding.ycocg_r(np.random.default_rng(seed).integers(0, 256, (len(coords), 3)))
    return coords[order], point_levels(keys[order], bits), bits, ycocg


@pytest.mark.parametrize("model", ["colour-v1", "colour-v2", "colour-v5"])
def test_adaptation_fit_is_deterministic_and_lossless_stays_exact(model):
    from omnicodec import zoo
    from omnicodec.attributes import adaptation

    coords, levels, bits, ycocg = _walk_input()
    net = zoo.load(model)
    assert adaptation.fit(net, coords, levels, bits, ycocg, 8) == b""  # too few points to pay
    first = adaptation.fit(net, coords, levels, bits, ycocg, 8, min_points=0)
    contexts = contexts_of(coords, levels, bits)  # looked up once, as the codec's encoder does
    assert first == adaptation.fit(net, coords, levels, bits, ycocg, 8, min_points=0, contexts=contexts)
    payloads = []
    for stored in (None, contexts):
        writer = binary_writer("torchac")
        rebuilt, table = colour_coding.encode(adaptation.apply(net, first), coords, levels, bits, 8,
                                              colour_coding.Rate((1, 1, 1)), ycocg, writer, contexts=stored)
        assert np.array_equal(rebuilt, ycocg)
        payloads.append(table + writer.finish())
    assert payloads[0] == payloads[1]


def _coded(net, cloud, rate, depth=8):
    """(payload bytes, rebuilt YCoCg-R) of a cloud's colours coded by ``net`` at ``rate``."""
    coords, levels, bits, _ = cloud
    ycocg = colour_coding.ycocg_r(_smooth_colours(coords, depth))
    writer = binary_writer("rans")
    rebuilt, table = colour_coding.encode(net, coords, levels, bits, depth, rate, ycocg, writer)
    return table + writer.finish(), rebuilt


def _smooth_colours(coords, depth=8):
    rng = np.random.default_rng(1)
    top = (1 << depth) - 1
    base = (coords * 9 + rng.integers(0, 20, coords.shape)) * (top // 255)
    return np.clip(base, 0, top)


@pytest.mark.parametrize("colour_rate", [0, 2, 6])
@pytest.mark.parametrize("depth", [8, 16])
def test_integer_colour_model_follows_the_float_one_and_decodes(colour_rate, depth):
    """colour-v2 (colour-v1 in integers) codes within 1% of colour-v1's bits (lossless) or
    its bits and error (lossy), and its decoder rebuilds exactly what its encoder did."""
    from omnicodec import catalogue, zoo

    cloud = _walk_input(6000, seed=3)
    coords, levels, bits, _ = cloud
    card = catalogue.card("colour-v2")
    rate = colour_coding.Rate((1, 1, 1)) if not colour_rate else \
        colour_coding.Rate(*card.settings["colour_rates"][colour_rate - 1])
    truth = colour_coding.ycocg_r(_smooth_colours(coords, depth))
    (float_bytes, float_rebuilt), (int_bytes, int_rebuilt) = (_coded(zoo.load(m), cloud, rate, depth)
                                                              for m in ("colour-v1", "colour-v2"))
    assert len(int_bytes) <= len(float_bytes) * 1.01 + 8
    if colour_rate:
        float_error, int_error = (float(np.abs(r - truth).mean()) for r in (float_rebuilt, int_rebuilt))
        assert int_error <= float_error * 1.05 + 0.1
    else:
        assert np.array_equal(int_rebuilt, truth)
    net = zoo.load("colour-v2")
    table_size = 1 + 3 * (bits + 1)
    decoded, reader = colour_coding.decode(net, coords, levels, bits, depth, rate, int_bytes,
                                           lambda rest: binary_reader("rans", rest))
    reader.finish()
    assert np.array_equal(decoded, int_rebuilt) and len(int_bytes) > table_size


def test_integer_colour_walk_is_the_same_from_every_implementation():
    """The integer colour walk's dense layers and logistics give the same bytes in C++ (each
    path this CPU runs) and in the torch reference."""
    from omnicodec import catalogue, zoo
    from omnicodec.sparse import integer

    cloud = _walk_input(2500, seed=5)
    net = zoo.load("colour-v2")
    rate = colour_coding.Rate(*catalogue.card("colour-v2").settings["colour_rates"][3])
    expected = _coded(net, cloud, rate)[0]
    for name in integer.implementations():
        with integer.use_implementation(name):
            assert _coded(net, cloud, rate)[0] == expected, name


def test_integer_steps_come_from_exact_arithmetic():
    rate = colour_coding.Rate((256, 512, 512), 0.55)
    assert rate.fixed_step(0, 0) == (256 << 16, 128)  # 2^8: index 8 x 16
    assert rate.fixed_step(1, 1) == (round(512 * 0.55 * 65536), round(16 * np.log2(512 * 0.55)))
    assert rate.fixed_step(0, 20)[0] == 1 << 16  # never finer than 1
    assert rate.step_features() == (8 << 12, 9 << 12)


def test_viewer_draws_a_decoded_stream_in_its_colours(tmp_path):
    from omnicodec import viewer

    cloud = coloured_shell(count=1500)
    path = tmp_path / "c.ocz"
    path.write_bytes(omnicodec.compress(cloud))
    decoded, bits_per_point = viewer.load(path)
    assert bits_per_point > 0 and decoded.attributes["rgb"].dtype == np.uint8
    drawn = viewer.rgb_colors(decoded)
    np.testing.assert_allclose(drawn, decoded.attributes["rgb"] / 255.0)
