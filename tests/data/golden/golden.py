"""Golden streams: small streams of every codec, made by omnicodec 0.1.0 (format version 2)
and by the current code (version 3, also for the codecs added since: LATER_CASES), with a
hash of what each decodes to. The tests decode
them all and re-encode the inputs to the current streams byte for byte, so any change of
format or of a model's bits fails visibly.

    python tests/data/golden/golden.py         # rewrite the current version's streams
    python tests/data/golden/golden.py --new   # add the streams of cases the manifest lacks
    python tests/data/golden/golden.py --sequences  # add the sequence streams sequence/manifest.json lacks

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
    ("colour_v5.ocz", "ricardo_crop_rgb.ply", "occupancy-v2", "rans", {"attribute_model": "colour-v5"}),
    ("colour_v5_c5.ocz", "ricardo_crop_rgb.ply", "occupancy-v2", "torchac",
     {"attribute_model": "colour-v5", "colour_rate": 5}),
    ("lightfield_v3_r2.ocz", "plane_9x9.npy", "lightfield-v3", "rans", {"rate": 2}),
    ("lightfield_v3_r4.5.ocz", "plane_9x9.npy", "lightfield-v3", "rans", {"rate": 4.5}),
    ("lightfield_v3_r7.ocz", "plane_9x9.npy", "lightfield-v3", "torchac", {"rate": 7}),
    ("lightfield_v4_r6.ocz", "plane_9x9.npy", "lightfield-v4", "rans", {"rate": 6}),
    ("lightfield_v4_r7.ocz", "plane_9x9.npy", "lightfield-v4", "torchac", {"rate": 7}),
    ("lightfield_v5_5x5_r3.ocz", "plane_5x5.npy", "lightfield-v5", "rans", {"rate": 3}),
    ("lightfield_v5_5x5_r7.ocz", "plane_5x5.npy", "lightfield-v5", "torchac", {"rate": 7}),
    ("lightfield_v5_r6.ocz", "plane_9x9.npy", "lightfield-v5", "rans", {"rate": 6}),
    ("lightfield_v6_5x5_r3.ocz", "plane_5x5.npy", "lightfield-v6", "rans", {"rate": 3}),
    ("lightfield_v6_5x5_r7.ocz", "plane_5x5.npy", "lightfield-v6", "torchac", {"rate": 7}),
    ("lightfield_v6_r6.ocz", "plane_9x9.npy", "lightfield-v6", "rans", {"rate": 6}),
    ("lidar_v3.ocz", "sweep_synthetic.ply", "lidar-v3", "rans", {"voxel_size": 0.001}),
    ("lidar_v3_intensity.ocz", "sweep_synthetic_intensity.ply", "lidar-v3", "torchac", {"voxel_size": 0.001}),
    ("lidar_v4.ocz", "sweep_synthetic_intensity.ply", "lidar-v4", "rans", {"voxel_size": 0.001}),
    ("lidar_v4_r5.ocz", "sweep_synthetic.ply", "lidar-v4-r5", "torchac", {"voxel_size": 0.001}),
    ("lidar_v5.ocz", "sweep_synthetic.ply", "lidar-v5", "torchac", {"voxel_size": 0.001}),
    ("lidar_v5_r5.ocz", "sweep_synthetic.ply", "lidar-v5-r5", "rans", {"voxel_size": 0.001}),
]


# Sequences of frames that predict each other (drives): (stream in sequence/, its sweeps
# there, options of api.compress_sequence_files). The sweeps are one sensor's drive:
# synthetic_sweep(lasers=16, columns=256, seed=i, travel=0.8 i, sensor_seed=5) of
# tests/conftest.py, with intensity.
DRIVE_SWEEPS = [f"drive_sweep_{index}.ply" for index in range(3)]
SEQUENCE_CASES = [
    ("drive_v2.ocz", DRIVE_SWEEPS, {"voxel_size": 0.001, "model": "lidar-v4"}),
    ("drive_v2_r5.ocz", DRIVE_SWEEPS,
     {"voxel_size": 0.001, "rate": 5, "no_attributes": True, "model": "lidar-v4-r5"}),
    ("drive_v3.ocz", DRIVE_SWEEPS, {"voxel_size": 0.001, "model": "lidar-v5"}),
    ("drive_v3_r5.ocz", DRIVE_SWEEPS,
     {"voxel_size": 0.001, "rate": 5, "no_attributes": True, "model": "lidar-v5-r5"}),
]
SEQUENCES = os.path.join(HERE, "sequence")
SEQUENCE_MANIFEST = os.path.join(SEQUENCES, "manifest.json")


def sequence_entries():
    with open(SEQUENCE_MANIFEST) as handle:
        return json.load(handle)


def encode_sequence(entry):
    """The current code's sequence stream of an entry's sweeps and options."""
    import tempfile

    from omnicodec import api

    with tempfile.TemporaryDirectory() as folder:
        target = os.path.join(folder, "drive.ocz")
        api.compress_sequence_files([os.path.join(SEQUENCES, name) for name in entry["sweeps"]], target,
                                    **entry["options"])
        with open(target, "rb") as handle:
            return handle.read()


def decoded_sequence_digest(data):
    """One digest of what every frame of a sequence decodes to (as :func:`decoded_array`)."""
    from omnicodec import api

    whole = hashlib.sha256()
    for _, _, decoded in api.Sequence(data).decode():
        cloud = decoded.data
        more = [cloud.attributes[name].reshape(len(cloud.positions), -1).astype(cloud.positions.dtype)
                for name in ("intensity",) if name in cloud.attributes]
        whole.update(np.ascontiguousarray(np.hstack([cloud.positions, *more])).tobytes())
    return whole.hexdigest()


def write_sequences():
    """Make the sequence streams of SEQUENCE_CASES that sequence/manifest.json lacks."""
    recorded = sequence_entries() if os.path.exists(SEQUENCE_MANIFEST) else []
    present = {entry["stream"] for entry in recorded}
    for name, sweeps, options in SEQUENCE_CASES:
        if name in present:
            continue
        entry = {"stream": name, "sweeps": sweeps, "options": options}
        data = encode_sequence(entry)
        with open(os.path.join(SEQUENCES, name), "wb") as handle:
            handle.write(data)
        recorded.append({**entry, "bytes": len(data), "decoded_sha256": decoded_sequence_digest(data)})
        print(f"sequence/{name}: {len(data)} bytes")
    with open(SEQUENCE_MANIFEST, "w") as handle:
        json.dump(recorded, handle, indent=1)


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
    if "--sequences" in sys.argv[1:]:
        write_sequences()
    else:
        rewrite_current(only_new="--new" in sys.argv[1:])
