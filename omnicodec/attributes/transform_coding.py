"""Lossy colour by transform coding: the RAHT coefficients of the YCoCg-R values
(:mod:`omnicodec.attributes.raht`), octree level by octree level from the top, each
predicted from the decoded level above, quantized with a dead zone, and coded under
adaptive binary contexts chosen by how large the coefficient is expected to be (the spread
of the known cells around it over its step) and, for Co and Cg, by the Y coefficient at the
same place. The encoder and the decoder walk the same way, and everything the decoder
computes is integer, so every machine rebuilds the same colours. Where the card asks,
the encoder chooses each coefficient by rate-distortion optimised quantization against the
coder's own adaptive counts, and the signs of Co and Cg are coded under contexts of the
signs already coded at the same place.

Payload: the root's three values (fixed point, zigzag varints), the post-filter's nine
weights where the rate has one (zigzag varints), then the coefficients.
"""

import dataclasses
from fractions import Fraction

import numpy as np

from omnicodec import varint
from omnicodec.attributes import post_filter, raht
from omnicodec.entropy import binary_reader, binary_writer
from omnicodec.entropy.adaptive import adaptive_bits, even_bits, frequencies
from omnicodec.errors import BitstreamError
from omnicodec.fixedpoint import floor_log2, log2_bins, round_shift

BUCKETS = 24  # contexts by the expected magnitude: floor(2 log2(16 x spread / step + 1))
CLASSES = 24  # magnitude classes floor(log2 |q|), coded in unary: |q| < 2^24 (16-bit colours'
# differences over the finest step reach 2^21)
GROUPS = 7  # context groups: Y; Co and Cg each by their Y coefficient's magnitude 0, 1, more
PRIOR_COUNT = 4  # decisions a zero flag's prior counts for
SIGN_CONTEXTS = 12  # Co signs by Y's sign at the same place (3), Cg's by Y's and Co's (9)
ROUNDING_BITS = 8  # fractional bits of the dead zone's rounding offsets
BUSY_BUCKET = 6  # coefficients from this bucket up are rounded with the larger offset


@dataclasses.dataclass(frozen=True)
class Rate:
    """One colour rate: the orthonormal quantization steps of Y and of Co and Cg, in units
    of 8-bit colours, and how the model codes them.

    The encoder alone uses ``rounding`` and ``rdoq_lambda``. Without a lambda, a
    dead-zone quantizer rounds with the first offset where few coefficients are expected to
    be nonzero (below BUSY_BUCKET) and with the second elsewhere. With one, each coefficient
    minimizes (error / step)^2 + lambda x bits (:func:`rdo_quantize`). Both the encoder and
    the decoder use ``sign_contexts``: it codes the signs of Co and Cg under contexts
    instead of at even odds; and ``post_filter``: the decoded values go through the
    encoder's least-squares filter (:mod:`omnicodec.attributes.post_filter`), whose weights
    the payload carries after the root."""

    luma_step: float
    chroma_step: float
    rounding: tuple = (1 / 3, 0.43)
    rdoq_lambda: float = 0.0
    sign_contexts: bool = False
    post_filter: bool = False

    def fixed_steps(self, depth):
        """The three channels' steps in units of the fixed-point values of ``depth``-bit
        colours, exactly (a card's steps are multiples of 1 / 2^FRACTION_BITS)."""
        steps = []
        for step in (self.luma_step, self.chroma_step, self.chroma_step):
            fixed = Fraction(step) * (1 << (raht.FRACTION_BITS + depth - 8))
            if fixed.denominator != 1 or fixed < 1:
                raise ValueError(f"colour step {step} is not a positive multiple of 1/{1 << raht.FRACTION_BITS}")
            steps.append(int(fixed))
        return steps


