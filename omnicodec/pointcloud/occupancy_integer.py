"""The occupancy model in integer arithmetic: the same probabilities on every machine.

A stream decodes only where the decoder computes the encoder's probabilities exactly.
Float networks do so only on the same BLAS, CPU, thread count and engine; this model
computes with integers only (omnicodec.sparse.integer), so every implementation, thread
count and instruction set gives the same frequencies, by construction.

It is :class:`omnicodec.pointcloud.occupancy.OccupancyModel` (the same layers and stages) in
16-bit fixed point: features are int16 with ACTIVATION_BITS fractional bits, each
convolution's weights int16 with ``shift`` fractional bits (the most that keep every
int32 sum in range for that layer's input bound), sums int32. A stage's logit, an int64
dot product, indexes a table of 16-bit frequencies of a one (the logistic sampled every
1/LOGIT_STEPS, stored with the weights), so not even the sigmoid is computed at decode time.

The weights are made from a float model by :func:`quantize`, with input bounds measured
on calibration clouds (never the evaluation frames):

    python -m omnicodec.pointcloud.occupancy_integer --data ../shared/data \
        --out omnicodec/weights/occupancy_v2.pt
"""

import argparse
import math

import numpy as np
import torch
from torch import nn

from omnicodec.entropy.cdf import TOTAL
from omnicodec.grid.octree import CODING_ORDER
from omnicodec.sparse import integer

ACTIVATION_BITS = 8  # int16 features: range +-128, resolution 1/256
MAX_WEIGHT_BITS = 14
LOGIT_STEPS = 16  # the frequency table samples the logit every 1/16
LOGIT_RANGE = 32  # logits beyond +-32 take the table's ends (1 and 65535 in 65536)
OUTPUT_BITS = 12  # fractional bits of the output layer's weights
ONE = 1 << ACTIVATION_BITS
LOGIT_BITS = ACTIVATION_BITS + OUTPUT_BITS  # fractional bits of a stage's int64 logit
KNOWN_LOGIT = 1 << 60  # the logit of a child already known (predict_rest)


def conv_layers(blocks):
    """Names of the model's convolutions and their kernel volumes, in computation order."""
    names = [("embed", 27)]
    names += [(f"fine.{b}.{half}", 27) for b in range(blocks) for half in ("first", "second")]
    names += [("down", 8)]
    names += [(f"coarse.{b}.{half}", 27) for b in range(blocks) for half in ("first", "second")]
    names += [("up", 8), ("merge.first", 27), ("merge.second", 27), ("context_conv", 27),
              ("known_conv", 27), ("head", 27)]
    return names


def buffer_name(layer):
    return layer.replace(".", "_")


class ScaleContext:
    """One scale's neighbourhood tables and backbone features (int16)."""

    __slots__ = ("table", "features")

    def __init__(self, table, features):
        self.table, self.features = table, features


class FixedPointNetwork(nn.Module):
    """What the integer networks share: layers stored as buffers ``<name>_weight`` (packed
    int16) and ``<name>_bias`` (int32), with ``config["shifts"]`` and ``config["bounds"]``
    by layer name (the weights' fractional bits, the int16 bound of the inputs)."""

    arithmetic = "integer"

    def _conv(self, layer, x, table, residual=None, relu=False, bias=None):
        name = buffer_name(layer)
        return integer.conv(integer.pad_channels(x), table, getattr(self, name + "_weight"),
                            getattr(self, name + "_bias") if bias is None else bias,
                            self.config["shifts"][layer], self.config["bounds"][layer], residual, relu)

    def _block(self, prefix, x, table):
        """ResBlock: relu(x + second(relu(first(x))))."""
        y = self._conv(prefix + ".first", x, table, relu=True)
        return self._conv(prefix + ".second", y, table, residual=x, relu=True)

    @staticmethod
    def _ones(rows):
        """The constant input feature 1 of an embedding layer, (rows, 1) in fixed point."""
        return torch.full((rows, 1), ONE, dtype=torch.int16)


