"""The light-field codec by view synthesis (lightfield-v3 by default, in integers, and the
float lightfield-v2 it supersedes): disparity estimation and warping, the view coder's
transform and entropy model, round trips of grids of every shape, black and flat views,
disparities beyond the search, 16-bit samples, corrupted headers; the integer walk
against the float one and its kernels against their references."""

from decimal import Decimal

import numpy as np
import pytest
import torch

import omnicodec
from omnicodec import api, bitstream, fixedpoint, zoo
from omnicodec.entropy import binary_frequencies, binary_reader, binary_writer
from omnicodec.errors import BitstreamError
from omnicodec.io.lightfield import LightField, Naming
from omnicodec.lightfield import disparity, synthesis, synthesis_integer, view_coding
from omnicodec.zoo import codec_id
from tests.conftest import textured_views

TOP = len(synthesis.RATE_STEPS)  # the rate of most bits


def _shifted_views(rows, cols, shift, height=48, width=64, seed=1):
    """A smooth texture seen by a grid of cameras: a scene point moves ``shift`` pixels per
    camera step (bilinear resampling of one texture)."""
    rng = np.random.default_rng(seed)
    texture = torch.from_numpy(rng.random((3, height + 80, width + 80), dtype=np.float32))
    texture = torch.nn.functional.avg_pool2d(texture[None], 5, 1, 2)[0]
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32) + 40,
                          torch.arange(width, dtype=torch.float32) + 40, indexing="ij")
    cu, cv = rows // 2, cols // 2
    views = np.empty((rows, cols, height, width, 3), dtype=np.uint8)
    for u in range(rows):
        for v in range(cols):
            view = disparity.sample(texture, y - (u - cu) * shift, x - (v - cv) * shift, mode="bilinear")
            views[u, v] = np.round(view.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return views


def _quality(reference, decoded):
    error = reference.astype(np.float64) - decoded
    return 10 * np.log10(255.0**2 / max((error**2).mean(), 1e-9))


def test_plane_sweep_finds_the_disparity_and_warping_rebuilds_the_views():
    views = torch.from_numpy(_shifted_views(5, 5, 1.3).astype(np.float32))
    estimate = disparity.estimate(disparity.luma(views), np.ones((5, 5), bool), (2, 2), torch.arange(-3, 3.01, 0.25))
    inner = estimate[8:-8, 8:-8]
    assert (inner - 1.3).abs().median() < 0.05
    maps = disparity.splat(torch.full((48, 64), 1.3), (0, 0)), disparity.splat(torch.full((48, 64), 1.3), (1, 2))
    assert torch.allclose(maps[1][5:-5, 5:-5], torch.tensor(1.3))
    warped, visible = disparity.warp(views[2, 2].permute(2, 0, 1), maps[0], maps[1], (1, 2))
    error = (warped.permute(1, 2, 0) - views[3, 4])[8:-8, 8:-8].abs().mean()
    assert error < 2.0 and visible.min() > 0.5


def test_splat_lets_the_nearer_surface_win_and_fills_holes_with_the_background():
    near = torch.zeros(20, 20)
    near[:, 8:12] = 2.0  # a near strip in front of a far wall
    moved = disparity.splat(near, (0, 1))
    assert (moved[:, 10:14] == 2.0).all()  # the strip moved 2 pixels to the right
    assert (moved[:, 8:10] == 0.0).all()  # uncovered wall takes the background's disparity


def test_transform_inverts_and_quantization_has_a_dead_zone():
    planes = torch.rand(3, 21, 30) * 255
    coefficients = view_coding.forward(planes)
    assert coefficients.shape == (3, 3, 4, 64)
    assert torch.allclose(view_coding.inverse(coefficients, 21, 30), planes, atol=1e-3)
    q = view_coding.quantize(torch.tensor([[0.7, 0.8, -1.6, 2.7]]), torch.tensor([1.0]))
    assert q.tolist() == [[0, 1, -1, 2]]


def test_lattice_sends_every_value_once_after_the_neighbours_that_predict_it():
    sent = np.zeros((6, 11), dtype=int)
    passes = view_coding._dc_passes((6, 11))
    assert len(passes[0][0][0]) < 6 * 11 / 4  # the first pass is a coarse lattice
    for (rows, cols), neighbours in passes:
        if neighbours is not None:
            usable = neighbours[0] >= 0
            assert usable.any(axis=1).all()  # every value has a predictor ...
            assert (sent[neighbours[0][usable], neighbours[1][usable]] == 1).all()  # ... already sent
        sent[rows, cols] += 1
    assert (sent == 1).all()


@pytest.mark.parametrize("grid", [(1, 1), (1, 4), (2, 2), (3, 3), (4, 6)])
def test_grids_of_every_shape_round_trip(grid):
    views = textured_views(*grid, height=24, width=40)
    lightfield = LightField(views, Naming("npy"))
    codec, prepared = api.prepare(lightfield, rate=TOP)
    data, encoded = api.encode(codec, prepared, rate=TOP)
    decoded = omnicodec.decompress(data).views
    assert np.array_equal(decoded, encoded.decoded.views)
    assert codec_id(api.info(data).codec) == "lightfield-synthesis"
    assert _quality(views, decoded) > 30


def test_prediction_makes_the_other_views_cheap():
    """Views that are shifted copies of the key view cost a small part of it."""
    views = _shifted_views(5, 5, 1.5)
    whole = len(omnicodec.compress(LightField(views, Naming("npy")), rate=5))
    alone = len(omnicodec.compress(LightField(views[2:3, 2:3], Naming("npy")), rate=5))
    assert whole < 3 * alone  # 25 views for the price of under three


def test_wide_baselines_widen_the_sweep():
    """Disparities beyond the first sweep's range are found by a wider one, so the other
    views are predicted as well as at small disparities."""
    near, far = (LightField(_shifted_views(3, 3, shift, height=96, width=128), Naming("npy"))
                 for shift in (1.5, 1.5 * synthesis.SEARCH))
    luma = disparity.luma(torch.from_numpy(far.views.astype(np.float32)))
    found = synthesis.sweep(luma, np.ones((3, 3), dtype=bool), (1, 1))
    assert float((found[20:-20, 40:-40] - 1.5 * synthesis.SEARCH).abs().median()) < 0.1
    bits = [len(omnicodec.compress(lightfield, rate=5)) for lightfield in (near, far)]
    assert bits[1] < 1.3 * bits[0]


def test_disparity_beyond_the_widest_sweep_is_capped_and_decodes_faithfully():
    far = _shifted_views(3, 3, 1.5 * synthesis.MAX_SEARCH, height=48, width=64)
    luma = disparity.luma(torch.from_numpy(far.astype(np.float32)))
    assert float(synthesis.sweep(luma, np.ones((3, 3), dtype=bool), (1, 1)).abs().max()) <= synthesis.MAX_SEARCH
    codec, prepared = api.prepare(LightField(far, Naming("npy")), rate=TOP)
    data, encoded = api.encode(codec, prepared, rate=TOP)
    assert np.array_equal(omnicodec.decompress(data).views, encoded.decoded.views)


def test_flipped_and_read_only_views_code_as_copies_do():
    views = _shifted_views(3, 3, 1.0)
    flipped = views[::-1, ::-1]
    read_only = np.broadcast_to(views, views.shape)
    expected = omnicodec.compress(LightField(np.ascontiguousarray(flipped), Naming("npy")), rate=3)
    assert omnicodec.compress(LightField(flipped, Naming("npy")), rate=3) == expected
    assert omnicodec.compress(LightField(read_only, Naming("npy")), rate=3) == \
        omnicodec.compress(LightField(views.copy(), Naming("npy")), rate=3)


def test_flat_views_cost_little_and_decode_flat():
    views = np.full((5, 5, 64, 64, 3), (40, 120, 200), dtype=np.uint8)
    data = omnicodec.compress(LightField(views, Naming("npy")), rate=6)
    assert len(data) < 400  # 0.03 bits per pixel
    assert np.abs(omnicodec.decompress(data).views.astype(int) - views).max() <= 1


def test_black_views_are_skipped_and_stay_black():
    views = textured_views(5, 5, height=32, width=32)
    views[0, 0] = views[4, 4] = views[0, 4] = 0
    views[2, 2] = 0  # the centre too: the key view moves to a present one
    full = omnicodec.compress(LightField(textured_views(5, 5, height=32, width=32), Naming("npy")), rate=3)
    data = omnicodec.compress(LightField(views, Naming("npy")), rate=3)
    decoded = omnicodec.decompress(data).views
    assert not decoded[0, 0].any() and not decoded[4, 4].any() and not decoded[2, 2].any()
    assert decoded[1, 1].any() and len(data) <= len(full)
    assert api.describe(api.info(data))["black views"] == 4
    black = omnicodec.compress(LightField(np.zeros_like(views), Naming("npy")), rate=3)
    assert len(black) < 200 and not omnicodec.decompress(black).views.any()


def test_rates_interpolate_steps_and_refuse_out_of_range():
    codec = api.prepare(LightField(textured_views(), Naming("npy")), rate=2.5)[0]
    steps = [codec.step_of(rate) for rate in (1, 2, 2.5, 3)]
    assert steps[0] > steps[1] > steps[2] > steps[3]
    assert steps[2] == pytest.approx((steps[1] * steps[3]) ** 0.5, rel=1e-5)
    with pytest.raises(omnicodec.InputError):
        codec.step_of(len(synthesis.RATE_STEPS) + 1)


def test_level_ratio_falls_with_the_step_exactly():
    knots = [[8.0, 3.0], [2.5, 2.0], [1.4, 1.5]]
    assert synthesis.level_ratio(24.0) == synthesis.level_ratio(1.4) == Decimal("3.0")  # no knots: LEVEL_RATIO
    assert synthesis.level_ratio(64.0, knots) == synthesis.level_ratio(8.0, knots) == Decimal("3.0")
    assert synthesis.level_ratio(2.5, knots) == Decimal("2.0")
    assert synthesis.level_ratio(1.0, knots) == synthesis.level_ratio(1.4, knots) == Decimal("1.5")
    assert synthesis.level_ratio(5.25, knots) == Decimal("2.5")  # halfway between two knots
    ratios = [synthesis.level_ratio(step, knots) for step in (8.0, 6.0, 4.5, 3.0, 2.0, 1.4)]
    assert ratios == sorted(ratios, reverse=True)


def test_finer_steps_refine_the_views_down_the_hierarchy():
    """lightfield-v4 gives the views of later levels finer steps than lightfield-v3 at its
    fine rates (more bits, better views), and decodes as lightfield-v3 at its coarse ones."""
    lightfield = LightField(_shifted_views(5, 5, 1.3), Naming("npy"))
    for rate in (2, TOP):
        (old_bytes, old), (new_bytes, new) = [
            (len(data), omnicodec.decompress(data).views)
            for data in (omnicodec.compress(lightfield, model=model, rate=rate)
                         for model in ("lightfield-v3", "lightfield-v4"))]
        if rate == 2:
            assert np.array_equal(old, new) and old_bytes == new_bytes
        else:
            assert new_bytes > old_bytes and _quality(lightfield.views, new) > _quality(lightfield.views, old) + 1


def test_compact_levels_count_from_the_first_level_with_views():
    key = (2, 2)
    five = synthesis.coding_order(np.ones((5, 5), dtype=bool), key)
    compact = synthesis.coding_order(np.ones((5, 5), dtype=bool), key, compact=True)
    assert {level for _, level in five} == {1, 2} and [view for view, _ in compact] == [view for view, _ in five]
    assert [level for _, level in compact] == [level - 1 for _, level in five]
    nine = np.ones((9, 9), dtype=bool)
    assert synthesis.coding_order(nine, (4, 4), compact=True) == synthesis.coding_order(nine, (4, 4))


def test_compact_levels_refine_a_five_by_five_grid_and_leave_nine_by_nine_alone():
    """lightfield-v5 codes a 9x9 grid as lightfield-v4 did (the same sections); on a 5x5
    grid its nearest views take the first level's step, so they cost more and come closer."""
    nine = LightField(_shifted_views(9, 9, 1.3), Naming("npy"))
    sections = [bitstream.unpack(omnicodec.compress(nine, model=model, rate=3))[1]
                for model in ("lightfield-v4", "lightfield-v5")]
    assert sections[0] == sections[1]
    five = LightField(_shifted_views(5, 5, 1.3), Naming("npy"))
    (old_bytes, old), (new_bytes, new) = [
        (len(data), omnicodec.decompress(data).views)
        for data in (omnicodec.compress(five, model=model, rate=5) for model in ("lightfield-v4", "lightfield-v5"))]
    assert new_bytes > old_bytes and _quality(five.views, new) > _quality(five.views, old)


def test_corrupted_header_is_refused():
    data = omnicodec.compress(LightField(textured_views(), Naming("npy")), rate=2)
    header = api.info(data)
    codec_class = synthesis.SynthesisLightFieldCodec
    layout, naming = codec_class._fields(header.codec_header)
    good = codec_class._header(layout, naming)
    for bad in (good[:10], good[:-1], good + b"x", good[:16] + b"\x07" + good[17:]):
        with pytest.raises(BitstreamError):
            codec_class._fields(bad)


# lightfield-v3: the same walk in integers.


@pytest.mark.parametrize("rate", [2, 6])
def test_integer_model_follows_the_float_one_and_decodes(rate):
    lightfield = LightField(_shifted_views(5, 5, 1.3), Naming("npy"))
    results = {}
    for model in ("lightfield-v2", "lightfield-v3"):
        codec, prepared = api.prepare(lightfield, model=model, rate=rate)
        data, encoded = api.encode(codec, prepared, rate=rate)
        decoded = omnicodec.decompress(data).views
        assert np.array_equal(decoded, encoded.decoded.views)
        results[model] = len(data), _quality(lightfield.views, decoded)
    (float_bytes, float_db), (integer_bytes, integer_db) = results.values()
    assert integer_bytes <= float_bytes * 1.03 and integer_db >= float_db - 0.1


def test_integer_light_fields_of_16_bit_samples_round_trip():
    views = textured_views(3, 3, height=24, width=40).astype(np.uint16) * 257 + 3
    codec, prepared = api.prepare(LightField(views, Naming("npy")), model="lightfield-v3", rate=TOP)
    data, encoded = api.encode(codec, prepared, rate=TOP)
    decoded = omnicodec.decompress(data).views
    assert decoded.dtype == np.uint16 and np.array_equal(decoded, encoded.decoded.views)
    error = decoded.astype(np.float64) - views
    assert 10 * np.log10(65535.0 ** 2 / (error ** 2).mean()) > 30


@pytest.mark.parametrize("model_id", ["lightfield-v2", "lightfield-v3"])
def test_entropy_models_read_back_what_they_wrote(model_id):
    model = zoo.load(model_id)
    rng = np.random.default_rng(0)
    for kind in view_coding.KINDS:
        q = torch.from_numpy(np.round(rng.laplace(0, 2, (3, 5, 7, 64)) * (rng.random((3, 5, 7, 64)) < 0.3)))
        q = q.to(torch.int64)
        q[..., 0] += 40
        feature = torch.from_numpy(rng.integers(0, view_coding.FEATURES, (3, 5, 7)))
        writer = binary_writer("rans")
        model.code(q.clone(), kind, feature, writer=writer)
        reader = binary_reader("rans", writer.finish())
        assert torch.equal(model.code(None, kind, feature, reader=reader), q)
        reader.finish()


def test_integer_tables_are_the_float_ones_rounded():
    float_model, integer_model = zoo.load("lightfield-v2"), zoo.load("lightfield-v3")
    assert integer_model.integer and not float_model.integer
    scales = torch.exp2(integer_model.scale_indices / 16) / torch.exp(float_model.log_scales)
    assert (scales - 1).abs().max() < 2 ** (1 / 32) - 1 + 1e-6  # half an index step
    assert torch.equal(integer_model.flag_table,
                       binary_frequencies(torch.sigmoid(float_model.coded_logits)))


def test_context_bins_are_the_logarithms_they_stand_for():
    low = torch.arange(0, 5000)
    # 1.5 log2 of (1 + own + the neighbours' mean), as 4 x the sum
    around = torch.arange(0, 5000).flip(0)
    exact = torch.floor(1.5 * torch.log2(1 + low + around.double() / 4)).clamp(0, view_coding.CONTEXTS - 2)
    assert torch.equal((fixedpoint.log2_bins(4 + 4 * low + around, 3, 2, view_coding.CONTEXTS + 1) - 3).clamp(min=0),
                       exact.long())
    values = torch.arange(1, 100000)
    for numerator, denominator, top in ((3, 2, 9), (2, 1, 7)):
        exact = torch.floor(numerator / denominator * torch.log2(values.double())).clamp(0, top).long()
        assert torch.equal(fixedpoint.log2_bins(values, numerator, denominator, top), exact)


def test_integer_transform_and_colour_matrix_follow_the_float_ones():
    rng = np.random.default_rng(0)
    q = torch.from_numpy(np.round(rng.laplace(0, 3, (3, 3, 4, 64)) * (rng.random((3, 3, 4, 64)) < 0.4))).long()
    chroma = Decimal(repr(synthesis.CHROMA_RATIO))
    steps = synthesis_integer.fixed_steps(np.float32(6.3), 8, (1, chroma, chroma))  # a key view's
    planes = synthesis_integer.inverse(q, steps, 21, 30)
    reference = view_coding.inverse(view_coding.dequantize(q, synthesis_integer.float_steps(steps).float()), 21, 30)
    assert (planes - reference).abs().max() <= 2  # fine units (1/16 sample): three roundings
    rgb = synthesis_integer.to_rgb(planes)
    assert (rgb - view_coding.to_rgb(planes.permute(1, 2, 0).float())).abs().max() <= 1
    assert torch.equal(synthesis_integer.inverse(torch.zeros_like(q), steps, 21, 30), torch.zeros(3, 21, 30).long())


def test_integer_disparity_maps_and_warps_follow_the_float_ones():
    cells = torch.tensor([[16, 24, -8], [40, 0, 20], [12, 12, 64]])
    grown = synthesis_integer.full_map(cells, 8, (20, 22))
    assert (grown / 256 - synthesis.full_map(cells, 8, (20, 22))).abs().max() <= 1 / 512
    near = torch.zeros(20, 20, dtype=torch.int64)
    near[:, 8:12] = 2 << synthesis_integer.POSITION_BITS
    moved = synthesis_integer.splat(near, (0, 1))
    assert (moved[:, 10:14] == near[0, 8]).all() and (moved[:, 8:10] == 0).all()
    views = torch.from_numpy(_shifted_views(3, 3, 1.25).astype(np.int64)) << synthesis_integer.FINE_BITS
    disparity_map = torch.full((48, 64), round(1.25 * 256))
    warped, visible = synthesis_integer.warp(views[1, 1].permute(2, 0, 1), disparity_map, disparity_map, (1, 1))
    target = views[2, 2].permute(2, 0, 1)
    assert (warped - target)[:, 8:-8, 8:-8].abs().float().mean() < 2 * 16
    float_map = torch.full((48, 64), 1.25)
    float_warped, _ = disparity.warp((views[1, 1] >> synthesis_integer.FINE_BITS).float().permute(2, 0, 1),
                                     float_map, float_map, (1, 1))
    # the same samples to a tenth of a sample, away from the top and left edges the warp
    # reads beyond (there the integer warp clamps positions, grid_sample its taps)
    assert (warped / 16 - float_warped).abs()[:, 4:, 4:].max() < 0.1
    assert (visible == (1 << synthesis_integer.VISIBILITY_BITS) + 1).all()


def test_integer_prediction_kernel_computes_its_reference():
    generator = torch.Generator().manual_seed(0)
    for height, width in ((1, 1), (7, 3), (33, 41)):
        views = {(u, v): torch.randint(-5000, 1 << 20, (height, width, 3), generator=generator, dtype=torch.int32)
                 for u, v in ((0, 0), (0, 4), (4, 4), (2, 1))}
        maps = {view: torch.randint(-6 << 8, 6 << 8, (height, width), generator=generator, dtype=torch.int32)
                for view in (*views, (2, 2))}
        for references in ([(0, 0)], [(0, 4), (4, 4)], list(views)):
            native = synthesis_integer.predict((2, 2), references, views, maps)
            with fixedpoint.implementation("reference"):
                reference = synthesis_integer.predict((2, 2), references, views, maps)
            assert all(torch.equal(a, b) for a, b in zip(native, reference))


@pytest.mark.parametrize("model", ["lightfield-v3", "lightfield-v6"])
def test_integer_walk_is_the_same_from_every_implementation(model):
    lightfield = LightField(textured_views(3, 3, height=24, width=40), Naming("npy"))
    data = omnicodec.compress(lightfield, model=model, rate=4)
    with fixedpoint.implementation("reference"):
        assert omnicodec.compress(lightfield, model=model, rate=4) == data
    encoded = api.encode(*api.prepare(lightfield, model=model, rate=4), rate=4)[1]
    assert np.array_equal(omnicodec.decompress(data).views, encoded.decoded.views)


# lightfield-v6: scale offsets, rate-distortion quantization, tiles.


def _laplace_integers(scale, seed=0, shape=(3, 5, 7, 64)):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.round(rng.laplace(0, scale, shape) * (rng.random(shape) < 0.5))).to(torch.int64)


