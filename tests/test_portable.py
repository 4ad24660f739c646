"""Every stream an integer model writes decodes bit-exactly on every machine, by
construction, and checked here:

- the integer decoders compute no float (tests/float_guard.py makes float tensor
  arithmetic and transcendental functions raise while they run);
- fresh processes that compute as other machines do (torch's plain kernels or its AVX2
  ones, MKL's portable path, numpy without AVX-512 or AVX2, 1 or 2 threads, either sparse
  engine, the integer kernels' plain C++ path or their torch reference) decode every
  portable golden stream and golden sequence (drives of predicted frames) to its recorded
  data and re-encode its input to its bytes;
- the integer logistic's tables are pinned, and its code lengths follow the float one's.
"""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import omnicodec
from omnicodec import bitstream, runtime, zoo
from omnicodec.entropy import binary_reader, binary_writer, logistic
from omnicodec.sparse import available_engines

from float_guard import no_float

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "golden")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _portable_entries():
    """The golden entries of the current format whose models all compute in integers (the
    torch engine's copies: the MinkowskiEngine ones hold the same bytes)."""
    with open(os.path.join(GOLDEN, "manifest.json")) as handle:
        entries = json.load(handle)
    chosen = []
    for entry in entries:
        if entry["version"] == bitstream.FORMAT_VERSION and entry["engine"] == "torch":
            with open(os.path.join(GOLDEN, entry["stream"]), "rb") as stream:
                if zoo.portable(bitstream.unpack(stream.read())[0]):
                    chosen.append(entry)
    return chosen


PORTABLE = _portable_entries()
SEQUENCE_FOLDER = os.path.join(GOLDEN, "sequence")
with open(os.path.join(SEQUENCE_FOLDER, "manifest.json")) as _handle:
    SEQUENCES = json.load(_handle)  # drives of predicted frames (integer models)


def test_every_default_model_family_has_portable_golden_streams():
    models = {entry["model"] for entry in PORTABLE}
    assert {"occupancy-v2", "lossy-v2-r3", "lidar-v3", "lidar-v2-r3", "lidar-v4", "lidar-v4-r5", "lidar-v5",
            "lidar-v5-r5", "depth-v2", "sparse-v2", "lightfield-v6", "lightfield-v5", "lightfield-v4",
            "lightfield-v3"} <= models
    assert {entry["stream"] for entry in SEQUENCES} >= {"drive_v2.ocz", "drive_v2_r5.ocz", "drive_v3.ocz",
                                                         "drive_v3_r5.ocz"}
    with open(os.path.join(GOLDEN, PORTABLE[0]["stream"]), "rb") as handle:
        assert zoo.portable(bitstream.unpack(handle.read())[0])
    wrapped = {zoo.stream_models(bitstream.unpack(open(os.path.join(GOLDEN, e["stream"]), "rb").read())[0])[0]
               for e in PORTABLE}
    assert {"intensity-v2", "colour-v2", "colour-v3", "colour-v4", "colour-v5"} <= wrapped


@pytest.mark.parametrize("entry", PORTABLE, ids=lambda e: e["stream"])
def test_integer_decoders_compute_no_float(entry, monkeypatch):
    with open(os.path.join(GOLDEN, entry["stream"]), "rb") as handle:
        data = handle.read()
    omnicodec.decompress(data)  # weights loaded and tables built outside the guard
    with no_float(monkeypatch):
        omnicodec.decompress(data)


def test_the_guard_catches_float_arithmetic(monkeypatch):
    with pytest.raises(AssertionError, match="float"):
        with no_float(monkeypatch):
            torch.ones(3) * 2
    with pytest.raises(AssertionError, match="numpy.exp"):
        with no_float(monkeypatch):
            np.exp(np.arange(3))
    with no_float(monkeypatch):
        assert int((torch.arange(4) * 3).sum()) == 18


# One fresh process per setting: it decodes every portable golden stream and golden
# sequence and re-encodes their inputs, and prints what it got.
_CHILD = """
import hashlib, json, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "data", "golden"))
import golden
from contextlib import nullcontext
from omnicodec.sparse import integer
implementation = sys.argv[2]
results = {}
for entry in json.loads(sys.argv[3]):
    with integer.use_implementation(implementation) if implementation else nullcontext():
        with open(os.path.join(golden.HERE, entry["stream"]), "rb") as handle:
            decoded = golden.decoded_array(handle.read())
        stream = golden.encode(entry)
    results[entry["stream"]] = [golden.digest(decoded), hashlib.sha256(stream).hexdigest()]
for entry in json.loads(sys.argv[4]):
    with integer.use_implementation(implementation) if implementation else nullcontext():
        with open(os.path.join(golden.SEQUENCES, entry["stream"]), "rb") as handle:
            decoded = golden.decoded_sequence_digest(handle.read())
        stream = golden.encode_sequence(entry)
    results[entry["stream"]] = [decoded, hashlib.sha256(stream).hexdigest()]
print(json.dumps(results))
"""

SETTINGS = {
    "as installed": ({}, ""),
    **{name: (env, "") for name, env in runtime.other_machines().items()},
    **{f"engine {engine}": ({"OMNICODEC_ENGINE": engine}, "") for engine in available_engines()},
    "integer kernels' plain C++ path": ({}, "plain"),
    "integer kernels' torch reference (convolutions, logistic, warps)": ({}, "reference"),
}


