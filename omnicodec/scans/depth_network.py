"""The learned predictor of depth-camera images: for each depth the depth coder sends, the
location and scale of its discretized logistic, from the already decoded pixels about it
(omnicodec.scans.depth).

Depths are sent as ranks in the frame's table of depths (a Kinect's depths are its
disparity levels, so neighbouring ranks are neighbouring disparities, and on a plane the
disparity is affine in the pixel: halfway between two pixels, the rank is about their
mean). :func:`features` gives the network, training (``omnicodec.train --kind depth``)
and coding the same numbers; the network returns a correction of the reference (the mean
of the nearest decoded neighbours) in units of their spread, and the log of the scale.
"""

import numpy as np
import torch

from omnicodec import fixedpoint
from omnicodec.entropy.logistic import LOCATION_BITS
from omnicodec.scans.field_network import FEATURE_BITS, FieldNet

FIELDS = ("depth",)
NEIGHBOURS = 8  # the nearest pair (the pixel is halfway between them), six further ones
KINDS = 3  # the pixel lattice's first level, then the horizontal and vertical halvings
FEATURES = 2 * NEIGHBOURS + KINDS + 3
LOG_SCALE_RANGE = (-3.0, 14.0)


def _signed_log(values):
    return torch.sign(values) * torch.log1p(values.abs())


def features(kind, level, levels, neighbours, known, fallback, ranks):
    """(M, FEATURES) float32 features of the depths at one batch of pixels, their reference
    location and unit (value units).

    ``neighbours`` (M, NEIGHBOURS) int: the decoded ranks about each pixel, nearest pair
    first; ``known`` (M, NEIGHBOURS) bool where they hold a depth; ``fallback``: the rank a
    pixel with no known neighbour is predicted from; ``level``: the batch's halving (0 the
    finest) of ``levels``; ``ranks``: the frame's number of depths."""
    values = torch.as_tensor(neighbours, dtype=torch.float64)
    known = torch.as_tensor(known)
    weight = known.to(torch.float64)
    near, far = weight[:, :2], weight[:, 2:]
    near_mean = (values[:, :2] * near).sum(1) / near.sum(1).clamp(min=1)
    far_mean = (values[:, 2:] * far).sum(1) / far.sum(1).clamp(min=1)
    reference = torch.where(near.sum(1) > 0, near_mean,
                            torch.where(far.sum(1) > 0, far_mean, torch.full_like(near_mean, float(fallback))))
    masked = torch.where(known, values, reference[:, None])
    spread = torch.where(near.sum(1) > 1, (values[:, 0] - values[:, 1]).abs(),
                         masked.max(1).values - masked.min(1).values)
    unit = spread / 2 + 1
    columns = [
        weight,
        torch.nn.functional.one_hot(torch.full((len(values),), kind), KINDS).to(torch.float64),
        torch.full((len(values), 1), level / max(levels, 1), dtype=torch.float64),
        _signed_log(masked - reference[:, None]) / 4,
        _signed_log(spread)[:, None] / 8,
        (reference / max(ranks - 1, 1))[:, None],
    ]
    return torch.cat(columns, dim=1).to(torch.float32), reference, unit


def integer_features(kind, level, levels, neighbours, known, fallback, ranks):
    """:func:`features` in integers, for the integer network: (M, FEATURES) int64 features
    with FEATURE_BITS fractional bits, and the reference (means rounded down) and unit with
    the integer logistic's LOCATION_BITS."""
    one, location_one = 1 << FEATURE_BITS, 1 << LOCATION_BITS
    values = np.asarray(neighbours, dtype=np.int64)
    known = np.asarray(known, dtype=bool)
    near, far = known[:, :2], known[:, 2:]
    near_count, far_count = near.sum(1), far.sum(1)
    near_mean = (np.where(near, values[:, :2], 0).sum(1) * location_one) // np.maximum(near_count, 1)
    far_mean = (np.where(far, values[:, 2:], 0).sum(1) * location_one) // np.maximum(far_count, 1)
    reference = np.where(near_count > 0, near_mean, np.where(far_count > 0, far_mean, int(fallback) * location_one))
    masked = np.where(known, values * location_one, reference[:, None])
    spread = np.where(near_count > 1, np.abs(values[:, 0] - values[:, 1]) * location_one,
                      masked.max(1) - masked.min(1))
    unit = spread // 2 + location_one
    kinds = np.zeros((len(values), KINDS), dtype=np.int64)
    kinds[:, kind] = one
    columns = [
        known.astype(np.int64) * one,
        kinds,
        np.full((len(values), 1), (level << FEATURE_BITS) // max(levels, 1), dtype=np.int64),
        fixedpoint.signed_ln1p_fixed(masked - reference[:, None], FEATURE_BITS, LOCATION_BITS) // 4,
        (fixedpoint.signed_ln1p_fixed(spread, FEATURE_BITS, LOCATION_BITS) // 8)[:, None],
        ((reference << FEATURE_BITS) // (location_one * max(ranks - 1, 1)))[:, None],
    ]
    return (torch.from_numpy(np.concatenate(columns, axis=1)), torch.from_numpy(reference),
            torch.from_numpy(unit))


class DepthNet(FieldNet):
    """An MLP: features -> (correction, log scale)."""

    FIELDS = FIELDS
    FEATURES = FEATURES
    LOG_SCALE_RANGE = LOG_SCALE_RANGE
