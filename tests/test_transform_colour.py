"""Transform colour coding (colour-v3's, colour-v4's and colour-v5's lossy rates): the integer RAHT and its square root,
the coefficient steps, the coefficient coder, the walk both ways, and the codec at every
rate, 16-bit colours and damaged payloads."""

import math

import numpy as np
import pytest

import omnicodec
from omnicodec import api, catalogue, fixedpoint, varint
from omnicodec.attributes import colour_coding, post_filter, raht, transform_coding
from omnicodec.entropy import available_coders, binary_reader, binary_writer, default_coder
from omnicodec.entropy.adaptive import CHUNK
from omnicodec.errors import BitstreamError, InputError
from omnicodec.grid import morton
from omnicodec.metrics import colour_metrics
from tests.test_colour import coloured_shell


def voxels(count=4000, bits=7, seed=0):
    """Sorted unique Morton keys of random voxels, with random 8-bit colours."""
    rng = np.random.default_rng(seed)
    keys = morton.unique_keys(morton.encode(rng.integers(0, 1 << bits, (count, 3)), bits))
    return keys, rng.integers(0, 256, (len(keys), 3))


def test_integer_square_root_is_exact():
    rng = np.random.default_rng(0)
    values = np.concatenate([np.arange(20000), rng.integers(0, 1 << 62, 20000),
                             np.arange(1, 5000) ** 2, np.arange(1, 5000) ** 2 - 1, [(1 << 62) - 1]])
    assert [int(v) for v in fixedpoint.isqrt(values)] == [math.isqrt(int(v)) for v in values]


def test_lifting_is_exactly_invertible_in_integers():
    keys, rgb = voxels()
    tree = raht.Tree(keys, 7)
    values = colour_coding.ycocg_r(rgb)
    root, ds = tree.forward(values)
    assert tree.merges[-1].up_weights.tolist() == [len(keys)]
    for merges, d in zip(reversed(tree.merges), reversed(ds)):
        root = merges.split(root, d)
    assert np.array_equal(root, values)


def test_root_is_the_mean_and_a_flat_colour_has_no_detail():
    keys, _ = voxels()
    tree = raht.Tree(keys, 7)
    root, ds = tree.forward(np.full((len(keys), 3), 77 << raht.FRACTION_BITS))
    assert root.tolist() == [[77 << raht.FRACTION_BITS] * 3]
    assert all(not d.any() for d in ds)


def test_coefficient_steps_follow_the_weights():
    keys, _ = voxels()
    tree = raht.Tree(keys, 7)
    for merges in tree.merges[::4]:
        wa, wb = merges.weights[merges.left], merges.weights[merges.right]
        exact = 40 * np.sqrt((wa + wb) / (wa * wb)) * (1 << raht.STEP_FRACTION)
        steps = raht.coefficient_steps(merges, 40)
        assert np.all(np.abs(steps - np.maximum(exact, 1 << raht.STEP_FRACTION)) <= 1)


@pytest.mark.parametrize("coder", available_coders())
def test_coefficient_coder_round_trip(coder):
    rng = np.random.default_rng(2)
    count = 20000
    values = np.where(rng.random(count) < 0.6, 0, rng.laplace(0, 30, count).astype(np.int64))
    values[:3] = [(1 << 17) - 1, -(1 << 17) + 1, 1]
    group = rng.integers(0, transform_coding.GROUPS, count)
    bucket = rng.integers(0, transform_coding.BUCKETS, count)
    signs = rng.integers(0, transform_coding.SIGN_CONTEXTS, count)
    for sign_context in (None, signs):
        writer = binary_writer(coder)
        coded = transform_coding.Coefficients(writer=writer).code(values, group, bucket, sign_context)
        assert np.array_equal(coded, values)
        reader = binary_reader(coder, writer.finish())
        assert np.array_equal(transform_coding.Coefficients(reader=reader).code(None, group, bucket, sign_context),
                              values)
        reader.finish()


