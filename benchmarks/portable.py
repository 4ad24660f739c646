"""Do streams decode the same on other machines? Each file (a point cloud or a light
field) is compressed with its default model; then fresh processes decode the stream as installed, under each of
omnicodec.runtime.other_machines() (this machine computing as others do) and with each
sparse engine, and the benchmark prints, per file, whether every decode gave the same
data (or which setting refused it, or gave other data).

    python -m benchmarks.portable ../shared/data/lidar/kitti_object_000114.ply \\
        ../shared/data/pointclouds_rgb/pcl_mOSD_test28.ply --voxel-size 0.001
    python -m benchmarks.portable ../shared/data/lightfields/lowres_HCI_bedroom_5x5 --rate 4
    python -m benchmarks.portable ../shared/data/pointclouds/soldier_vox10_0690_partial.ply --colour-rate 6
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

_DECODE = """
import hashlib, sys
import numpy as np
import omnicodec
from omnicodec.errors import OmnicodecError
try:
    data = omnicodec.decompress(open(sys.argv[1], "rb").read())
except OmnicodecError as exc:
    print("refused: " + str(exc).splitlines()[0])
else:
    if isinstance(data, omnicodec.LightField):
        digest = hashlib.sha256(np.ascontiguousarray(data.views).tobytes())
    else:
        digest = hashlib.sha256(np.ascontiguousarray(data.positions).tobytes())
        for name in sorted(data.attributes):
            digest.update(np.ascontiguousarray(data.attributes[name]).tobytes())
    print(digest.hexdigest())
"""


def settings():
    from omnicodec import runtime
    from omnicodec.sparse import available_engines

    return {"as installed": {}, **runtime.other_machines(),
            **{f"engine {engine}": {"OMNICODEC_ENGINE": engine} for engine in available_engines()}}


def decodes(stream):
    """{setting: digest of the decoded data, or "refused: ..."}."""
    return {name: subprocess.run([sys.executable, "-c", _DECODE, stream], capture_output=True, text=True,
                                 env={**os.environ, **env}, check=True).stdout.strip()
            for name, env in settings().items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--voxel-size", type=float)
    parser.add_argument("--no-attributes", action="store_true", help="code the positions alone")
    parser.add_argument("--rate", type=float, help="the rate to code at (default: lossless, or a light "
                                                   "field's rate 1)")
    parser.add_argument("--colour-rate", type=int, help="coloured clouds: the colour rate (default: lossless)")
    parser.add_argument("--quality", type=int, help="coloured clouds: geometry and colour rates together")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    from omnicodec import api, bitstream, zoo

    results = []
    print("| file | models | arithmetic | settings | identical |\n|---|---|---|---|---|")
    for path in args.files:
        with tempfile.TemporaryDirectory() as folder:
            stream = os.path.join(folder, "s.ocz")
            options = {"voxel_size": args.voxel_size, "no_attributes": args.no_attributes or None,
                       "colour_rate": args.colour_rate, "quality": args.quality}
            api.compress_file(path, stream, rate=args.rate, **{k: v for k, v in options.items() if v is not None})
            with open(stream, "rb") as handle:
                header = bitstream.unpack(handle.read())[0]
            got = decodes(stream)
        reference = got["as installed"]
        others = [name for name, digest in got.items() if digest != reference]
        arithmetic = "integer" if zoo.portable(header) else "float"
        models = " + ".join(zoo.stream_models(header))
        results.append({"file": os.path.basename(path), "models": models, "arithmetic": arithmetic,
                        "decodes": got})
        print(f"| {os.path.basename(path)} | {models} | {arithmetic} | {len(got)} | "
              f"{'yes' if not others else 'no: ' + ', '.join(others)} |", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
