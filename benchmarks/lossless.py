"""Lossless benchmark: for each file, points, bytes, bits per point, encode and decode
seconds (the coding itself, from reading the input to writing the output, with torch and
our extension already imported as DracoPy is; and the wall time of the whole process:
start, imports, model load), peak memory (RSS of the process doing the work) and a bit-exact check; then Draco
(DracoPy, in process) on the same voxels at the grid's bits, and the ratio of omnicodec's
encode + decode seconds to Draco's (issue 18's figure: at most 3).

    python -m benchmarks.lossless ../shared/data/pointclouds/soldier_vox10_0690_partial.ply \
        --mesh ../shared/data/meshes/igea.ply:11 [--geometry-only] [--json out.json]

``--mesh PATH:BITS`` first samples that mesh's surface into a BITS-bit voxel cloud (8 points
per voxel^2, as datasets/ does) and benchmarks it too: the large-cloud memory check.
Each encode and decode runs in its own process, so its peak memory is measured alone.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

_WORKER = """
import json, resource, sys, time
from omnicodec import api
from omnicodec.sparse import integer
import torch
integer.implementations()  # libraries loaded before the clock starts, as Draco's are
mode, src, dst, model, geometry_only = sys.argv[1:6]
start = time.perf_counter()
if mode == "encode":
    report = api.compress_file(src, dst, model=model or None, no_attributes=geometry_only == "yes")
else:
    report = api.decompress_file(src, dst)
usage = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a worker started by a large
# parent would report the parent's peak.
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": time.perf_counter() - start,
                  "user_s": usage.ru_utime, "system_s": usage.ru_stime,
                  "peak_mb": peak_kb / 1024,
                  "blocks": report.details.get("blocks")}))
"""


def run_worker(mode, src, dst, model="", geometry_only=False):
    """Encode (with ``model``, default the lossless one; attributes dropped if
    ``geometry_only``) or decode in a fresh process: its seconds, peak RSS in MB, blocks,
    and wall time including start-up."""
    return run_script(_WORKER, mode, src, dst, model, "yes" if geometry_only else "no")


def run_script(code, *args):
    """Run ``code`` in a fresh Python process with ``args``: the JSON object its last line of
    output prints, plus "wall" (seconds, start-up included). RuntimeError when it fails."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"benchmark worker failed: {result.stderr.strip().splitlines()[-1:]}")
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    stats["wall"] = time.perf_counter() - start
    return stats


def mesh_cloud(spec, folder):
    """'path.ply:11' -> a PLY of that mesh sampled and voxelized at 11 bits."""
    from datasets.meshes import fit_to_grid, read_mesh, sample_surface, voxelize_unique
    from omnicodec.io import write_ply

    path, bits = spec.rsplit(":", 1)
    bits = int(bits)
    rng = np.random.default_rng(0)
    vertices, faces = read_mesh(path)
    points = sample_surface(fit_to_grid(vertices, bits, np.eye(3), rng), faces, 8.0, rng)
    out = os.path.join(folder, f"{os.path.splitext(os.path.basename(path))[0]}_vox{bits}.ply")
    write_ply(out, voxelize_unique(points, bits).astype(np.int32))
    return out


DRACO_LEVEL = 7  # DracoPy's compression level (0-10) in every benchmark


def draco_round_trip(points, bits):
    """Draco at ``bits`` quantization bits: (its bytes, the decoded points, encode and
    decode seconds)."""
    import DracoPy

    start = time.perf_counter()
    data = DracoPy.encode(np.asarray(points, np.float32), quantization_bits=bits, compression_level=DRACO_LEVEL)
    encoded = time.perf_counter()
    decoded = np.asarray(DracoPy.decode(data).points, dtype=np.float64)
    return data, decoded, encoded - start, time.perf_counter() - encoded


def draco_lossless(voxels, bits):
    """Draco on integer voxels at the fewest quantization bits (from the grid's) that
    give them back exactly: (bytes, encode s, decode s, bits used, exact)."""
    for q in range(bits, bits + 4):
        data, decoded, encode_s, decode_s = draco_round_trip(voxels, q)
        exact = np.array_equal(np.unique(np.rint(decoded), axis=0), np.unique(voxels, axis=0))
        if exact:
            break
    return len(data), encode_s, decode_s, q, exact


