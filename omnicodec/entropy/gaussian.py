"""Conditional Gaussian entropy model of quantized latents, coded as binary decisions.

A latent value y with predicted mean mu and scale sigma is sent as the integer
q = round(y - mu) (clamped to +-MAX_MAGNITUDE) and rebuilt as q + mu. Under the model,
y - mu ~ N(0, sigma) integrated over q's unit interval. Instead of a K-symbol CDF row per
value (K x 4 bytes each, which does not fit memory for millions of values), q is
binarized: "is q nonzero", its sign (probability 1/2: the model is symmetric), then a
"is |q| larger than m" decision for m = 1, 2, ... until it stops. Each decision's
probability comes from the same discretized Gaussian, so by the chain rule the code length
is the multi-symbol code length; the binary coders (``binary_writer``) do the rest, with
the integer frequencies of ``binary_frequencies`` so encoder and decoder agree bit for bit.
"""

import math

import torch

from omnicodec.entropy.cdf import TOTAL, binary_frequencies

MAX_MAGNITUDE = 127
SCALE_MIN = 0.11  # as in CompressAI: below this the model would claim more certainty than rounding allows


def clamp_scale(sigma):
    return sigma.clamp(min=SCALE_MIN)


def _log_tail(magnitude, sigma):
    """log P(|q| >= magnitude) for magnitude >= 1 (both sides of the Gaussian)."""
    return math.log(2.0) + torch.special.log_ndtr(-(magnitude - 0.5) / sigma)


def likelihood_bits(values, sigma):
    """Training: bits of (noisy or rounded) centred values ``y - mu`` under N(0, sigma)
    integrated over a unit interval; differentiable in both."""
    sigma = clamp_scale(sigma)
    upper = torch.special.ndtr((0.5 - values.abs()) / sigma)
    lower = torch.special.ndtr((-0.5 - values.abs()) / sigma)
    return -torch.log2((upper - lower).clamp(min=1e-9))


def _nonzero_prob(sigma):
    return torch.exp(_log_tail(1.0, sigma))


def _continue_prob(magnitude, sigma):
    """P(|q| > m | |q| >= m)."""
    return torch.exp(_log_tail(magnitude + 1.0, sigma) - _log_tail(float(magnitude), sigma))


_HALF = binary_frequencies(torch.tensor([0.5]))


def quantize(values, limit=MAX_MAGNITUDE):
    """Centred values -> the integers that are coded (magnitudes up to ``limit``)."""
    return torch.round(values).clamp(-limit, limit).to(torch.int64)


class _FloatScales:
    """Each decision's frequencies from float scales (the float lossy models)."""

    def __init__(self, sigma):
        self.sigma = clamp_scale(sigma.reshape(-1).to(torch.float32))

    def __len__(self):
        return len(self.sigma)

    def frequencies(self, magnitude, rows):
        """Frequencies of "|q| > magnitude" for the values at ``rows`` (0: "q is nonzero")."""
        sigma = self.sigma[rows]
        return binary_frequencies(_nonzero_prob(sigma) if magnitude == 0 else _continue_prob(magnitude, sigma))


class TableScales:
    """Each decision's frequencies looked up in an integer table, row ``index`` of
    ``table`` (S, limit) for every value: column m holds "|q| > m" (m = 0: "q is nonzero").
    The integer lossy models keep the table with their weights, so no probability is
    computed at decode time."""

    def __init__(self, index, table):
        self.index, self.table = index.reshape(-1).to(torch.int64), table

    def __len__(self):
        return len(self.index)

    def frequencies(self, magnitude, rows):
        return self.table[self.index[rows], magnitude]


def scale_table(scales, limit=MAX_MAGNITUDE):
    """The (S, limit) int32 table of :class:`TableScales` for float64 scales (S,)."""
    sigma = clamp_scale(torch.as_tensor(scales, dtype=torch.float64)).unsqueeze(1)
    magnitude = torch.arange(limit, dtype=torch.float64).unsqueeze(0)
    tail = math.log(2.0) + torch.special.log_ndtr(-(torch.clamp(magnitude, min=1) - 0.5) / sigma)
    after = math.log(2.0) + torch.special.log_ndtr(-(magnitude + 0.5) / sigma)
    prob = torch.where(magnitude == 0, torch.exp(after), torch.exp(after - tail))
    return torch.round(prob * TOTAL).clamp(1, TOTAL - 1).to(torch.int32)


def write(writer, q, sigma, limit=MAX_MAGNITUDE):
    """Integers ``q`` (from :func:`quantize`, same ``limit``) with their scales (float, or
    a :class:`TableScales`) -> batches of ``writer``."""
    model = sigma if isinstance(sigma, TableScales) else _FloatScales(sigma)
    q = q.reshape(-1)
    nonzero = q != 0
    writer.write(model.frequencies(0, torch.arange(len(q))), nonzero)
    signs = q[nonzero] < 0
    writer.write(_HALF.expand(len(signs)), signs)
    rows = torch.nonzero(nonzero).reshape(-1)
    magnitude = q[nonzero].abs()
    m = 1
    while len(magnitude) and m < limit:
        more = magnitude > m
        writer.write(model.frequencies(m, rows), more)
        magnitude, rows = magnitude[more], rows[more]
        m += 1


def read(reader, sigma, limit=MAX_MAGNITUDE, shape=None):
    """Inverse of :func:`write`: the int64 integers, shaped like ``sigma`` (or ``shape``
    for a :class:`TableScales`)."""
    model = sigma if isinstance(sigma, TableScales) else _FloatScales(sigma)
    shape = shape if shape is not None else sigma.shape
    nonzero = reader.read(model.frequencies(0, torch.arange(len(model))))
    where = torch.nonzero(nonzero).reshape(-1)
    negative = reader.read(_HALF.expand(len(where)))
    magnitude = torch.ones(len(where), dtype=torch.int64)
    alive = torch.arange(len(where))
    m = 1
    while len(alive) and m < limit:
        more = reader.read(model.frequencies(m, where[alive]))
        alive = alive[more]
        magnitude[alive] += 1
        m += 1
    q = torch.zeros(len(model), dtype=torch.int64)
    q[where] = torch.where(negative, -magnitude, magnitude)
    return q.reshape(shape)
