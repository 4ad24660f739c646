"""The small learned predictors of the sensor codecs: one MLP per coded field, from the
features of a value's decoded neighbours to a correction of its reference prediction (in
units of the neighbours' spread) and the log of its logistic's scale."""

import torch
from torch import nn


class FieldNet(nn.Module):
    """One MLP per field of ``FIELDS``: FEATURES features -> (correction, log scale).
    Subclasses name the fields, the features and the log scale's range."""

    FIELDS = ()
    FEATURES = 0
    LOG_SCALE_RANGE = (-3.0, 16.0)

    def __init__(self, channels=32):
        super().__init__()
        self.config = {"channels": channels}
        self.heads = nn.ModuleDict({
            field: nn.Sequential(nn.Linear(self.FEATURES, channels), nn.ReLU(),
                                 nn.Linear(channels, channels), nn.ReLU(),
                                 nn.Linear(channels, 2))
            for field in self.FIELDS})

    def forward(self, field, feats, reference, unit):
        """-> (location, scale) float64 of the field's values."""
        out = self.heads[field](feats).to(torch.float64)
        location = reference + out[:, 0] * unit
        scale = torch.exp(out[:, 1].clamp(*self.LOG_SCALE_RANGE))
        return location, scale
