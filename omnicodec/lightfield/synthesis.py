"""Light-field codec by view synthesis: a key view, its disparity, and what warping misses.

The views of a light field are one scene seen from a grid of cameras; a scene point moves
across the views by its disparity times the camera offset. So:

1. The key view (the centre of the grid) is coded on its own (:mod:`view_coding`, kind
   "key").
2. Its disparity map, estimated at the encoder by a plane sweep (``lightfield.disparity``),
   is sent as a coarse grid of cells (median of each cell, in 1/16 pixel), coarse to fine
   as the key view's DC is; the decoder interpolates it and splats it to every view.
3. Every other view, in hierarchical order (views 4 grid steps from the key view, then 2,
   then 1: each one predicted from the nearest views already decoded), is predicted by
   warping those views by disparity and blending them by distance and visibility, and
   only the residual is coded (kind "residual"), with a step that grows by LEVEL_RATIO
   per level (later views serve as references for fewer views). The spread of the blended
   warps tells the entropy model where the residual is likely large.

Views that are exactly black (a Lytro's vignetted corners, absent views) are flagged and
cost nothing. A rate is a quantization step (fractional rates interpolate it
geometrically). The encoder runs the decoder's own path, so the stream's checksum covers
the views exactly as the decoder rebuilds them.

Header: U, V, H, W (u32), bits per sample (u8), key view (u16 x 2), luma step (f32),
disparity cell (u8), disparity scale exponent (i16), black-view mask, naming (varint
length + JSON). Sections: disparity, key view, residuals.
"""

import dataclasses
import decimal
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

from omnicodec import bitstream, catalogue, fixedpoint
from omnicodec.codec import Codec, Decoded, Encoded
from omnicodec.entropy import binary_reader, binary_writer, logistic
from omnicodec.errors import BitstreamError, InputError
from omnicodec.io.lightfield import LightField, Naming
from omnicodec.lightfield import disparity, synthesis_integer, view_coding
from omnicodec.lightfield.view_coding import LIMIT, TAIL, IntegerViewEntropyModel, ViewEntropyModel

SEARCH = 4.0  # disparities swept first: -SEARCH .. SEARCH pixels per camera step ...
SEARCH_STEP = 0.25  # ... in these steps (refined to a fraction of them)
# A sweep that leaves more than WIDEN_SHARE of the key view's pixels at its ends (the scene's
# disparities reach beyond it: wide baselines) is done again over twice the range in twice
# the steps, up to MAX_SEARCH. HCI antinous (9x9) leaves 1% there; its views two grid steps
# apart, 33%, and widening takes 46% off their bits.
WIDEN_SHARE = 0.05
MAX_SEARCH = 32.0
DISPARITY_UNIT = 1 << disparity.SENT_BITS  # disparities are sent in 1/16 pixel
CHROMA_RATIO = 1.8  # Cb and Cr steps / Y step (PSNR-YUV weighs Y six times each)
LEVEL_RATIO = 3.0  # step of a view of level L: luma step x LEVEL_RATIO^(L + 1)
LEVEL_SPACINGS = (4, 2, 1)  # grid steps between the views of each level
# Luma steps of the rates, fewest bits first; rates between interpolate them geometrically.
RATE_STEPS = (64.0, 40.0, 24.0, 14.0, 8.0, 4.5, 2.5, 1.4)
# A residual block is sent only if it lowers the squared error by RD_SLOPE x its plane's
# step^2 per bit (chosen on cotton: BD-rate against x265 -35.2% without, -35.5% at 0.12,
# -35.9% at 0.2, -36.0% at 0.3).
RD_SLOPE = 0.2
# lightfield-v6's encoder quantizes for rate and distortion (view_coding.rd_quantize): an
# integer's bits cost RDOQ_SLOPE step^2 each. Chosen on the development light fields
# (datasets.lightfields --derive; BD-rate against x265, with scale offsets): Lytro 2067's
# centre 5x5 -5.7% without, -3.9% at 0.05, -10.0% at 0.1, -13.1% at 0.2; a rendered noisy
# one -24.7%, -15.4%, -23.1%, -27.8%, and -27.7% at 0.3, -25.6% at 0.45.
RDOQ_SLOPE = 0.2
COARSE_STEP = 24.0  # at this luma step and coarser, disparity cells are 16 pixels, else 8
SWEEP_MARGIN = 32  # pixels around a tile that its disparity sweep also sees


