"""Golden streams: small streams of every codec, made by omnicodec 0.1.0 (format version 2)
and by the current code (version 3, also for the codecs added since: LATER_CASES), with a
hash of what each decodes to. The tests decode
them all and re-encode the inputs to the current streams byte for byte, so any change of
format or of a model's bits fails visibly.

    python tests/data/golden/golden.py         # rewrite the current version's streams
    python tests/data/golden/golden.py --new   # add the streams of cases the manifest lacks

Run it only for an intended format change (then bump bitstream.FORMAT_VERSION and keep the
old streams: they must still decode). See README.md for where everything comes from.
"""

import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "manifest.json")


def entries():
    with open(MANIFEST) as handle:
        return json.load(handle)


# Cases of codecs that omnicodec 0.1.0 did not have, so no version-2 stream exists for them:
# (stream name, input, model, coder, options).
LATER_CASES = [
    ("colour_lossless.ocz", "ricardo_crop_rgb.ply", "occupancy-v1", "rans", {}),
    ("colour_c4.ocz", "ricardo_crop_rgb.ply", "occupancy-v1", "rans", {"colour_rate": 4}),
    ("colour_lossy_r11_c6.ocz", "ricardo_crop_rgb.ply", "lossy-r11", "torchac", {"colour_rate": 6}),
    ("lidar_lossless.ocz", "sweep_synthetic.ply", "lidar-v1", "rans", {"voxel_size": 0.001}),
    ("lidar_r3.ocz", "sweep_synthetic.ply", "lidar-r3", "rans", {"voxel_size": 0.001}),
    ("lidar_r6.ocz", "sweep_synthetic.ply", "lidar-r6", "torchac", {"voxel_size": 0.001}),
    ("lidar_intensity.ocz", "sweep_synthetic_intensity.ply", "lidar-v1", "rans", {"voxel_size": 0.001}),
    ("lidar_intensity_bits6.ocz", "sweep_synthetic_intensity.ply", "lidar-r5", "rans",
     {"voxel_size": 0.001, "intensity_bits": 6}),
    ("depth_lossless.ocz", "depth_synthetic.ply", "depth-v1", "rans", {"voxel_size": 0.001}),
    ("sparse_lossless.ocz", "sparse_synthetic.ply", "sparse-v1", "rans", {}),
    ("lightfield_v2_r2.ocz", "plane_9x9.npy", "lightfield-v2", "rans", {"rate": 2}),
    ("lightfield_v2_r7.ocz", "plane_9x9.npy", "lightfield-v2", "torchac", {"rate": 7}),
    ("lossless_integer.ocz", "ricardo_crop.ply", "occupancy-v2", "rans", {}),
    ("lossless_integer_float.ocz", "ricardo_crop_float.ply", "occupancy-v2", "torchac", {"bits": 6}),
    ("lossy_integer_r3.ocz", "ricardo_crop.ply", "lossy-v2-r3", "rans", {}),
    ("lossy_integer_r12.ocz", "ricardo_crop.ply", "lossy-v2-r12", "torchac", {}),
    ("lidar_integer.ocz", "sweep_synthetic.ply", "lidar-v2", "rans", {"voxel_size": 0.001}),
    ("lidar_integer_r3.ocz", "sweep_synthetic.ply", "lidar-v2-r3", "rans", {"voxel_size": 0.001}),
    ("lidar_integer_r6.ocz", "sweep_synthetic.ply", "lidar-v2-r6", "torchac", {"voxel_size": 0.001}),
    ("lidar_intensity_integer.ocz", "sweep_synthetic_intensity.ply", "lidar-v2", "rans", {"voxel_size": 0.001}),
    ("depth_integer.ocz", "depth_synthetic.ply", "depth-v2", "rans", {"voxel_size": 0.001}),
    ("sparse_integer.ocz", "sparse_synthetic.ply", "sparse-v2", "rans", {}),
    ("intensity_integer.ocz", "sweep_synthetic_intensity.ply", "occupancy-v2", "rans", {"voxel_size": 0.001}),
    ("intensity_integer_bits6.ocz", "sweep_synthetic_intensity.ply", "lossy-v2-r10", "torchac",
     {"voxel_size": 0.001, "intensity_bits": 6}),
    ("colour_integer.ocz", "ricardo_crop_rgb.ply", "occupancy-v2", "rans", {"attribute_model": "colour-v2"}),
    ("colour_integer_c4.ocz", "ricardo_crop_rgb.ply", "occupancy-v2", "torchac",
     {"attribute_model": "colour-v2", "colour_rate": 4}),
    ("colour_integer_lossy_r11_c6.ocz", "ricardo_crop_rgb.ply", "lossy-v2-r11", "rans",
     {"attribute_model": "colour-v2", "colour_rate": 6}),
    ("colour_integer_duplicates.ocz", "ricardo_crop_rgb.ply", "occupancy-v2", "rans",
     {"attribute_model": "colour-v2", "bits": 5, "keep_duplicates": True}),
    ("colour_transform_c2.ocz", "ricardo_crop_rgb.ply", "occupancy-v2", "rans",
     {"attribute_model": "colour-v3", "colour_rate": 2}),
    ("colour_transform_c8.ocz", "ricardo_crop_rgb.ply", "occupancy-v2", "torchac",
     {"attribute_model": "colour-v3", "colour_rate": 8}),
    ("colour_transform_lossy_r11_c5.ocz", "ricardo_crop_rgb.ply", "lossy-v2-r11", "rans",
     {"attribute_model": "colour-v3", "colour_rate": 5}),
    ("colour_v4_c2.ocz", "ricardo_crop_rgb.ply", "occupancy-v2", "torchac",
     {"attribute_model": "colour-v4", "colour_rate": 2}),
    ("colour_v4_c7.ocz", "ricardo_crop_rgb.ply", "occupancy-v2", "rans",
     {"attribute_model": "colour-v4", "colour_rate": 7}),
    ("colour_v4_lossy_r11_c4.ocz", "ricardo_crop_rgb.ply", "lossy-v2-r11", "torchac",
     {"attribute_model": "colour-v4", "colour_rate": 4}),
    ("lightfield_v3_r2.ocz", "plane_9x9.npy", "lightfield-v3", "rans", {"rate": 2}),
    ("lightfield_v3_r4.5.ocz", "plane_9x9.npy", "lightfield-v3", "rans", {"rate": 4.5}),
    ("lightfield_v3_r7.ocz", "plane_9x9.npy", "lightfield-v3", "torchac", {"rate": 7}),
    ("lightfield_v4_r6.ocz", "plane_9x9.npy", "lightfield-v4", "rans", {"rate": 6}),
    ("lightfield_v4_r7.ocz", "plane_9x9.npy", "lightfield-v4", "torchac", {"rate": 7}),
    ("lightfield_v5_5x5_r3.ocz", "plane_5x5.npy", "lightfield-v5", "rans", {"rate": 3}),
    ("lightfield_v5_5x5_r7.ocz", "plane_5x5.npy", "lightfield-v5", "torchac", {"rate": 7}),
    ("lightfield_v5_r6.ocz", "plane_9x9.npy", "lightfield-v5", "rans", {"rate": 6}),
    ("lidar_v3.ocz", "sweep_synthetic.ply", "lidar-v3", "rans", {"voxel_size": 0.001}),
    ("lidar_v3_intensity.ocz", "sweep_synthetic_intensity.ply", "lidar-v3", "torchac", {"voxel_size": 0.001}),
]


