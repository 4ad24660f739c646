"""Drive benchmark: the sweeps of a drive on their 1 mm grid (float metres x 1000, rounded,
as G-PCC was measured), geometry only, coded losslessly as one sequence stream
(``compress --sequence``) in a fresh process and decoded in another: bits per point of
every sweep and of the drive, the ratios to G-PCC v23's predictive geometry with the
angular model (intra, and inter over the drive), the seconds per sweep each way (in the
process, after its first sweep) and as a user sees them (whole processes), peak memory,
exactness. With ``--lossy``, also the sweeps that file's lossy figures name coded at every
LiDAR rate: bits per point, D1 and D2 PSNR (peak 30000) and the BD-rates against G-PCC's
lossy predictive geometry with the angular model over its r03-r06.

    python -m benchmarks.lidar_drive ../shared/data/lidar_sequences/kitti_drive_d \\
        [--anchor benchmarks/anchors/gpcc_v23_kitti_drive_d.csv] \\
        [--lossy benchmarks/anchors/gpcc_v23_kitti_drive_d_lossy.csv] [--json out.json]
"""

import argparse
import csv
import json
import os
import tempfile

import numpy as np

from benchmarks.lidar import PEAK, on_millimetre_grid, rate_distortion
from benchmarks.lossless import run_script

ANCHOR = os.path.join(os.path.dirname(__file__), "anchors", "gpcc_v23_kitti_drive_d.csv")
INTRA, INTER = "intra_predgeom_angular", "inter_predgeom_angular_gm-zero"
LOSSY_ANCHOR = os.path.join(os.path.dirname(__file__), "anchors", "gpcc_v23_kitti_drive_d_lossy.csv")
LOSSY_CODEC, LOSSY_RATES = "gpcc_v23_predgeom_angular", ("r03", "r04", "r05", "r06")

