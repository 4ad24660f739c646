"""Bounded integers under a discretized logistic distribution, coded as binary decisions.

An integer q in [low, high] with predicted location mu and scale s has the probability
mass of the logistic(mu, s) density over [q - 1/2, q + 1/2], the end values taking the
tails beyond them. It is sent relative to the centre m = round(mu) (clamped into range):
"is q = m", then which side, then the distance d = |q - m| >= 1 by Elias-gamma buckets
("is d >= 2^(k+1)" given d >= 2^k, unary) and bisection inside its bucket. Every
decision's probability is the ratio of two masses of the same distribution, so by the
chain rule the code length is the multi-symbol code length -log2 P(q) (what
:func:`bits` trains on), and it takes about 2 + 2 log2 d decisions instead of d.
"""

import decimal
import functools

import torch

from omnicodec import fixedpoint
from omnicodec.entropy.cdf import TOTAL, binary_frequencies

SCALE_MIN = 0.05  # a narrower logistic cannot be told apart from a sure value
# The tail the sensor and intensity models mix into every value's logistic: 1% of one
# 30 times wider, so an outlier costs tens of bits, not hundreds.
OUTLIER_TAIL = (0.01, 30.0)
# The same tail for IntegerLogistic: weight 10/1024, scale 2^(79/16) = 30.6 times wider.
OUTLIER_TAIL_FIXED = (10, 79)


def clamp_scale(scale):
    return scale.clamp(min=SCALE_MIN)


def _cdf_difference(upper, lower):
    """sigmoid(upper) - sigmoid(lower), computed on the side where it does not cancel;
    edges may be +-inf."""
    upper_side = lower > 0
    return torch.where(upper_side, torch.sigmoid(-lower) - torch.sigmoid(-upper),
                       torch.sigmoid(upper) - torch.sigmoid(lower))


def _mass(first, last, mu, scale, low, high, tail=None):
    """P(first <= q <= last) for integer tensors first <= last within [low, high]; with
    ``tail`` = (weight, factor), of the mixture with that weight of a logistic ``factor``
    times wider (heavy tails: a value far from its prediction costs tens of bits, not
    hundreds)."""
    if tail is not None:
        weight, factor = tail
        return ((1 - weight) * _mass(first, last, mu, scale, low, high)
                + weight * _mass(first, last, mu, scale * factor, low, high))
    inf = torch.full_like(mu, float("inf"))
    upper = torch.where(last >= high, inf, (last + 0.5 - mu) / scale)
    lower = torch.where(first <= low, -inf, (first - 0.5 - mu) / scale)
    return _cdf_difference(upper, lower)


def probability(q, mu, scale, low, high, tail=None):
    """The probability of integers ``q`` (float tensor, may be noisy) in [low, high]."""
    return _mass(q, q, mu, clamp_scale(scale), low, high, tail)


def bits(q, mu, scale, low, high, tail=None):
    """Training: code length in bits of integers ``q`` (float tensor, may be noisy) in
    [low, high]; differentiable in ``mu`` and ``scale``."""
    return -torch.log2(probability(q, mu, scale, low, high, tail).clamp(min=1e-9))