def read_input(name):
    from omnicodec.io import file_kind, read_data

    path = os.path.join(HERE, "inputs", name)
    return read_data(path, file_kind(path))


def encode(entry):
    """The current code's stream of an entry's input, model, coder and options (an
    ``attribute_model`` option pins the model of the attributes, superseded or not)."""
    from omnicodec import api, zoo

    options = dict(entry["options"])
    rate, attribute_model = options.pop("rate", None), options.pop("attribute_model", None)
    codec, prepared = api.prepare(read_input(entry["input"]), model=entry["model"], rate=rate,
                                  coder=entry["coder"], **options)
    if attribute_model:
        codec = zoo.codec_for(attribute_model, codec.coder).around(codec.geometry)
    return api.encode(codec, prepared, rate)[0]


def decoded_array(data):
    """Positions of a decoded point cloud (and their colours or intensities, if it has
    some, as more columns), views of a decoded light field."""
    import omnicodec

    decoded = omnicodec.decompress(data)
    if isinstance(decoded, omnicodec.LightField):
        return decoded.views
    more = [decoded.attributes[name].reshape(len(decoded.positions), -1).astype(decoded.positions.dtype)
            for name in ("rgb", "intensity", "reflectance") if name in decoded.attributes]
    return np.hstack([decoded.positions, *more]) if more else decoded.positions


def machine_kind():
    """What wrote a stream, as the manifest records it: a float model's stream decodes only
    where the machine computes its floats as the writer's did."""
    import platform

    import torch

    with open("/proc/cpuinfo") as handle:
        model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                     platform.processor())
    return f"{model}, {platform.machine()}, torch {torch.__version__} (CPU capability " \
           f"{torch.backends.cpu.get_cpu_capability()})"


def digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def rewrite_current(only_new=False):
    """Re-make the current version's streams from the cases of the oldest version, with
    every engine this install has; with ``only_new``, make only the streams of cases the
    manifest lacks and keep every other stream as it is (the float models' streams were
    written on another machine and stay its record)."""
    from omnicodec import bitstream
    from omnicodec.sparse import available_engines, use_engine

    version = bitstream.FORMAT_VERSION
    recorded = entries()
    kept = [e for e in recorded if only_new or e["version"] != version]
    present = {e["stream"] for e in kept}
    oldest = min(e["version"] for e in kept)
    made, machine = [], machine_kind()
    for engine in available_engines():
        later = [{"stream": name, "input": source, "model": model, "coder": coder, "options": options,
                  "engine": engine, "decoded_points": None}
                 for name, source, model, coder, options in LATER_CASES]
        with use_engine(engine):
            for case in [e for e in recorded if e["version"] == oldest and e["engine"] == engine] + later:
                name = f"v{version}/{engine}/{os.path.basename(case['stream'])}"
                if name in present:
                    continue
                data = encode(case)
                os.makedirs(os.path.dirname(os.path.join(HERE, name)), exist_ok=True)
                with open(os.path.join(HERE, name), "wb") as handle:
                    handle.write(data)
                decoded = decoded_array(data)
                made.append({**case, "stream": name, "version": version, "bytes": len(data), "machine": machine,
                             "decoded_sha256": digest(decoded), "decoded_dtype": decoded.dtype.str})
                print(f"{name}: {len(data)} bytes")
    with open(MANIFEST, "w") as handle:
        json.dump(kept + made, handle, indent=1)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(HERE, "..", "..", ".."))
    rewrite_current(only_new="--new" in sys.argv[1:])