def test_coefficient_costs_are_the_bits_the_coder_spends():
    rng = np.random.default_rng(4)
    values = np.where(rng.random(3000) < 0.5, 0, rng.laplace(0, 20, 3000).astype(np.int64))
    group, bucket = np.zeros(3000, dtype=np.int64), np.full(3000, 10)
    coefficients = transform_coding.Coefficients(writer=binary_writer(default_coder()))
    coefficients.code(values, group, bucket)  # adapts the counts
    sample = np.abs(values[:CHUNK])  # one chunk: coded under the counts the estimate reads
    writer = binary_writer(default_coder())
    estimate = coefficients.costs(group[:len(sample)], bucket[:len(sample)], sample[:, None]).sum()
    copy = transform_coding.Coefficients(writer=writer)
    copy.hits, copy.seen = coefficients.hits.copy(), coefficients.seen.copy()
    copy.code(sample, group[:len(sample)], bucket[:len(sample)])
    assert abs(len(writer.finish()) * 8 - estimate) < 0.02 * estimate + 64


def test_rate_distortion_quantization_picks_among_the_nearest_levels_and_zero():
    rng = np.random.default_rng(5)
    x = rng.laplace(0, 200, 5000).astype(np.int64)
    steps = np.full(5000, 40 << raht.STEP_FRACTION)
    coefficients = transform_coding.Coefficients(writer=binary_writer(default_coder()))
    group, bucket = np.zeros(5000, dtype=np.int64), np.full(5000, 8)
    nearest = transform_coding.quantize(x, steps, 1 << (transform_coding.ROUNDING_BITS - 1))
    assert np.array_equal(transform_coding.rdo_quantize(x, steps, 0.0, coefficients, group, bucket), nearest)
    chosen = transform_coding.rdo_quantize(x, steps, 0.1, coefficients, group, bucket)
    assert np.all((chosen == nearest) | (chosen == nearest - np.sign(nearest)) | (chosen == 0))
    assert (chosen != nearest).any() and np.all(np.sign(chosen) * np.sign(nearest) >= 0)


def graded_voxels():
    """Sorted Morton keys of 6,000 random 7-bit voxels, and YCoCg-R colours that follow
    their position with some noise."""
    keys, _ = voxels(count=6000)
    coords = morton.decode(keys, 7)
    return keys, colour_coding.ycocg_r(np.clip(coords * 2 + np.random.default_rng(3).integers(0, 20, coords.shape),
                                               0, 255))


def round_trip(keys, ycocg, rate):
    """(payload bytes, mean squared Y error) of ``ycocg`` coded at ``rate``, once the decoder
    is checked to rebuild what the encoder did."""
    payload, rebuilt = transform_coding.encode(keys, 7, ycocg, 8, rate, default_coder())
    assert np.array_equal(transform_coding.decode(keys, 7, 8, rate, payload, default_coder()), rebuilt)
    return len(payload), float(np.mean((rebuilt - ycocg)[:, 0] ** 2))


def test_rate_distortion_quantization_saves_bits_at_the_same_step():
    keys, ycocg = graded_voxels()
    sizes, errors = zip(*(round_trip(keys, ycocg, rate) for rate in (
        transform_coding.Rate(8, 24), transform_coding.Rate(8, 24, sign_contexts=True),
        transform_coding.Rate(8, 24, rdoq_lambda=0.1), transform_coding.Rate(8, 24, rdoq_lambda=1e-9))))
    # sign contexts: the same integers, coded no worse
    assert sizes[1] <= sizes[0] and errors[1] == errors[0]
    # RDOQ: fewer bits for a little more error than the dead zone's, and with a vanishing
    # lambda it rounds to the nearest level (more bits, less error)
    assert sizes[2] < sizes[0] and errors[0] <= errors[2] < 1.5 * errors[0]
    assert sizes[3] > sizes[0] and errors[3] < errors[0]


def test_walk_decodes_what_the_encoder_rebuilt_and_finer_steps_cost_more():
    keys, ycocg = graded_voxels()
    sizes, errors = zip(*(round_trip(keys, ycocg, transform_coding.Rate(step, 3 * step, rdoq_lambda=0.1,
                                                                        sign_contexts=True, post_filter=True))
                          for step in (64, 16, 4)))
    assert list(sizes) == sorted(sizes) and list(errors) == sorted(errors, reverse=True)


def test_every_colour_rate_round_trips_with_less_error_for_more_bits():
    cloud = coloured_shell()
    rates = catalogue.card("colour-v5").settings["colour_rates"]
    bits, psnr = [], []
    for rate in range(1, len(rates) + 1):
        data = omnicodec.compress(cloud, colour_rate=rate)
        header, decoded = api.decode(data)
        assert header.model_id == "colour-v5"
        assert len(decoded.data.positions) == len(np.unique(cloud.positions, axis=0))
        bits.append(decoded.details["colour bits per point"])
        psnr.append(colour_metrics(cloud.positions, cloud.attributes["rgb"], decoded.data.positions,
                                   decoded.data.attributes["rgb"]).symmetric.y_psnr)
    assert bits == sorted(bits) and bits[0] < bits[-1] / 10
    assert psnr[-1] > psnr[0] + 10


