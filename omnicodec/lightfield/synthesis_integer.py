"""The light-field synthesis decoder in integers (lightfield-v3): the same walk as
:mod:`omnicodec.lightfield.synthesis` (key view, disparity, warped prediction, residuals),
every value the decoder computes an integer, with its rounding stated, so every machine
rebuilds the same views.

- Samples are held in fixed point with FINE_BITS fractional bits of the input's own sample
  scale (8 or 16 bits); quantization steps with STEP_BITS more, from exact decimal
  arithmetic of the header's float32 luma step.
- The inverse 8x8 DCT and the Y'CbCr -> RGB matrix have MATRIX_BITS fractional bits
  (from exact decimal arithmetic); each of the DCT's two passes and the colour product is
  rounded half up (a right shift of the sum plus half).
- Disparities are in 1/2^POSITION_BITS pixel: the cells' bilinear growth to pixels has
  exact weights (multiples of 1/(2 x cell)), rounded once; splatting rounds positions half
  up; warping samples bicubically (Keys, a = -0.75, as torch's grid_sample) with weights
  from a table of 2^POSITION_BITS phases x 4 taps (exact rational arithmetic, WEIGHT_BITS
  fractional bits), one rounding per axis; the visibility of a sample, exp(-(difference /
  0.3 pixel)^2), is read from a table of its difference.
- A reference's weight is its visibility x 2^DISTANCE_BITS / its squared distance
  (rounded); blending divides integer sums (floor of the sum plus half the divisor); the
  prediction's uncertainty feature compares block sums of the squared spread and gradient
  with thresholds computed exactly (no square root, no logarithm).
- The entropy model's tables are integers (view_coding.IntegerViewEntropyModel): the
  coded values' log-scale indices of integer logistics, the flags' frequencies.

The encoder's own choices (the plane sweep, the transform coefficients it quantizes, the
blocks worth sending) stay in float: what it sends is integers.
"""

import argparse
import decimal
import fractions
import functools

import numpy as np
import torch
import torch.nn.functional as F

from omnicodec import fixedpoint
from omnicodec.lightfield import disparity, view_coding
from omnicodec.metrics.lightfield import YCBCR_FROM_RGB

FINE_BITS = 4
STEP_BITS = 16
MATRIX_BITS = 14
POSITION_BITS = 8
WEIGHT_BITS = 12
VISIBILITY_BITS = 12
DISTANCE_BITS = 10  # a reference's weight is its visibility x 2^DISTANCE_BITS / its squared distance
_VISIBILITY_FLOOR = 1  # 1e-4 of the float model, at VISIBILITY_BITS (1/4096: the nearest it holds)
_VISIBILITY_REACH = 3 << POSITION_BITS  # beyond 3 pixels of disagreement exp(-(d / 0.3)^2) is 0 here
_SPREAD_SHIFT = 2  # the spread's differences are taken with FINE_BITS - this fractional bits


def fixed(value, bits):
    """A Decimal (or exact number) x 2^bits, rounded half to even."""
    return fixedpoint.rounded(fixedpoint.CONTEXT.multiply(decimal.Decimal(value), 1 << bits))


def _decimal(value):
    """A float (float32 from a header, or a constant) as the exact Decimal it holds."""
    return decimal.Decimal(float(value))


@functools.lru_cache(maxsize=None)
def dct_matrix():
    """The orthonormal 8-point DCT-II x 2^MATRIX_BITS, int64 (row k, column i)."""
    n = view_coding.BLOCK
    pi = fixedpoint.pi()

    def cos_pi_over(m):  # cos(pi m / (2n)) for any integer m, by symmetry into [0, pi/2]
        m %= 4 * n
        sign = 1
        if m > 2 * n:
            m = 4 * n - m
        if m > n:
            m, sign = 2 * n - m, -1
        return sign * fixedpoint.cos(fixedpoint.CONTEXT.divide(fixedpoint.CONTEXT.multiply(pi, m), 2 * n))

    context = fixedpoint.CONTEXT
    rows = []
    for k in range(n):
        norm = context.sqrt(context.divide(1 if k == 0 else 2, n))
        rows.append([fixed(context.multiply(norm, cos_pi_over((2 * i + 1) * k)), MATRIX_BITS) for i in range(n)])
    return torch.tensor(rows, dtype=torch.int64)