def key_view(present):
    """The key view: the present view nearest the grid's centre."""
    rows, cols = present.shape
    centre = ((rows - 1) / 2, (cols - 1) / 2)
    candidates = [(u, v) for u in range(rows) for v in range(cols) if present[u, v]]
    return min(candidates, key=lambda t: ((t[0] - centre[0]) ** 2 + (t[1] - centre[1]) ** 2, t))


def coding_order(present, key, compact=False):
    """The present views other than the key view, by level: [(view, level)]. ``compact``
    numbers the levels from the first one that has views (a 5x5 grid has none at spacing
    4, so its nearest views would otherwise take the step of a second level)."""
    rows, cols = present.shape
    order, seen = [], {key}
    for level, spacing in enumerate(LEVEL_SPACINGS):
        for u in range(rows):
            for v in range(cols):
                if present[u, v] and (u, v) not in seen and (u - key[0]) % spacing == 0 and (
                        v - key[1]) % spacing == 0:
                    order.append(((u, v), level))
                    seen.add((u, v))
    first = min((level for _, level in order), default=0) if compact else 0
    return [(view, level - first) for view, level in order]


def reference_views(target, decoded):
    """The decoded views a view is predicted from: the nearest, and up to three more no
    more than sqrt(2) times as far."""
    def distance(s):
        return (s[0] - target[0]) ** 2 + (s[1] - target[1]) ** 2

    ranked = sorted(decoded, key=lambda s: (distance(s), s))
    return [s for s in ranked if distance(s) <= 2 * distance(ranked[0])][:4]


def predict(target, references, decoded, maps):
    """(3, H, W) prediction of a view from decoded (H, W, 3) views by warping and blending,
    and (H, W) its uncertainty: the blend's spread plus its local gradient."""
    total, weights, warps = 0.0, 0.0, []
    for source in references:
        offset = (target[0] - source[0], target[1] - source[1])
        warped, visible = disparity.warp(decoded[source].permute(2, 0, 1), maps[source], maps[target], offset)
        weight = visible / (offset[0] ** 2 + offset[1] ** 2)
        total, weights = total + warped * weight, weights + weight
        warps.append((warped, weight))
    prediction = total / weights
    spread = sum(weight * (warped - prediction).pow(2).mean(dim=0) for warped, weight in warps) / weights
    gy, gx = torch.gradient(prediction.mean(dim=0))
    return prediction, (spread + 0.25 * (gy ** 2 + gx ** 2)).sqrt()


def cell_grid(disparity_map, cell):
    """(H, W) disparities -> (H', W') medians of cell x cell pixels, in DISPARITY_UNITs."""
    height, width = disparity_map.shape
    padded = F.pad(disparity_map[None, None], (0, -width % cell, 0, -height % cell), mode="replicate")[0, 0]
    rows, cols = padded.shape[0] // cell, padded.shape[1] // cell
    cells = padded.reshape(rows, cell, cols, cell).permute(0, 2, 1, 3).reshape(rows, cols, -1)
    return torch.round(cells.median(dim=-1).values * DISPARITY_UNIT).to(torch.int64)


def full_map(cells, cell, shape):
    """Inverse of :func:`cell_grid` up to its loss: bilinear interpolation to (H, W) pixels."""
    grown = F.interpolate((cells.to(torch.float32) / DISPARITY_UNIT)[None, None], scale_factor=cell,
                          mode="bilinear", align_corners=False)[0, 0]
    return grown[:shape[0], :shape[1]]


def code_disparity(model, cells, exponent, writer=None, reader=None, shape=None):
    """The disparity cells, coarse to fine as a key view's DC (view_coding.code_lattice),
    every difference under one logistic of scale 2^(exponent / 4) in ``model``'s
    arithmetic."""
    def values(truth, context, feature):
        scales = model.disparity_scales(exponent, context.numel())
        return view_coding.code_zero_centred(truth, scales, writer, reader).reshape(context.shape)

    grid = torch.zeros((1, *shape), dtype=torch.int64) if cells is None else cells[None]
    return view_coding.code_lattice(grid, values, reader is not None)[0]


def best_disparity_exponent(cells):
    """The scale exponent under which the cells' differences cost the fewest bits."""
    differences = []

    def collect(truth, context, feature):
        differences.append(truth.reshape(-1))
        return truth

    view_coding.code_lattice(cells[None], collect, False)
    return logistic.best_scale_exponent(torch.cat(differences), 0.0, range(-16, 40), 4, -LIMIT, LIMIT, TAIL)