def test_scale_offsets_follow_the_integers_and_read_back():
    model = zoo.load("lightfield-v6")
    q, feature = _laplace_integers(6.0), torch.zeros((3, 5, 7), dtype=torch.int64)
    previous = torch.zeros((view_coding.PLANES, view_coding.BANDS), dtype=torch.int64)
    offsets = view_coding.choose_scale_offsets(model, q, "residual", feature, previous)
    assert (offsets[0, 1:] > 0).all()  # wider integers than the tables expect: wider logistics

    def written(offsets):
        writer = binary_writer("rans")
        view_coding.code_scale_offsets(offsets, previous, writer=writer)
        model.code(q.clone(), "residual", feature, writer=writer, offsets=offsets)
        return writer.finish()

    data = written(offsets)
    assert len(data) < 0.9 * len(written(previous))
    reader = binary_reader("rans", data)
    read = view_coding.code_scale_offsets(None, previous, reader=reader)
    assert torch.equal(read, offsets)
    assert torch.equal(model.code(None, "residual", feature, reader=reader, offsets=read), q)
    reader.finish()
    # integers the tables expect keep the last view's offsets: one flag
    assert torch.equal(view_coding.choose_scale_offsets(model, q, "residual", feature, offsets), offsets)


def test_rate_distortion_quantization_trades_error_for_bits():
    model = zoo.load("lightfield-v6")
    coefficients = _laplace_integers(3.0, seed=1).to(torch.float32) * 1.13 + 0.37  # no ties at halves
    steps, feature = torch.tensor([2.0, 3.6, 3.6]), torch.zeros((3, 5, 7), dtype=torch.int64)
    rounded = view_coding.quantize(coefficients, steps, dead_zone=0.0)
    chosen, block_bits = view_coding.rd_quantize(model, coefficients, steps, feature, "residual", 0.2)
    # each integer is the rounded one, one less, or zero, and keeps its sign
    assert ((chosen == rounded) | (chosen == rounded - rounded.sign()) | (chosen == 0)).all()

    def bits_and_error(q):
        writer = binary_writer("rans")
        model.code(q.clone(), "residual", feature, writer=writer)
        error = ((coefficients - view_coding.dequantize(q, steps)) / steps.reshape(-1, 1, 1, 1)) ** 2
        return 8 * len(writer.finish()), float(error.sum())

    counter = view_coding._BlockBits(model, (chosen != 0).any(dim=-1))  # what drop_unworthy_blocks would count
    model.code(chosen.clone(), "residual", feature, collect=counter)
    assert torch.allclose(block_bits[counter.coded], counter.bits.float()[counter.coded], rtol=1e-4)
    (rd_bits, rd_error), (plain_bits, plain_error) = bits_and_error(chosen), bits_and_error(rounded)
    assert rd_bits < plain_bits and rd_error > plain_error
    assert rd_error + 0.2 * rd_bits < plain_error + 0.2 * plain_bits
    assert torch.equal(view_coding.rd_quantize(model, coefficients, steps, feature, "residual", 1e-9)[0], rounded)


