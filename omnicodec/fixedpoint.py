"""Fixed-point helpers of the integer decoders: tables every machine computes alike, and
integer functions built on them.

A decoder may not call exp, log, cos... in float: libm and SIMD paths differ between
machines in the last bits, and a rounded table entry can flip with them. The tables here
come from Python's decimal arithmetic (software, correctly rounded, 40 digits), so their
integers are the same everywhere; what uses them is integer arithmetic.

The integer kernels (convolutions, dense layers, the logistic's masses) run in the C++
extension where it is built, else in their torch references; :func:`native` says which,
and ``sparse.integer.use_implementation`` chooses for a block of code (tests compare them).
"""

import contextlib
import decimal
import functools

import numpy as np

_chosen = [None]  # the implementation sparse.integer.use_implementation() picked, if any


def chosen_implementation():
    """The integer kernels' implementation asked for (a path name or "reference"), or None."""
    return _chosen[0]


@contextlib.contextmanager
def implementation(name):
    """Run the enclosed code's integer kernels with implementation ``name`` (checked by
    ``sparse.integer.use_implementation``)."""
    previous, _chosen[0] = _chosen[0], name
    try:
        yield
    finally:
        _chosen[0] = previous


def native():
    """The C++ extension holding the integer kernels, unless it is not built or the torch
    references are asked for."""
    from omnicodec.entropy import rans

    return None if _chosen[0] == "reference" or not rans.available() else rans._coder

CONTEXT = decimal.Context(prec=40)


def rounded(value):
    """A Decimal to the nearest integer (ties to even)."""
    return int(value.to_integral_value(decimal.ROUND_HALF_EVEN))


@functools.lru_cache(maxsize=None)
def pi():
    """pi to the context's precision (Machin's formula)."""
    def arctan_inverse(n):
        x = CONTEXT.divide(1, n)
        term, total, k = x, x, 1
        while True:
            term = CONTEXT.divide(-term, n * n)
            step = CONTEXT.divide(term, 2 * k + 1)
            if step == 0 or abs(step) < decimal.Decimal(10) ** -(CONTEXT.prec + 2):
                return total
            total, k = CONTEXT.add(total, step), k + 1

    return CONTEXT.multiply(4, CONTEXT.subtract(CONTEXT.multiply(4, arctan_inverse(5)), arctan_inverse(239)))


def cos(x):
    """cos of a Decimal in [0, pi/2], by its Taylor series."""
    square = CONTEXT.multiply(x, x)
    term, total, k = decimal.Decimal(1), decimal.Decimal(1), 1
    while True:
        term = CONTEXT.divide(CONTEXT.multiply(-term, square), (2 * k - 1) * (2 * k))
        if term == 0 or abs(term) < decimal.Decimal(10) ** -(CONTEXT.prec + 2):
            return total
        total, k = CONTEXT.add(total, term), k + 1


def geometric(first, ratio, count):
    """first x ratio^i for i in 0..count-1 (Decimals), one multiplication each: at 40 digits
    the rounding drifts by about 10^-37 over thousands of terms, far below what rounding
    to a table's integers can see."""
    values, value = [], first
    for _ in range(count):
        values.append(value)
        value = CONTEXT.multiply(value, ratio)
    return values


@functools.lru_cache(maxsize=None)
def cos_table(entries, bits):
    """round(2^bits x cos(i x pi / (2 x entries))) for i in 0..entries (a quarter turn),
    int64, by the recurrence cos((i + 1) a) = 2 cos a cos(i a) - cos((i - 1) a)."""
    step = cos(CONTEXT.divide(pi(), 2 * entries))
    values = [decimal.Decimal(1), step]
    while len(values) <= entries:
        values.append(CONTEXT.subtract(CONTEXT.multiply(2 * step, values[-1]), values[-2]))
    return np.array([rounded(CONTEXT.multiply(1 << bits, value)) for value in values[:entries + 1]],
                    dtype=np.int64)


@functools.lru_cache(maxsize=None)
def log2_table(steps, bits):
    """round(2^bits x log2(1 + i / steps)) for i in 0..steps, int64."""
    ln2 = CONTEXT.ln(2)
    return np.array([rounded(CONTEXT.multiply(1 << bits, CONTEXT.divide(CONTEXT.ln(1 + decimal.Decimal(i) / steps),
                                                                          ln2)))
                     for i in range(steps + 1)], dtype=np.int64)


