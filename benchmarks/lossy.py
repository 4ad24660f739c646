"""Lossy rate-distortion benchmark: omnicodec's rates against Draco, G-PCC and given anchors.

    python -m benchmarks.lossy ../shared/data/pointclouds/soldier_vox10_0690_partial.ply \
        --normals ../shared/data/pointclouds/soldier_vox10_0690_partial_n.ply \
        --peak 1023 --out results/lossy

For each file:
- omnicodec at every rate (``--rates``); each encode and decode runs in its own process
  (benchmarks.lossless.run_worker), so seconds and peak memory are those of one run;
- Draco (DracoPy, in process, compression level 7) at each of ``--draco-bits``;
- G-PCC octree when a ``tmc3`` binary is on PATH, at each ``--gpcc-scales``
  positionQuantizationScale (skipped with a message when there is none);
- the rows of ``--anchor`` CSV files (columns file, bpp, d1_psnr, d2_psnr) for that file,
  such as benchmarks/anchors/gpcc_v23_octree.csv.
D1/D2 come from omnicodec.metrics (pc_error's definitions); BD-rate and BD-PSNR of
omnicodec against every other curve, with cubic and pchip interpolation. Writes
rd_<name>.csv, rd_<name>.png and bd.csv to ``--out`` and prints markdown tables.
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time


from benchmarks.lossless import draco_round_trip, run_worker
from omnicodec import zoo
from omnicodec.evaluate import Reference, curve, parse_rates, read_anchors
from omnicodec.io import read_ply
from omnicodec.metrics.bjontegaard import bd_table
from omnicodec.plots import point_cloud_note, rd_plot



def _row(codec, setting, size, points, quality, encode_s=None, decode_s=None, peak_mb=None):
    return {"codec": codec, "setting": setting, "bytes": size, "bpp": 8 * size / points,
            "d1_psnr": quality.symmetric.d1_psnr, "d2_psnr": quality.symmetric.d2_psnr,
            "encode_s": encode_s, "decode_s": decode_s, "peak_mb": peak_mb}


def run_omnicodec(path, rates, measure, folder):
    rows = []
    for rate in rates:
        model = zoo.resolve("pointcloud", rate=rate).model_id
        ocz, back = os.path.join(folder, "x.ocz"), os.path.join(folder, "back.ply")
        encode = run_worker("encode", path, ocz, model, geometry_only=True)  # geometry RD only
        decode = run_worker("decode", ocz, back)
        rows.append(_row("omnicodec", model, os.path.getsize(ocz), len(measure.points),
                         measure(read_ply(back).positions), encode["seconds"], decode["seconds"],
                         max(encode["peak_mb"], decode["peak_mb"])))
        print(f"  omnicodec {model}: {rows[-1]['bpp']:.4f} bpp, D1 {rows[-1]['d1_psnr']:.2f}, "
              f"D2 {rows[-1]['d2_psnr']:.2f}, enc {encode['seconds']:.1f} s, "
              f"dec {decode['seconds']:.1f} s, peak {rows[-1]['peak_mb']:.0f} MB", flush=True)
    return rows


def run_draco(points, bits_list, measure):
    rows = []
    for bits in bits_list:
        data, decoded, encode_s, decode_s = draco_round_trip(points, bits)
        rows.append(_row("draco", f"qbits {bits}", len(data), len(points), measure(decoded), encode_s, decode_s))
    return rows


def run_gpcc(path, scales, measure, folder):
    """G-PCC octree geometry through tmc3's command line (mode 0 encodes, 1 decodes)."""
    tmc3 = shutil.which("tmc3")
    if tmc3 is None:
        print("  G-PCC: skipped (no tmc3 binary on PATH)")
        return []
    rows = []
    for scale in scales:
        stream, back = os.path.join(folder, "g.bin"), os.path.join(folder, "g.ply")
        start = time.perf_counter()
        subprocess.run([tmc3, "--mode=0", f"--uncompressedDataPath={path}",
                        f"--compressedStreamPath={stream}", f"--positionQuantizationScale={scale}",
                        "--mergeDuplicatedPoints=1", "--disableAttributeCoding=1"],
                       check=True, capture_output=True)
        encoded = time.perf_counter()
        subprocess.run([tmc3, "--mode=1", f"--compressedStreamPath={stream}",
                        f"--reconstructedDataPath={back}", "--outputBinaryPly=1"],
                       check=True, capture_output=True)
        finished = time.perf_counter()
        rows.append(_row("gpcc-tmc3", f"scale {scale}", os.path.getsize(stream),
                         len(measure.points), measure(read_ply(back).positions),
                         encoded - start, finished - encoded))
    return rows