@functools.lru_cache(maxsize=None)
def rgb_from_ycbcr():
    """The exact inverse of BT.709's Y'CbCr matrix x 2^MATRIX_BITS, int64."""
    matrix = [[fractions.Fraction(float(x)) for x in row] for row in YCBCR_FROM_RGB]
    size = len(matrix)
    augmented = [row + [fractions.Fraction(int(i == j)) for j in range(size)] for i, row in enumerate(matrix)]
    for column in range(size):  # Gauss-Jordan in exact fractions
        pivot = next(r for r in range(column, size) if augmented[r][column] != 0)
        augmented[column], augmented[pivot] = augmented[pivot], augmented[column]
        head = augmented[column][column]
        augmented[column] = [x / head for x in augmented[column]]
        for r in range(size):
            if r != column and augmented[r][column] != 0:
                factor = augmented[r][column]
                augmented[r] = [a - factor * b for a, b in zip(augmented[r], augmented[column])]
    return torch.tensor([[round(x * (1 << MATRIX_BITS)) for x in row[size:]] for row in augmented],
                        dtype=torch.int64)


def fixed_steps(step, sample_bits, ratios):
    """Y, Cb, Cr steps in fine units with STEP_BITS fractional bits: ``step`` (the header's
    float32 luma step, on the 8-bit scale) x each of ``ratios`` x the samples' scale."""
    peak = (1 << sample_bits) - 1
    context = fixedpoint.CONTEXT
    base = context.divide(context.multiply(_decimal(step), peak), 255)
    return tuple(fixed(context.multiply(base, ratio), FINE_BITS + STEP_BITS) for ratio in ratios)


def float_steps(steps):
    """Fixed steps as floats in fine units (the encoder's quantization)."""
    return torch.tensor(steps, dtype=torch.float64) / (1 << STEP_BITS)


def inverse(q, steps, height, width):
    """(P, H', W', 64) zigzag integers x their plane's fixed step -> (P, height, width)
    fine units, by the integer inverse DCT (blocks with no integer to send are zero: most
    of a residual, skipped)."""
    p, hb, wb, _ = q.shape
    block = view_coding.BLOCK
    coded = q.any(dim=-1)
    step = torch.tensor(steps, dtype=torch.int64).reshape(-1, 1, 1).expand(p, hb, wb)[coded]
    coefficients = fixedpoint.round_shift(q[coded] * step[:, None], STEP_BITS)
    natural = torch.empty_like(coefficients)
    natural[:, view_coding.zigzag()] = coefficients
    m = dct_matrix()
    columns = fixedpoint.round_shift(torch.einsum("ry,nrs->nys", m, natural.reshape(-1, block, block)), MATRIX_BITS)
    pixels = torch.zeros((p, hb, wb, block, block), dtype=torch.int64)
    pixels[coded] = fixedpoint.round_shift(torch.einsum("sx,nys->nyx", m, columns), MATRIX_BITS)
    return pixels.permute(0, 1, 3, 2, 4).reshape(p, hb * block, wb * block)[:, :height, :width]


def to_rgb(planes):
    """(3, H, W) Y'CbCr fine units -> (H, W, 3) RGB fine units."""
    rows = rgb_from_ycbcr().tolist()
    return fixedpoint.round_shift(torch.stack([sum(planes[p] * w for p, w in enumerate(row) if w) for row in rows],
                                              dim=-1), MATRIX_BITS)


def full_map(cells, cell, shape):
    """The disparity cells (1/2^disparity.SENT_BITS pixel) grown to (H, W) pixels by bilinear interpolation
    (as torch's, align_corners False), in 1/2^POSITION_BITS pixel."""
    span = 2 * cell  # source positions are multiples of 1 / span

    def taps(count, size):
        numerator = 2 * torch.arange(count) + 1 - cell
        low = torch.div(numerator, span, rounding_mode="floor")
        fraction = numerator - low * span
        before = numerator < 0
        low, fraction = torch.where(before, 0, low), torch.where(before, 0, fraction)
        return low.clamp(max=size - 1), (low + 1).clamp(max=size - 1), fraction

    low_y, high_y, fy = taps(shape[0], cells.shape[0])
    low_x, high_x, fx = taps(shape[1], cells.shape[1])
    top = cells[low_y][:, low_x] * (span - fx) + cells[low_y][:, high_x] * fx
    bottom = cells[high_y][:, low_x] * (span - fx) + cells[high_y][:, high_x] * fx
    grown = top * (span - fy)[:, None] + bottom * fy[:, None]  # sent units x span^2
    return fixedpoint.round_shift(grown << (POSITION_BITS - disparity.SENT_BITS), 2 * (span.bit_length() - 1))