@pytest.mark.parametrize("setting", SETTINGS)
def test_portable_streams_are_the_same_under_every_setting(setting):
    from omnicodec.sparse import integer

    env, implementation = SETTINGS[setting]
    assert not implementation or implementation in integer.implementations()  # the extension is built
    entries = PORTABLE
    if implementation == "reference":  # its torch convolutions take minutes on the dense streams, which
        # tests/test_integer_models.py compares path by path: here the sensor codecs (their logistic)
        # and the light fields (their warps)
        entries = [entry for entry in PORTABLE
                   if entry["model"].startswith(("lidar", "depth", "sparse", "lightfield"))]
    result = subprocess.run([sys.executable, "-c", _CHILD, ROOT, implementation, json.dumps(entries),
                             json.dumps(SEQUENCES)], capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr[-2000:]
    got = json.loads(result.stdout)
    for entry, folder in [(entry, GOLDEN) for entry in entries] + [(entry, SEQUENCE_FOLDER) for entry in SEQUENCES]:
        with open(os.path.join(folder, entry["stream"]), "rb") as handle:
            written = hashlib.sha256(handle.read()).hexdigest()
        assert got[entry["stream"]] == [entry["decoded_sha256"], written], entry["stream"]


def _logistic_sample(count=4000, seed=0):
    generator = torch.Generator().manual_seed(seed)
    mu = torch.randn(count, generator=generator, dtype=torch.float64) * 40
    scale = torch.exp(torch.randn(count, generator=generator, dtype=torch.float64) * 1.5) * 2
    uniform = torch.rand(count, generator=generator, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    q = torch.round(mu + scale * torch.log(uniform / (1 - uniform))).clamp(-600, 600).to(torch.int64)
    q[::97] = 600  # outliers
    return q, mu, scale


@pytest.mark.parametrize("tail", [None, "outliers"])
def test_integer_logistic_round_trips_and_follows_the_float_one(tail):
    q, mu, scale = _logistic_sample()
    float_tail, fixed_tail = (logistic.OUTLIER_TAIL, logistic.OUTLIER_TAIL_FIXED) if tail else (None, None)

    def model():
        return logistic.IntegerLogistic(logistic.fixed_location(mu), logistic.scale_index(scale), -600, 600,
                                        fixed_tail)

    writer = binary_writer("rans")
    logistic.write_integer(writer, q, model())
    data = writer.finish()
    reader = binary_reader("rans", data)
    assert torch.equal(logistic.read_integer(reader, model()), q)
    reader.finish()
    float_writer = binary_writer("rans")
    logistic.write(float_writer, q, mu, scale, -600, 600, float_tail)
    assert len(data) <= len(float_writer.finish()) * 1.01


def test_integer_logistic_kernel_and_reference_agree():
    q, mu, scale = _logistic_sample(20000, seed=1)
    model = logistic.IntegerLogistic(logistic.fixed_location(mu), logistic.scale_index(scale), -600, 600,
                                     logistic.OUTLIER_TAIL_FIXED)
    rows = torch.arange(len(q))
    first, last = q - torch.arange(len(q)) % 7, q + torch.arange(len(q)) % 5
    from omnicodec.sparse import integer

    with integer.use_implementation("reference"):
        reference = model._mass(rows, first.clamp(-600, 600), last.clamp(-600, 600))
    assert torch.equal(model._mass(rows, first.clamp(-600, 600), last.clamp(-600, 600)), reference)


def test_fixed_point_tables_are_pinned():
    """The tables every machine computes (exact decimal arithmetic), as integers: the
    integer logistic's, the LiDAR's cosine, the features' logarithm, the light fields'
    transform, colour matrix, cubic weights, visibility and feature thresholds."""
    from omnicodec import fixedpoint
    from omnicodec.lightfield import synthesis_integer
    from omnicodec.scans import sensor

    digest = hashlib.sha256()
    for table in logistic._tables():
        digest.update(table.numpy().astype("<i8").tobytes())
    assert digest.hexdigest()[:16] == "ab70cfe8d2f4df47"
    assert hashlib.sha256(sensor._cosine_table().astype("<i8").tobytes()).hexdigest()[:16] == "8d64d1b63630176a"
    assert fixedpoint.log2_fixed(np.array([1, 2, 3, 1000, 2**40 + 7])).tolist() == [0, 256, 406, 2551, 10240]
    light = hashlib.sha256()
    for table in (synthesis_integer.dct_matrix(), synthesis_integer.rgb_from_ycbcr(),
                  synthesis_integer._cubic_weights(), synthesis_integer._visibility_table(),
                  synthesis_integer._feature_thresholds(synthesis_integer.fixed_steps(np.float32(2.5), 8, (1, 2, 2)))):
        light.update(table.numpy().astype("<i8").tobytes())
    assert light.hexdigest()[:16] == "2b34c3e9543c9f20"


def test_integer_logistic_refuses_what_it_cannot_code():
    with pytest.raises(TypeError, match="int64"):
        logistic.IntegerLogistic(torch.zeros(3), torch.zeros(3, dtype=torch.int64), 0, 10)
    with pytest.raises(ValueError, match="apart"):
        logistic.IntegerLogistic(torch.zeros(3, dtype=torch.int64), torch.zeros(3, dtype=torch.int64),
                                 -logistic.MAX_SPAN, logistic.MAX_SPAN)
    model = logistic.IntegerLogistic(torch.zeros(2, dtype=torch.int64), torch.zeros(2, dtype=torch.int64), 0, 10)
    with pytest.raises(ValueError, match="outside"):
        logistic.write_integer(binary_writer("rans"), torch.tensor([3, 11]), model)


def test_info_says_which_streams_decode_everywhere(capsys):
    from omnicodec.cli.main import main

    for name, said in (("lidar_integer.ocz", "integer: decodes bit-exactly on every machine"),
                       ("colour_lossless.ocz", "float: decodes only where the machine computes as the writer's")):
        assert main(["info", os.path.join(GOLDEN, "v3", "torch", name)]) == 0
        assert said in capsys.readouterr().out
