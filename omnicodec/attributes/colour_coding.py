"""Colour coding along the octree levels: the one walk that the encoder, the decoder and
training share, so all three see exactly the same contexts.

Values are YCoCg-R integers of ``depth``-bit RGB: Y in [0, 2^depth - 1], Co and Cg in
[-(2^depth - 1), 2^depth - 1]. Lossless, each value is coded under the predicted
distribution within its range. A lossy rate codes the prediction's error instead, closed
loop: q = the error / step, rounded towards zero beyond ``rounding`` (a dead zone), rebuilt
as the prediction + q * step, rounded and clipped into range, and every later prediction
sees the rebuilt values; with a ``lagrangian`` the encoder picks q among the two integers
around the error by squared error + lagrangian * bits (the decoder only reads q). The step of a channel shrinks by ``level_ratio`` per level above
the finest (coarse points predict many others, so their errors cost more).

The encoder fits, per level and channel, a factor on the network's scales that makes the
stream shortest (:data:`SCALE_FACTORS` of them; the table goes first in the payload), so
content noisier or cleaner than the training data costs no more than needed.

The integer network (colour-v2, :mod:`omnicodec.attributes.colour_integer`) walks the same
way in integers: fixed-point locations and log-scale indices under integer logistics
(a factor is an index offset), steps in fixed point (:meth:`Rate.fixed_step`) and the
rebuilt value location + q x step rounded half up; only the encoder's choices (the symbols,
the factors, the adaptation) are searched in float, and they are sent.
"""

import decimal
import functools

import numpy as np
import torch

from omnicodec import fixedpoint
from omnicodec.attributes import colour_integer
from omnicodec.attributes.colour_model import COLOUR_UNIT, context_features
from omnicodec.attributes.levels import level_contexts, stored_contexts
from omnicodec.entropy import logistic

ROWS_PER_PASS = 1 << 16  # points per network call: bounds the features' memory
FACTORS = 32  # scale factors 2^((i - 16) / 8), i < FACTORS: 1/4 .. 3.7
SCALE_FACTORS = 2.0 ** ((torch.arange(FACTORS, dtype=torch.float32) - 16) / 8)
NEUTRAL_FACTOR = 16
FACTOR_INDICES = logistic.SCALE_STEPS // 8  # an integer model's scale index offset per factor
STEP_BITS = 16  # fractional bits of an integer model's quantization steps
_FIT_SAMPLE = 1 << 15  # values the encoder's factor search looks at per level and channel


def ycocg_r(rgb):
    """(N, 3) integer RGB -> (N, 3) int64 YCoCg-R (exactly invertible)."""
    r, g, b = (np.asarray(rgb, dtype=np.int64)[:, i] for i in range(3))
    co = r - b
    t = b + (co >> 1)
    cg = g - t
    return np.stack([t + (cg >> 1), co, cg], axis=1)


def rgb_from_ycocg_r(ycocg):
    y, co, cg = (np.asarray(ycocg, dtype=np.int64)[:, i] for i in range(3))
    t = y - (cg >> 1)
    g = cg + t
    b = t - (co >> 1)
    return np.stack([b + co, g, b], axis=1)


def channel_ranges(depth):
    top = (1 << depth) - 1
    return ((0, top), (-top, top), (-top, top))


