"""Colour benchmark: a coloured cloud coded with lossless geometry, lossless colour (bytes
of geometry and colour apart, bits per point, encode and decode seconds and peak memory of
each in a fresh process, exactness of every voxel's colour) and at every colour rate (colour
bits per point; Y, Cb, Cr and (6Y+Cb+Cr)/8 PSNR as MPEG pc_error -c 1); then the BD-rate
of colour bits against Y PSNR versus anchor points (G-PCC v23 RAHT, issue 14's figures).

    python -m benchmarks.colour ../shared/data/pointclouds/soldier_vox10_0690_partial.ply \
        [--anchor benchmarks/anchors/gpcc_v23_raht_soldier.csv] [--colour-model colour-v1] [--json out.json]
"""

import argparse
import csv
import json
import os
import tempfile
import time

import numpy as np

from benchmarks.lossless import run_script

_WORKER = """
import json, resource, sys, time
from benchmarks.colour import encode_with
from omnicodec import api
from omnicodec.io import file_kind, read_data
mode, src, dst, colour_model = sys.argv[1:5]
start = time.perf_counter()
if mode == "decode":
    details = api.decompress_file(src, dst).details
elif colour_model == "default":
    details = api.compress_file(src, dst).details
else:
    data, encoded = encode_with(read_data(src, file_kind(src)), colour_model)
    with open(dst, "wb") as handle:
        handle.write(data)
    details = encoded.details
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "details": {k: v for k, v in details.items() if isinstance(v, (int, float, str))}}))
"""


def encode_with(cloud, colour_model=None, **options):
    """(bytes, Encoded) of a coloured cloud with the default geometry model and
    ``colour_model`` (default: the default one; a superseded one, to compare)."""
    from omnicodec import api, zoo

    codec, prepared = api.prepare(cloud, **options)
    if colour_model:
        codec = zoo.codec_for(colour_model, codec.coder).around(codec.geometry)
    return api.encode(codec, prepared)


def voxel_colours(cloud):
    """{voxel: rounded mean colour}: what lossless colour must give back."""
    from omnicodec.attributes.attribute_codec import voxel_means

    positions, point_voxels = np.unique(cloud.positions, axis=0, return_inverse=True)
    colours, _ = voxel_means(cloud.attributes["rgb"].astype(np.int64), point_voxels.reshape(-1),
                                len(positions))
    return positions, colours


def lossless(path, folder, colour_model=None):
    from omnicodec.io import read_ply

    ocz, back = os.path.join(folder, "c.ocz"), os.path.join(folder, "back.ply")
    encode = run_script(_WORKER, "encode", path, ocz, colour_model or "default")
    decode = run_script(_WORKER, "decode", ocz, back, "")
    original, decoded = read_ply(path), read_ply(back)
    expected = voxel_colours(original)
    got = voxel_colours(decoded)
    exact = all(np.array_equal(a, b) for a, b in zip(expected, got))
    details = encode["details"]
    return {"points": len(original.positions), "bytes": os.path.getsize(ocz),
            "geometry_bytes": details["geometry bytes"], "colour_bytes": details["colour bytes"],
            "geometry_bpp": details["geometry bits per point"], "colour_bpp": details["colour bits per point"],
            "encode_s": encode["seconds"], "decode_s": decode["seconds"], "encode_peak_mb": encode["peak_mb"],
            "decode_peak_mb": decode["peak_mb"], "exact": exact}


def lossy(path, colour_model=None):
    from omnicodec import api, evaluate
    from omnicodec.io import read_ply
    from omnicodec.metrics import colour_metrics

    cloud = read_ply(path)
    rows = []
    for rate in range(1, evaluate.colour_rate_count() + 1):
        start = time.perf_counter()
        data = encode_with(cloud, colour_model, colour_rate=rate)[0]
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        _, decoded = api.decode(data)
        decode_s = time.perf_counter() - start
        quality = colour_metrics(cloud.positions, cloud.attributes["rgb"], decoded.data.positions,
                                 decoded.data.attributes["rgb"]).symmetric
        rows.append({"colour_rate": rate, "colour_bpp": decoded.details["colour bits per point"],
                     "y_psnr": quality.y_psnr, "cb_psnr": quality.cb_psnr, "cr_psnr": quality.cr_psnr,
                     "ycbcr_psnr": quality.ycbcr_psnr, "encode_s": encode_s, "decode_s": decode_s})
        print(f"colour rate {rate}: {rows[-1]['colour_bpp']:.4f} bpp, Y {quality.y_psnr:.2f} "
              f"Cb {quality.cb_psnr:.2f} Cr {quality.cr_psnr:.2f} dB", flush=True)
    return rows


def anchor_rows(path, name):
    with open(path) as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    return [{"colour_bpp": float(r["colour_bpp"]), "y_psnr": float(r["y_psnr"])} for r in rows
            if r["file"] == name]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cloud")
    parser.add_argument("--anchor", default=os.path.join(os.path.dirname(__file__), "anchors",
                                                         "gpcc_v23_raht_soldier.csv"))
    parser.add_argument("--colour-model", help="a colour model other than the default (e.g. the superseded "
                        "colour-v1, to compare)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    from omnicodec.metrics.bjontegaard import bd_psnr, bd_rate

    with tempfile.TemporaryDirectory() as folder:
        exact = lossless(args.cloud, folder, args.colour_model)
    print(json.dumps(exact), flush=True)
    rows = lossy(args.cloud, args.colour_model)
    result = {"lossless": exact, "lossy": rows}
    anchor = anchor_rows(args.anchor, os.path.basename(args.cloud)) if os.path.exists(args.anchor) else []
    if anchor:
        xa, ya = [a["colour_bpp"] for a in anchor], [a["y_psnr"] for a in anchor]
        xt, yt = [r["colour_bpp"] for r in rows], [r["y_psnr"] for r in rows]
        result["bd"] = {method: {"bd_rate_y": bd_rate(xa, ya, xt, yt, method),
                                 "bd_psnr_y": bd_psnr(xa, ya, xt, yt, method)} for method in ("cubic", "pchip")}
        print(f"BD against {os.path.basename(args.anchor)}: {json.dumps(result['bd'])}")
    print("| colour rate | colour bpp | Y dB | Cb dB | Cr dB | YCbCr dB | enc s | dec s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['colour_rate']} | {r['colour_bpp']:.4f} | {r['y_psnr']:.2f} | {r['cb_psnr']:.2f} | "
              f"{r['cr_psnr']:.2f} | {r['ycbcr_psnr']:.2f} | {r['encode_s']:.1f} | {r['decode_s']:.1f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