class Coefficients:
    """Adaptive binary coding of integer coefficients: is it zero (context: group and
    bucket), its sign (even odds, or a sign context), its magnitude class in unary (context:
    group, bucket, position), the mantissa's top bit (context: group, class) and the rest at
    even odds. Each context halves its own counts (a colour stream has many rare contexts)."""

    def __init__(self, writer=None, reader=None):
        self.writer, self.reader = writer, reader
        self.classes_at = GROUPS * BUCKETS
        self.mantissa_at = self.classes_at + GROUPS * BUCKETS * CLASSES
        self.signs_at = self.mantissa_at + GROUPS * CLASSES
        self.hits = np.full(self.signs_at + SIGN_CONTEXTS, 1, dtype=np.int64)
        self.seen = np.full(len(self.hits), 2, dtype=np.int64)
        # Zero flags start from a prior by bucket (1 to 9 tenths nonzero, a half where the
        # spread is about twice the step), which a stream of few bits cannot afford to learn.
        bucket = np.tile(np.arange(BUCKETS), GROUPS)
        self.hits[:self.classes_at] = np.clip((bucket - 6) // 2, 0, PRIOR_COUNT)
        self.seen[:self.classes_at] = PRIOR_COUNT

    def _bits(self, truth, context):
        return adaptive_bits(self, truth, context, self.hits, self.seen, halve_each_context=True)

    def costs(self, group, bucket, magnitudes):
        """The bits that coding each column of the (n, K) ``magnitudes`` would cost now, by
        the current counts (a sign counts one bit): the encoder's rate estimate."""
        def cost(context, bit):
            one = frequencies(self.hits[context], self.seen[context]).numpy() / 65536
            return -np.log2(np.where(bit, one, 1 - one))

        base = group * BUCKETS + bucket
        bits = np.zeros(magnitudes.shape)
        for column, magnitude in enumerate(magnitudes.T):
            nonzero = magnitude > 0
            classes = floor_log2(np.maximum(magnitude, 1))
            total = cost(base, nonzero) + np.where(nonzero, 1 + np.maximum(classes - 1, 0), 0)
            for position in range(int(classes.max()) + 1 if len(magnitude) else 0):
                total += np.where(nonzero & (classes >= position),
                                  cost(self.classes_at + base * CLASSES + position, classes > position), 0)
            top_bit = (magnitude >> np.maximum(classes - 1, 0)) & 1 == 1
            bits[:, column] = total + np.where(nonzero & (classes > 0),
                                               cost(self.mantissa_at + group * CLASSES + classes, top_bit), 0)
        return bits

    def code(self, truth, group, bucket, sign_context=None):
        """Code (``truth``) or read integers, one per row of ``group`` and ``bucket``, signs
        under ``sign_context`` (rows of SIGN_CONTEXTS) or at even odds (None)."""
        given = truth is not None
        base = group * BUCKETS + bucket
        rows = np.flatnonzero(self._bits(truth != 0 if given else None, base))
        if sign_context is None:
            negative = even_bits(self, truth[rows] < 0 if given else None, len(rows))
        else:
            negative = self._bits(truth[rows] < 0 if given else None, self.signs_at + sign_context[rows])
        magnitude = np.abs(truth[rows]) if given else None
        classes = floor_log2(magnitude) if given else None
        found = np.zeros(len(rows), dtype=np.int64)
        active = np.arange(len(rows))
        for position in range(CLASSES):
            if not len(active):
                break
            more = self._bits(classes[active] > position if given else None,
                              self.classes_at + base[rows[active]] * CLASSES + position)
            active = active[more]
            found[active] += 1
        if len(active):
            raise BitstreamError("colour coefficient is larger than any encoder writes: corrupted stream")
        value = np.ones(len(rows), dtype=np.int64)
        top = np.flatnonzero(found > 0)
        bit = self._bits((magnitude[top] >> (classes[top] - 1)) & 1 == 1 if given else None,
                         self.mantissa_at + group[rows[top]] * CLASSES + found[top])
        value[top] = 2 + bit
        for position in range(1, int(found.max()) if len(found) else 0):
            rest = np.flatnonzero(found > position)
            bit = even_bits(self, (magnitude[rest] >> (classes[rest] - 1 - position)) & 1 == 1 if given else None,
                            len(rest))
            value[rest] = 2 * value[rest] + bit
        values = np.zeros(len(bucket), dtype=np.int64)
        values[rows] = np.where(negative, -value, value)
        return values


def groups(channel, luma, count):
    """Context groups of ``count`` coefficients of one channel (``luma``: the Y
    coefficients at the same places, coded first)."""
    if channel == 0:
        return np.zeros(count, dtype=np.int64)
    return 1 + 3 * (channel - 1) + np.minimum(np.abs(luma), 2)


def sign_contexts(channel, luma, co):
    """Sign contexts of Co (``channel`` 1) and Cg (2) coefficients: the channel, the sign of
    the Y coefficient at the same place and, for Cg, of the Co one."""
    if channel == 1:
        return np.sign(luma) + 1
    return 3 + 3 * (np.sign(luma) + 1) + np.sign(co) + 1


def buckets(spread, steps):
    """Context buckets: floor(2 log2(16 x spread / step + 1)), steps in 1 / 2^STEP_FRACTION
    units of the values."""
    return log2_bins((spread << (raht.STEP_FRACTION + 4)) // steps + 1, 2, 1, BUCKETS - 1)


def quantize(x, steps, rounding):
    """x (units of the values) -> q = sign(x) floor(|x| / step + rounding), ``rounding`` in
    1 / 2^ROUNDING_BITS."""
    magnitude = ((np.abs(x) << (raht.STEP_FRACTION + ROUNDING_BITS)) + rounding * steps) \
        // (steps << ROUNDING_BITS)
    return np.sign(x) * magnitude


def rdo_quantize(x, steps, rdoq_lambda, coder, group, bucket):
    """x (units of the values) -> the q among the nearest level, the one below it and 0
    that minimizes (x / step - q)^2 + lambda x its bits by the coder's current counts
    (:meth:`Coefficients.costs`). Float: the encoder's choice alone."""
    scaled = x * float(1 << raht.STEP_FRACTION) / steps
    nearest = np.floor(np.abs(scaled) + 0.5).astype(np.int64)
    candidates = np.stack([nearest, np.maximum(nearest - 1, 0), np.zeros_like(nearest)], axis=1)
    cost = (np.abs(scaled)[:, None] - candidates) ** 2 + rdoq_lambda * coder.costs(group, bucket, candidates)
    return np.sign(x) * candidates[np.arange(len(x)), cost.argmin(axis=1)]


def dequantize(q, steps):
    """q -> q x step in units of the values, rounded half away from zero."""
    return np.sign(q) * round_shift(np.abs(q) * steps, raht.STEP_FRACTION)


def walk(tree, root, coder, rate, depth, truth=None):
    """Code or decode the coefficients of every octree level, top first: ``root`` is the
    (1, 3) value at the top, ``rate`` the :class:`Rate` of ``depth``-bit colours, ``truth``
    the encoder's d of every sub-level (:meth:`raht.Tree.forward`), None when decoding.
    Each level goes in two passes (:meth:`raht.Tree.passes`): the
    second pass's nodes are predicted again knowing the first pass's decoded nodes
    (:meth:`raht.Tree.refine`). Returns the (N, 3) rebuilt fixed-point values."""
    steps = rate.fixed_steps(depth)
    rounding = None if truth is None else [round(offset * (1 << ROUNDING_BITS)) for offset in rate.rounding]
    known = root
    for level in reversed(range(tree.bits)):
        prediction, spread = tree.predict(level, known)
        passes = tree.passes(level)
        predicted, spreads = tree.lift(level, prediction, spread)
        ds = [d.copy() for d in predicted]
        _code_pass(tree, level, 0, passes, predicted, spreads, ds, coder, steps, rate, rounding, truth)
        prediction, spread = tree.refine(level, tree.split_level(level, known, ds), prediction, spread,
                                         passes[0] == 1)
        predicted, spreads = tree.lift(level, prediction, spread)
        _code_pass(tree, level, 1, passes, predicted, spreads, ds, coder, steps, rate, rounding, truth)
        known = tree.split_level(level, known, ds)
    return known


def _code_pass(tree, level, this_pass, passes, predicted, spreads, ds, coder, steps, rate, rounding, truth):
    """Code or decode the pairs of one pass of an octree level, its top sub-level first,
    into ``ds`` (which holds the predicted d elsewhere)."""
    for part in (2, 1, 0):
        sub_level = 3 * level + part
        merges = tree.merges[sub_level]
        rows = np.flatnonzero(passes[part][merges.left] == this_pass)
        luma = co = None
        for channel in range(3):
            pair_steps = raht.coefficient_steps(merges, steps[channel])[rows]
            predicted_d = predicted[part][rows, channel]
            context, group = buckets(spreads[part][rows, channel], pair_steps), groups(channel, luma, len(rows))
            given = None
            if truth is not None and rate.rdoq_lambda:
                given = rdo_quantize(truth[sub_level][rows, channel] - predicted_d, pair_steps, rate.rdoq_lambda,
                                     coder, group, context)
            elif truth is not None:
                given = quantize(truth[sub_level][rows, channel] - predicted_d, pair_steps,
                                 np.where(context < BUSY_BUCKET, rounding[0], rounding[1]))
            signs = sign_contexts(channel, luma, co) if rate.sign_contexts and channel else None
            q = coder.code(given, group, context, signs)
            if channel == 0:
                luma = q
            elif channel == 1:
                co = q
            ds[part][rows, channel] = predicted_d + dequantize(q, pair_steps)


def encode(keys, bits, ycocg, depth, rate, coder):
    """(N, 3) YCoCg-R values of the voxels of sorted Morton ``keys`` -> (payload, the (N, 3)
    values the decoder rebuilds)."""
    tree = raht.Tree(keys, bits)
    values = np.asarray(ycocg, dtype=np.int64) << raht.FRACTION_BITS
    root, ds = tree.forward(values)
    writer = binary_writer(coder)
    rebuilt = walk(tree, root, Coefficients(writer=writer), rate, depth, ds)
    header = varint.encode(varint.signed(root[0]))
    if rate.post_filter:
        differences = post_filter.ring_differences(tree.neighbours(0), rebuilt)
        weights, rebuilt = post_filter.fit(rebuilt, values, differences, raht.FRACTION_BITS)
        header += varint.encode(varint.signed(weights.reshape(-1)))
    return header + writer.finish(), round_shift(rebuilt, raht.FRACTION_BITS)


def decode(keys, bits, depth, rate, payload, coder):
    """The inverse of :func:`encode`: the (N, 3) rebuilt YCoCg-R values."""
    root, start = varint.decode(payload, 3)
    if max(abs(value) for value in varint.unsigned(root)) >> (depth + raht.FRACTION_BITS + 1):
        raise BitstreamError("colour payload is corrupted")
    if rate.post_filter:
        weights, start = varint.decode(payload, 3 * len(post_filter.RINGS), start)
        weights = post_filter.checked(varint.unsigned(weights), 3)
    reader = binary_reader(coder, payload[start:])
    tree = raht.Tree(keys, bits)
    rebuilt = walk(tree, np.array([varint.unsigned(root)], dtype=np.int64), Coefficients(reader=reader), rate,
                   depth)
    reader.finish()
    if rate.post_filter and weights.any():
        rebuilt = post_filter.apply(rebuilt, post_filter.ring_differences(tree.neighbours(0), rebuilt), weights)
    return round_shift(rebuilt, raht.FRACTION_BITS)
