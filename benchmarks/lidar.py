"""Sparse-scan benchmark: LiDAR sweeps and indoor scans on their 1 mm grid (float metres x
1000, rounded, as G-PCC was measured in issue 15), coded losslessly (geometry alone, then
with intensity) in fresh processes: bytes, bits per input point, the ratio to G-PCC v23's
octree and predictive modes where the anchor file has them, encode and decode seconds and
peak memory, exactness; then one sweep at every LiDAR rate: bits per point, D1 and D2
PSNR with peak 30000 (MPEG's LiDAR conditions) and the BD-rates against G-PCC's octree.

    python -m benchmarks.lidar ../shared/data/lidar/*.ply ../shared/data/pointclouds/semantickitti_000000.ply \
        [--indoor ../shared/data/pointclouds/scannet_scene0011_00.ply ...] \
        [--rd ../shared/data/pointclouds/semantickitti_000000.ply] [--model lidar-v1] [--json out.json]
"""

import argparse
import csv
import json
import os
import tempfile

import numpy as np

from benchmarks.lossless import run_script

PEAK = 30000
ANCHOR = os.path.join(os.path.dirname(__file__), "anchors", "gpcc_v23_lidar.csv")

_WORKER = """
import json, resource, sys, time
from omnicodec import api
mode, src, dst, attributes, model = sys.argv[1:6]
start = time.perf_counter()
if mode == "encode":
    report = api.compress_file(src, dst, model=model or None, no_attributes=attributes == "none")
else:
    report = api.decompress_file(src, dst)
print(json.dumps({"seconds": time.perf_counter() - start, "model": report.model,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "details": {k: v for k, v in report.details.items() if isinstance(v, (int, float, str))}}))
"""


def on_millimetre_grid(path, folder):
    """The cloud of ``path`` with positions rint(metres x 1000) as int32 (its attributes
    kept), written to ``folder``; -> (its path, its points)."""
    from omnicodec.data import PointCloud
    from omnicodec.io import read_ply, write_ply

    cloud = read_ply(path)
    grid = np.rint(np.asarray(cloud.positions, np.float64) * 1000).astype(np.int32)
    target = os.path.join(folder, os.path.basename(path))
    write_ply(target, PointCloud(grid, cloud.attributes))
    return target, len(grid)


def anchors(path=ANCHOR):
    with open(path) as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def lossless(path, folder, attributes, model=None):
    """One file coded losslessly (``attributes``: "none" or "all"; ``model``: None for the
    file's default) in fresh processes."""
    from omnicodec.io import read_ply

    grid_path, points = on_millimetre_grid(path, folder)
    ocz, back = os.path.join(folder, "s.ocz"), os.path.join(folder, "back.ply")
    encode = run_script(_WORKER, "encode", grid_path, ocz, attributes, model or "")
    decode = run_script(_WORKER, "decode", ocz, back, attributes, "")
    original, decoded = read_ply(grid_path), read_ply(back)
    exact = set(map(tuple, original.positions)) == set(map(tuple, decoded.positions))
    details = encode["details"]
    size = os.path.getsize(ocz)
    return {"file": os.path.basename(path), "points": points, "model": encode["model"], "bytes": size,
            "bpp": 8 * size / points, "geometry_bpp": details.get("geometry bits per point", 8 * size / points),
            "intensity_bpp": details.get("intensity bits per point"), "sensor": details.get("sensor"),
            "encode_s": encode["seconds"], "decode_s": decode["seconds"],
            "peak_mb": max(encode["peak_mb"], decode["peak_mb"]), "exact": exact}


def rate_distortion(path, folder):
    from omnicodec import evaluate

    grid_path, _ = on_millimetre_grid(path, folder)
    result = evaluate.evaluate(grid_path, peak=PEAK, colour=False)
    return [{"rate": p.rate, "model": p.model, "bpp": p.bits_per_point, "d1_psnr": p.d1_psnr,
             "d2_psnr": p.d2_psnr, "encode_s": p.encode_seconds, "decode_s": p.decode_seconds}
            for p in result.points]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="*")
    parser.add_argument("--indoor", nargs="*", default=[])
    parser.add_argument("--rd", help="the sweep coded at every rate")
    parser.add_argument("--anchor", default=ANCHOR)
    parser.add_argument("--model", help="the sweeps' model (e.g. lidar-v1, the float one; default: each "
                                        "file's default model)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    from omnicodec.metrics.bjontegaard import bd_rate

    rows = anchors(args.anchor)
    gpcc = {(r["file"], r["mode"]): float(r["bpp"]) for r in rows if not r["d1_psnr"]}
    result = {"lossless": [], "rd": None}
    print("| file | points | model | bpp (geometry) | vs G-PCC octree | vs G-PCC predictive | "
          "+ intensity bpp | enc s | dec s | peak MB | exact |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in args.sweeps + args.indoor:
        with tempfile.TemporaryDirectory() as folder:
            model = args.model if path in args.sweeps else None
            geometry = lossless(path, folder, "none", model)
            full = lossless(path, folder, "all", model) if path in args.sweeps else None
        name = geometry["file"]
        octree, predictive = gpcc.get((name, "octree")), gpcc.get((name, "predictive"))
        geometry["vs_octree"] = geometry["bpp"] / octree if octree else None
        geometry["vs_predictive"] = geometry["bpp"] / predictive if predictive else None
        geometry["with_intensity"] = full
        result["lossless"].append(geometry)
        ratio = lambda value: f"{value:.3f}" if value else "-"  # noqa: E731
        intensity = f"{full['intensity_bpp']:.3f}" if full and full["intensity_bpp"] is not None else "-"
        print(f"| {name} | {geometry['points']} | {geometry['model']} | {geometry['bpp']:.3f} | "
              f"{ratio(geometry['vs_octree'])} | {ratio(geometry['vs_predictive'])} | {intensity} | "
              f"{geometry['encode_s']:.2f} | {geometry['decode_s']:.2f} | {geometry['peak_mb']:.0f} | "
              f"{geometry['exact']} |", flush=True)
    if args.rd:
        with tempfile.TemporaryDirectory() as folder:
            points = rate_distortion(args.rd, folder)
        name = os.path.basename(args.rd)
        anchor = [r for r in rows if r["file"] == name and r["d1_psnr"]]
        print(f"\n{name}, peak {PEAK}:\n| rate | bpp | D1 dB | D2 dB | enc s | dec s |\n|---|---|---|---|---|---|")
        for p in points:
            print(f"| {p['rate']} | {p['bpp']:.3f} | {p['d1_psnr']:.2f} | {p['d2_psnr']:.2f} | "
                  f"{p['encode_s']:.2f} | {p['decode_s']:.2f} |")
        result["rd"] = {"file": name, "peak": PEAK, "points": points}
        if anchor:
            xa = [float(a["bpp"]) for a in anchor]
            xt = [p["bpp"] for p in points]
            result["rd"]["bd_rate"] = {
                metric: bd_rate(xa, [float(a[f"{metric}_psnr"]) for a in anchor], xt,
                                [p[f"{metric}_psnr"] for p in points]) for metric in ("d1", "d2")}
            print(f"BD-rate against G-PCC v23 octree: D1 {result['rd']['bd_rate']['d1']:+.1f}%, "
                  f"D2 {result['rd']['bd_rate']['d2']:+.1f}%")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
