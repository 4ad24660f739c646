"""The small learned predictors of the sensor codecs: one MLP per coded field, from the
features of a value's decoded neighbours to a correction of its reference prediction (in
units of the neighbours' spread) and the log of its logistic's scale.

:class:`FieldNet` computes in float (lidar-v1, depth-v1); :class:`IntegerFieldNet` is the
same network in integers (lidar-v2, depth-v2): features in fixed point with
FEATURE_BITS fractional bits, weights with WEIGHT_BITS, int64 sums (exact: no saturation
to plan for), each layer's sum rounded back to FEATURE_BITS; it returns the location
with the integer logistic's LOCATION_BITS and the scale as its log-scale index, so that
no float is computed at decode time. ``python -m omnicodec.scans.field_network --base
lidar-v1 --out omnicodec/weights/lidar_v2.pt`` makes it from the float weights (rounding
only: no calibration, no training).
"""

import argparse

import torch
from torch import nn

from omnicodec import fixedpoint
from omnicodec.entropy import logistic
from omnicodec.sparse import integer

FEATURE_BITS = 12
WEIGHT_BITS = 14


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


class IntegerFieldNet(nn.Module):
    """:class:`FieldNet` in integers (see the module's docstring): int64 weights per
    field, ``forward(field, features, reference, unit)`` on int64 tensors (features with
    FEATURE_BITS fractional bits, reference and unit with LOCATION_BITS) -> (int64
    locations with LOCATION_BITS, int64 log-scale indices). ``field_features``: the
    fields that take another number of features than ``features`` (a field fitted later
    on more of them)."""

    LAYERS = 3

    def __init__(self, fields, features, channels, log_scale_range, arithmetic="integer", field_features=None):
        super().__init__()
        field_features = dict(field_features or {})
        self.config = {"fields": list(fields), "features": features, "channels": channels,
                       "log_scale_range": list(log_scale_range), "arithmetic": arithmetic}
        if field_features:
            self.config["field_features"] = field_features
        for field in fields:
            sizes = [field_features.get(field, features), channels, channels, 2]
            for layer in range(self.LAYERS):
                self.register_buffer(f"{field}_weight{layer}", torch.zeros(sizes[layer + 1], sizes[layer],
                                                                          dtype=torch.int64))
                self.register_buffer(f"{field}_bias{layer}", torch.zeros(sizes[layer + 1], dtype=torch.int64))
        low, high = log_scale_range
        self.log_scale_bounds = (round(low * (1 << FEATURE_BITS)), round(high * (1 << FEATURE_BITS)))

    def forward(self, field, features, reference, unit):
        x = features
        for layer in range(self.LAYERS):
            weight, bias = getattr(self, f"{field}_weight{layer}"), getattr(self, f"{field}_bias{layer}")
            x = integer.linear(x, weight, bias, WEIGHT_BITS, relu=layer < self.LAYERS - 1)
        correction, log_scale = x[:, 0], x[:, 1].clamp(*self.log_scale_bounds)
        location = reference + fixedpoint.round_shift(correction * unit, FEATURE_BITS)
        index = logistic.ln_scale_index(log_scale, FEATURE_BITS)
        return location, index


def quantize(float_net):
    """The :class:`IntegerFieldNet` of a :class:`FieldNet`: weights x 2^WEIGHT_BITS and
    biases x 2^(FEATURE_BITS + WEIGHT_BITS), rounded."""
    net = IntegerFieldNet(float_net.FIELDS, float_net.FEATURES, float_net.config["channels"],
                          float_net.LOG_SCALE_RANGE)
    for field in float_net.FIELDS:
        quantize_head(net, field, float_net.heads[field])
    return net


def quantize_head(net, field, head):
    """Round a float head (an nn.Sequential of Linear and ReLU layers) into ``net``'s
    integer weights of ``field``."""
    with torch.no_grad():
        linears = [module for module in head if isinstance(module, nn.Linear)]
        for layer, linear in enumerate(linears):
            getattr(net, f"{field}_weight{layer}").copy_(
                torch.round(linear.weight.double() * (1 << WEIGHT_BITS)).to(torch.int64))
            getattr(net, f"{field}_bias{layer}").copy_(
                torch.round(linear.bias.double() * (1 << (FEATURE_BITS + WEIGHT_BITS))).to(torch.int64))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Make an integer field network from a float one.")
    parser.add_argument("--base", required=True, help="the float model to quantize (lidar-v1, depth-v1)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from omnicodec import zoo

    save(quantize(zoo.load(args.base)), args.out)


def save(net, path):
    """Write an :class:`IntegerFieldNet`'s weight file: stored as int32 (every weight and
    bias fits), half the file; loading widens them."""
    state = {name: value.to(torch.int32) for name, value in net.state_dict().items()}
    torch.save({"config": net.config, "state_dict": state}, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