def splat(disparity_map, offset):
    """:func:`omnicodec.lightfield.disparity.splat` of a fixed-point map: positions
    rounded half up, the largest disparity kept where several land."""
    height, width = disparity_map.shape
    du, dv = offset
    if (du, dv) == (0, 0):
        return disparity_map.clone()
    ty = fixedpoint.round_shift((torch.arange(height)[:, None] << POSITION_BITS) + du * disparity_map, POSITION_BITS)
    tx = fixedpoint.round_shift((torch.arange(width)[None, :] << POSITION_BITS) + dv * disparity_map, POSITION_BITS)
    return disparity.splat_to(disparity_map, ty, tx)


@functools.lru_cache(maxsize=None)
def _cubic_weights():
    """(2^POSITION_BITS, 4) int64: Keys' cubic (a = -0.75) weights of the taps at -1, 0, 1, 2
    for each phase, x 2^WEIGHT_BITS, rounded exactly, the rounding put on the largest tap
    so that every row sums to 2^WEIGHT_BITS."""
    a = fractions.Fraction(-3, 4)

    def kernel(x):
        x = abs(x)
        if x <= 1:
            return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
        if x < 2:
            return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
        return fractions.Fraction(0)

    rows = []
    for phase in range(1 << POSITION_BITS):
        t = fractions.Fraction(phase, 1 << POSITION_BITS)
        row = [round(kernel(t - tap) * (1 << WEIGHT_BITS)) for tap in (-1, 0, 1, 2)]
        row[1 if phase < 1 << (POSITION_BITS - 1) else 2] += (1 << WEIGHT_BITS) - sum(row)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.int64)


@functools.lru_cache(maxsize=None)
def _visibility_table():
    """exp(-(d / 0.3 pixel)^2) x 2^VISIBILITY_BITS for d in 1/2^POSITION_BITS pixel up to
    _VISIBILITY_REACH, from exact decimal arithmetic."""
    context = fixedpoint.CONTEXT
    width = context.multiply(decimal.Decimal("0.3"), 1 << POSITION_BITS)
    return torch.tensor([fixed(context.exp(-context.power(context.divide(d, width), 2)), VISIBILITY_BITS)
                         for d in range(_VISIBILITY_REACH + 1)], dtype=torch.int64)


def _taps(position, size):
    """Fixed-point positions -> (the index of tap 0, the phase), positions clamped to the
    image (border padding)."""
    position = position.clamp(0, (size - 1) << POSITION_BITS)
    return position >> POSITION_BITS, position & ((1 << POSITION_BITS) - 1)


def warp(source, source_disparity, target_disparity, offset):
    """:func:`omnicodec.lightfield.disparity.warp` in integers: (the (3, H, W) warped view
    in the source's units, (H, W) visibility with VISIBILITY_BITS)."""
    height, width = target_disparity.shape
    sy = (torch.arange(height)[:, None] << POSITION_BITS) - offset[0] * target_disparity
    sx = (torch.arange(width)[None, :] << POSITION_BITS) - offset[1] * target_disparity
    warped = _sample_bicubic(source, sy, sx)
    seen = _sample_bilinear(source_disparity, sy, sx)
    difference = (seen - target_disparity).abs().clamp(max=_VISIBILITY_REACH)
    return warped, _visibility_table()[difference] + _VISIBILITY_FLOOR


def _sample_bicubic(images, sy, sx):
    """(C, H, W) int64 images at fixed-point positions (H', W') -> (C, H', W'), bicubic,
    positions clamped into the image, taps clamped to its edges, rounded half up after each
    axis."""
    _, height, width = images.shape
    y0, phase_y = _taps(sy, height)
    x0, phase_x = _taps(sx, width)
    weights = _cubic_weights()
    wy, wx = weights[phase_y], weights[phase_x]  # (H', W', 4)
    flat = images.reshape(images.shape[0], -1)
    result = 0
    for i in range(4):
        row = (y0 + i - 1).clamp(0, height - 1) * width
        across = 0
        for j in range(4):
            across = across + flat[:, row + (x0 + j - 1).clamp(0, width - 1)] * wx[..., j]
        result = result + fixedpoint.round_shift(across, WEIGHT_BITS) * wy[..., i]
    return fixedpoint.round_shift(result, WEIGHT_BITS)