def test_tiles_cover_the_view_row_by_row():
    assert synthesis.tiles(40, 56, 0) == [(0, 40, 0, 56)]
    assert synthesis.tiles(40, 56, 32) == [(0, 32, 0, 32), (0, 32, 32, 56), (32, 40, 0, 32), (32, 40, 32, 56)]
    assert synthesis.tiles(383, 552, 512) == [(0, 383, 0, 552)]  # no more pixels than a tile: one
    assert synthesis.tiles(520, 1100, 512) == [(top, bottom, left, right) for top, bottom in ((0, 272), (272, 520))
                                               for left, right in ((0, 368), (368, 736), (736, 1100))]


@pytest.mark.parametrize("engine", ["rans", "torchac"])
def test_tiled_light_fields_decode_exactly(engine):
    """Views of more pixels than lightfield-v6's tile are coded tile by tile (here tiles of
    32 pixels, so a 48 x 64 view holds four)."""
    import dataclasses

    lightfield = LightField(_shifted_views(5, 5, 1.3), Naming("npy"))
    assert len(synthesis.tiles(48, 64, 32)) == 4
    card = zoo.resolve("lightfield", "lightfield-v6")
    results = []
    for tile in (0, 32):
        codec = synthesis.SynthesisLightFieldCodec(dataclasses.replace(card, settings={**card.settings, "tile": tile}),
                                                   engine)
        encoded = codec.encode(lightfield, rate=6)
        decoded = codec.decode(encoded.header, encoded.sections)
        assert np.array_equal(decoded.data.views, encoded.decoded.views) and decoded.checksum == encoded.checksum
        results.append((sum(map(len, encoded.sections)), _quality(lightfield.views, decoded.data.views)))
    (whole_bytes, whole_db), (tiled_bytes, tiled_db) = results
    assert tiled_bytes != whole_bytes and tiled_db > whole_db - 2.0  # tiles this small lose at their edges
