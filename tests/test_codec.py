"""End-to-end lossless coding with the shipped model."""

import os
import struct
import zlib

import numpy as np
import pytest

import omnicodec
from omnicodec.zoo import codec_id
from omnicodec import api, bitstream
from omnicodec.entropy import available_coders, default_coder
from omnicodec.errors import BitstreamError, ModelError
from omnicodec.grid import voxelize
from tests.conftest import sphere_shell


def same_set(a, b):
    return np.array_equal(np.unique(a, axis=0), np.unique(b, axis=0))


def decoded_positions(data):
    """The positions a stream decodes to, in the decoder's (Morton) order."""
    return api.decode(data)[1].data.positions


def test_sample_scan_round_trips_bit_exactly(sample_points):
    data = omnicodec.compress(sample_points)
    back = omnicodec.decompress(data).positions
    assert back.dtype == sample_points.dtype
    assert same_set(back, sample_points)
    assert len(back) == len(np.unique(sample_points, axis=0))
    # A trained model must beat 8 bits per point by far on a real capture.
    assert 8 * len(data) / len(sample_points) < 2.0


def test_encoding_is_deterministic(sample_points):
    assert omnicodec.compress(sample_points) == omnicodec.compress(sample_points)


@pytest.mark.parametrize("coder", available_coders())
@pytest.mark.parametrize("points", [
    np.array([[5, 5, 5]]),
    np.array([[0, 0, 0]]),
    np.array([[-7, 3, 2], [-7, 3, 2], [100, -50, 9]], dtype=np.int32),
    np.array([[2**20, 5, 5], [2**20 + 3, 9, 5]], dtype=np.int64),
    sphere_shell(),
])
def test_small_and_odd_clouds_round_trip(points, coder):
    data = omnicodec.compress(points, coder=coder)
    assert same_set(omnicodec.decompress(data).positions, points)


def test_float_input_is_lossless_on_its_voxel_grid():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(3000, 3)) * 2.5
    data = omnicodec.compress(points, bits=7)
    grid = voxelize(points, bits=7)
    back = omnicodec.decompress(data).positions
    assert same_set(back, grid.to_points())
    assert np.abs(np.sort(back[:, 0])[[0, -1]] - np.sort(points[:, 0])[[0, -1]]).max() < grid.scale


def test_blocks_partition_round_trips(sample_points):
    grid = voxelize(sample_points)
    codec, prepared = api.prepare(sample_points)
    encoded = codec.encode(prepared, max_block_points=8000)
    data = api._stream(codec, encoded)
    assert encoded.details["blocks"] > 4
    np.testing.assert_array_equal(decoded_positions(data), grid.to_points(sample_points.dtype))


def _rewrite(data, offset, value):
    damaged = bytearray(data)
    damaged[offset:offset + len(value)] = value
    damaged[-4:] = struct.pack("<I", zlib.crc32(bytes(damaged[:-4])))
    return bytes(damaged)


def _field_offset(data, name):
    """Byte offset of a header field in a packed file (layout in omnicodec.bitstream)."""
    model = 7  # after magic, version and the codec number (one varint byte)
    weights = model + 1 + data[model]
    coder = weights + 8
    checksum = coder + 1 + data[coder]
    return {"weights": weights, "coder": coder, "checksum": checksum}[name]


def test_geometry_checksum_mismatch_is_detected(sample_points):
    data = omnicodec.compress(sample_points[:2000])
    bad = _rewrite(data, _field_offset(data, "checksum"), b"\xff" * 8)
    with pytest.raises(BitstreamError, match="checksum"):
        omnicodec.decompress(bad)


def test_other_weights_are_refused(sample_points):
    data = omnicodec.compress(sample_points[:2000])
    bad = _rewrite(data, _field_offset(data, "weights"), b"\0" * 8)
    with pytest.raises(ModelError, match="other weights"):
        omnicodec.decompress(bad)


def test_unknown_model_is_refused():
    with pytest.raises(ModelError, match="unknown model"):
        omnicodec.compress(sphere_shell(), model="nope")