_WORKER = """
import json, resource, sys, time
from omnicodec import api
mode, src, dst = sys.argv[1:4]
start = time.perf_counter()
if mode == "encode":
    reports = api.compress_sequence_files(src.split(","), dst, no_attributes=True)
else:
    reports = api.decompress_sequence_file(src, dst)
print(json.dumps({"seconds": time.perf_counter() - start, "per_frame": [r.seconds for r in reports],
                  "bytes": [r.bytes for r in reports], "model": reports[0].model,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def anchors(path):
    with open(path) as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def run(folder, anchor_path):
    """The drive of ``folder`` (its .ply sweeps in name order) coded as one stream."""
    from omnicodec.io import read_ply

    sweeps = sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".ply"))
    rows = anchors(anchor_path)
    gpcc = {(r["frame"], r["mode"]): float(r["bpp"]) for r in rows}
    drive_points = {r["mode"]: int(r["n_in"]) for r in rows if r["frame"] == "all"}
    with tempfile.TemporaryDirectory() as work:
        grid_paths, points = [], []
        for path in sweeps:
            grid_path, count = on_millimetre_grid(path, work)
            grid_paths.append(grid_path)
            points.append(count)
        stream, out = os.path.join(work, "drive.ocz"), os.path.join(work, "out")
        encode = run_script(_WORKER, "encode", ",".join(grid_paths), stream)
        decode = run_script(_WORKER, "decode", stream, out)
        exact = all(np.array_equal(np.unique(read_ply(path).positions, axis=0),
                                   np.unique(read_ply(os.path.join(out, os.path.basename(path))).positions, axis=0))
                    for path in grid_paths)
        size = os.path.getsize(stream)
    frames = []
    for index, (count, frame_bytes) in enumerate(zip(points, encode["bytes"])):
        intra = gpcc.get((str(index), INTRA))
        bpp = 8 * frame_bytes / count
        frames.append({"frame": index, "points": count, "bpp": bpp, "gpcc_intra_bpp": intra,
                       "vs_gpcc_intra": bpp / intra if intra else None,
                       "encode_s": encode["per_frame"][index], "decode_s": decode["per_frame"][index]})
    total = 8 * size / sum(points)
    # The anchor's drive totals, where this is the drive they were measured on (every sweep).
    whole = {mode: gpcc[("all", mode)] for mode in (INTRA, INTER)
             if ("all", mode) in gpcc and drive_points.get(mode) == sum(points)}
    return {"sweeps": len(sweeps), "points": sum(points), "model": encode["model"],
            "bytes": size, "bpp": total, "gpcc_intra_bpp": whole.get(INTRA), "gpcc_inter_bpp": whole.get(INTER),
            "vs_gpcc_intra": total / whole[INTRA] if INTRA in whole else None,
            "vs_gpcc_inter": total / whole[INTER] if INTER in whole else None,
            "encode_process_s": encode["wall"], "decode_process_s": decode["wall"],
            "encode_s_per_sweep": float(np.median(encode["per_frame"][1:] or encode["per_frame"])),
            "decode_s_per_sweep": float(np.median(decode["per_frame"][1:] or decode["per_frame"])),
            "peak_mb": max(encode["peak_mb"], decode["peak_mb"]), "exact": exact, "frames": frames}


def lossy(folder, anchor_path):
    """Each sweep the lossy anchor names, at every LiDAR rate, with its BD-rates (D1, D2)
    against G-PCC's lossy predictive + angular over LOSSY_RATES."""
    from omnicodec.metrics.bjontegaard import bd_rate

    rows = [r for r in anchors(anchor_path) if r["codec"] == LOSSY_CODEC and r["param"] in LOSSY_RATES]
    result = []
    for frame in sorted({r["frame"] for r in rows}):
        path = os.path.join(folder, frame + ".ply")
        if not os.path.exists(path):
            continue
        with tempfile.TemporaryDirectory() as work:
            points = rate_distortion(path, work)
        anchor = [r for r in rows if r["frame"] == frame]
        bd = {metric: bd_rate([float(a["bpp"]) for a in anchor], [float(a[f"{metric}_psnr"]) for a in anchor],
                              [p["bpp"] for p in points], [p[f"{metric}_psnr"] for p in points])
              for metric in ("d1", "d2")}
        result.append({"frame": frame, "points": points, "bd_rate": bd})
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder of a drive's sweeps (.ply, in name order)")
    parser.add_argument("--anchor", default=ANCHOR)
    parser.add_argument("--lossy", nargs="?", const=LOSSY_ANCHOR,
                        help="also every LiDAR rate on the sweeps of this lossy anchor (default: G-PCC v23's)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    result = run(args.folder, args.anchor)
    print("| sweep | points | bpp | G-PCC intra pred+angular bpp | ratio | enc s | dec s |")
    print("|---|---|---|---|---|---|---|")
    for f in result["frames"]:
        ratio = f"{f['vs_gpcc_intra']:.3f}" if f["vs_gpcc_intra"] else "-"
        intra = f"{f['gpcc_intra_bpp']:.3f}" if f["gpcc_intra_bpp"] else "-"
        print(f"| {f['frame']} | {f['points']} | {f['bpp']:.3f} | {intra} | {ratio} | {f['encode_s']:.2f} | "
              f"{f['decode_s']:.2f} |")
    ratio = lambda value: "-" if value is None else f"{value:.3f}"  # noqa: E731
    print(f"\ndrive: {result['sweeps']} sweeps, {result['points']} points, model {result['model']}: "
          f"{result['bpp']:.4f} bits per point ({ratio(result['vs_gpcc_intra'])}x G-PCC intra "
          f"{result['gpcc_intra_bpp']}, {ratio(result['vs_gpcc_inter'])}x G-PCC inter {result['gpcc_inter_bpp']}); "
          f"per sweep (median, in process) "
          f"encode {result['encode_s_per_sweep']:.2f} s, decode {result['decode_s_per_sweep']:.2f} s; whole processes "
          f"encode {result['encode_process_s']:.1f} s, decode {result['decode_process_s']:.1f} s; peak "
          f"{result['peak_mb']:.0f} MB; exact: {result['exact']}")
    if args.lossy:
        result["lossy"] = lossy(args.folder, args.lossy)
        for sweep in result["lossy"]:
            print(f"\n{sweep['frame']}, peak {PEAK}:\n| rate | model | bpp | D1 dB | D2 dB | enc s | dec s |\n"
                  "|---|---|---|---|---|---|---|")
            for p in sweep["points"]:
                print(f"| {p['rate']} | {p['model']} | {p['bpp']:.3f} | {p['d1_psnr']:.2f} | {p['d2_psnr']:.2f} | "
                      f"{p['encode_s']:.2f} | {p['decode_s']:.2f} |")
            bd = sweep["bd_rate"]
            print(f"BD-rate against G-PCC v23 lossy predictive + angular ({', '.join(LOSSY_RATES)}): "
                  f"D1 {bd['d1']:+.1f}%, D2 {bd['d2']:+.1f}%")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