@dataclasses.dataclass
class Layout:
    """What the header fixes: shape, sample bits, key view, luma step, disparity cell and
    scale exponent, which views are present; and what the model makes of them:
    ``level_ratio``, the factor a view's step grows by per level (exact), and
    ``compact_levels``, whether levels count from the first one with views
    (:func:`coding_order`); ``scale_offsets``, whether views send scale offsets
    (view_coding.code_scale_offsets); ``rd_quantize``, whether the encoder quantizes for
    rate and distortion (the decoder does not care); ``tile``, the side of the tiles views
    are coded in (:func:`tiles`; 0: whole views)."""

    shape: tuple
    sample_bits: int
    key: tuple
    step: float
    cell: int
    exponent: int
    present: np.ndarray
    level_ratio: decimal.Decimal = decimal.Decimal(repr(LEVEL_RATIO))
    compact_levels: bool = False
    scale_offsets: bool = False
    rd_quantize: bool = False
    tile: int = 0

    @property
    def peak(self):
        return float((1 << self.sample_bits) - 1)

    @property
    def dtype(self):
        return np.uint8 if self.sample_bits == 8 else np.uint16

    def steps(self, level=None):
        """Y, Cb, Cr steps of the key view (level None) or of a view of ``level``."""
        step = self.step * (1.0 if level is None else float(self.level_ratio) ** (level + 1))
        return torch.tensor([step, step * CHROMA_RATIO, step * CHROMA_RATIO])

    def step_ratios(self, level=None):
        """:meth:`steps` / the luma step, as exact Decimals (integer decoders)."""
        context = fixedpoint.CONTEXT  # not the caller's decimal context: the same digits everywhere
        ratio = decimal.Decimal(1) if level is None else context.power(self.level_ratio, level + 1)
        chroma = context.multiply(ratio, decimal.Decimal(repr(CHROMA_RATIO)))
        return ratio, chroma, chroma


def level_ratio(step, knots=()):
    """The factor a view's step grows by per level at luma ``step``, exactly: LEVEL_RATIO,
    or with ``knots`` ((step, ratio) pairs, steps falling), linear in the step between
    them and the nearest one's beyond them. Coarse steps want a large ratio (views far
    down the hierarchy are predicted well and serve few others); fine steps a smaller one,
    or those views stay coarse while the rate climbs (lightfield-v4)."""
    if not knots:
        return decimal.Decimal(repr(LEVEL_RATIO))
    step = decimal.Decimal(repr(float(step)))
    points = [(decimal.Decimal(repr(float(s))), decimal.Decimal(repr(float(r)))) for s, r in knots]
    if step >= points[0][0]:
        return points[0][1]
    context = fixedpoint.CONTEXT  # not the caller's decimal context: the same digits everywhere
    for (high, above), (low, below) in zip(points, points[1:]):
        if step >= low:
            fraction = context.divide(context.subtract(step, low), context.subtract(high, low))
            return context.add(below, context.multiply(context.subtract(above, below), fraction))
    return points[-1][1]


def sweep(luma_views, present, key):
    """The key view's disparity map, by plane sweep over -SEARCH .. SEARCH, widened while the
    scene's disparities reach beyond the range (see WIDEN_SHARE). A widened sweep estimates
    every pixel at its coarser steps (the same number of candidates): measured, that costs
    the small disparities less than the large ones gain."""
    search, search_step = SEARCH, SEARCH_STEP
    while True:
        candidates = torch.arange(-search, search + search_step / 2, search_step)
        found = disparity.estimate(luma_views, present, key, candidates)
        if search >= MAX_SEARCH or float((found.abs() >= search).float().mean()) <= WIDEN_SHARE:
            return found
        search, search_step = 2 * search, 2 * search_step