class IntegerOccupancyModel(FixedPointNetwork):
    """Integer inference of the occupancy model. ``shifts`` and ``bounds``: per layer name,
    the weights' fractional bits and the int16 bound its inputs are clamped to."""

    def __init__(self, channels=32, blocks=2, shifts=None, bounds=None, arithmetic="integer"):
        super().__init__()
        c = channels
        self.blocks = blocks
        self.config = {"channels": channels, "blocks": blocks, "shifts": dict(shifts or {}),
                       "bounds": dict(bounds or {}), "arithmetic": arithmetic}
        inputs = {"embed": 2, "known_conv": 8}
        for layer, volume in conv_layers(blocks):
            cin = inputs.get(layer, c)
            self.register_buffer(buffer_name(layer) + "_weight",
                                 torch.zeros((volume, cin // 2, c, 2), dtype=torch.int16))
            if layer != "known_conv":  # its bias is the stage's, below
                self.register_buffer(buffer_name(layer) + "_bias", torch.zeros(c, dtype=torch.int32))
        self.register_buffer("stage_bias", torch.zeros((8, c), dtype=torch.int32))
        self.register_buffer("out_weight", torch.zeros((8, c), dtype=torch.int64))
        self.register_buffer("out_bias", torch.zeros(8, dtype=torch.int64))
        self.register_buffer("frequency_table", torch.zeros(2 * LOGIT_RANGE * LOGIT_STEPS + 1, dtype=torch.int32))

    def scale_context(self, parent_keys, bits):
        """Backbone of one scale: Morton-sorted keys of its occupied voxels, on a grid of
        ``bits`` bits per axis -> :class:`ScaleContext`."""
        table = integer.neighbour_table(parent_keys, bits)
        coarse_keys, down, up = integer.parent_tables(parent_keys)
        coarse_table = integer.neighbour_table(coarse_keys, max(bits - 1, 0))
        x = self._conv("embed", self._ones(len(parent_keys)), table, relu=True)
        for b in range(self.blocks):
            x = self._block(f"fine.{b}", x, table)
        skip = x
        y = self._conv("down", x, down, relu=True)
        for b in range(self.blocks):
            y = self._block(f"coarse.{b}", y, coarse_table)
        x = self._block("merge", self._conv("up", y, up, residual=skip), table)
        return ScaleContext(table, self._conv("context_conv", x, table))

    def stage_logits(self, context, known, stage):
        """(P,) int64 logit of the child CODING_ORDER[stage] being occupied, scaled by
        2**LOGIT_BITS; ``known``: (P, 8) int8 children known so far (+1, -1, 0 unknown).

        The known-children layer's input channels are stored in coding order, so a stage
        passes only the pairs of channels coded before it (zeros add nothing to a sum)."""
        pairs = (stage + 1) // 2
        coded = known[:, list(CODING_ORDER[:2 * pairs])].to(torch.int16) * ONE
        h = integer.conv(coded, context.table, self.known_conv_weight[:, :pairs], self.stage_bias[stage],
                         self.config["shifts"]["known_conv"], self.config["bounds"]["known_conv"],
                         residual=context.features, relu=True)
        h = self._conv("head", h, context.table, relu=True)
        return integer.dot(h, self.out_weight[stage]) + self.out_bias[stage]

    def stage_frequencies(self, context, known, stage):
        """int32 frequencies (in 65536) of the child CODING_ORDER[stage] being occupied."""
        logit = self.stage_logits(context, known, stage)
        shift = LOGIT_BITS - (LOGIT_STEPS.bit_length() - 1)  # LOGIT_STEPS is a power of 2
        index = ((logit + (1 << (shift - 1))) >> shift) + LOGIT_RANGE * LOGIT_STEPS
        return self.frequency_table[index.clamp_(0, len(self.frequency_table) - 1)]

    def predict_rest(self, context, known, stages):
        """(P, 8) int64 logits of the children of the stages after the first ``stages``;
        +-KNOWN_LOGIT for the known children (above any logit)."""
        logits = known.to(torch.int64) * KNOWN_LOGIT
        for stage in range(stages, len(CODING_ORDER)):
            logits[:, CODING_ORDER[stage]] = self.stage_logits(context, known, stage)
        return logits


def _largest_shift(weight, bias, bound):
    """The most fractional bits (<= MAX_WEIGHT_BITS) for which the layer's int16 weights fit
    and no int32 sum can overflow with inputs within +-bound."""
    for shift in range(MAX_WEIGHT_BITS, -1, -1):
        q = torch.round(weight.double() * 2.0**shift)
        b = torch.round(bias.double() * 2.0**(shift + ACTIVATION_BITS))
        worst = q.abs().sum(dim=(0, 1)) * bound + b.abs() + 2.0**shift
        if q.abs().max() <= 32767 and float(worst.max()) < 2**31:
            return shift
    raise ValueError("a layer's weights are too large for 16-bit fixed point")


def input_bound(observed):
    """int16 input bound from the largest input seen in calibration: twice it, rounded up to
    a power of two, at most the int16 range."""
    return int(min(32767, 2 ** math.ceil(math.log2(max(2 * observed, 1.0))) * ONE))


def calibrate(float_model, layers, runs):
    """Largest |input| of each named layer of ``float_model`` (sparse convolutions or
    linear layers) over the calls in ``runs`` (each runs the model once): {name: float}."""
    seen = {}
    modules = dict(float_model.named_modules())
    hooks = []
    for layer in layers:
        def record(module, inputs, output, layer=layer):
            values = inputs[0] if isinstance(inputs[0], torch.Tensor) else inputs[0].features
            if len(values):
                seen[layer] = max(seen.get(layer, 0.0), float(values.detach().abs().max()))
        hooks.append(modules[layer].register_forward_hook(record))
    try:
        with torch.no_grad():
            for run in runs:
                run()
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def layer_input(module):
    """A sparse convolution's or linear layer's float (K, Cin, Cout) weight and (Cout,) bias."""
    if isinstance(module, nn.Linear):
        weight = module.weight.detach().t().unsqueeze(0)
    else:
        weight = module.weight.detach()
    bias = module.bias.detach() if module.bias is not None else torch.zeros(weight.shape[2])
    return weight, bias


def integer_layer(weight, bias, bound):
    """(shift, int16 weight, int32 bias) of a float layer whose inputs stay within
    +-``bound`` (int16 units)."""
    shift = _largest_shift(weight, bias, bound)
    return (shift, torch.round(weight.double() * 2.0**shift).to(torch.int16),
            torch.round(bias.double() * 2.0**(shift + ACTIVATION_BITS)).to(torch.int32))


def quantize(float_model, observed):
    """An :class:`IntegerOccupancyModel` from a float OccupancyModel (3x3x3 head) and the
    calibration maxima of :func:`calibrate`."""
    config = float_model.config
    if config["head_kernel"] != 3:
        raise ValueError("the integer occupancy model has a 3x3x3 head")
    modules = dict(float_model.named_modules())
    shifts, bounds, weights, biases = {}, {}, {}, {}
    for layer, _ in conv_layers(config["blocks"]):
        weight, bias = layer_input(modules[layer])
        if layer == "known_conv":  # inputs are +-ONE; its bias is the stage's
            bias = float_model.stage_bias.detach().abs().max(dim=0).values
        bounds[layer] = ONE if layer == "known_conv" else input_bound(observed[layer])
        shifts[layer], weights[layer], biases[layer] = integer_layer(weight, bias, bounds[layer])
    model = IntegerOccupancyModel(config["channels"], config["blocks"], shifts, bounds)
    with torch.no_grad():
        for layer, _ in conv_layers(config["blocks"]):
            name = buffer_name(layer)
            if layer == "known_conv":  # input channels in coding order (see stage_frequencies)
                model.known_conv_weight.copy_(integer.pack_weight(weights[layer][:, list(CODING_ORDER)]))
                continue
            getattr(model, name + "_weight").copy_(integer.pack_weight(weights[layer]))
            getattr(model, name + "_bias").copy_(biases[layer])
        model.stage_bias.copy_(torch.round(float_model.stage_bias.double()
                                           * 2.0**(shifts["known_conv"] + ACTIVATION_BITS)).to(torch.int32))
        model.out_weight.copy_(torch.round(float_model.out_weight.double() * 2.0**OUTPUT_BITS).to(torch.int64))
        model.out_bias.copy_(torch.round(float_model.out_bias.double()
                                         * 2.0**(OUTPUT_BITS + ACTIVATION_BITS)).to(torch.int64))
        logits = torch.arange(-LOGIT_RANGE * LOGIT_STEPS, LOGIT_RANGE * LOGIT_STEPS + 1, dtype=torch.float64)
        prob = torch.sigmoid(logits / LOGIT_STEPS)
        model.frequency_table.copy_(torch.round(prob * TOTAL).clamp(1, TOTAL - 1).to(torch.int32))
    return model


def calibration_blocks(data, objects, seed=0):
    """(sorted Morton keys, bits) of the first ``objects`` training objects of
    datasets.prepare (meshes and MVUB captures; never the evaluation frames)."""
    import pathlib

    from datasets.prepare import object_instances
    from omnicodec.grid import morton

    rng = np.random.default_rng(seed)
    blocks = []
    for index, (_, coords) in enumerate(object_instances(pathlib.Path(data), 1, rng)):
        if index == objects:
            break
        bits = max(1, int(coords.max()).bit_length())
        blocks.append((morton.unique_keys(morton.encode(coords, bits)), bits))
    return blocks


def calibration_scales(data, objects, seed=0):
    """(parent coords, child masks) of every scale of :func:`calibration_blocks`."""
    from omnicodec.grid import morton, octree

    scales = []
    for keys, bits in calibration_blocks(data, objects, seed):
        levels = octree.scales(keys, bits, min(3, bits))
        for depth, (parents, children) in enumerate(zip(levels[:-1], levels[1:]), start=min(3, bits)):
            scales.append((torch.from_numpy(morton.decode(parents, depth)),
                           torch.from_numpy(octree.child_masks(parents, children))))
    return scales


def main(argv=None):
    parser = argparse.ArgumentParser(description="Make the integer occupancy model from the float one.")
    parser.add_argument("--data", default="../shared/data", help="the shared data folder (calibration)")
    parser.add_argument("--base", default="occupancy-v1", help="the float model to quantize")
    parser.add_argument("--objects", type=int, default=8, help="calibration objects")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from omnicodec import zoo

    float_model = zoo.load(args.base)
    layers = [name for name, _ in conv_layers(float_model.config["blocks"])]
    runs = [lambda c=coords, m=masks: float_model.all_stage_logits(c, m)
            for coords, masks in calibration_scales(args.data, args.objects)]
    model = quantize(float_model, calibrate(float_model, layers, runs))
    torch.save({"config": model.config, "state_dict": model.state_dict()}, args.out)
    print(f"wrote {args.out}: shifts {model.config['shifts']}, bounds {model.config['bounds']}")


if __name__ == "__main__":
    main()
