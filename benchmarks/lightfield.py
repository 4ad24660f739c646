"""Light-field rate-distortion benchmark: omnicodec's rates against x265 and JPEG.

    python -m benchmarks.lightfield ../shared/data/lightfields/hci_antinous \
        ../shared/data/lightfields/lytro_2067 --out results/lf

For each light field:
- omnicodec at every rate (``--rates``); each encode and decode runs in its own process,
  so seconds and peak memory (RSS) are those of one run;
- the anchors of benchmarks.lightfield_anchors: the serpentine pseudo-sequence coded with
  x265 (Debian's ffmpeg, preset ``--preset``, ``--qps``) and per-view JPEG
  (``--jpeg-qualities``); with ``--anchor CSV`` their stored rows instead (columns
  lightfield, codec, setting, bytes, bpp, psnr_y, psnr_yuv, ssim_y).
Quality: PSNR-Y, PSNR-YUV (6Y+U+V)/8 and SSIM-Y over all views (BT.709, 8-bit peak);
rate: bits per pixel = bits / (U V H W). BD-rate and BD-PSNR of omnicodec against each
anchor on PSNR-YUV (and PSNR-Y), cubic and pchip. Writes rd_<name>.csv, rd_<name>.png and
bd.csv to ``--out`` and prints markdown tables.
"""

import argparse
import os
import sys
import tempfile

from benchmarks.lightfield_anchors import add_anchor_arguments, anchor_rows, quality_row
from benchmarks.lossless import run_script
from omnicodec.evaluate import lightfield_curve, parse_rates, read_lightfield_anchors, write_rows
from omnicodec.io.lightfield import read_lightfield
from omnicodec.metrics.bjontegaard import bd_table
from omnicodec.plots import LIGHT_FIELD_METRICS, LIGHT_FIELD_NOTE, rd_plot

_WORKER = """
import json, resource, sys, time
from omnicodec import api
mode, src, dst, rate, model = sys.argv[1:6]
start = time.perf_counter()
if mode == "encode":
    api.compress_file(src, dst, rate=float(rate), model=model or None)
else:
    api.decompress_file(src, dst)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_worker(mode, src, dst, rate=1, model=None):
    """Encode (with ``model``, default: the default one) or decode in a fresh process: its
    seconds and peak RSS in MB."""
    return run_script(_WORKER, mode, src, dst, rate, model or "")


def run_omnicodec(path, lightfield, rates, folder, model=None):
    rows = []
    for rate in rates:
        stream, back = os.path.join(folder, "lf.ocz"), os.path.join(folder, "back.npy")
        encode = run_worker("encode", path, stream, rate, model)
        decode = run_worker("decode", stream, back)
        # Written as its extension says: an .npy, whatever the input was.
        decoded = read_lightfield(back, grid=lightfield.grid).views
        rows.append({**quality_row("omnicodec", f"rate {rate}", os.path.getsize(stream), lightfield,
                                   decoded),
                     "encode_s": encode["seconds"], "decode_s": decode["seconds"],
                     "peak_mb": max(encode["peak_mb"], decode["peak_mb"])})
        print(f"  omnicodec rate {rate}: {rows[-1]['bpp']:.5f} bpp, PSNR-YUV {rows[-1]['psnr_yuv']:.2f} dB, "
              f"enc {encode['seconds']:.1f} s, dec {decode['seconds']:.1f} s, "
              f"peak {rows[-1]['peak_mb']:.0f} MB", flush=True)
    return rows


def _fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lightfields", nargs="+")
    parser.add_argument("--rates", default="all")
    add_anchor_arguments(parser)
    parser.add_argument("--anchor", action="append", default=[],
                        help="stored anchor rows (CSV of benchmarks.lightfield_anchors) instead "
                             "of running x265 and JPEG")
    parser.add_argument("--out", default="results/lf")
    parser.add_argument("--model", help="the light-field model to code with (default: the default one; "
                                        "e.g. lightfield-v3, which lightfield-v4 supersedes)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rates = parse_rates(args.rates, "lightfield")
    all_bd = []
    for path in args.lightfields:
        name = os.path.basename(os.path.normpath(path))
        lightfield = read_lightfield(path)
        print(f"{name}: {lightfield.views.shape[0]}x{lightfield.views.shape[1]} views of "
              f"{lightfield.views.shape[2]}x{lightfield.views.shape[3]}", flush=True)
        with tempfile.TemporaryDirectory() as folder:
            ours = run_omnicodec(path, lightfield, rates, folder, args.model)
        if args.anchor:
            others = read_lightfield_anchors(args.anchor, name)
            others = {codec: [dict(r, codec=codec, setting="stored", bytes=None, encode_s=None,
                                   decode_s=None, peak_mb=None) for r in rows]
                      for codec, rows in others.items()}
        else:  # the codecs' own seconds (code and decode together) in the encode column
            others = {codec: [{**r, "encode_s": r.pop("seconds"), "decode_s": None, "peak_mb": None}
                              for r in rows]
                      for codec, rows in anchor_rows(lightfield, args, name).items()}
        stem = os.path.join(args.out, "rd_" + name)
        rows = ours + [r for rows in others.values() for r in rows]
        write_rows([{"lightfield": name, **r} for r in rows], stem + ".csv")
        curves = {"omnicodec": lightfield_curve(ours), **{k: lightfield_curve(v) for k, v in others.items()}}
        rd_plot(stem + ".png", curves, f"{name}: rate-distortion", metrics=LIGHT_FIELD_METRICS,
                x_label="bits per pixel", note=LIGHT_FIELD_NOTE, log_rate=True)
        print("\n| codec | setting | bpp | PSNR-Y dB | PSNR-YUV dB | SSIM-Y | enc s | dec s | peak MB |\n"
              + "|---" * 9 + "|")
        for r in rows:
            print(f"| {r['codec']} | {r['setting']} | {r['bpp']:.5f} | {r['psnr_y']:.2f} | "
                  f"{r['psnr_yuv']:.2f} | {r['ssim_y']:.4f} | {_fmt(r['encode_s'], 1)} | "
                  f"{_fmt(r['decode_s'], 1)} | {_fmt(r['peak_mb'], 0)} |")
        bd = bd_table(name, curves["omnicodec"], {k: curves[k] for k in others}, ("psnr_yuv", "psnr_y"))
        all_bd += bd
        print("\n| anchor | method | BD-rate PSNR-YUV % | BD-PSNR-YUV dB | BD-rate PSNR-Y % |\n" + "|---" * 5 + "|")
        for r in bd:
            print(f"| {r['anchor']} | {r['method']} | {_fmt(r['bd_rate_psnr_yuv'], 1)} | "
                  f"{_fmt(r['bd_psnr_psnr_yuv'])} | {_fmt(r['bd_rate_psnr_y'], 1)} |"
                  + (f" {r['note']}" if r.get("note") else ""))
        print(f"\nwrote {stem}.csv and {stem}.png", flush=True)
    write_rows(all_bd, os.path.join(args.out, "bd.csv"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
