"""The learned predictor of LiDAR sweeps: for each value the scan coder sends, the
location and scale of its discretized logistic, from the already decoded neighbours
along the point's laser (omnicodec.scans.lidar).

Each coded field (range, azimuth arc, height residual) has a small MLP of its own. A
field's features and its reference prediction come from :func:`features`, so training
(``omnicodec.train --kind lidar``) and coding see exactly the same numbers; the network
returns a correction of the reference in units of the neighbours' spread, and the log
of the scale.
"""

import numpy as np
import torch

from omnicodec import fixedpoint
from omnicodec.entropy.logistic import LOCATION_BITS
from omnicodec.scans.field_network import FEATURE_BITS, FieldNet

FIELDS = ("rho", "arc", "dz")
FEATURES = 8
# Ranges with a prediction from the sweep before (omnicodec.scans.lidar_inter) may go by a
# head of their own that also sees it: INTER_FEATURES more features.
INTER_FIELD, INTER_FEATURES = "rho_inter", 3
UNIT_FRACTION_BITS = 8  # of the difference in units
LOG_SCALE_RANGE = (-3.0, 16.0)


def _signed_log(values):
    return torch.sign(values) * torch.log1p(values.abs())


def features(field, level, levels, has_right, left, right, gap_left, gap_right, rho, spread):
    """(F, FEATURES) float32 features of one field's values at a level, and their
    reference location and unit (the prediction the network corrects, in value units).

    ``left``/``right``: the decoded neighbours' values (right = left where there is no
    right one); gaps in azimuth steps; ``rho`` the point's range; ``spread`` a field's own
    measure of disagreement between the neighbours (its unit)."""
    f = lambda v: torch.as_tensor(v, dtype=torch.float64)  # noqa: E731
    left, right, gap_left, gap_right = f(left), f(right), f(gap_left), f(gap_right)
    has_right = f(has_right)
    span = (gap_left + gap_right).clamp(min=1)
    weight = torch.where(has_right > 0, gap_left / span, torch.zeros_like(span))
    # The arcs' neighbours are their own arcs, which say where the prediction is off, not
    # where the value lies: their reference is 0.
    reference = torch.zeros_like(left) if field == "arc" else left + (right - left) * weight
    unit = f(spread).abs() / 2 + 1
    columns = [
        has_right,
        torch.full_like(left, level / max(levels, 1)),
        _signed_log(right - left) / 8,
        _signed_log(f(spread)) / 8,
        torch.log1p(gap_left) / 4,
        torch.log1p(gap_right) / 4,
        torch.log1p(f(rho)) / 12,
        _signed_log(torch.zeros_like(left) if field == "rho" else left) / 4,
    ]
    return torch.stack(columns, dim=1).to(torch.float32), reference, unit


def integer_features(field, level, levels, has_right, left, right, gap_left, gap_right, rho, spread):
    """:func:`features` in integers, for the integer network: (F, FEATURES) int64 features
    with FEATURE_BITS fractional bits, and the reference and unit with the integer
    logistic's LOCATION_BITS (natural logarithms from omnicodec.fixedpoint's tables)."""
    i = lambda v: np.broadcast_to(np.asarray(v, dtype=np.int64), np.shape(left))  # noqa: E731
    left, right, gap_left, gap_right, rho, spread = (i(v) for v in (left, right, gap_left, gap_right, rho, spread))
    has_right = i(has_right) != 0
    one, location_one = 1 << FEATURE_BITS, 1 << LOCATION_BITS
    span = np.maximum(gap_left + gap_right, 1)
    between = np.where(has_right, ((right - left) * gap_left * location_one) // span, 0)
    reference = np.zeros_like(left) if field == "arc" else left * location_one + between
    unit = np.abs(spread) * (location_one // 2) + location_one
    columns = [
        has_right * one,
        np.full_like(left, (level << FEATURE_BITS) // max(levels, 1)),
        fixedpoint.signed_ln1p_fixed(right - left, FEATURE_BITS) // 8,
        fixedpoint.signed_ln1p_fixed(spread, FEATURE_BITS) // 8,
        fixedpoint.ln1p_fixed(gap_left, FEATURE_BITS) // 4,
        fixedpoint.ln1p_fixed(gap_right, FEATURE_BITS) // 4,
        fixedpoint.ln1p_fixed(rho, FEATURE_BITS) // 12,
        fixedpoint.signed_ln1p_fixed(np.zeros_like(left) if field == "rho" else left, FEATURE_BITS) // 4,
    ]
    return (torch.from_numpy(np.stack(columns, axis=1)), torch.from_numpy(np.ascontiguousarray(reference)),
            torch.from_numpy(np.ascontiguousarray(unit)))


def inter_features(range_features, reference, unit, predicted, have, quantum):
    """The range features of :func:`integer_features` (``range_features``, ``reference``,
    ``unit``) and INTER_FEATURES more from the sweep before: whether it predicts the range,
    and how far its prediction (``predicted`` voxels, where ``have``; ranges sent in units
    of ``quantum``) lies from the reference, as a signed log in values and in units."""
    have = np.asarray(have)
    difference = np.where(have, (np.asarray(predicted, dtype=np.int64) << LOCATION_BITS) // quantum
                          - reference.numpy(), 0)
    in_units = (difference << UNIT_FRACTION_BITS) // unit.numpy()
    columns = [have * (1 << FEATURE_BITS),
               fixedpoint.signed_ln1p_fixed(difference, FEATURE_BITS, LOCATION_BITS) // 8,
               fixedpoint.signed_ln1p_fixed(in_units, FEATURE_BITS, UNIT_FRACTION_BITS) // 4]
    return torch.cat([range_features, torch.from_numpy(np.stack(columns, axis=1).astype(np.int64))], dim=1)


class LidarNet(FieldNet):
    """One small MLP per field: features -> (correction, log scale)."""

    FIELDS = FIELDS
    FEATURES = FEATURES
    LOG_SCALE_RANGE = LOG_SCALE_RANGE