def _write_csv(path, rows):
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)


def _fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--normals", action="append", default=[],
                        help="PLY with the reference normals of the file at the same position")
    parser.add_argument("--peak", type=float, default=1023.0)
    parser.add_argument("--rates", default="all")
    parser.add_argument("--draco-bits", default="7,8,9,10,11")
    parser.add_argument("--gpcc-scales", default="0.0625,0.125,0.25,0.5,0.75")
    parser.add_argument("--anchor", action="append",
                        default=[os.path.join(os.path.dirname(__file__), "anchors", "gpcc_v23_octree.csv")])
    parser.add_argument("--out", default="results/lossy")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rates = parse_rates(args.rates)
    all_bd = []
    for i, path in enumerate(args.files):
        name = os.path.basename(path)
        print(f"{name}:", flush=True)
        measure = Reference(path, args.peak, args.normals[i] if i < len(args.normals) else None)
        with tempfile.TemporaryDirectory() as folder:
            ours = run_omnicodec(path, rates, measure, folder)
            others = {"draco": run_draco(measure.points, [int(b) for b in args.draco_bits.split(",")],
                                         measure)}
            gpcc = run_gpcc(path, [float(s) for s in args.gpcc_scales.split(",")], measure, folder)
            if gpcc:
                others["gpcc-tmc3"] = gpcc
        others.update(read_anchors(args.anchor, name))
        stem = os.path.join(args.out, "rd_" + os.path.splitext(name)[0])
        _write_csv(stem + ".csv", ours + [r for rows in others.values() for r in rows])
        rd_plot(stem + ".png", {"omnicodec": curve(ours), **{k: curve(v) for k, v in others.items()}},
                f"{name}: rate-distortion", note=point_cloud_note(measure.peak))
        print("\n| codec | setting | bpp | D1 dB | D2 dB | enc s | dec s | peak MB |\n" + "|---" * 8 + "|")
        for r in ours + [r for rows in others.values() for r in rows]:
            print(f"| {r['codec']} | {r['setting']} | {r['bpp']:.4f} | {_fmt(r['d1_psnr'])} | "
                  f"{_fmt(r['d2_psnr'])} | {_fmt(r['encode_s'], 1)} | {_fmt(r['decode_s'], 1)} | "
                  f"{_fmt(r['peak_mb'], 0)} |")
        bd = bd_table(name, curve(ours), {k: curve(v) for k, v in others.items()}, ("d1", "d2"))
        all_bd += bd
        print("\n| anchor | method | BD-rate D1 % | BD-rate D2 % | BD-PSNR D1 dB | BD-PSNR D2 dB |\n"
              + "|---" * 6 + "|")
        for r in bd:
            print(f"| {r['anchor']} | {r['method']} | {_fmt(r['bd_rate_d1'], 1)} | "
                  f"{_fmt(r['bd_rate_d2'], 1)} | {_fmt(r['bd_psnr_d1'])} | {_fmt(r['bd_psnr_d2'])} |")
        print(f"\nwrote {stem}.csv and {stem}.png", flush=True)
    _write_csv(os.path.join(args.out, "bd.csv"), all_bd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
