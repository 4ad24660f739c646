"""What each part of the light-field synthesis codec (the default model) costs and buys.

    python -m benchmarks.lightfield_parts ../shared/data/lightfields/hci_antinous --rates 1,3,5

At each rate: the bytes of the disparity, the key view and the residuals; PSNR-YUV of the
key view; of all views as the decoder predicts them from the decoded key view and
disparity alone (every residual left out, so each view is warped from views that were
themselves only predicted); and of the decoded views per level of the hierarchy.
"""

import argparse
import sys

import numpy as np
import torch

from omnicodec import zoo
from omnicodec.entropy import binary_writer
from omnicodec.io.lightfield import read_lightfield
from omnicodec.lightfield import synthesis
from omnicodec.metrics.lightfield import lightfield_quality


class _WithoutResiduals:
    """The card's entropy model, but every residual is left out (all zeros)."""

    def __init__(self, model):
        self.model = model

    def __getattr__(self, name):  # the tables, scales and flags of the model
        return getattr(self.model, name)

    def code(self, q, kind, feature, **io):
        if kind == "residual":
            return torch.zeros_like(q)
        return self.model.code(q, kind, feature, **io)


def parts(raw, rate, model_id=None):
    card = zoo.resolve("lightfield", model_id)
    codec = synthesis.SynthesisLightFieldCodec(card, "rans")
    step = codec.step_of(rate)
    layout, cells = codec.analyse(raw, step)
    writers = [binary_writer("rans") for _ in range(3)]
    model = zoo.load(card.model_id)
    synthesis.code_disparity(model, cells, layout.exponent, writer=writers[0])
    samples = synthesis.SynthesisCoder(model, layout).run(raw, cells, [{"writer": w} for w in writers[1:]])
    sizes = [len(w.finish()) for w in writers]
    only = synthesis.SynthesisCoder(_WithoutResiduals(model), layout).run(
        raw, cells, [{"writer": binary_writer("rans")}, {}])
    key = layout.key
    row = {"rate": rate, "disparity_bytes": sizes[0], "key_bytes": sizes[1], "residual_bytes": sizes[2],
           "bpp": 8 * sum(sizes) / raw[..., 0].size,
           "key_psnr_yuv": lightfield_quality(raw[key[0]:key[0] + 1, key[1]:key[1] + 1],
                                              samples[key[0]:key[0] + 1, key[1]:key[1] + 1]).psnr_yuv,
           "predicted_psnr_yuv": lightfield_quality(raw, only).psnr_yuv,
           "decoded_psnr_yuv": lightfield_quality(raw, samples).psnr_yuv}
    quality = lightfield_quality(raw, samples).view_psnr_yuv
    order = synthesis.coding_order(layout.present, key, layout.compact_levels)
    for level in range(len(synthesis.LEVEL_SPACINGS)):
        views_of_level = [view for view, lv in order if lv == level]
        row[f"level{level}_psnr_yuv"] = float(np.mean([quality[v] for v in views_of_level])) if views_of_level else None
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lightfield")
    parser.add_argument("--rates", default="1,3,5")
    parser.add_argument("--model", help="the light-field synthesis model (default: the default one)")
    args = parser.parse_args(argv)
    raw = read_lightfield(args.lightfield).views
    print("| rate | bpp | disparity B | key view B | residuals B | key view dB | predicted only dB | "
          "decoded dB | " + " | ".join(f"level {i} dB" for i in range(len(synthesis.LEVEL_SPACINGS))) + " |")
    print("|---" * (8 + len(synthesis.LEVEL_SPACINGS)) + "|")
    for rate in [float(r) for r in args.rates.split(",")]:
        row = parts(raw, rate, args.model)
        levels = " | ".join("-" if row[f"level{i}_psnr_yuv"] is None else f"{row[f'level{i}_psnr_yuv']:.2f}"
                            for i in range(len(synthesis.LEVEL_SPACINGS)))
        print(f"| {rate:g} | {row['bpp']:.5f} | {row['disparity_bytes']} | {row['key_bytes']} | "
              f"{row['residual_bytes']} | {row['key_psnr_yuv']:.2f} | {row['predicted_psnr_yuv']:.2f} | "
              f"{row['decoded_psnr_yuv']:.2f} | {levels} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