def test_sixteen_bit_colours_keep_their_scale():
    cloud = coloured_shell()
    deep = omnicodec.PointCloud(cloud.positions, {"rgb": cloud.attributes["rgb"].astype(np.uint16) * 257})
    back = omnicodec.decompress(omnicodec.compress(deep, colour_rate=8))
    assert back.attributes["rgb"].dtype == np.uint16
    eight = omnicodec.decompress(omnicodec.compress(cloud, colour_rate=8))
    order = np.lexsort(back.positions.T)
    assert np.abs(back.attributes["rgb"][order].astype(np.int64) / 257
                  - eight.attributes["rgb"][order]).mean() < 1.5


def test_damaged_payloads_are_refused():
    keys, rgb = voxels()
    rate = transform_coding.Rate(16, 48)
    payload, _ = transform_coding.encode(keys, 7, colour_coding.ycocg_r(rgb), 8, rate, default_coder())
    with pytest.raises(BitstreamError):
        transform_coding.decode(keys, 7, 8, rate, b"\xff\xff\xff\xff\x7f" + payload[3:], default_coder())
    with pytest.raises(BitstreamError):
        transform_coding.decode(keys, 7, 8, rate, payload[:2], default_coder())
    filtered = transform_coding.Rate(16, 48, post_filter=True)
    payload, _ = transform_coding.encode(keys, 7, colour_coding.ycocg_r(rgb), 8, filtered, default_coder())
    _, start = varint.decode(payload, 3)
    for bad in (payload[:start + 4], payload[:start] + b"\xff" * 9 + b"\x01" + payload[start + 1:]):
        with pytest.raises(BitstreamError):
            transform_coding.decode(keys, 7, 8, filtered, bad, default_coder())


def test_steps_must_be_sixteenths():
    with pytest.raises(ValueError, match="multiple"):
        transform_coding.Rate(0.01, 3).fixed_steps(8)


def test_quality_sets_geometry_and_colour_rates_together():
    cloud = coloured_shell()
    qualities = catalogue.card("colour-v5").settings["qualities"]
    sizes = []
    for quality in (1, len(qualities)):
        data = omnicodec.compress(cloud, quality=quality)
        header, decoded = api.decode(data)
        rate, colour_rate = qualities[quality - 1]
        assert header.model_id == "colour-v5" and decoded.details["colour"].endswith(f"colour rate {colour_rate}")
        assert decoded.details["geometry model"] == (f"lossy-v2-r{rate}" if rate else "occupancy-v2")
        sizes.append(len(data))
    assert sizes[0] < sizes[1]


@pytest.mark.parametrize("options, message", [
    ({"quality": 1, "rate": 3}, "not both"),
    ({"quality": 1, "colour_rate": 3}, "not both"),
    ({"quality": 0}, "out of range"),
    ({"quality": 99}, "out of range"),
    ({"quality": "x"}, "out of range"),
    ({"quality": 2.5}, "out of range"),
])
def test_bad_quality(options, message):
    with pytest.raises(InputError, match=message):
        omnicodec.compress(coloured_shell(count=500), **options)


def test_quality_needs_colour():
    with pytest.raises(InputError, match="coloured point cloud"):
        omnicodec.compress(coloured_shell(count=500).positions, quality=2)


