"""The lossy geometry model in integer arithmetic: the same reconstruction on every machine.

:class:`IntegerLossyModel` is :class:`omnicodec.pointcloud.lossy.LossyModel` (the same layers,
levels and PCGCv2 top-k regrowth) run in 16-bit fixed point on omnicodec.sparse.integer,
as occupancy_integer runs the occupancy model: features int16 with
ACTIVATION_BITS fractional bits, each layer's weights int16 with the most fractional bits
that keep every int32 sum in range, linear layers as one-offset convolutions. Every row
is kept in Morton order, so no engine is involved. The latent's scale is an index into a
table of integer frequencies stored with the weights (entropy.gaussian.TableScales), and the
classifier's scores are integers, so the decoder keeps exactly the encoder's voxels.

    python -m omnicodec.pointcloud.lossy_integer --data ../shared/data --base lossy-r1 \
        --out omnicodec/weights/lossy_d3_int.pt
"""

import argparse
import math

import numpy as np
import torch

from omnicodec.entropy import gaussian
from omnicodec.errors import BitstreamError
from omnicodec.pointcloud.occupancy_integer import (
    ONE, FixedPointNetwork, buffer_name, calibrate, calibration_blocks, input_bound, integer_layer,
    layer_input,
)
from omnicodec.sparse import integer

SCALE_STEPS = 16  # the latent's log-scale is indexed every 1/16
LOG_SCALE_RANGE = (math.log(gaussian.SCALE_MIN), 6.0)  # the float model's clamp, then SCALE_MIN


def conv_layers(levels, blocks=2):
    """(name, kernel volume) of every layer, linear layers with volume 1."""
    names = [("analysis_embed", 27)]
    for level in range(levels):
        names += [(f"analysis_down.{level}", 8), (f"analysis_blocks.{level}.first", 27),
                  (f"analysis_blocks.{level}.second", 27)]
    names += [("analysis_out", 27), ("context_embed", 27)]
    names += [(f"context_blocks.{b}.{half}", 27) for b in range(blocks) for half in ("first", "second")]
    names += [("prior_head", 1), ("synthesis_in", 1)]
    for level in range(levels):
        names += [(f"synthesis_blocks.{level}.first", 27), (f"synthesis_blocks.{level}.second", 27),
                  (f"upsample.{level}", 8), (f"classify.{level}.1", 1), (f"classify.{level}.3", 1)]
    return names


def _identity(rows):
    return torch.arange(rows, dtype=torch.int32).reshape(-1, 1)


def _children_table(parents):
    """(8P, 8) table of the generative transposed convolution: candidate 8p + c, the child
    c of parent p, reads p through the kernel offset of that child."""
    table = torch.full((8 * parents, 8), -1, dtype=torch.int32)
    child = torch.arange(8)
    column = ((child >> 2) & 1) | (((child >> 1) & 1) << 1) | ((child & 1) << 2)
    rows = torch.arange(8 * parents)
    table[rows, column.repeat(parents)] = torch.arange(parents, dtype=torch.int32).repeat_interleave(8)
    return table


