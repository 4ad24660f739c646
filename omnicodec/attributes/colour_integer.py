"""The colour predictor in integers (colour-v2): the same network as
:class:`~omnicodec.attributes.colour_model.ColourNet`, computed so that every machine gets
the same numbers.

Features are fixed point with FEATURE_BITS fractional bits (colour differences to the
parent's colour in units of COLOUR_UNIT, presence flags, the log2 of the rate's steps),
weights have WEIGHT_BITS, every layer's int64 sum is rounded back to FEATURE_BITS
(:func:`omnicodec.sparse.integer.linear`). The heads give the location with the integer
logistic's LOCATION_BITS and the scale as its log-scale index, and the errors of the
channels coded before are fed back in the same fixed point, so the decoder computes no
float. ``python -m omnicodec.attributes.colour_integer --base colour-v1 --out
omnicodec/weights/colour_v2.pt`` makes the weights from the float model's by rounding.
"""

import argparse
import os

import torch
from torch import nn

from omnicodec import fixedpoint
from omnicodec.attributes.colour_model import COLOUR_UNIT, MAX_LEVEL, SLOTS, ColourNet
from omnicodec.attributes.levels import CENTRE
from omnicodec.entropy.logistic import LOCATION_BITS, SCALE_STEPS, ln_scale_index
from omnicodec.sparse import integer

FEATURE_BITS = 12
WEIGHT_BITS = 14
UNIT_BITS = int(COLOUR_UNIT).bit_length() - 1  # COLOUR_UNIT = 2^UNIT_BITS
_LINEARS = ("trunk", "head0_in", "head0_out", "head1_in", "head1_out", "head2_in", "head2_out")


class IntegerColourNet(nn.Module):
    """:class:`ColourNet` in integers: int64 weights with WEIGHT_BITS (biases and the level
    table with FEATURE_BITS + WEIGHT_BITS and FEATURE_BITS)."""

    integer = True

    def __init__(self, hidden=64, head=32, arithmetic="integer"):
        super().__init__()
        self.config = {"hidden": hidden, "head": head, "arithmetic": arithmetic}
        shapes = {"gather": (hidden, SLOTS * 4 + 2), "trunk": (hidden, hidden)}
        for channel in range(3):
            shapes[f"head{channel}_in"] = (head, hidden + channel)
            shapes[f"head{channel}_out"] = (2, head)
        for name, shape in shapes.items():
            self.register_buffer(f"{name}_weight", torch.zeros(shape, dtype=torch.int64))
            self.register_buffer(f"{name}_bias", torch.zeros(shape[0], dtype=torch.int64))
        self.register_buffer("level_table", torch.zeros(((MAX_LEVEL + 1) * 8, hidden), dtype=torch.int64))

    def _linear(self, name, x, relu):
        return integer.linear(x, getattr(self, f"{name}_weight"), getattr(self, f"{name}_bias"), WEIGHT_BITS,
                              relu=relu)

    def trunk_features(self, features, levels, stages):
        gathered = self._linear("gather", features, False) + self.level_table[levels.clamp(max=MAX_LEVEL) * 8 + stages]
        return self._linear("trunk", gathered.clamp(min=0), True)

    def channel(self, hidden, channel, known_errors):
        """(location offset, natural log scale), FEATURE_BITS, in units of COLOUR_UNIT."""
        x = self._linear(f"head{channel}_in", torch.cat([hidden, known_errors], dim=1), True)
        out = self._linear(f"head{channel}_out", x, False)
        return out[:, 0], out[:, 1]

    def adapted_buffers(self):
        """The weights the encoder's adaptation changes, with the power of two each is
        scaled by, in :func:`omnicodec.attributes.adaptation.head_parameters` order."""
        return [(getattr(self, f"{name}_{kind}"), WEIGHT_BITS + (FEATURE_BITS if kind == "bias" else 0))
                for name in _LINEARS for kind in ("weight", "bias")]

    def dequantized(self):
        """The float :class:`ColourNet` this network computes (up to its roundings): what the
        encoder's float searches (adaptation) run."""
        net = ColourNet(self.config["hidden"], self.config["head"])
        with torch.no_grad():
            for name, linear in _float_linears(net):
                linear.weight.copy_(getattr(self, f"{name}_weight").double() / (1 << WEIGHT_BITS))
                linear.bias.copy_(getattr(self, f"{name}_bias").double() / (1 << (FEATURE_BITS + WEIGHT_BITS)))
            net.level.weight.copy_(self.level_table.double() / (1 << FEATURE_BITS))
        return net.eval()