class _FloatLogistic:
    """The decisions' frequencies from float locations and scales (the float models: the
    same frequencies only where the machine computes as the encoder's did)."""

    def __init__(self, mu, scale, low, high, tail):
        self.mu = mu.reshape(-1).to(torch.float32)
        self.scale = clamp_scale(scale.reshape(-1).to(torch.float32))
        self.low, self.high, self.tail = low, high, tail
        self.centre = torch.round(self.mu).clamp(low, high).to(torch.int64)

    def exact_frequencies(self):
        """Frequencies of "q is its row's centre", every row."""
        c = self.centre.to(torch.float32)
        return binary_frequencies(_mass(c, c, self.mu, self.scale, self.low, self.high, self.tail))

    def _masses(self, rows, *ranges):
        mu, scale = self.mu[rows], self.scale[rows]
        return [_mass(first.to(torch.float32), last.to(torch.float32), mu, scale, self.low, self.high, self.tail)
                for first, last in ranges]

    def up_frequencies(self, rows):
        """Frequencies of "q is above its centre" given "q is not its centre", rows ``rows``."""
        c = self.centre[rows]
        above, below = self._masses(rows, (c + 1, torch.full_like(c, self.high)), (torch.full_like(c, self.low), c - 1))
        return binary_frequencies(_ratio(above, above + below))

    def ratio_frequencies(self, rows, part, whole):
        """Frequencies of "q lies in ``part``" given "q lies in ``whole``", each a pair of
        int64 bounds (first, last) of the rows ``rows``."""
        return binary_frequencies(_ratio(*self._masses(rows, part, whole)))


def _ratio(part, whole):
    return (part / whole.clamp(min=1e-30)).clamp(0.0, 1.0)


# The integer logistic: locations in fixed point, scales as an index on a log scale, the
# CDF from a table of integers that exact decimal arithmetic computes the same everywhere.
LOCATION_BITS = 8  # fractional bits of a location
SCALE_STEPS = 16  # log-scale indices per octave: scale 2^(index / 16)
SCALE_INDICES = (-70, 640)  # scales 0.048 .. 2^40
_CDF_ONE = 1 << 30  # the CDF's unit
_CDF_REACH = 20  # beyond +-20 scales the CDF is 0 or 1 at that unit
_CDF_STEPS = 64  # table entries per unit of the standardized value
_T_BITS = 16  # fractional bits of the standardized value t = (q +- 1/2 - mu) / scale
_RECIPROCAL_BITS = 48  # the reciprocal scales are 2^48 / 2^(k / 16), so t = d x r >> 40
_T_SHIFT = _RECIPROCAL_BITS + LOCATION_BITS - _T_BITS  # distance x reciprocal >> this = t
_T_TOP = _CDF_REACH << _T_BITS  # t is clamped to +-this
_FRACTION_BITS = _T_BITS - _CDF_STEPS.bit_length() + 1  # bits of t between two table entries
_TAIL_BITS = 10
_TAIL_ONE = 1 << _TAIL_BITS  # the unit of the tail mixture's weight
MAX_SPAN = 1 << 29  # high - low of an integer logistic's values, at the most


@functools.lru_cache(maxsize=None)
def _tables():
    """(CDF, reciprocal scales, reaches), int64 tables from exact decimal arithmetic
    (:mod:`omnicodec.fixedpoint`), so every machine holds the same integers: CDF[i] =
    round(2^30 / (1 + exp(-(i / 64 - 20)))); for each scale index k from SCALE_INDICES[0],
    round(2^48 / 2^(k / 16)), and the distance (in location units) from which t is 20 or
    more, floor(20 x 2^8 x 2^(k / 16)) + 1, so that the products stay within int64."""
    context, steps = fixedpoint.CONTEXT, _CDF_REACH * _CDF_STEPS
    exps = fixedpoint.geometric(context.exp(decimal.Decimal(steps) / _CDF_STEPS),
                                context.exp(decimal.Decimal(-1) / _CDF_STEPS), 2 * steps + 1)  # e^(-i / 64)
    cdf = [fixedpoint.rounded(context.divide(_CDF_ONE, 1 + e)) for e in exps]
    low, high = SCALE_INDICES
    scales = fixedpoint.geometric(context.power(2, decimal.Decimal(low) / SCALE_STEPS),
                                  context.power(2, decimal.Decimal(1) / SCALE_STEPS), high - low + 1)
    reciprocals = [fixedpoint.rounded(context.divide(1 << _RECIPROCAL_BITS, scale)) for scale in scales]
    reaches = [int(context.multiply(_CDF_REACH << LOCATION_BITS, scale)) + 1 for scale in scales]
    return tuple(torch.tensor(values, dtype=torch.int64) for values in (cdf, reciprocals, reaches))


