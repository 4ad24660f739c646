"""Drive benchmark: the sweeps of a drive on their 1 mm grid (float metres x 1000, rounded,
as G-PCC was measured), geometry only, coded losslessly as one sequence stream
(``compress --sequence``) in a fresh process and decoded in another: bits per point of
every sweep and of the drive, the ratios to G-PCC v23's predictive geometry with the
angular model (intra, and inter over the drive), the seconds per sweep each way (in the
process, after its first sweep) and as a user sees them (whole processes), peak memory,
exactness; ``--random-access K`` as the CLI takes it. With ``--lossy``, also the sweeps
that file's lossy figures name coded at every LiDAR rate, alone and in the drive (the
sweeps up to the last of them as one sequence at that rate): bits per point, D1 and D2
PSNR (peak 30000) and the BD-rates against G-PCC's lossy predictive geometry with the
angular model over its r03-r06.

    python -m benchmarks.lidar_drive ../shared/data/lidar_sequences/kitti_drive_d \\
        [--anchor benchmarks/anchors/gpcc_v23_kitti_drive_d.csv] [--random-access 10] \\
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
from omnicodec.api import RANDOM_ACCESS

ANCHOR = os.path.join(os.path.dirname(__file__), "anchors", "gpcc_v23_kitti_drive_d.csv")
INTRA, INTER = "intra_predgeom_angular", "inter_predgeom_angular_gm-zero"
LOSSY_ANCHOR = os.path.join(os.path.dirname(__file__), "anchors", "gpcc_v23_kitti_drive_d_lossy.csv")
LOSSY_CODEC, LOSSY_RATES = "gpcc_v23_predgeom_angular", ("r03", "r04", "r05", "r06")

_WORKER = """
import json, resource, sys, time
from omnicodec import api
mode, src, dst, random_access = sys.argv[1:5]
start = time.perf_counter()
if mode == "encode":
    reports = api.compress_sequence_files(src.split(","), dst, no_attributes=True, random_access=int(random_access))
else:
    reports = api.decompress_sequence_file(src, dst)