@pytest.mark.parametrize("coder", available_coders())
def test_damaged_payload_never_decodes(sample_points, coder):
    data = omnicodec.compress(sample_points[:3000], coder=coder)
    for position in range(len(data) // 3, len(data), max(1, len(data) // 15)):
        damaged = bytearray(data)
        damaged[position] ^= 0x10
        with pytest.raises(BitstreamError):
            omnicodec.decompress(bytes(damaged))


def test_info_reads_the_header(sample_points):
    data = omnicodec.compress(sample_points)
    header = omnicodec.info(data)
    assert codec_id(header.codec) == "pointcloud-lossless" and header.model_id == "occupancy-v2"
    fields = omnicodec.describe(header)
    assert fields["voxels"] == len(np.unique(sample_points, axis=0))
    assert fields["input points"] == len(sample_points)
    assert fields["grid bits"] == 8 and fields["integer input"]
    assert fields["input coordinate type"] == sample_points.dtype.str
    assert header.version == bitstream.FORMAT_VERSION == 3


def test_unknown_coder_is_refused(sample_points):
    data = omnicodec.compress(sample_points[:2000], coder="torchac")
    coder_at = _field_offset(data, "coder")
    assert data[coder_at + 1: coder_at + 1 + data[coder_at]] == b"torchac"
    bad = _rewrite(data, coder_at + 1, b"xorchac")
    with pytest.raises(BitstreamError, match="entropy coder 'xorchac'"):
        omnicodec.decompress(bad)


@pytest.mark.parametrize("coder", available_coders())
def test_every_coder_round_trips_and_is_recorded(sample_points, coder):
    grid = voxelize(sample_points)
    data = omnicodec.compress(sample_points, coder=coder)
    assert omnicodec.info(data).coder == coder
    np.testing.assert_array_equal(decoded_positions(data), grid.to_points(sample_points.dtype))


def test_our_coder_is_the_default_when_built():
    from omnicodec.entropy import rans

    assert default_coder() == ("rans" if rans.available() else "torchac")


@pytest.mark.parametrize("coder", available_coders())
def test_truncated_streams_never_decode(sample_points, coder):
    data = omnicodec.compress(sample_points[:3000], coder=coder)
    for cut in list(range(0, 64, 7)) + list(range(64, len(data), max(1, len(data) // 25))):
        with pytest.raises(BitstreamError):
            omnicodec.decompress(data[:cut])


def test_bytes_do_not_depend_on_thread_count(sample_points):
    import torch

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = omnicodec.compress(sample_points)
        torch.set_num_threads(2)
        two = omnicodec.compress(sample_points)
        assert one == two
        torch.set_num_threads(1)
        assert same_set(omnicodec.decompress(two).positions, sample_points)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.skipif("rans" not in available_coders(), reason="omnicodec._coder is not built")
def test_codec_works_without_our_extension(tmp_path):
    """With omnicodec._coder unimportable, torchac becomes the default and streams made
    with it decode; a stream that needs rANS is refused with a clear message."""
    import subprocess
    import sys

    script = """
import sys
sys.modules["omnicodec._coder"] = None  # as if the extension had not been built
import numpy as np
import omnicodec
from omnicodec.entropy import available_coders, default_coder
from tests.conftest import sphere_shell
points = sphere_shell()
data = omnicodec.compress(points)
assert available_coders() == ("torchac",) and default_coder() == "torchac"
assert omnicodec.info(data).coder == "torchac"
back = omnicodec.decompress(data).positions
assert np.array_equal(np.unique(back, axis=0), np.unique(points, axis=0))
try:
    omnicodec.decompress(open(sys.argv[1], "rb").read())
except omnicodec.BitstreamError as exc:
    assert "entropy coder 'rans'" in str(exc), exc
    print("ok")
"""
    rans_stream = tmp_path / "rans.ocz"
    data = omnicodec.compress(sphere_shell(), coder="rans")
    rans_stream.write_bytes(data)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", script, str(rans_stream)], cwd=root,
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