class IntegerLossyModel(FixedPointNetwork):
    def __init__(self, levels=3, channels=32, latent_channels=8, shifts=None, bounds=None,
                 arithmetic="integer"):
        super().__init__()
        c, k = channels, latent_channels
        self.levels, self.latent_channels = levels, k
        self.config = {"levels": levels, "channels": channels, "latent_channels": latent_channels,
                       "shifts": dict(shifts or {}), "bounds": dict(bounds or {}), "arithmetic": arithmetic}
        shapes = {"analysis_embed": (2, c), "context_embed": (2, c), "analysis_out": (c, k),
                  "prior_head": (c, 2 * k), "synthesis_in": (c + k, c)}
        for level in range(levels):
            shapes[f"classify.{level}.3"] = (c, 1)
        for layer, volume in conv_layers(levels):
            cin, cout = shapes.get(layer, (c, c))
            self.register_buffer(buffer_name(layer) + "_weight",
                                 torch.zeros((volume, (cin + 1) // 2, cout, 2), dtype=torch.int16))
            self.register_buffer(buffer_name(layer) + "_bias", torch.zeros(cout, dtype=torch.int32))
        steps = int(round((LOG_SCALE_RANGE[1] - LOG_SCALE_RANGE[0]) * SCALE_STEPS)) + 1
        self.register_buffer("scale_frequencies", torch.zeros((steps, gaussian.MAX_MAGNITUDE), dtype=torch.int32))

    def latent(self, keys, bits, coarse_keys, coarse_bits):
        """The encoder's analysis: Morton-sorted keys of a block of ``bits`` -> (P, k) int16
        latent on the coarse scale's voxels, in Morton order, which is ``coarse_keys``'s."""
        x = self._conv("analysis_embed", self._ones(len(keys)), integer.neighbour_table(keys, bits), relu=True)
        for level in range(self.levels):
            keys, down, _ = integer.parent_tables(keys)
            bits -= 1
            x = self._conv(f"analysis_down.{level}", x, down, relu=True)
            x = self._block(f"analysis_blocks.{level}", x, integer.neighbour_table(keys, bits))
        return self._conv("analysis_out", x, integer.neighbour_table(keys, bits))

    def coarse_context(self, coarse_keys, coarse_bits):
        """Features of the coarse geometry, known to both sides before any latent."""
        table = integer.neighbour_table(coarse_keys, coarse_bits)
        x = self._conv("context_embed", self._ones(len(coarse_keys)), table, relu=True)
        for b in range(2):
            x = self._block(f"context_blocks.{b}", x, table)
        return x

    def prior(self, context):
        """(mean (P, k) int16, the latent's scales as a gaussian.TableScales)."""
        out = self._conv("prior_head", context, _identity(len(context)))
        mean, log_scale = out[:, :self.latent_channels], out[:, self.latent_channels:].to(torch.int64)
        low = int(math.ceil(LOG_SCALE_RANGE[0] * SCALE_STEPS))
        step = ONE // SCALE_STEPS
        index = ((log_scale + step // 2) // step - low).clamp_(0, len(self.scale_frequencies) - 1)
        return mean, gaussian.TableScales(index, self.scale_frequencies)

    @staticmethod
    def quantize(latent, mean):
        """Encoder: the integers sent, round((latent - mean) / ONE) (halves up), clamped."""
        centred = latent.to(torch.int64) - mean.to(torch.int64)
        return ((centred + ONE // 2) // ONE).clamp_(-gaussian.MAX_MAGNITUDE, gaussian.MAX_MAGNITUDE)

    @staticmethod
    def rebuilt(q, mean):
        """The latent both sides synthesize from: q * ONE + mean, saturated to int16."""
        return (q * ONE + mean.to(torch.int64)).clamp_(-32768, 32767).to(torch.int16)

    def regrow(self, context, latent, coarse_keys, coarse_bits, counts, progress=None, first_logits=None):
        """Regrow ``len(counts)`` levels from the coarse voxels, keeping ``counts[i]`` at level
        i (top-k of integer scores; ties go to the lower key); the finest level's Morton-
        sorted keys. ``first_logits`` (P, 8) int64 replaces the classifier's scores at the
        first level (the refinement stages' occupancy logits)."""
        x = self._conv("synthesis_in", torch.cat([context, latent], dim=1), _identity(len(context)), relu=True)
        keys, bits = np.asarray(coarse_keys, dtype=np.int64), coarse_bits
        for level, count in enumerate(counts):
            x = self._block(f"synthesis_blocks.{level}", x, integer.neighbour_table(keys, bits))
            candidates = self._conv(f"upsample.{level}", x, _children_table(len(keys)), relu=True)
            keys, bits = (keys[:, None] * 8 + np.arange(8)).reshape(-1), bits + 1
            if level == 0 and first_logits is not None:
                scores = first_logits.reshape(-1)
            else:
                hidden = self._conv(f"classify.{level}.1", candidates, _identity(len(candidates)), relu=True)
                scores = self._conv(f"classify.{level}.3", hidden, _identity(len(hidden)))[:, 0].to(torch.int64)
            if count > len(keys):
                raise BitstreamError("a scale's voxel count exceeds its candidates: corrupted stream")
            keep = torch.argsort(-scores, stable=True)[:count].sort().values
            keys, x = keys[keep.numpy()], candidates[keep]
            if progress:
                progress(count)
        return keys


def quantize_model(float_model, observed):
    """An :class:`IntegerLossyModel` from a float LossyModel and the calibration maxima of
    occupancy_integer.calibrate (run with its training pass)."""
    config = float_model.config
    modules = dict(float_model.named_modules())
    layers = conv_layers(config["levels"])
    shifts, bounds, weights, biases = {}, {}, {}, {}
    for layer, _ in layers:
        weight, bias = layer_input(modules[layer])
        bounds[layer] = input_bound(observed[layer])
        shifts[layer], weights[layer], biases[layer] = integer_layer(weight, bias, bounds[layer])
    model = IntegerLossyModel(config["levels"], config["channels"], config["latent_channels"], shifts, bounds)
    with torch.no_grad():
        for layer, _ in layers:
            getattr(model, buffer_name(layer) + "_weight").copy_(integer.pack_weight(weights[layer]))
            getattr(model, buffer_name(layer) + "_bias").copy_(biases[layer])
        log_scales = LOG_SCALE_RANGE[0] + torch.arange(len(model.scale_frequencies), dtype=torch.float64) / SCALE_STEPS
        model.scale_frequencies.copy_(gaussian.scale_table(torch.exp(log_scales)))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description="Make an integer lossy model from a float one.")
    parser.add_argument("--data", default="../shared/data", help="the shared data folder (calibration)")
    parser.add_argument("--base", required=True, help="a float lossy model card (e.g. lossy-r1)")
    parser.add_argument("--objects", type=int, default=8, help="calibration objects")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from omnicodec import zoo
    from omnicodec.sparse import use_engine

    float_model = zoo.load(args.base)
    layers = [name for name, _ in conv_layers(float_model.levels)]
    with use_engine("torch"):
        observed = calibrate(float_model, layers, [lambda k=k, b=b: float_model.training_bits(k, b)
                                                   for k, b in calibration_blocks(args.data, args.objects)])
    model = quantize_model(float_model, observed)
    torch.save({"config": model.config, "state_dict": model.state_dict()}, args.out)
    print(f"wrote {args.out}: shifts {model.config['shifts']}, bounds {model.config['bounds']}")


if __name__ == "__main__":
    main()