def test_cli_quality(tmp_path, capsys):
    from omnicodec.cli.main import main
    from omnicodec.io import write_ply

    cloud = coloured_shell(count=800)
    source = tmp_path / "c.ply"
    write_ply(str(source), cloud.positions, attributes=cloud.attributes)
    assert main(["compress", str(source), "-o", str(tmp_path / "c.ocz"), "--quality", "3", "-q"]) == 0
    assert omnicodec.decompress((tmp_path / "c.ocz").read_bytes()).attributes["rgb"].shape[1] == 3
    capsys.readouterr()
    assert main(["compress", str(source), "-o", str(tmp_path / "d.ocz"), "--quality", "3", "--rate", "2"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not both" in error and not (tmp_path / "d.ocz").exists()


def test_quality_holds_for_every_frame_of_a_sequence():
    clouds = [coloured_shell(count=600, seed=seed) for seed in range(3)]
    sequence = api.Sequence(api.compress_sequence(clouds, quality=2))
    rate, colour_rate = catalogue.card("colour-v5").settings["qualities"][1]
    frames = list(sequence.decode())
    assert len(frames) == len(clouds)
    for _, header, decoded in frames:
        assert decoded.details["colour"].endswith(f"colour rate {colour_rate}")
        assert decoded.details["geometry model"] == (f"lossy-v2-r{rate}" if rate else "occupancy-v2")


def test_quality_and_target_bits_are_refused_together(tmp_path):
    from omnicodec.io import write_ply

    cloud = coloured_shell(count=500)
    source = tmp_path / "c.ply"
    write_ply(str(source), cloud.positions, attributes=cloud.attributes)
    with pytest.raises(InputError, match="not several"):
        api.compress_file(str(source), str(tmp_path / "c.ocz"), target_bpp=2.0, quality=3)


def test_post_filter_rings_are_the_integer_neighbour_means():
    keys, rgb = voxels(count=3000, bits=5)
    values = colour_coding.ycocg_r(rgb) << raht.FRACTION_BITS
    table = raht.Tree(keys, 5).neighbours(0)
    differences = post_filter.ring_differences(table, values)
    for ring, columns in enumerate(post_filter.RINGS):
        rows = table[:, columns]
        count = (rows >= 0).sum(axis=1)
        total = np.where((rows >= 0)[..., None], values[np.maximum(rows, 0)], 0).sum(axis=1)
        exact = ((total - count[:, None] * values) << post_filter.MEAN_BITS) / np.maximum(count, 1)[:, None]
        assert np.all(np.abs(differences[ring] - exact) <= np.abs(exact) / 100 + 1)  # reciprocals of 16 bits
        assert not differences[ring][count == 0].any()


def test_post_filter_lowers_the_error_or_stays_off():
    """Noise on a smooth solid block: the fitted filter removes much of it; on the clean
    block there is nothing to remove and every channel stays off."""
    keys = morton.unique_keys(morton.encode(np.stack(np.meshgrid(*[np.arange(16)] * 3), -1).reshape(-1, 3), 4))
    coords = morton.decode(keys, 4)
    smooth = colour_coding.ycocg_r(coords * 12 + 20) << raht.FRACTION_BITS
    noisy = smooth + np.random.default_rng(6).integers(-64, 65, smooth.shape)
    table = raht.Tree(keys, 4).neighbours(0)
    differences = post_filter.ring_differences(table, noisy)
    weights, filtered = post_filter.fit(noisy, smooth, differences, raht.FRACTION_BITS)
    assert weights.any() and np.abs(weights).max() <= 1 << post_filter.WEIGHT_BITS
    assert np.array_equal(filtered, post_filter.apply(noisy, differences, weights))
    assert ((filtered - smooth) ** 2).sum() < 0.5 * ((noisy - smooth) ** 2).sum()
    # noise in Y alone: the filter is on for Y and off for Co and Cg, which it would blur
    luma_noisy = smooth.copy()
    luma_noisy[:, 0] = noisy[:, 0]
    differences = post_filter.ring_differences(table, luma_noisy)
    weights, filtered = post_filter.fit(luma_noisy, smooth, differences, raht.FRACTION_BITS)
    assert weights[:, 0].any() and not weights[:, 1:].any()
    assert np.array_equal(filtered, post_filter.apply(luma_noisy, differences, weights))


def test_post_filter_refuses_corrupted_weights_and_clips_crafted_values():
    for bad in ([0] * 8 + [65], [-(1 << 63)] + [0] * 8, [1 << 69] + [0] * 8):
        with pytest.raises(BitstreamError):
            post_filter.checked(bad, 3)
    keys, rgb = voxels(count=3000, bits=5)
    table = raht.Tree(keys, 5).neighbours(0)
    huge = np.full((len(keys), 3), 1 << 50, dtype=np.int64)
    clipped = np.full((len(keys), 3), post_filter.VALUE_LIMIT, dtype=np.int64)
    for got, expected in zip(post_filter.ring_differences(table, huge), post_filter.ring_differences(table, clipped)):
        assert np.array_equal(got, expected) and not got.any()
    with pytest.raises(BitstreamError):
        post_filter.checked([0] * 8 + [65], 3)