def quantize(values, step):
    """Training's stand-in for a lossy rate's rebuilt neighbourhood: values on a grid of
    ``step`` (their error is as large as the closed loop's)."""
    return (np.asarray(values, dtype=np.int64) + step // 2) // step


def dequantize(q, step, low, high):
    return np.clip(np.asarray(q, dtype=np.int64) * step, low, high)


def quantized_ranges(depth, steps):
    return [(int(quantize(low, step)), int(quantize(high, step)))
            for (low, high), step in zip(channel_ranges(depth), steps)]


class Rate:
    """How one colour rate codes: the steps of Y, Co and Cg at the finest level, their
    ratio from one level to the next coarser, and the rounding offset of the errors."""

    def __init__(self, steps, level_ratio=1.0, rounding=0.5, lagrangian=0.0):
        self.steps = tuple(float(s) for s in steps)
        self.level_ratio = float(level_ratio)
        self.rounding = float(rounding)
        self.lagrangian = float(lagrangian)

    @property
    def lossless(self):
        return self.steps == (1.0, 1.0, 1.0)

    def step(self, channel, level):
        return self.steps[channel] * self.level_ratio ** level

    def fixed_step(self, channel, level):
        """The integer models' step of a channel at a level: (the step with STEP_BITS
        fractional bits, at least 1: a finer step only costs bits; the nearest log-scale
        index of the step), from exact decimal arithmetic."""
        return _fixed_step(self.steps[channel], self.level_ratio, level)

    def step_features(self):
        """The integer network's step features: log2 of the Y and Co steps, FEATURE_BITS."""
        return tuple(_scaled_log2(_decimal(step), 1 << colour_integer.FEATURE_BITS) for step in self.steps[:2])


def _decimal(value):
    return decimal.Decimal(repr(float(value)))


def _scaled_log2(value, scale):
    """round(scale x log2(value)) of a Decimal, exactly."""
    context = fixedpoint.CONTEXT
    return fixedpoint.rounded(context.divide(context.multiply(scale, context.ln(value)), context.ln(2)))


@functools.lru_cache(maxsize=None)
def _fixed_step(step, level_ratio, level):
    context = fixedpoint.CONTEXT
    exact = context.multiply(_decimal(step), context.power(_decimal(level_ratio), level))
    fixed = max(fixedpoint.rounded(context.multiply(exact, 1 << STEP_BITS)), 1 << STEP_BITS)
    return fixed, _scaled_log2(context.divide(fixed, 1 << STEP_BITS), logistic.SCALE_STEPS)


def walk(net, coords, levels, bits, depth, rate, code, truth=None, contexts=None):
    """Code or decode every point's colour, top level first.

    ``code(level, channel, rows, mu, scale, low, high, symbols)`` codes integer symbols in
    [low, high] of one channel of the points ``rows`` under a discretized logistic
    (mu, scale): the encoder gets them (from ``truth``, the (N, 3) YCoCg-R values) and
    writes them, the decoder gets None and reads them; both return them. With an integer
    network (colour-v2) mu is an int64 fixed-point location and scale an int64 log-scale
    index (:class:`~omnicodec.entropy.logistic.IntegerLogistic`), and everything the
    decoder computes is integer. Returns the (N, 3) int64 rebuilt YCoCg-R values."""
    integer = net.integer
    values = torch.zeros((len(coords), 3), dtype=torch.int32 if integer else torch.float32)
    truth = None if truth is None else torch.from_numpy(np.asarray(truth, dtype=np.int64))
    if integer:
        depth_bits, step_features = max(depth - 8, 0), rate.step_features()

        def predictions(part_levels, part_stages, neighbours):
            return colour_integer.channel_predictions(net, values, part_levels, part_stages, neighbours,
                                                      step_features, depth_bits)
    else:
        depth_scale = float(1 << (depth - 8)) if depth > 8 else 1.0  # network sees 8-bit units

        def predictions(part_levels, part_stages, neighbours):
            return channel_predictions(net, values, part_levels, part_stages, neighbours, rate.steps, depth_scale)
    code_channel = _code_integer_channel if integer else _code_channel
    with torch.no_grad():
        groups = (level_contexts(coords, levels, bits) if contexts is None
                  else stored_contexts(coords, levels, bits, contexts))
        for level, stage, rows, neighbours in groups:
            for start in range(0, len(rows), ROWS_PER_PASS):
                part = torch.from_numpy(rows[start:start + ROWS_PER_PASS])
                count = len(part)
                channels = predictions(torch.full((count,), level, dtype=torch.int64),
                                       torch.full((count,), stage, dtype=torch.int64),
                                       torch.from_numpy(neighbours[start:start + ROWS_PER_PASS]))
                location, scale = next(channels)
                for channel in range(3):
                    known = None if truth is None else truth[part, channel]
                    rebuilt = code_channel(rate, depth, level, channel, part, location, scale, known, code)
                    values[part, channel] = rebuilt.to(values.dtype)
                    if channel < 2:
                        location, scale = channels.send(rebuilt)
    return values.to(torch.int64).numpy()


def _code_channel(rate, depth, level, channel, rows, location, scale, known, code):
    """One channel of some points: their symbols coded, their rebuilt values returned."""
    low, high = channel_ranges(depth)[channel]
    if rate.lossless:
        return code(level, channel, rows, location, scale, low, high, known).to(torch.float32)
    step = rate.step(channel, level)
    reach = int(np.ceil((high - low) / step)) + 1
    symbols = None if known is None else _symbols((known - location) / step, scale / step, reach, rate)
    symbols = code(level, channel, rows, torch.zeros_like(location), scale / step, -reach, reach, symbols)
    return torch.round(location + symbols * step).clamp(low, high)


def _code_integer_channel(rate, depth, level, channel, rows, location, index, known, code):
    """:func:`_code_channel` of an integer network: the rebuilt value is the location plus
    the symbol times the fixed-point step, rounded half up; integers only."""
    low, high = channel_ranges(depth)[channel]
    if rate.lossless:
        return code(level, channel, rows, location, index, low, high, known)
    step, step_index = rate.fixed_step(channel, level)
    reach = -(-((high - low) << STEP_BITS) // step) + 1
    symbols = None
    if known is not None:  # the encoder's choice (float is fine here: only the symbols are sent)
        error = (known.double() - location.double() / (1 << logistic.LOCATION_BITS)) * (1 << STEP_BITS) / step
        symbols = _symbols(error, torch.exp2((index - step_index).double() / logistic.SCALE_STEPS), reach, rate)
    symbols = code(level, channel, rows, torch.zeros_like(location), index - step_index, -reach, reach, symbols)
    rebuilt = fixedpoint.round_shift((location << (STEP_BITS - logistic.LOCATION_BITS)) + symbols * step, STEP_BITS)
    return rebuilt.clamp(low, high)


def _symbols(error, scale, reach, rate):
    """The encoder's symbols of errors and scales in steps: rounded towards zero beyond the
    rate's rounding offset, or by its rate-distortion choice."""
    if rate.lagrangian:
        return _rate_distortion_choice(error, scale, reach, rate.lagrangian).to(torch.int64)
    return (torch.sign(error) * torch.floor(error.abs() + rate.rounding)).clamp(-reach, reach).to(torch.int64)


def _rate_distortion_choice(error, scale, reach, lagrangian):
    """Each error's symbol among the two integers around it that costs least in squared
    error (in steps) + ``lagrangian`` * its bits under the model."""
    lower = torch.floor(error).clamp(-reach, reach)
    upper = (lower + 1).clamp(-reach, reach)
    zero = torch.zeros_like(error)

    def cost(symbol):
        return (error - symbol) ** 2 + lagrangian * logistic.bits(symbol, zero, scale, -reach, reach)

    return torch.where(cost(lower) <= cost(upper), lower, upper)


def channel_predictions(net, values, levels, stages, neighbours, steps, depth_scale=1.0):
    """The network's prediction for points with ``neighbours`` rows at their
    ``levels`` and ``stages``, channel by channel: yields (location, scale) of Y in colour
    values, then of Co and Cg once sent the channel before's rebuilt values."""
    hidden, reference = trunk_outputs(net, values, levels, stages, neighbours, steps, depth_scale)
    return head_predictions(net, hidden, reference, depth_scale)


def trunk_outputs(net, values, levels, stages, neighbours, steps, depth_scale=1.0):
    """(the trunk's features, the reference colours) of some points: what the heads take."""
    features, reference = context_features(values / depth_scale, steps, neighbours)
    return net.trunk_features(features, levels, stages), reference


def head_predictions(net, hidden, reference, depth_scale=1.0):
    """The channel-by-channel part of :func:`channel_predictions`."""
    errors = []
    for channel in range(3):
        offset, log_scale = net.channel(hidden, channel, _stacked(errors, len(hidden)))
        location = (reference[:, channel] + offset * COLOUR_UNIT) * depth_scale
        rebuilt = yield location, torch.exp(log_scale) * COLOUR_UNIT * depth_scale
        errors.append((rebuilt - location) / (COLOUR_UNIT * depth_scale))


def lossless_bits(predictions, values, depth):
    """Code length (bits, a tensor) of the lossless ``values`` (M, 3) under the generator of
    :func:`head_predictions`."""
    location, scale = next(predictions)
    total = 0.0
    for channel, (low, high) in enumerate(channel_ranges(depth)):
        total = total + logistic.bits(values[:, channel], location, scale, low, high).sum()
        if channel < 2:
            location, scale = predictions.send(values[:, channel])
    return total


def _stacked(errors, count):
    return torch.stack(errors, dim=1) if errors else torch.zeros((count, 0))


def encode(net, coords, levels, bits, depth, rate, ycocg, writer, contexts=None):
    """Write the colours (N, 3 YCoCg-R) through ``writer``; returns (the reconstruction,
    the scale factor table's bytes, which the payload must carry before the writer's).
    ``contexts``: every point's neighbours, if the caller has them."""
    coded = []

    def code(level, channel, rows, mu, scale, low, high, symbols):
        coded.append((level, channel, symbols, mu, scale, low, high))
        return symbols

    rebuilt = walk(net, coords, levels, bits, depth, rate, code, truth=ycocg, contexts=contexts)
    table = _fitted_factors(coded, bits)
    for level, channel, q, mu, scale, low, high in coded:
        code_values(writer, q, mu, scale, low, high, table[level][channel])
    return rebuilt, bytes([len(table)]) + bytes(index for row in table for index in row)


def decode(net, coords, levels, bits, depth, rate, payload, reader_of):
    """Inverse of :func:`encode`: ``payload`` starts with the factor table, the rest is
    handed to ``reader_of`` (bytes -> binary reader); returns (values, the reader)."""
    count = payload[0] if payload else -1
    if count != bits + 1 or len(payload) < 1 + 3 * count:
        raise ValueError("colour payload's scale table is corrupted")
    table = [payload[1 + 3 * level: 4 + 3 * level] for level in range(count)]
    if max(payload[1:1 + 3 * count]) >= FACTORS:
        raise ValueError("colour payload's scale table is corrupted")
    reader = reader_of(payload[1 + 3 * count:])

    def code(level, channel, rows, mu, scale, low, high, symbols):
        return code_values(reader, None, mu, scale, low, high, table[level][channel])

    return walk(net, coords, levels, bits, depth, rate, code), reader


def code_values(io, q, mu, scale, low, high, factor=NEUTRAL_FACTOR):
    """Write ``q`` through a binary writer ``io``, or read them from a reader (``q`` None),
    under logistics (mu, scale) with the scale factor SCALE_FACTORS[factor]: integer
    logistics where mu is int64 (scale then a log-scale index), else float ones."""
    if mu.dtype == torch.int64:
        model = logistic.IntegerLogistic(mu, scale + FACTOR_INDICES * (factor - NEUTRAL_FACTOR), low, high)
        return logistic.read_integer(io, model) if q is None else logistic.write_integer(io, q, model)
    scale = scale * SCALE_FACTORS[factor]
    return logistic.read(io, mu, scale, low, high) if q is None else logistic.write(io, q, mu, scale, low, high)


def _fitted_factors(coded, bits):
    """[level][channel] index into SCALE_FACTORS with the fewest bits, on a sample of each
    level's and channel's values (coarse search, then the neighbours of the best)."""
    table = [[NEUTRAL_FACTOR] * 3 for _ in range(bits + 1)]
    groups = {}
    for level, channel, q, mu, scale, low, high in coded:
        groups.setdefault((level, channel), []).append((q, mu, scale, low, high))
    for (level, channel), parts in groups.items():
        q, mu, scale = (torch.cat([p[i] for p in parts]) for i in range(3))
        low, high = parts[0][3], parts[0][4]
        if mu.dtype == torch.int64:  # an integer model's: its float equivalent, for the search
            mu, scale = mu / (1 << logistic.LOCATION_BITS), logistic.index_scale(scale)
        pick = torch.linspace(0, len(q) - 1, min(len(q), _FIT_SAMPLE)).round().long()
        q, mu, scale = q[pick].to(torch.float32), mu[pick], scale[pick]

        def cost(index):
            return float(logistic.bits(q, mu, scale * SCALE_FACTORS[index], low, high).sum())

        best = min(range(0, FACTORS, 4), key=cost)
        table[level][channel] = min(range(max(best - 3, 0), min(best + 4, FACTORS)), key=cost)
    return table
