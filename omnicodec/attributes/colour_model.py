"""The learned colour predictor: each point's colour distribution from its coded
neighbourhood at two octree scales (see :mod:`omnicodec.attributes.levels`).

Colours are coded in YCoCg-R (exactly invertible integer lifting of RGB), channel after
channel: Y, then Co knowing Y's error, then Cg knowing both. Lossy rates quantize the
YCoCg-R values with a step per channel before coding (the network is told the steps and
sees the neighbourhood's quantized values), so lossless is the step-1 case.
"""

import torch
from torch import nn

from omnicodec.attributes.levels import CENTRE, CONTEXT_SCALES

SLOTS = 27 * CONTEXT_SCALES  # 3x3x3 neighbour cells at the point's scale and coarser ones
MAX_LEVEL = 22
COLOUR_UNIT = 32.0  # colour differences are fed and predicted in units of this


class ColourNet(nn.Module):
    """Context features -> per channel (location, log scale) of a discretized logistic."""

    integer = False  # colour_integer.IntegerColourNet is its integer twin

    def __init__(self, hidden=64, head=32):
        super().__init__()
        self.config = {"hidden": hidden, "head": head}
        self.gather = nn.Linear(SLOTS * 4 + 2, hidden)  # the 3x3x3 gathers of every scale + steps
        self.level = nn.Embedding((MAX_LEVEL + 1) * 8, hidden)  # (level, stage)
        self.trunk = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden + channel, head), nn.ReLU(), nn.Linear(head, 2))
            for channel in range(3))

    def trunk_features(self, features, levels, stages):
        return self.trunk(self.gathered(features, levels, stages))

    def gathered(self, features, levels, stages):
        """The first layer's output (before the trunk's nonlinearity)."""
        return self.gather(features) + self.level(levels.clamp(max=MAX_LEVEL) * 8 + stages)

    def channel(self, hidden, channel, known_errors):
        """(location offset, log scale) of ``channel`` in colour units / COLOUR_UNIT, given
        the normalized errors of the channels before it ((M, channel))."""
        out = self.heads[channel](torch.cat([hidden, known_errors], dim=1))
        return out[:, 0], out[:, 1]


def context_features(values, steps, rows):
    """The network's input of M points.

    ``values``: (N, 3) float YCoCg-R colours as reconstructed (quantized) of all points;
    ``steps``: the three quantization steps; ``rows``: (M, SLOTS) neighbour rows of
    :func:`~omnicodec.attributes.levels.level_contexts` (-1 for unknown/empty).
    Differences are taken to the parent's colour (the centre one scale up), which is also
    returned as the reference of the predicted locations (zero for the root point, which
    has no parent).
    """
    present = rows >= 0
    neighbours = values[rows.clamp(min=0)]  # (M, SLOTS, 3)
    parent_row = rows[:, 27 + CENTRE]
    reference = torch.where((parent_row >= 0)[:, None], values[parent_row.clamp(min=0)],
                            torch.zeros(1, 3, dtype=values.dtype))
    differences = (neighbours - reference[:, None, :]) * present[..., None] / COLOUR_UNIT
    log_steps = torch.log2(torch.as_tensor(steps, dtype=torch.float32))
    step_features = torch.stack([log_steps[0], log_steps[1]]).expand(len(rows), 2)
    features = torch.cat([differences.reshape(len(rows), -1), present.to(torch.float32),
                          step_features], dim=1)
    return features, reference