def _sample_bilinear(image, sy, sx):
    """(H, W) int64 image at fixed-point positions -> (H', W'), bilinear, positions clamped
    into the image, rounded half up."""
    height, width = image.shape
    y0, fy = _taps(sy, height)
    x0, fx = _taps(sx, width)
    y1, x1 = (y0 + 1).clamp(max=height - 1), (x0 + 1).clamp(max=width - 1)
    one = 1 << POSITION_BITS
    top = image[y0, x0] * (one - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (one - fx) + image[y1, x1] * fx
    return fixedpoint.round_shift(top * (one - fy) + bottom * fy, 2 * POSITION_BITS)


def predict(target, references, decoded, maps):
    """(H, W, 3) fine-unit prediction of a view from decoded (H, W, 3) int32 fine-unit
    views and their int32 disparity maps, and (H, W) its squared uncertainty (the blend's
    spread plus a quarter of its squared gradient) with 2 x (FINE_BITS - _SPREAD_SHIFT)
    fractional bits. The warps and the blend run in the C++ kernel
    (cuda_ext/integer_warp.cpp) where it is built, else in :func:`_reference_blend`; both
    compute the same integers."""
    offsets = [(target[0] - source[0], target[1] - source[1]) for source in references]
    distance_weights = [_inverse_square(du * du + dv * dv) for du, dv in offsets]
    native = fixedpoint.native()
    if native is None:
        prediction, spread = _reference_blend([decoded[source] for source in references],
                                              [maps[source] for source in references], maps[target], offsets,
                                              distance_weights)
    else:
        prediction, spread = native.integer_predict(
            [decoded[source].contiguous() for source in references],
            [maps[source].contiguous() for source in references], maps[target].contiguous(),
            [du for du, _ in offsets], [dv for _, dv in offsets], distance_weights, _cubic_weights(),
            _visibility_table(), POSITION_BITS, WEIGHT_BITS, _VISIBILITY_FLOOR, _SPREAD_SHIFT)
    mean = fixedpoint.round_shift(prediction.sum(dim=-1), _SPREAD_SHIFT)  # 3 x the channels' mean
    gy, gx = (_twice_gradient(mean, dim) for dim in (0, 1))
    # a quarter of the mean's squared gradient: (2 x 3 x gradient)^2 / 144
    return prediction, spread + torch.div(gy * gy + gx * gx, 144, rounding_mode="floor")


def _reference_blend(sources, source_maps, target_map, offsets, distance_weights):
    """The sources warped to the target and blended by visibility x distance weight: (the
    (H, W, 3) prediction, (H, W) the weighted mean over sources and channels of the squared
    differences from it, taken with FINE_BITS - _SPREAD_SHIFT fractional bits)."""
    total, weights, warps = 0, 0, []
    target_map = target_map.to(torch.int64)
    for source, source_map, offset, distance_weight in zip(sources, source_maps, offsets, distance_weights):
        warped, visible = warp(source.permute(2, 0, 1).to(torch.int64), source_map.to(torch.int64), target_map,
                               offset)
        weight = visible * distance_weight
        total, weights = total + warped * weight, weights + weight
        warps.append((warped, weight))
    weights = weights.clamp(min=1)
    prediction = torch.div(total + weights // 2, weights, rounding_mode="floor")
    spread = sum(weight * fixedpoint.round_shift(warped - prediction, _SPREAD_SHIFT).pow(2).sum(dim=0)
                 for warped, weight in warps)
    return prediction.permute(1, 2, 0), torch.div(spread, 3 * weights, rounding_mode="floor")


def _inverse_square(square):
    """2^DISTANCE_BITS / a reference's squared distance, rounded half up: its weight per
    unit of visibility (the float model's 1 / distance^2)."""
    return ((1 << (DISTANCE_BITS + 1)) + square) // (2 * square)


def _twice_gradient(values, dim):
    """2 x torch.gradient's: central differences inside, twice the one-sided ones at the edges."""
    size = values.shape[dim]
    if size < 2:
        return torch.zeros_like(values)
    forward = values.narrow(dim, 1, size - 1) - values.narrow(dim, 0, size - 1)
    inner = values.narrow(dim, 2, size - 2) - values.narrow(dim, 0, size - 2)
    return torch.cat([2 * forward.narrow(dim, 0, 1), inner, 2 * forward.narrow(dim, size - 2, 1)], dim=dim)


_PLANE_SHARES = (1, decimal.Decimal("0.09"), decimal.Decimal("0.09"))  # (1, 0.3, 0.3)^2 of the uncertainty


@functools.lru_cache(maxsize=None)
def _feature_thresholds(steps):
    """(P, FEATURES - 1) int64: a block's sum of squared uncertainty at or above entry k - 1
    makes its feature bin at least k: floor(2 log2(1 + rms / step)) >= k, that is
    sum >= 64 x (step (2^(k / 2) - 1))^2 / share, in the uncertainty's units."""
    context = fixedpoint.CONTEXT
    unit = 1 << (STEP_BITS + _SPREAD_SHIFT)  # a fixed step in the uncertainty's units
    rows = []
    for step, share in zip(steps, _PLANE_SHARES):
        size = context.divide(step, unit)
        row = []
        for k in range(1, view_coding.FEATURES):
            edge = context.multiply(size, context.subtract(context.power(2, context.divide(k, 2)), 1))
            bound = context.divide(context.multiply(view_coding.BLOCK ** 2, context.power(edge, 2)), share)
            row.append(int(bound.to_integral_value(decimal.ROUND_CEILING)))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.int64)


def block_feature(uncertainty, steps):
    """(H, W) squared uncertainty -> (P, H', W') feature bins (as
    :func:`omnicodec.lightfield.view_coding.block_feature`, by exact thresholds)."""
    block = view_coding.BLOCK
    height, width = uncertainty.shape
    padded = F.pad(uncertainty[None, None], (0, -width % block, 0, -height % block), mode="replicate")[0, 0]
    sums = padded.reshape(padded.shape[0] // block, block, padded.shape[1] // block, block).sum(dim=(1, 3))
    thresholds = _feature_thresholds(tuple(steps))
    return (sums[None, ..., None] >= thresholds[:, None, None, :]).sum(dim=-1)


class IntegerViews:
    """lightfield-v3's arithmetic for :class:`omnicodec.lightfield.synthesis.SynthesisCoder`:
    views in fine units (decoded ones held as int32, (H, W, 3)), integer steps, transform,
    disparity maps, warps and features. The encoder's own choices (transform coefficients
    to quantize, the blocks worth sending) stay in float: they are sent as integers."""

    def __init__(self, layout):
        self.layout = layout
        self.centre = (1 << (layout.sample_bits - 1)) << FINE_BITS  # what a key view is coded around

    @staticmethod
    def working(samples):
        """(H, W, 3) samples -> fine units (the encoder's input)."""
        return torch.from_numpy(samples.astype(np.int64)) << FINE_BITS

    def steps(self, level=None):
        """Y, Cb, Cr fixed steps of the key view (level None) or of a view of ``level``."""
        return fixed_steps(self.layout.step, self.layout.sample_bits, self.layout.step_ratios(level))

    float_steps = staticmethod(float_steps)

    @staticmethod
    def coefficients(difference):
        """(H, W, 3) fine-unit difference -> (P, H', W', 64) float coefficients (encoder)."""
        return view_coding.forward(view_coding.to_ycbcr(difference.to(torch.float32)).permute(2, 0, 1))

    def rebuild(self, q, steps, base):
        """A view's integers and what they were coded around (fine units) -> the decoded
        view: its samples, rounded half up and clamped, in fine units."""
        view = to_rgb(inverse(q, steps, *self.layout.shape[2:])) + base
        samples = fixedpoint.round_shift(view, FINE_BITS).clamp(0, (1 << self.layout.sample_bits) - 1)
        return (samples << FINE_BITS).to(torch.int32)

    def samples(self, view):
        return (view >> FINE_BITS).numpy().astype(self.layout.dtype)

    def disparity_map(self, cells):
        return full_map(cells, self.layout.cell, self.layout.shape[2:]).to(torch.int32)

    splat = staticmethod(splat)

    predict = staticmethod(predict)

    feature = staticmethod(block_feature)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Make the integer light-field entropy model from a float one.")
    parser.add_argument("--base", required=True, help="the float light-field model to round (lightfield-v2)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from omnicodec import catalogue

    save_tables(view_coding.IntegerViewEntropyModel.rounded(catalogue.build(args.base, view_coding.ViewEntropyModel)),
                args.out)
    print(f"wrote {args.out}")


def save_tables(model, out):
    """Save an IntegerViewEntropyModel's tables as a model file, the scale indices as int16
    (every index fits): a quarter of the file; loading widens them."""
    state = {name: value.to(torch.int16) if name == "scale_indices" else value
             for name, value in model.state_dict().items()}
    torch.save({"config": model.config, "state_dict": state}, out)


if __name__ == "__main__":
    main()