print(json.dumps({"seconds": time.perf_counter() - start, "per_frame": [r.seconds for r in reports],
                  "bytes": [r.bytes for r in reports], "model": reports[0].model,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def anchors(path):
    with open(path) as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def run(folder, anchor_path, random_access=RANDOM_ACCESS):
    """The drive of ``folder`` (its .ply sweeps in name order) coded as one stream, a
    random-access frame every ``random_access``."""
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
        encode = run_script(_WORKER, "encode", ",".join(grid_paths), stream, str(random_access))
        decode = run_script(_WORKER, "decode", stream, out, "0")
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
    return {"sweeps": len(sweeps), "points": sum(points), "model": encode["model"], "random_access": random_access,
            "bytes": size, "bpp": total, "gpcc_intra_bpp": whole.get(INTRA), "gpcc_inter_bpp": whole.get(INTER),
            "vs_gpcc_intra": total / whole[INTRA] if INTRA in whole else None,
            "vs_gpcc_inter": total / whole[INTER] if INTER in whole else None,
            "encode_process_s": encode["wall"], "decode_process_s": decode["wall"],
            "encode_s_per_sweep": float(np.median(encode["per_frame"][1:] or encode["per_frame"])),
            "decode_s_per_sweep": float(np.median(decode["per_frame"][1:] or decode["per_frame"])),
            "peak_mb": max(encode["peak_mb"], decode["peak_mb"]), "exact": exact, "frames": frames}


def lossy(folder, anchor_path, random_access=RANDOM_ACCESS):
    """Each sweep the lossy anchor names, at every LiDAR rate, coded alone and in the drive
    (the sweeps up to the last named one as one sequence per rate, a random-access frame
    every ``random_access``), with its BD-rates (D1, D2) against G-PCC's lossy predictive
    + angular over LOSSY_RATES."""
    from omnicodec.metrics.bjontegaard import bd_rate

    rows = [r for r in anchors(anchor_path) if r["codec"] == LOSSY_CODEC and r["param"] in LOSSY_RATES]
    frames = sorted({r["frame"] for r in rows if os.path.exists(os.path.join(folder, r["frame"] + ".ply"))})
    if not frames:
        return []
    sweeps = sorted(name[:-4] for name in os.listdir(folder) if name.endswith(".ply"))
    sweeps = sweeps[:sweeps.index(frames[-1]) + 1]
    with tempfile.TemporaryDirectory() as work:
        in_drive = _drive_rate_distortion(folder, sweeps, frames, work, random_access)
        alone = {}
        for frame in frames:
            alone[frame] = rate_distortion(os.path.join(folder, frame + ".ply"), work)
    result = []
    for frame in frames:
        anchor = [r for r in rows if r["frame"] == frame]
        bd = {}
        for where, points in (("alone", alone[frame]), ("in_drive", in_drive[frame])):
            bd[where] = {metric: bd_rate([float(a["bpp"]) for a in anchor],
                                         [float(a[f"{metric}_psnr"]) for a in anchor],
                                         [p["bpp"] for p in points], [p[f"{metric}_psnr"] for p in points])
                         for metric in ("d1", "d2")}
        result.append({"frame": frame, "points": alone[frame], "in_drive": in_drive[frame], "bd_rate": bd["alone"],
                       "bd_rate_in_drive": bd["in_drive"],
                       "predicted_in_drive": in_drive[frame][0]["predicted"]})
    return result


def _drive_rate_distortion(folder, sweeps, frames, work, random_access):
    """{frame: [rate points]}: ``sweeps`` (names in ``folder``) coded as one sequence at
    every LiDAR rate; bits per point, D1 and D2 (peak PEAK) of the sweeps ``frames``."""
    from omnicodec import api, evaluate, zoo
    from omnicodec.data import PointCloud
    from omnicodec.io import read_ply

    paths = [on_millimetre_grid(os.path.join(folder, name + ".ply"), work)[0] for name in sweeps]
    clouds = [read_ply(path) for path in paths]
    references = {frame: evaluate.Reference(paths[sweeps.index(frame)], peak=PEAK) for frame in frames}
    points = {frame: [] for frame in frames}
    for rate in zoo.rates("pointcloud", clouds[0]):
        stream = api.compress_sequence([PointCloud(c.positions) for c in clouds], rate=rate,
                                       random_access=random_access)
        sequence = api.Sequence(stream)
        for frame, header, decoded in sequence.decode():
            name = sweeps[frame.index]
            if name in references:
                quality = references[name](decoded.data.positions)
                points[name].append({"rate": rate, "model": header.model_id, "predicted": not frame.random_access,
                                     "bpp": 8 * frame.length / len(clouds[frame.index].positions),
                                     "d1_psnr": quality.symmetric.d1_psnr, "d2_psnr": quality.symmetric.d2_psnr})
    return points


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder of a drive's sweeps (.ply, in name order)")
    parser.add_argument("--anchor", default=ANCHOR)
    parser.add_argument("--lossy", nargs="?", const=LOSSY_ANCHOR,
                        help="also every LiDAR rate on the sweeps of this lossy anchor (default: G-PCC v23's)")
    parser.add_argument("--random-access", type=int, default=RANDOM_ACCESS, metavar="K",
                        help="a random-access frame every K sweeps (default: the library's)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    result = run(args.folder, args.anchor, args.random_access)
    print("| sweep | points | bpp | G-PCC intra pred+angular bpp | ratio | enc s | dec s |")
    print("|---|---|---|---|---|---|---|")
    for f in result["frames"]:
        ratio = f"{f['vs_gpcc_intra']:.3f}" if f["vs_gpcc_intra"] else "-"
        intra = f"{f['gpcc_intra_bpp']:.3f}" if f["gpcc_intra_bpp"] else "-"
        print(f"| {f['frame']} | {f['points']} | {f['bpp']:.3f} | {intra} | {ratio} | {f['encode_s']:.2f} | "
              f"{f['decode_s']:.2f} |")
    ratio = lambda value: "-" if value is None else f"{value:.3f}"  # noqa: E731
    print(f"\ndrive: {result['sweeps']} sweeps, {result['points']} points, model {result['model']}, a random-access "
          f"frame every {result['random_access']}: "
          f"{result['bpp']:.4f} bits per point ({ratio(result['vs_gpcc_intra'])}x G-PCC intra "
          f"{result['gpcc_intra_bpp']}, {ratio(result['vs_gpcc_inter'])}x G-PCC inter {result['gpcc_inter_bpp']}); "
          f"per sweep (median, in process) "
          f"encode {result['encode_s_per_sweep']:.2f} s, decode {result['decode_s_per_sweep']:.2f} s; whole processes "
          f"encode {result['encode_process_s']:.1f} s, decode {result['decode_process_s']:.1f} s; peak "
          f"{result['peak_mb']:.0f} MB; exact: {result['exact']}")
    if args.lossy:
        result["lossy"] = lossy(args.folder, args.lossy, args.random_access)
        for sweep in result["lossy"]:
            kind = "predicted" if sweep["predicted_in_drive"] else "random access"
            print(f"\n{sweep['frame']}, peak {PEAK} (in the drive: {kind}):\n"
                  "| rate | model | bpp | D1 dB | D2 dB | enc s | dec s | in the drive: model | bpp | D1 dB | D2 dB |\n"
                  "|---|---|---|---|---|---|---|---|---|---|---|")
            for p, d in zip(sweep["points"], sweep["in_drive"]):
                print(f"| {p['rate']} | {p['model']} | {p['bpp']:.3f} | {p['d1_psnr']:.2f} | {p['d2_psnr']:.2f} | "
                      f"{p['encode_s']:.2f} | {p['decode_s']:.2f} | {d['model']} | {d['bpp']:.3f} | "
                      f"{d['d1_psnr']:.2f} | {d['d2_psnr']:.2f} |")
            bd, drive_bd = sweep["bd_rate"], sweep["bd_rate_in_drive"]
            print(f"BD-rate against G-PCC v23 lossy predictive + angular ({', '.join(LOSSY_RATES)}): alone "
                  f"D1 {bd['d1']:+.1f}%, D2 {bd['d2']:+.1f}%; in the drive D1 {drive_bd['d1']:+.1f}%, "
                  f"D2 {drive_bd['d2']:+.1f}%")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
