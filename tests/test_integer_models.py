"""The integer models (occupancy-v2, lossy-v2-r*): every implementation, thread count and
engine computes the same integers, so a stream decodes bit-exactly wherever it is decoded."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import omnicodec
from omnicodec import catalogue, zoo
from omnicodec.entropy import ideal_bits
from omnicodec.grid import morton, octree
from omnicodec.grid.octree import CODING_ORDER
from omnicodec.sparse import integer, use_engine
from omnicodec.sparse.engines import torch_native

from conftest import SAMPLE


def random_keys(count, bits, seed):
    rng = np.random.default_rng(seed)
    return np.unique(morton.encode(rng.integers(0, 1 << bits, (count, 3)), bits))


@pytest.mark.parametrize("cout", [8, 32])
def test_every_implementation_computes_the_same_integers(cout):
    rng = torch.Generator().manual_seed(cout)
    keys = random_keys(2000, 4, 0)  # dense: most voxels have many neighbours
    table = integer.neighbour_table(keys, 4)
    x = torch.randint(-30000, 30000, (len(keys), 32), dtype=torch.int16, generator=rng)
    weight = torch.randint(-32767, 32768, (27, 16, cout, 2), dtype=torch.int16, generator=rng)
    bias = torch.randint(-2**20, 2**20, (cout,), dtype=torch.int32, generator=rng)
    residual = torch.randint(-500, 500, (len(keys), cout), dtype=torch.int16, generator=rng)
    for relu in (False, True):
        outputs = {name: integer.conv(x, table, weight, bias, 13, 96, residual, relu, name)
                   for name in integer.implementations() if name != "avx512vnni" or cout % 16 == 0}
        reference = outputs.pop("reference")
        assert reference.dtype == torch.int16 and bool((reference != 0).any())
        for name, out in outputs.items():
            assert torch.equal(out, reference), name


@pytest.mark.parametrize("cout", [2, 4, 32, 64, 70])
@pytest.mark.parametrize("operands", ["int32", "int64 within int32", "int64 beyond int32"])
def test_dense_layer_kernels_match_the_reference(cout, operands):
    """Every path of integer.linear (the C++ ones this CPU runs: int32 operands with SIMD
    64-bit sums, narrow outputs padded, zero runs skipped; plain; int64) gives the
    reference's integers."""
    rng = torch.Generator().manual_seed(cout)
    rows, cin = 1001, 37  # an odd row count: the SIMD path's last row has no partner
    x = torch.randint(-30000, 30000, (rows, cin), generator=rng) * (torch.rand(rows, cin, generator=rng) < 0.6)
    x[:, 5:17] = 0  # absent neighbours: whole runs of zeros
    weight = torch.randint(-20000, 20000, (cout, cin), generator=rng)
    if operands == "int64 beyond int32":
        x[3, 2], weight[0, 1] = 1 << 33, -(1 << 34)
    x = x.to(torch.int32) if operands == "int32" else x
    bias = torch.randint(-2**40, 2**40, (cout,), generator=rng)
    for relu in (False, True):
        with integer.use_implementation("reference"):
            expected = integer.linear(x, weight, bias, 14, relu)
        for name in integer.implementations():
            with integer.use_implementation(name):
                got = integer.linear(x, weight, bias, 14, relu)
            assert got.dtype == torch.int64 and torch.equal(got, expected), name


def test_use_implementation_routes_every_operation(monkeypatch):
    calls = []
    monkeypatch.setattr(integer, "reference_conv", lambda *args: calls.append(args) or args[0])
    keys = random_keys(50, 3, 4)
    x = torch.ones((len(keys), 2), dtype=torch.int16)
    weight, bias = torch.zeros((27, 1, 16, 2), dtype=torch.int16), torch.zeros(16, dtype=torch.int32)
    with integer.use_implementation("reference"):
        integer.conv(x, integer.neighbour_table(keys, 3), weight, bias, 4, 100)
    integer.conv(x, integer.neighbour_table(keys, 3), weight, bias, 4, 100)
    assert len(calls) == (1 if integer.implementations() != ["reference"] else 2)