def tiles(height, width, tile):
    """The (top, bottom, left, right) pixel bounds of the tiles a view is coded in, row by
    row: the whole view if it holds no more pixels than a ``tile`` x ``tile`` square (or
    ``tile`` is 0), else as many rows and columns of tiles as sides of ``tile`` pixels
    take, as even as multiples of 16 pixels make them (so that disparity cells and
    transform blocks never straddle two tiles; the last row and column take what is left).
    Tile edges cost bits (the warps see nothing beyond them): a 383 x 552 Lytro view is
    one tile, not one of 512 and a strip of 40."""
    if not tile or height * width <= tile * tile:
        return [(0, height, 0, width)]
    tile_rows, tile_cols = -(-height // tile), -(-width // tile)
    tile_h, tile_w = 16 * -(-height // (16 * tile_rows)), 16 * -(-width // (16 * tile_cols))
    return [(top, min(top + tile_h, height), left, min(left + tile_w, width))
            for top in range(0, height, tile_h) for left in range(0, width, tile_w)]


def analyse(raw, step, tile=0):
    """The encoder's choices for (U, V, H, W, 3) integer views at a luma step: (Layout with
    lightfield-v2's level ratio, which :meth:`SynthesisLightFieldCodec.model_layout` makes the
    model's; the disparity cells). With ``tile``, the disparity is swept tile by tile, each
    with a margin of SWEEP_MARGIN pixels around it, so memory grows with the tile and not
    with the view."""
    sample_bits = 8 * raw.dtype.itemsize
    rows, cols, height, width, _ = raw.shape
    present = raw.reshape(rows, cols, -1).any(axis=-1)
    cell = 16 if step >= COARSE_STEP else 8
    key = key_view(present) if present.any() else (rows // 2, cols // 2)
    cells = torch.zeros((-(-height // cell), -(-width // cell)), dtype=torch.int64)
    if present.sum() > 1:
        margin, scale = SWEEP_MARGIN if tile else 0, 255.0 / ((1 << sample_bits) - 1)
        for top, bottom, left, right in tiles(height, width, tile):
            y0, x0 = max(top - margin, 0), max(left - margin, 0)
            part = raw[:, :, y0:bottom + margin, x0:right + margin]
            # torch shares the caller's array where it can (a flipped or read-only one is copied)
            samples = torch.from_numpy(np.require(part, requirements=["C", "W"]) if raw.dtype == np.uint8
                                       else part.astype(np.int32))
            # one row of views at a time in float: a third of the memory of them all in RGB
            luma = torch.stack([disparity.luma(row.to(torch.float32) * scale) for row in samples])
            found = sweep(luma, present, key)[top - y0:bottom - y0, left - x0:right - x0]
            cells[top // cell:-(-bottom // cell), left // cell:-(-right // cell)] = cell_grid(found, cell)
    layout = Layout((rows, cols, height, width), sample_bits, key, step, cell, best_disparity_exponent(cells),
                    present)
    return layout, cells


class FloatViews:
    """lightfield-v2's arithmetic for :class:`SynthesisCoder`: views as float32 on the 8-bit
    scale, warped by torch's grid_sample (so a stream decodes only where the machine
    computes these floats as the writer's did)."""

    centre = 128.0  # what a key view is coded around

    def __init__(self, layout):
        self.layout = layout
        self.scale = layout.peak / 255.0

    def working(self, samples):
        """(H, W, 3) samples -> the view in working units."""
        return torch.from_numpy(samples.astype(np.float32)) * (255.0 / self.layout.peak)

    def steps(self, level=None):
        return self.layout.steps(level)

    @staticmethod
    def float_steps(steps):
        return steps

    @staticmethod
    def coefficients(difference):
        """(H, W, 3) RGB difference -> (P, H', W', 64) float transform coefficients."""
        return view_coding.forward(view_coding.to_ycbcr(difference).permute(2, 0, 1))

    def rebuild(self, q, steps, base):
        """A view's integers and what they were coded around -> the view as decoded, its
        samples rounded."""
        residual = view_coding.inverse(view_coding.dequantize(q, steps), *self.layout.shape[2:])
        view = view_coding.to_rgb(residual.permute(1, 2, 0)) + base
        return torch.round(view.clamp(0, 255) * self.scale) / self.scale

    def samples(self, view):
        return np.round(view.numpy() * self.scale).astype(self.layout.dtype)

    def disparity_map(self, cells):
        return full_map(cells, self.layout.cell, self.layout.shape[2:])

    @staticmethod
    def splat(full, offset):
        return disparity.splat(full, offset)

    @staticmethod
    def predict(target, references, decoded, maps):
        prediction, uncertainty = predict(target, references, decoded, maps)
        return prediction.permute(1, 2, 0), uncertainty

    @staticmethod
    def feature(uncertainty, steps):
        return view_coding.block_feature(torch.stack([uncertainty, uncertainty * 0.3, uncertainty * 0.3]), steps)


class SynthesisCoder:
    """The walk over a light field's views shared by encoder and decoder: given the
    integers (encoder: from the views; decoder: from the stream), it rebuilds every view
    as the decoder does, in the model's arithmetic (:class:`FloatViews` for lightfield-v2,
    :class:`~omnicodec.lightfield.synthesis_integer.IntegerViews` for an integer model)."""

    def __init__(self, model, layout, progress=None):
        self.model, self.layout, self.progress = model, layout, progress
        self.arithmetic = None  # the tile's (run)
        self.ticks = int(layout.present.sum()) * len(tiles(*layout.shape[2:], layout.tile))  # views x tiles
        no_offsets = torch.zeros((view_coding.PLANES, view_coding.BANDS), dtype=torch.int64)
        self.offsets = dict.fromkeys(view_coding.KINDS, no_offsets)  # the last view's of each kind

    def run(self, raw, disparity_cells, io):
        """-> (U, V, H, W, 3) decoded samples (the layout's dtype). ``raw``: the views'
        samples when encoding, None when decoding; ``io``: the keywords of
        ViewEntropyModel.code for the key view and for the residuals. Views are coded
        tile by tile (:func:`tiles`), each tile a light field of its own but for the scale
        offsets, which carry on from tile to tile."""
        layout = self.layout
        rows, cols, height, width = layout.shape
        out = np.zeros((rows, cols, height, width, 3), layout.dtype)
        if not layout.present.any():
            return out
        cell = layout.cell
        for top, bottom, left, right in tiles(height, width, layout.tile):
            part = dataclasses.replace(layout, shape=(rows, cols, bottom - top, right - left))
            self.arithmetic = (synthesis_integer.IntegerViews if self.model.integer else FloatViews)(part)
            self._tile(part, None if raw is None else raw[:, :, top:bottom, left:right],
                       disparity_cells[top // cell:-(-bottom // cell), left // cell:-(-right // cell)], io,
                       out[:, :, top:bottom, left:right])
        return out

    def _tile(self, layout, raw, disparity_cells, io, out):
        """:meth:`run` of one tile, into ``out``, its part of the views."""
        arithmetic = self.arithmetic
        height, width = layout.shape[2:]
        key = layout.key
        blocks = (-(-height // view_coding.BLOCK), -(-width // view_coding.BLOCK))
        feature = torch.zeros((view_coding.PLANES, *blocks), dtype=torch.int64)
        decoded = {key: self._view(key, raw, arithmetic.centre, feature, arithmetic.steps(), "key", io[0])}
        out[key] = arithmetic.samples(decoded[key])
        self._tick()
        full = arithmetic.disparity_map(disparity_cells)
        maps = {}
        for target, level in coding_order(layout.present, key, layout.compact_levels):
            for view in (target, *decoded):
                if view not in maps:
                    maps[view] = arithmetic.splat(full, (view[0] - key[0], view[1] - key[1]))
            prediction, uncertainty = arithmetic.predict(target, reference_views(target, decoded), decoded, maps)
            steps = arithmetic.steps(level)
            feature = arithmetic.feature(uncertainty, steps)
            decoded[target] = self._view(target, raw, prediction, feature, steps, "residual", io[1])
            out[target] = arithmetic.samples(decoded[target])
            self._tick()

    def _view(self, view, raw, base, feature, steps, kind, io):
        """One view's integers coded around ``base`` (chosen from ``raw`` when encoding) ->
        the view as the decoder rebuilds it."""
        arithmetic, model, layout = self.arithmetic, self.model, self.layout
        q, offsets = None, self.offsets[kind] if layout.scale_offsets else None
        if raw is not None:
            coefficients = arithmetic.coefficients(arithmetic.working(raw[view]) - base)
            quantizer = arithmetic.float_steps(steps)
            q = view_coding.quantize(coefficients, quantizer)
            if "writer" in io:  # the encoder's choices (not while fitting the tables)
                if offsets is not None:
                    offsets = view_coding.choose_scale_offsets(model, q, kind, feature, offsets,
                                                               every=1 if kind == "key" else 2)
                bits = None
                if layout.rd_quantize:
                    q, bits = view_coding.rd_quantize(model, coefficients, quantizer, feature, kind, RDOQ_SLOPE,
                                                      offsets)
                if kind == "residual":
                    q = view_coding.drop_unworthy_blocks(model, q, coefficients, quantizer, feature, RD_SLOPE, offsets,
                                                         bits)
        if offsets is not None:
            offsets = self.offsets[kind] = view_coding.code_scale_offsets(
                offsets, self.offsets[kind], io.get("writer"), io.get("reader"))
        q = model.code(q, kind, feature, offsets=offsets, **io)
        return arithmetic.rebuild(q, steps, base)

    def _tick(self):
        if self.progress:
            self.progress(1, self.ticks)


_HEADER = struct.Struct("<4IB2HfBh")  # U, V, H, W, sample bits, key u, v, step, cell, exponent


class SynthesisLightFieldCodec(Codec):
    """Light fields by key view, disparity and warped prediction; ``rate`` 1 (fewest bits)
    to the card's last rate, fractional rates in between."""

    network = staticmethod(catalogue.by_arithmetic(ViewEntropyModel, IntegerViewEntropyModel))
    options = ()
    unit = "pixel"
    takes_rate = True

    def prepare(self, data):
        if not isinstance(data, LightField):
            raise InputError("the light-field codec codes light fields (U, V, H, W, 3 views)")
        return data

    def step_of(self, rate):
        last = len(RATE_STEPS)
        rate = 1.0 if rate is None else float(rate)
        if not 1 <= rate <= last:
            raise InputError(f"rate {rate:g} is out of range: light-field rates are 1 to {last}")
        low = min(int(rate), last - 1)
        t = rate - low
        return float(np.float32(RATE_STEPS[low - 1] ** (1 - t) * RATE_STEPS[low] ** t))

    def level_ratio(self, step):
        """The level ratio of this model at luma ``step`` (its card's ``level_ratios``)."""
        return level_ratio(step, self.card.settings.get("level_ratios", ()))

    def model_layout(self, layout):
        """``layout`` with what this model makes of its luma step and views (its card's
        level ratios and the settings of :class:`Layout` it names)."""
        settings = self.card.settings
        return dataclasses.replace(layout, level_ratio=self.level_ratio(layout.step),
                                   compact_levels=settings.get("compact_levels", False),
                                   scale_offsets=settings.get("scale_offsets", False),
                                   rd_quantize=settings.get("rd_quantize", False),
                                   tile=settings.get("tile", 0))

    def analyse(self, views, step):
        """The encoder's layout (this model's) and disparity cells for ``views`` at luma
        ``step``."""
        layout, cells = analyse(views, step, self.card.settings.get("tile", 0))
        return self.model_layout(layout), cells

    def encode(self, prepared, rate=None, progress=None, reference=None):
        lightfield = prepared
        step = self.step_of(rate)
        layout, cells = self.analyse(lightfield.views, step)
        writers = [binary_writer(self.coder) for _ in range(3)]
        model = self._model
        code_disparity(model, cells, layout.exponent, writer=writers[0])
        samples = SynthesisCoder(model, layout, progress).run(
            lightfield.views, cells, [{"writer": writers[1]}, {"writer": writers[2]}])
        # a light field of black views only is its header
        sections = [w.finish() for w in writers] if layout.present.any() else [b""] * 3
        return Encoded(header=self._header(layout, lightfield.naming),
                       sections=sections, checksum=bitstream.checksum(samples),
                       decoded=LightField(samples, lightfield.naming), details=self._details(layout))

    def decode(self, header, sections, progress=None, reference=None):
        layout, naming = self._fields(header)
        layout = self.model_layout(layout)
        if len(sections) != 3:
            raise BitstreamError("bitstream section table does not match its light field")
        rows, cols, height, width = layout.shape
        if not layout.present.any():
            if any(sections):
                raise BitstreamError("light field of black views carries coded data")
            samples = np.zeros((rows, cols, height, width, 3), layout.dtype)
            return Decoded(LightField(samples, naming), bitstream.checksum(samples), self._details(layout))
        readers = [binary_reader(self.coder, section) for section in sections]
        model = self._model
        cells = code_disparity(model, None, layout.exponent, reader=readers[0],
                               shape=(-(-height // layout.cell), -(-width // layout.cell)))
        samples = SynthesisCoder(model, layout, progress).run(
            None, cells, [{"reader": readers[1]}, {"reader": readers[2]}])
        for reader in readers:
            reader.finish()
        return Decoded(LightField(samples, naming), bitstream.checksum(samples), self._details(layout))

    @classmethod
    def describe(cls, header):
        layout, naming = cls._fields(header)
        return {**cls._details(layout), "bits per sample": layout.sample_bits,
                "naming": dataclasses.asdict(naming)}

    @classmethod
    def input_units(cls, header):
        return math.prod(cls._fields(header)[0].shape)

    @property
    def _model(self):
        return self.load_network()

    @staticmethod
    def _details(layout):
        rows, cols, height, width = layout.shape
        return {"views": f"{rows}x{cols}", "view size": f"{height}x{width}", "pixels": rows * cols * height * width,
                "key view": f"{layout.key[0]},{layout.key[1]}", "step": round(layout.step, 3),
                "black views": int((~layout.present).sum()), "disparity cell": layout.cell}

    @staticmethod
    def _header(layout, naming):
        rows, cols, height, width = layout.shape
        head = _HEADER.pack(rows, cols, height, width, layout.sample_bits, *layout.key, layout.step,
                            layout.cell, layout.exponent)
        return head + np.packbits(layout.present.reshape(-1)).tobytes() + naming.pack()

    @staticmethod
    def _fields(header):
        """The codec header -> (Layout, Naming)."""
        try:
            rows, cols, height, width, sample_bits, ku, kv, step, cell, exponent = _HEADER.unpack_from(header)
            count = rows * cols
            if not (0 < count <= 1 << 16 and 0 < height <= 1 << 16 and 0 < width <= 1 << 16):
                raise ValueError
            start = _HEADER.size
            raw = header[start:start + -(-count // 8)]
            if len(raw) != -(-count // 8):
                raise ValueError
            present = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=count).astype(bool)
            naming = Naming.unpack(header, start + len(raw))
        except (struct.error, ValueError, TypeError, UnicodeDecodeError, BitstreamError):
            raise BitstreamError("light-field header is corrupted") from None
        if (sample_bits not in (8, 16) or cell not in (8, 16) or not (math.isfinite(step) and step > 0)
                or not (ku < rows and kv < cols) or not -64 <= exponent <= 64):
            raise BitstreamError("light-field header is corrupted")
        layout = Layout((rows, cols, height, width), sample_bits, (ku, kv), step, cell, exponent,
                        present.reshape(rows, cols))
        return layout, naming


def fit(data, out, model_id=None, folders=(), start=None):
    """Fit the entropy model's scales on the training light fields of ``data``
    (datasets.lightfields: HCI cotton, and dino's 33 views with the others absent) and the
    light fields in ``folders`` at every rate's step, and save them as a model file: as
    lightfield-v2 sends its integers (floats), or, with ``model_id``, as that integer
    model's encoder chooses them (its layout, rate-distortion quantization and block
    choices) under the tables of model ``start``, rounded to integer tables."""
    from datasets.lightfields import training_light_fields
    from omnicodec import zoo
    from omnicodec.io.lightfield import read_lightfield

    light_fields = dict(training_light_fields(data))
    light_fields.update((os.path.basename(os.path.normpath(folder)), read_lightfield(folder).views)
                        for folder in folders)
    statistics = view_coding.Statistics()
    codec = SynthesisLightFieldCodec(zoo.resolve("lightfield", model_id), "rans") if model_id else None
    tables = codec.load_network(start) if codec else None
    for name, raw in light_fields.items():
        for step in RATE_STEPS:
            if codec:  # the encoder's own choices run where there is a writer; collect takes the integers
                layout, cells = codec.analyse(raw, step)
                io = {"writer": binary_writer("rans"), "collect": statistics}
                SynthesisCoder(tables, layout).run(raw, cells, [io, io])
            else:
                layout, cells = analyse(raw, step)  # lightfield-v2's level ratio
                SynthesisCoder(ViewEntropyModel(), layout).run(raw, cells, [{"collect": statistics}] * 2)
            print(f"{name}: step {step} collected", flush=True)
    model = view_coding.fit(statistics)
    if codec:
        synthesis_integer.save_tables(IntegerViewEntropyModel.rounded(model), out)
    else:
        torch.save({"config": model.config, "state_dict": model.state_dict()}, out)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Fit the light-field synthesis codec's entropy model.")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", help="collect the integers as this integer model's encoder sends them, and "
                                        "write integer tables")
    parser.add_argument("--start", help="with --model: the model whose tables the encoder chooses under "
                                        "(default: --model's own)")
    parser.add_argument("--more", nargs="*", default=(), metavar="FOLDER", help="more light fields to fit on")
    args = parser.parse_args(argv)
    fit(args.data, args.out, args.model, args.more, args.start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