def floor_log2(values):
    """floor(log2(v)) of positive int64 values below 2^53, exactly: the exponent of their
    (exact) float64 value, read off by frexp, not computed by a logarithm."""
    return np.frexp(np.asarray(values, dtype=np.int64).astype(np.float64))[1].astype(np.int64) - 1


@functools.lru_cache(maxsize=None)
def _log_thresholds(numerator, denominator, top):
    """The smallest integer v with floor((numerator / denominator) log2 v) >= k, for k in
    1..top: v^numerator >= 2^(k x denominator), by integer bisection."""
    thresholds = []
    for k in range(1, top + 1):
        bound, low, high = 1 << (k * denominator), 1, 1 << (k * denominator // numerator + 1)
        while low < high:
            middle = (low + high) // 2
            low, high = (middle + 1, high) if middle ** numerator < bound else (low, middle)
        thresholds.append(low)
    return tuple(thresholds)


def log2_bins(values, numerator, denominator, top):
    """floor((numerator / denominator) x log2 v) of integer tensors or arrays v >= 1,
    clamped to [0, top >= 1], by exact integer thresholds (no logarithm); int64."""
    bins = 0
    for threshold in _log_thresholds(numerator, denominator, top):
        bins = bins + (values >= threshold)
    return bins


def isqrt(values):
    """floor(sqrt(v)) of int64 values in [0, 2^62), in integers: Newton's iteration from a
    power of two above the root, which falls to the root and stops (beyond 2^53 floor_log2
    may read one too high: the start is then higher, still above the root)."""
    values = np.asarray(values, dtype=np.int64)
    root = np.where(values > 0, np.int64(1) << ((floor_log2(np.maximum(values, 1)) >> 1) + 1), 0)
    while True:
        lower = (root + values // np.maximum(root, 1)) >> 1
        falling = lower < root
        if not falling.any():
            return root
        root = np.where(falling, lower, root)


def round_shift(values, bits):
    """values / 2^bits rounded half up: (values + 2^(bits - 1)) >> bits (int64 numpy arrays
    or torch tensors)."""
    return (values + (1 << (bits - 1))) >> bits


def log2_fixed(values, bits=8, steps=256):
    """log2(v) of positive int64 values below 2^53 in fixed point with ``bits`` fractional
    bits: the exponent, plus the mantissa's log2 from :func:`log2_table`, interpolated
    linearly between its ``steps`` entries; integers only."""
    values = np.asarray(values, dtype=np.int64)
    exponent = floor_log2(values)
    # The mantissa as a 30-bit fraction of [1, 2).
    fraction = np.where(exponent >= 30, values >> np.maximum(exponent - 30, 0),
                        values << np.maximum(30 - exponent, 0)) - (1 << 30)
    position = fraction * steps
    index, part = position >> 30, position & ((1 << 30) - 1)
    table = log2_table(steps, bits)
    mantissa = table[index] + (((table[np.minimum(index + 1, steps)] - table[index]) * part) >> 30)
    return (exponent << bits) + mantissa


@functools.lru_cache(maxsize=None)
def ln2_fixed(bits=16):
    """round(2^bits x ln 2)."""
    return rounded(CONTEXT.multiply(1 << bits, CONTEXT.ln(2)))


def ln1p_fixed(values, bits, fraction_bits=0):
    """ln(1 + v) of int64 values v >= 0 with ``fraction_bits`` fractional bits, in fixed
    point with ``bits`` fractional bits (at most 16): log2(2^f + v) - f by
    :func:`log2_fixed`, times ln 2, in integers."""
    values = np.asarray(values, dtype=np.int64)
    log2 = log2_fixed((1 << fraction_bits) + values, bits=16) - (fraction_bits << 16)
    return (log2 * ln2_fixed(16)) >> (32 - bits)


def signed_ln1p_fixed(values, bits, fraction_bits=0):
    """sign(v) ln(1 + |v|) of int64 values, as :func:`ln1p_fixed`."""
    values = np.asarray(values, dtype=np.int64)
    return np.sign(values) * ln1p_fixed(np.abs(values), bits, fraction_bits)