def test_threads_do_not_change_the_integers():
    keys = random_keys(3000, 5, 1)
    table = integer.neighbour_table(keys, 5)
    x = torch.randint(-3000, 3000, (len(keys), 32), dtype=torch.int16)
    weight = torch.randint(-3000, 3000, (27, 16, 32, 2), dtype=torch.int16)
    bias = torch.zeros(32, dtype=torch.int32)
    threads = torch.get_num_threads()
    try:
        results = []
        for count in (1, 2):
            torch.set_num_threads(count)
            results.append(integer.conv(x, table, weight, bias, 12, 4096, relu=True))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(*results)


def test_neighbour_table_matches_the_engines_kernel_map():
    keys = random_keys(1500, 4, 2)
    coords = torch.from_numpy(morton.decode(keys, 4)).to(torch.int32)
    native = torch_native.make_tensor(torch.cat([torch.zeros((len(keys), 1), dtype=torch.int32), coords], 1), None)
    pairs = torch_native._kernel_map(torch_native.ConvOp(3, 1, 3, False, False), native, native)
    expected = torch.full((len(keys), 27), -1, dtype=torch.int32)
    for k, (rows, out_rows) in enumerate(pairs):
        expected[out_rows, k] = rows.to(torch.int32)
    assert torch.equal(integer.neighbour_table(keys, 4), expected)
    assert torch.equal(integer._reference_neighbour_table(torch.from_numpy(keys), 4), expected)


def test_parent_tables_link_children_and_parents():
    keys = random_keys(500, 4, 3)
    parents, down, up = integer.parent_tables(keys)
    assert np.array_equal(parents, np.unique(keys >> 3))
    assert int((down >= 0).sum()) == len(keys) == int((up >= 0).sum())
    for row, key in enumerate(keys):
        column = int(torch.nonzero(up[row] >= 0))
        assert parents[int(up[row, column])] == key >> 3 and int(down[up[row, column], column]) == row
        child = np.array([column & 1, (column >> 1) & 1, column >> 2])  # MinkowskiEngine's offset
        assert np.array_equal(morton.decode(np.array([key]), 4)[0] % 2, child)


def test_integer_model_follows_the_float_model(sample_points):
    """The fixed-point model codes the sample's finest scale in as many bits as the float
    model, to within 0.5%."""
    float_model, integer_model = zoo.load("occupancy-v1"), zoo.load("occupancy-v2")
    keys = np.unique(morton.encode(sample_points, 8))
    levels = octree.scales(keys, 8, 3)
    parents, children = levels[-2], levels[-1]
    masks = torch.from_numpy(octree.child_masks(parents, children))
    bits = {"float": 0.0, "integer": 0.0}
    with torch.no_grad(), use_engine("torch"):
        contexts = {"float": float_model.scale_context(parents, 7),
                    "integer": integer_model.scale_context(parents, 7)}
        known = torch.zeros((len(parents), 8), dtype=torch.int8)
        for stage, child in enumerate(CODING_ORDER):
            for kind, model in (("float", float_model), ("integer", integer_model)):
                freq = model.stage_frequencies(contexts[kind], known, stage)
                assert freq.dtype == torch.int32 and bool(((freq >= 1) & (freq <= 65535)).all())
                bits[kind] += ideal_bits(freq.to(torch.float64) / 65536, masks[:, child])
            known[:, child] = masks[:, child].to(torch.int8) * 2 - 1
    assert abs(bits["integer"] / bits["float"] - 1) < 0.005