@functools.lru_cache(maxsize=None)
def _index_per_ln():
    """round(2^16 x SCALE_STEPS / ln 2): log-scale indices per unit of natural log, 16 bits."""
    return fixedpoint.rounded(fixedpoint.CONTEXT.divide(SCALE_STEPS << 16, fixedpoint.CONTEXT.ln(2)))


def ln_scale_index(log_scale, fraction_bits):
    """Natural log scales in fixed point (int64, ``fraction_bits``) -> the log-scale indices
    :class:`IntegerLogistic` takes, rounded half up; integers only (the integer networks'
    scale heads)."""
    return fixedpoint.round_shift(log_scale * _index_per_ln(), fraction_bits + 16)


def fixed_location(mu):
    """Float locations -> the integer locations :class:`IntegerLogistic` takes (encoders)."""
    return torch.round(torch.as_tensor(mu, dtype=torch.float64) * (1 << LOCATION_BITS)).to(torch.int64)


def scale_index(scale):
    """Float scales -> the nearest log-scale indices :class:`IntegerLogistic` takes (encoders)."""
    index = torch.round(torch.log2(torch.as_tensor(scale, dtype=torch.float64)) * SCALE_STEPS)
    return index.clamp(*SCALE_INDICES).to(torch.int64)


def index_scale(index):
    """Log-scale indices -> the float scales they stand for, 2^(index / SCALE_STEPS) (the
    encoders' searches and rate estimates)."""
    return torch.exp2(torch.as_tensor(index, dtype=torch.float64) / SCALE_STEPS)