def benchmark(path, folder, geometry_only=False, model=""):
    from omnicodec.grid import voxelize
    from omnicodec.io import read_ply

    ocz, back = os.path.join(folder, "x.ocz"), os.path.join(folder, "back.ply")
    encode = run_worker("encode", path, ocz, model, geometry_only=geometry_only)
    decode = run_worker("decode", ocz, back)
    original, decoded = read_ply(path).positions, read_ply(back).positions
    # Lossless means lossless on the voxel grid: for integer input, the input itself.
    expected = voxelize(original).to_points(original.dtype)
    exact = np.array_equal(np.unique(expected, axis=0), np.unique(decoded, axis=0))
    size = os.path.getsize(ocz)
    grid = voxelize(original)
    draco_bytes, draco_encode, draco_decode, draco_bits, draco_exact = draco_lossless(
        grid.coords.astype(np.float64), grid.bits)
    return {"file": os.path.basename(path), "points": len(original), "bytes": size,
            "draco_bytes": draco_bytes, "draco_bits": draco_bits, "draco_exact": draco_exact,
            "draco_s": draco_encode + draco_decode,
            "ratio_to_draco": (encode["seconds"] + decode["seconds"]) / (draco_encode + draco_decode),
            "bpp": 8 * size / len(original), "encode_s": encode["seconds"],
            "decode_s": decode["seconds"], "encode_wall_s": encode["wall"],
            "decode_wall_s": decode["wall"], "encode_peak_mb": encode["peak_mb"],
            "decode_peak_mb": decode["peak_mb"], "blocks": encode["blocks"], "bit_exact": exact,
            "encode_cpu_s": (encode["user_s"], encode["system_s"]),
            "decode_cpu_s": (decode["user_s"], decode["system_s"])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--mesh", action="append", default=[], metavar="PATH:BITS")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--geometry-only", action="store_true", help="drop colours and other attributes")
    parser.add_argument("--model", default="", help="a lossless model other than the default (e.g. occupancy-v1)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        files = list(args.files) + [mesh_cloud(spec, folder) for spec in args.mesh]
        for path in files:
            rows.append(benchmark(path, folder, args.geometry_only, args.model))
            row = rows[-1]
            print(f"{row['file']}: {row['points']} points, {row['bytes']} bytes, "
                  f"{row['bpp']:.4f} bpp, encode {row['encode_s']:.1f} s "
                  f"({row['encode_wall_s']:.1f} s wall, {row['encode_peak_mb']:.0f} MB), "
                  f"decode {row['decode_s']:.1f} s ({row['decode_wall_s']:.1f} s wall, "
                  f"{row['decode_peak_mb']:.0f} MB), "
                  f"blocks {row['blocks']}, CPU user/system s: encode {row['encode_cpu_s'][0]:.1f}/"
                  f"{row['encode_cpu_s'][1]:.1f}, decode {row['decode_cpu_s'][0]:.1f}/{row['decode_cpu_s'][1]:.1f}, "
                  f"bit-exact {row['bit_exact']}; Draco ({row['draco_bits']} bits, exact {row['draco_exact']}) "
                  f"{8 * row['draco_bytes'] / row['points']:.4f} bpp, encode + decode {row['draco_s']:.2f} s: "
                  f"omnicodec takes {row['ratio_to_draco']:.1f}x Draco's time", flush=True)
    header = ("| file | points | bytes | bpp | encode s (wall) | decode s (wall) | "
              "peak MB enc/dec | blocks | exact |")
    print("\n" + header + "\n|" + "---|" * 9)
    for r in rows:
        print(f"| {r['file']} | {r['points']:,} | {r['bytes']:,} | {r['bpp']:.4f} | "
              f"{r['encode_s']:.1f} ({r['encode_wall_s']:.1f}) | {r['decode_s']:.1f} "
              f"({r['decode_wall_s']:.1f}) | {r['encode_peak_mb']:.0f} / {r['decode_peak_mb']:.0f} | "
              f"{r['blocks']} | {r['bit_exact']} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