@pytest.mark.parametrize("model", ["occupancy-v2", "lossy-v2-r2", "lossy-v2-r12"])
def test_streams_are_the_same_from_every_implementation(sample_points, model):
    streams = {}
    for name in integer.implementations():
        with integer.use_implementation(name):
            streams[name] = omnicodec.compress(sample_points, model=model)
    first = streams[integer.implementations()[0]]
    assert all(stream == first for stream in streams.values())
    decoded = []
    for name in integer.implementations():
        with integer.use_implementation(name):
            decoded.append(omnicodec.decompress(first).positions)  # checksum-checked
        assert np.array_equal(decoded[-1], decoded[0])
    if model == "occupancy-v2":
        assert np.array_equal(np.unique(decoded[0], axis=0), np.unique(sample_points, axis=0))


@pytest.mark.parametrize("rate", [1, 10])
def test_integer_lossy_model_follows_the_float_model(sample_points, rate):
    """Same rate, float (lossy-rN) against integer (lossy-v2-rN): as many bytes to within 3%
    and D1 within 0.3 dB."""
    from omnicodec.metrics.pointcloud import point_metrics

    results = {}
    for model in (f"lossy-r{rate}", f"lossy-v2-r{rate}"):
        data = omnicodec.compress(sample_points, model=model)
        decoded = omnicodec.decompress(data).positions.astype(np.float64)
        metrics = point_metrics(sample_points.astype(np.float64), decoded, 255, point_to_plane=False)
        results[model] = (len(data), metrics.symmetric.d1_psnr)
    (float_bytes, float_d1), (integer_bytes, integer_d1) = results.values()
    assert abs(integer_bytes / float_bytes - 1) < 0.03 and abs(integer_d1 - float_d1) < 0.3


def test_scale_table_matches_the_float_gaussian():
    """Row s of the integer lossy models' table holds the float model's frequencies for that
    scale, to within one in 65536."""
    from omnicodec.entropy import binary_frequencies, gaussian

    scales = torch.tensor([0.05, 0.11, 0.5, 1.0, 3.7, 40.0], dtype=torch.float64)
    table = gaussian.scale_table(scales)
    sigma = gaussian.clamp_scale(scales.to(torch.float32))
    assert int((table[:, 0] - binary_frequencies(gaussian._nonzero_prob(sigma))).abs().max()) <= 1
    for m in (1, 2, 5, 30):
        expected = binary_frequencies(gaussian._continue_prob(m, sigma))
        assert int((table[:, m] - expected).abs().max()) <= 1


def test_the_default_lossless_model_is_integer(sample_points):
    header = omnicodec.info(omnicodec.compress(sample_points))
    assert header.model_id == "occupancy-v2"
    assert catalogue.card(header.model_id).settings["arithmetic"] == "integer"


_ENCODE = """
import sys, omnicodec
from omnicodec.io import read_ply
points = read_ply(sys.argv[1]).positions
for model in ("occupancy-v2", "lossy-v2-r4"):
    sys.stdout.buffer.write(omnicodec.compress(points, model=model))
"""


def test_same_stream_from_both_engines_and_any_threads(tmp_path):
    """Fresh processes with each sparse engine (MinkowskiEngine links OpenBLAS, torch uses
    MKL) and 1 or 2 threads write the same bytes, lossless and lossy."""
    from omnicodec.sparse import available_engines

    streams = set()
    for engine in available_engines():
        for threads in ("1", "2"):
            env = dict(os.environ, OMNICODEC_ENGINE=engine, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
            result = subprocess.run([sys.executable, "-c", _ENCODE, SAMPLE], capture_output=True, env=env,
                                    check=True)
            streams.add(result.stdout)
    assert len(streams) == 1


def test_golden_integer_streams_are_the_same_from_both_engines():
    folder = os.path.join(os.path.dirname(__file__), "data", "golden", "v3")
    for name in ("lossless_integer.ocz", "lossless_integer_float.ocz", "lossy_integer_r3.ocz",
                 "lossy_integer_r12.ocz"):
        with open(os.path.join(folder, "torch", name), "rb") as a, open(os.path.join(folder, "minkowski", name), "rb") as b:
            assert a.read() == b.read()
