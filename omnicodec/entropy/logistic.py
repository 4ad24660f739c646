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

import torch

from omnicodec.entropy.cdf import binary_frequencies

SCALE_MIN = 0.05  # a narrower logistic cannot be told apart from a sure value
# The tail the sensor and intensity models mix into every value's logistic: 1% of one
# 30 times wider, so an outlier costs tens of bits, not hundreds.
OUTLIER_TAIL = (0.01, 30.0)


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


def bits(q, mu, scale, low, high, tail=None):
    """Training: code length in bits of integers ``q`` (float tensor, may be noisy) in
    [low, high]; differentiable in ``mu`` and ``scale``."""
    return -torch.log2(_mass(q, q, mu, clamp_scale(scale), low, high, tail).clamp(min=1e-9))


def _ratio(part, whole):
    return (part / whole.clamp(min=1e-30)).clamp(0.0, 1.0)


def _walk(mu, scale, low, high, step, q=None, tail=None):
    """Run the decisions of one batch: ``step(prob_one, truth)`` codes one batch of binary
    decisions (``truth`` is None when decoding) and returns them. Returns the values."""
    mu = mu.reshape(-1).to(torch.float32)
    scale = clamp_scale(scale.reshape(-1).to(torch.float32))
    centre = torch.round(mu).clamp(low, high)
    distance = None if q is None else (q.reshape(-1).to(torch.float32) - centre).abs()

    def truth(rule):
        return None if distance is None else rule()

    exact = step(_mass(centre, centre, mu, scale, low, high, tail), truth(lambda: distance == 0))
    rows = torch.nonzero(~exact).reshape(-1)
    c, m, s = centre[rows], mu[rows], scale[rows]
    above = _mass(c + 1, torch.full_like(c, high), m, s, low, high, tail)
    below = _mass(torch.full_like(c, low), c - 1, m, s, low, high, tail)
    up = step(_ratio(above, above + below), truth(lambda: q.reshape(-1)[rows].to(torch.float32) > c))
    sign = torch.where(up, 1.0, -1.0)
    room = torch.where(up, high - c, c - low)  # the largest distance on that side
    d = None if distance is None else distance[rows]

    def side_mass(active, first, last):
        """Mass of distances [first, last] on each row's side of its centre."""
        cc, sg = c[active], sign[active]
        a = torch.where(sg > 0, cc + first, cc - last)
        b = torch.where(sg > 0, cc + last, cc - first)
        return _mass(a, b, m[active], s[active], low, high, tail)

    # Buckets d in [2^k, 2^(k+1) - 1], unary in k.
    first = torch.ones_like(c)
    active = torch.arange(len(rows))
    while len(active):
        active = active[2 * first[active] <= room[active]]
        if not len(active):
            break
        a, r = first[active], room[active]
        grow = step(_ratio(side_mass(active, 2 * a, r), side_mass(active, a, r)),
                    truth(lambda: d[active] >= 2 * a))
        first[active[grow]] *= 2
        active = active[grow]
    last = torch.minimum(2 * first - 1, room)
    # Bisection inside the bucket: "is d >= mid".
    active = torch.nonzero(last > first).reshape(-1)
    while len(active):
        a, b = first[active], last[active]
        mid = torch.floor((a + b + 1) / 2)
        high_half = step(_ratio(side_mass(active, mid, b), side_mass(active, a, b)),
                         truth(lambda: d[active] >= mid))
        first[active] = torch.where(high_half, mid, a)
        last[active] = torch.where(high_half, b, mid - 1)
        active = active[last[active] > first[active]]
    values = centre.clone()
    values[rows] += sign * first
    return values.to(torch.int64)


def write(writer, q, mu, scale, low, high, tail=None):
    """Integers ``q`` in [low, high] with their predicted location and scale -> batches of
    ``writer`` (an :func:`omnicodec.entropy.binary_writer`); ``tail`` as :func:`_mass`."""
    q = torch.as_tensor(q).reshape(-1)
    if len(q) and (int(q.min()) < low or int(q.max()) > high):
        raise ValueError(f"values outside [{low}, {high}] cannot be coded")

    def step(prob, decisions):
        writer.write(binary_frequencies(prob), decisions)
        return decisions

    _walk(mu, scale, low, high, step, q, tail)


def read(reader, mu, scale, low, high, tail=None):
    """Inverse of :func:`write`: the int64 values, one per ``mu``."""
    return _walk(mu, scale, low, high, lambda prob, _: reader.read(binary_frequencies(prob)), tail=tail)


def best_scale_exponent(values, location, exponents, per_octave, low, high, tail=None):
    """Of ``exponents``, the e whose logistic at ``location`` with scale 2^(e / per_octave)
    codes ``values`` in the fewest bits (what an encoder fits and sends for a stream)."""
    values = torch.as_tensor(values, dtype=torch.float64)
    at = torch.full_like(values, float(location))
    costs = {e: float(bits(values, at, torch.full_like(values, 2.0 ** (e / per_octave)), low, high, tail).sum())
             for e in exponents}
    return min(costs, key=costs.get)