def sixteenths(count, location16, log_scale16, integer):
    """``count`` rows of one logistic given as a stream's header holds it, its location and
    log2 scale in sixteenths: int64 (location, scale index) for :class:`IntegerLogistic`,
    exactly the same numbers, or float64 (location, scale)."""
    if integer:
        return (torch.full((count,), location16 << (LOCATION_BITS - 4), dtype=torch.int64),
                torch.full((count,), log_scale16 * SCALE_STEPS // 16, dtype=torch.int64))
    return (torch.full((count,), location16 / 16, dtype=torch.float64),
            torch.full((count,), 2.0 ** (log_scale16 / 16), dtype=torch.float64))


class IntegerLogistic:
    """The decisions' frequencies in integer arithmetic: the same on every machine.

    ``location``: int64 locations with LOCATION_BITS fractional bits; ``log_scale``: int64
    indices, scale 2^(index / SCALE_STEPS), within SCALE_INDICES; ``tail``: (weight in
    1/1024, scale index offset) of a wider logistic mixed in, as OUTLIER_TAIL_FIXED. A mass
    is a difference of two table CDFs, interpolated linearly between entries (in 1/2^30);
    a decision's frequency is floor(part * 2^16 / whole), kept in [1, 2^16 - 1], or 2^15
    where the whole has no mass at that precision."""

    def __init__(self, location, log_scale, low, high, tail=None):
        location = torch.as_tensor(location).reshape(-1)
        log_scale = torch.as_tensor(log_scale).reshape(-1)
        if location.dtype != torch.int64 or log_scale.dtype != torch.int64:
            raise TypeError("an integer logistic takes int64 locations and scale indices")
        self.location = location
        self.low, self.high = low, high
        if high - low > MAX_SPAN:
            raise ValueError(f"an integer logistic codes values at most {MAX_SPAN} apart")
        # The mixture's components: (C, N) scale indices (offset to the tables), (C,) weights.
        components = [(log_scale, _TAIL_ONE)]
        if tail is not None:
            weight, offset = tail
            components = [(log_scale, _TAIL_ONE - weight), (log_scale + offset, weight)]
        self.indices = torch.stack([index.clamp(*SCALE_INDICES) - SCALE_INDICES[0] for index, _ in components])
        self.weights = torch.tensor([weight for _, weight in components], dtype=torch.int64)
        units = 1 << LOCATION_BITS
        self.centre = torch.div(location + units // 2, units, rounding_mode="floor").clamp(low, high)

    def _cdf(self, edge, location, index):
        """CDF at the half-integers ``edge`` - 1/2 (int64) of logistics at ``location`` with
        scale indices ``index`` (offset to the tables), in 1/2^30."""
        cdf_table, reciprocals, reaches = _tables()
        reach = reaches[index]
        distance = torch.minimum(torch.maximum(((2 * edge - 1) << (LOCATION_BITS - 1)) - location, -reach), reach)
        position = ((distance * reciprocals[index]) >> _T_SHIFT).clamp(-_T_TOP, _T_TOP) + _T_TOP
        entry = position >> _FRACTION_BITS
        below = cdf_table[entry]
        above = cdf_table[(entry + 1).clamp(max=len(cdf_table) - 1)]
        cdf = below + (((above - below) * (position & ((1 << _FRACTION_BITS) - 1))) >> _FRACTION_BITS)
        return torch.where(edge <= self.low, 0, torch.where(edge > self.high, _CDF_ONE, cdf))

    def _mass(self, rows, first, last):
        """Mass of [first, last] (int64 bounds) of the rows ``rows``, in 1/2^40: by the C++
        kernel (cuda_ext/integer_logistic.cpp), or by :meth:`_reference_mass`; both compute
        the same integers."""
        native = fixedpoint.native()
        if native is None:
            return self._reference_mass(rows, first, last)
        return native.integer_logistic_masses(
            first.contiguous(), last.contiguous(), self.location[rows].contiguous(),
            self.indices[:, rows].contiguous(), self.weights, self.low, self.high, *_tables(), LOCATION_BITS,
            _T_SHIFT, _T_TOP, _FRACTION_BITS, _CDF_ONE)

    def _reference_mass(self, rows, first, last):
        """:meth:`_mass` in torch: one CDF call for both edges under every component."""
        count, parts = len(rows), len(self.weights)
        edges = torch.cat([last + 1, first]).repeat(parts)
        location = self.location[rows].repeat(2 * parts)
        index = self.indices[:, rows].repeat(1, 2).reshape(-1)
        cdf = self._cdf(edges, location, index).reshape(parts, 2, count)
        return ((cdf[:, 0] - cdf[:, 1]) * self.weights[:, None]).sum(dim=0)

    @staticmethod
    def _frequencies(part, whole):
        """floor(part x 2^16 / whole) in [1, 2^16 - 1]; even odds where ``whole`` has no
        mass at this precision (a value beyond 20 scales of both components: Elias-gamma
        bits, not 16 bits a decision)."""
        ratio = torch.div(part * TOTAL, whole.clamp(min=1), rounding_mode="floor").clamp(1, TOTAL - 1)
        return torch.where(whole > 0, ratio, TOTAL // 2).to(torch.int32)

    def exact_frequencies(self):
        rows = torch.arange(len(self.centre))
        whole = torch.full_like(self.centre, _CDF_ONE * _TAIL_ONE)  # the mass of [low, high]
        return self._frequencies(self._mass(rows, self.centre, self.centre), whole)

    def up_frequencies(self, rows):
        c = self.centre[rows]
        above = self._mass(rows, c + 1, torch.full_like(c, self.high))
        below = self._mass(rows, torch.full_like(c, self.low), c - 1)
        return self._frequencies(above, above + below)

    def ratio_frequencies(self, rows, part, whole):
        return self._frequencies(self._mass(rows, *part), self._mass(rows, *whole))


class BlendedLogistic(IntegerLogistic):
    """An :class:`IntegerLogistic` (with its tail) blended with a second logistic about
    another prediction: ``weight`` (per row, in 1/1024) of each row's mass comes from the
    logistic at ``second_location`` with scale index ``second_scale`` (int64, as the
    first's), the rest from the first. Masses stay in 1/2^40 (rounded down): integers
    only, the same on every machine."""

    def __init__(self, location, log_scale, low, high, tail, second_location, second_scale, weight):
        super().__init__(location, log_scale, low, high, tail)
        self.second = IntegerLogistic(second_location, second_scale, low, high)
        self.weight = torch.as_tensor(weight, dtype=torch.int64).reshape(-1).expand(len(self.location))
        if len(self.weight) and (int(self.weight.min()) < 0 or int(self.weight.max()) > _TAIL_ONE):
            raise ValueError(f"blend weights are in [0, {_TAIL_ONE}]")

    def _mass(self, rows, first, last):
        weight = self.weight[rows]
        return (super()._mass(rows, first, last) * (_TAIL_ONE - weight)
                + self.second._mass(rows, first, last) * weight) >> _TAIL_BITS


def _walk(model, step, q=None):
    """Run the decisions of one batch under ``model`` (a :class:`_FloatLogistic` or an
    :class:`IntegerLogistic`, values in [model.low, model.high]): ``step(frequencies,
    truth)`` codes one batch of binary decisions (``truth`` is None when decoding) and
    returns them. Returns the values."""
    rows, c, up, d = _opening(model, step, None if q is None else q.reshape(-1).to(torch.int64))

    def decide(active, part, within, rule):
        return step(model.ratio_frequencies(rows[active], _side(c, up, active, part), _side(c, up, active, within)),
                    None if d is None else rule(d))

    distances = _distances(_room(model, c, up), decide)
    values = model.centre.clone()
    values[rows] += torch.where(up, distances, -distances)
    return values


def _opening(model, step, q=None):
    """A walk's first two batches, coded (``q``: the int64 values) or read by ``step``: "is
    it its row's centre", then for the other rows "is it above": (those rows, their
    centres, whether each is above, their true distances from the centre or None)."""
    centre = model.centre
    distance = None if q is None else (q - centre).abs()
    exact = step(model.exact_frequencies(), None if distance is None else distance == 0)
    rows = torch.nonzero(~exact).reshape(-1)
    c = centre[rows]
    up = step(model.up_frequencies(rows), None if q is None else q[rows] > c)
    return rows, c, up, None if distance is None else distance[rows]


def _room(model, centre, up):
    """The largest distance from each row's ``centre`` on its side (``up``) within the bounds."""
    return torch.where(up, model.high - centre, centre - model.low)


def _side(centre, up, active, distances):
    """Values at ``distances`` (first, last) on each active row's side of its centre."""
    cc, upward = centre[active], up[active]
    first, last = distances
    return torch.where(upward, cc + first, cc - last), torch.where(upward, cc + last, cc - first)


def _distances(room, decide):
    """Each row's distance from its centre (at least 1, at most ``room``), decided round by
    round: buckets [2^k, 2^(k+1) - 1], unary in k, then bisection inside the bucket.
    ``decide(active, part, within, rule)`` gives the decisions "the distance lies in
    ``part``" of the ``active`` rows, knowing it lies in ``within`` (both pairs of distance
    bounds); ``rule(d)`` computes them from the true distances (the encoder's)."""
    first = torch.ones_like(room)
    active = torch.arange(len(room))
    while len(active):
        active = active[2 * first[active] <= room[active]]
        if not len(active):
            break
        a, r = first[active], room[active]
        grow = decide(active, (2 * a, r), (a, r), lambda d, active=active, a=a: d[active] >= 2 * a)
        first[active[grow]] *= 2
        active = active[grow]
    last = torch.minimum(2 * first - 1, room)
    # Bisection inside the bucket: "is d >= mid".
    active = torch.nonzero(last > first).reshape(-1)
    while len(active):
        a, b = first[active], last[active]
        mid = (a + b + 1) // 2
        high_half = decide(active, (mid, b), (a, b), lambda d, active=active, mid=mid: d[active] >= mid)
        first[active] = torch.where(high_half, mid, a)
        last[active] = torch.where(high_half, b, mid - 1)
        active = active[last[active] > first[active]]
    return first


def _checked(q, low, high):
    q = torch.as_tensor(q).reshape(-1)
    if len(q) and (int(q.min()) < low or int(q.max()) > high):
        raise ValueError(f"values outside [{low}, {high}] cannot be coded")
    return q


def _writing(writer):
    def step(frequencies, decisions):
        writer.write(frequencies, decisions)
        return decisions

    return step


def _reading(reader):
    return lambda frequencies, _: reader.read(frequencies)


def write(writer, q, mu, scale, low, high, tail=None):
    """Integers ``q`` in [low, high] with their predicted location and scale -> batches of
    ``writer`` (an :func:`omnicodec.entropy.binary_writer`); ``tail`` as :func:`_mass`."""
    q = _checked(q, low, high)
    _walk(_FloatLogistic(torch.as_tensor(mu), torch.as_tensor(scale), low, high, tail), _writing(writer), q)


def read(reader, mu, scale, low, high, tail=None):
    """Inverse of :func:`write`: the int64 values, one per ``mu``."""
    return _walk(_FloatLogistic(torch.as_tensor(mu), torch.as_tensor(scale), low, high, tail), _reading(reader))


def write_integer(writer, q, model):
    """Integers ``q`` under an :class:`IntegerLogistic` -> batches of ``writer``: the same
    frequencies on every machine."""
    for frequencies, decisions in _encoding_batches(model, _checked(q, model.low, model.high)):
        writer.write(frequencies, decisions)


def _encoding_batches(model, q):
    """The batches of (frequencies, decisions) :func:`_walk` codes ``q`` in under an
    :class:`IntegerLogistic`, in its order. The encoder knows every row's path, so the
    rounds of :func:`_distances` are taken first and the masses of all of them in one call:
    the same integers as round by round (a row's mass depends on that row alone), in a
    fraction of the calls."""
    batches = []

    def record(frequencies, decisions):
        batches.append((frequencies, decisions))
        return decisions

    rows, c, up, d = _opening(model, record, q.reshape(-1).to(torch.int64))
    rounds = []  # (active rows, part's values, whole's values, decisions), as _walk decides them

    def decide(active, part, within, rule):
        rounds.append((active, _side(c, up, active, part), _side(c, up, active, within), rule(d)))
        return rounds[-1][3]

    _distances(_room(model, c, up), decide)
    if not rounds:
        return batches
    active, part, within, decisions = zip(*rounds)
    bounds = lambda pairs: tuple(torch.cat([pair[end] for pair in pairs]) for end in (0, 1))  # noqa: E731
    frequencies = model.ratio_frequencies(rows[torch.cat(active)], bounds(part), bounds(within))
    return batches + list(zip(torch.split(frequencies, [len(rows_) for rows_ in active]), decisions))


def read_integer(reader, model):
    """Inverse of :func:`write_integer`: the int64 values, one per row of ``model``."""
    return _walk(model, _reading(reader))


def best_scale_exponent(values, location, exponents, per_octave, low, high, tail=None):
    """Of ``exponents``, the e whose logistic at ``location`` with scale 2^(e / per_octave)
    codes ``values`` in the fewest bits (what an encoder fits and sends for a stream)."""
    exponents = list(exponents)
    # each distinct value once, weighted by its count: one (exponents, values) evaluation
    values, counts = torch.unique(torch.as_tensor(values, dtype=torch.float64), return_counts=True)
    scales = torch.tensor([2.0 ** (e / per_octave) for e in exponents], dtype=torch.float64)
    grid = values.expand(len(exponents), -1)
    costs = bits(grid, torch.full_like(grid, float(location)), scales[:, None].expand_as(grid), low, high,
                 tail) @ counts.to(torch.float64)
    return exponents[int(torch.argmin(costs))]  # the first of equals, as before