def _float_linears(float_net):
    """(name, nn.Linear) of a :class:`ColourNet`, named as :class:`IntegerColourNet`'s weights."""
    heads = [layer for head in float_net.heads for layer in (head[0], head[2])]
    return list(zip(("gather",) + _LINEARS, [float_net.gather, float_net.trunk[1], *heads]))


def quantize(float_net):
    """The :class:`IntegerColourNet` of a :class:`ColourNet`: weights x 2^WEIGHT_BITS,
    biases x 2^(FEATURE_BITS + WEIGHT_BITS), the level table x 2^FEATURE_BITS, rounded."""
    net = IntegerColourNet(float_net.config["hidden"], float_net.config["head"])

    def rounded(tensor, bits):
        return torch.round(tensor.double() * (1 << bits)).to(torch.int64)

    with torch.no_grad():
        for name, linear in _float_linears(float_net):
            getattr(net, f"{name}_weight").copy_(rounded(linear.weight, WEIGHT_BITS))
            getattr(net, f"{name}_bias").copy_(rounded(linear.bias, FEATURE_BITS + WEIGHT_BITS))
        net.level_table.copy_(rounded(float_net.level.weight, FEATURE_BITS))
    return net


def context_features(values, step_features, rows, depth_bits):
    """:func:`omnicodec.attributes.colour_model.context_features` in fixed point.

    ``values``: (N, 3) int32 colours as rebuilt; ``step_features``: the rate's two step
    features (FEATURE_BITS); ``rows``: (M, SLOTS) neighbour rows; ``depth_bits``: colour
    bits above 8 (the network sees 8-bit units). -> (int32 features, int64 reference
    colours). int32 holds every feature: a difference of 16-bit colours is below 2^17, so
    below 2^29 with FEATURE_BITS."""
    present = rows >= 0
    neighbours = values[rows.clamp(min=0)]
    parent_row = rows[:, 27 + CENTRE]
    reference = torch.where((parent_row >= 0)[:, None], values[parent_row.clamp(min=0)], 0)
    differences = neighbours - reference[:, None, :]
    if UNIT_BITS + depth_bits <= FEATURE_BITS:  # the same as the rounded shift below: exact
        differences = differences << (FEATURE_BITS - UNIT_BITS - depth_bits)
    else:
        differences = fixedpoint.round_shift(differences << FEATURE_BITS, UNIT_BITS + depth_bits)
    differences = differences * present[..., None]
    steps = torch.tensor(step_features, dtype=torch.int32).expand(len(rows), 2)
    features = torch.cat([differences.reshape(len(rows), -1), present.to(torch.int32) << FEATURE_BITS, steps],
                         dim=1)
    return features, reference.to(torch.int64)


def channel_predictions(net, values, levels, stages, neighbours, step_features, depth_bits):
    """Yields the integer logistic's (location, scale index) of Y, then of Co and Cg once
    sent the channel before's rebuilt values (int64), as
    :func:`omnicodec.attributes.colour_coding.channel_predictions` does in float."""
    features, reference = context_features(values, step_features, neighbours, depth_bits)
    hidden = net.trunk_features(features, levels, stages)
    unit_bits = UNIT_BITS + depth_bits  # one network unit = 2^unit_bits colour values
    errors = torch.zeros((len(hidden), 0), dtype=torch.int64)
    for channel in range(3):
        offset, log_scale = net.channel(hidden, channel, errors)
        location = (reference[:, channel] << LOCATION_BITS) + fixedpoint.round_shift(
            offset << unit_bits, FEATURE_BITS - LOCATION_BITS)
        rebuilt = yield location, ln_scale_index(log_scale, FEATURE_BITS) + SCALE_STEPS * unit_bits
        error = fixedpoint.round_shift(((rebuilt << LOCATION_BITS) - location) << (FEATURE_BITS - LOCATION_BITS),
                                       unit_bits)
        errors = torch.cat([errors, error[:, None]], dim=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Make the integer colour network from a float one.")
    parser.add_argument("--base", required=True, help="the float colour model to quantize: a model id "
                        "(colour-v1) or a weight file that omnicodec.train --export wrote")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from omnicodec import catalogue

    if os.path.exists(args.base):
        exported = torch.load(args.base, weights_only=False)
        float_net = ColourNet(**exported["config"])
        float_net.load_state_dict(exported["state_dict"])
    else:
        float_net = catalogue.build(args.base, ColourNet)
    net = quantize(float_net.eval())
    # Stored as int32 (every weight fits): half the file; loading widens them.
    state = {name: value.to(torch.int32) for name, value in net.state_dict().items()}
    torch.save({"config": net.config, "state_dict": state}, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
