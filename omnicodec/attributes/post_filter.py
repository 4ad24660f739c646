"""A least-squares filter of decoded colours, fitted by the encoder and sent (as video
coders' adaptive loop filters are): each voxel's value moves towards the means of its
decoded neighbours across faces, edges and corners, by weights per channel and ring that
the encoder fits to the true values. Quantization leaves noise that its neighbours
average out; the weights say how much, for this cloud and rate. The decoder applies them
in integers, so every machine rebuilds the same colours.
"""

import numpy as np

from omnicodec.errors import BitstreamError
from omnicodec.fixedpoint import round_shift

WEIGHT_BITS = 6  # weights are sent in units of 1 / 2^WEIGHT_BITS, within +-1
MEAN_BITS = 8  # fractional bits of each ring's mean difference
RECIPROCAL_BITS = 16
_OFFSETS = np.array([[k % 3 - 1, k // 3 % 3 - 1, k // 9 - 1] for k in range(27)])
RINGS = [np.flatnonzero(np.count_nonzero(_OFFSETS, axis=1) == ring) for ring in (1, 2, 3)]  # faces, edges, corners
# 2^RECIPROCAL_BITS / count, rounded: a mean without a division per voxel
RECIPROCALS = np.array([0] + [((1 << RECIPROCAL_BITS) + count // 2) // count
                              for count in range(1, max(map(len, RINGS)) + 1)], dtype=np.int64)
VALUE_LIMIT = 1 << 23  # values are held within +-VALUE_LIMIT (a rebuilt 16-bit colour in fixed
# point stays within 2^22; only a crafted stream is clipped, the same on both sides)


def ring_differences(table, values):
    """For voxels with (N, C) int64 ``values`` and (N, 27) rows of their 3 x 3 x 3
    neighbours ``table`` (-1: absent; :func:`~omnicodec.sparse.integer.neighbour_table`):
    per ring, each voxel's mean difference to its neighbours there, in 1 / 2^MEAN_BITS
    units, as (sum - count x value) x RECIPROCALS[count] >> (RECIPROCAL_BITS - MEAN_BITS)
    (0 where it has none)."""
    # int32 sums (at most 12 values of 2^23); the last column counts the neighbours, and the
    # row after the last is zeros, which an absent neighbour (-1) reads
    values = np.clip(values, -VALUE_LIMIT, VALUE_LIMIT)
    padded = np.zeros((len(values) + 1, values.shape[1] + 1), dtype=np.int32)
    padded[:-1, :-1] = values
    padded[:-1, -1] = 1
    out = []
    for columns in RINGS:
        total = np.zeros(padded[:-1].shape, dtype=np.int32)
        for column in columns:
            total += np.take(padded, table[:, column], axis=0)
        count = total[:, -1].astype(np.int64)
        difference = total[:, :-1] - count[:, None] * values
        out.append((difference * RECIPROCALS[count][:, None]) >> (RECIPROCAL_BITS - MEAN_BITS))
    return out


def apply(values, differences, weights):
    """(N, C) values moved by ``weights`` ((rings, C) ints) times the rings' mean
    differences, rounded half up."""
    total = sum(differences[ring] * np.asarray(weights[ring], dtype=np.int64) for ring in range(len(RINGS)))
    return values + round_shift(total, WEIGHT_BITS + MEAN_BITS)


def fit(values, target, differences, fraction_bits):
    """The encoder's (rings, C) integer weights and the values they filter to (as
    :func:`apply` gives them): per channel, the least-squares fit of ``target`` - ``values``
    on the rings' mean differences, rounded; zeros for a channel where the filter would not
    lower the squared error of the values as they come out (their ``fraction_bits`` rounded
    off)."""
    weights = np.zeros((len(RINGS), values.shape[1]), dtype=np.int64)
    for channel in range(values.shape[1]):
        features = np.stack([ring[:, channel] for ring in differences], axis=1) / float(1 << MEAN_BITS)
        error = (target[:, channel] - values[:, channel]).astype(np.float64)
        solution = np.linalg.lstsq(features, error, rcond=None)[0]
        weights[:, channel] = np.clip(np.round(solution * (1 << WEIGHT_BITS)), -(1 << WEIGHT_BITS), 1 << WEIGHT_BITS)
    def error(rebuilt):
        return ((round_shift(rebuilt, fraction_bits) - round_shift(target, fraction_bits)) ** 2).sum(axis=0)

    filtered = apply(values, differences, weights)
    worse = error(filtered) >= error(values)  # channels are filtered apart: switch those off
    weights[:, worse] = 0
    filtered[:, worse] = values[:, worse]
    return weights, filtered


def checked(weights, channels):
    """Weights read from a stream (Python ints) -> (rings, channels) int64, or BitstreamError."""
    if any(abs(int(weight)) > 1 << WEIGHT_BITS for weight in weights):
        raise BitstreamError("colour filter weights are out of range: corrupted stream")
    return np.asarray(weights, dtype=np.int64).reshape(len(RINGS), channels)
