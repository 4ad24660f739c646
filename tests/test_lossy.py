"""Lossy geometry: latent coding, the autoencoder codec, rate choice, eval, bad input."""

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import omnicodec
from omnicodec.zoo import codec_id, codec_number
from omnicodec import api, bitstream, catalogue, zoo
from omnicodec.entropy import available_coders, binary_reader, binary_writer, default_coder, gaussian
from omnicodec.errors import BitstreamError, InputError
from omnicodec.io import read_ply, write_ply
from omnicodec.metrics import point_metrics
from omnicodec.metrics.bjontegaard import bd_psnr, bd_rate
from tests.conftest import SAMPLE
from tests.test_cli import run

RATES = zoo.rates("pointcloud")
LOSSY_MODELS = [zoo.resolve("pointcloud", rate=rate).model_id for rate in RATES]


@pytest.mark.parametrize("coder", available_coders())
def test_latent_coding_round_trips_near_its_ideal_length(coder):
    generator = torch.Generator().manual_seed(0)
    scale = torch.exp(torch.randn(20000, generator=generator) * 1.5)
    values = torch.randn(20000, generator=generator) * scale
    q = gaussian.quantize(values)
    writer = binary_writer(coder)
    gaussian.write(writer, q, scale)
    data = writer.finish()
    reader = binary_reader(coder, data)
    assert torch.equal(gaussian.read(reader, scale), q)
    reader.finish()
    ideal = float(gaussian.likelihood_bits(q.to(torch.float32), scale).sum())
    assert ideal <= 8 * len(data) <= ideal * 1.05 + 512  # torchac: a stream per batch


def test_latent_coding_clamps_outliers():
    q = gaussian.quantize(torch.tensor([1e6, -1e6, 0.4]))
    assert q.tolist() == [gaussian.MAX_MAGNITUDE, -gaussian.MAX_MAGNITUDE, 0]
    writer = binary_writer(default_coder())
    gaussian.write(writer, q, torch.full((3,), 0.5))
    reader = binary_reader(default_coder(), writer.finish())
    assert gaussian.read(reader, torch.full((3,), 0.5)).tolist() == q.tolist()


@pytest.fixture(scope="module")
def coded(sample_points):
    """The sample coded at the lowest and the highest rate."""
    return {rate: omnicodec.compress(sample_points, rate=rate) for rate in (1, RATES[-1])}


def test_six_rates_ship_with_recipes():
    assert len(LOSSY_MODELS) >= 6 and RATES == list(range(1, len(RATES) + 1))
    for model_id in LOSSY_MODELS:
        card = catalogue.card(model_id)
        assert card.codec == "pointcloud-lossy" and card.base in catalogue.models()
        assert card.sha256 and card.result and card.settings["arithmetic"] == "integer"
        # the integer networks are quantized from the float ones, trained by train_lossy.sh
        float_card = catalogue.card(card.data.split("'")[0])
        assert "lossy_integer" in card.command and "train_lossy.sh" in float_card.command
        zoo.load(model_id)  # present, and matching its SHA-256


def test_lossy_round_trip_rebuilds_the_encoders_reconstruction(coded, sample_points):
    for rate, data in coded.items():
        header, decoded = api.decode(data)
        assert codec_id(header.codec) == "pointcloud-lossy"
        assert header.model_id == zoo.resolve("pointcloud", rate=rate).model_id
        assert (len(decoded.data.positions) == api.describe(header)["voxels"]
                == len(np.unique(sample_points, axis=0)))
        decoded = api.decompress(data).positions
        assert decoded.dtype == sample_points.dtype
        quality = point_metrics(sample_points, decoded, 255, point_to_plane=False)
        assert 45 < quality.symmetric.d1_psnr < math.inf
    low, high = coded[1], coded[RATES[-1]]
    assert len(low) < len(high)
    d1 = [point_metrics(sample_points, api.decompress(d).positions, 255, point_to_plane=False)
          .symmetric.d1_psnr for d in (low, high)]
    assert d1[0] < d1[1]


def test_lossy_encoding_is_deterministic(sample_points, coded):
    assert omnicodec.compress(sample_points, rate=1) == coded[1]


def test_damaged_lossy_streams_never_decode(coded):
    data = coded[RATES[-1]]
    for cut in (len(data) // 3, len(data) - 5):
        with pytest.raises(BitstreamError):
            api.decompress(data[:cut])
    rng = np.random.default_rng(1)
    for offset in rng.integers(20, len(data) - 4, size=8):
        damaged = bytearray(data)
        damaged[offset] ^= 0x10
        with pytest.raises(BitstreamError):
            api.decompress(bytes(damaged))


def test_codec_must_match_the_model(coded):
    header, sections = bitstream.unpack(coded[1])
    header = dataclasses.replace(header, codec=codec_number("pointcloud-lossless"))
    with pytest.raises(BitstreamError, match="does not match its model"):
        api.decompress(bitstream.pack(header, sections))


def test_target_bpp_skips_rates_too_deep_for_a_small_cloud():
    points = np.array([[0, 0, 0], [1, 2, 3], [3, 3, 1], [2, 0, 1]])  # a 4x4x4 grid
    with pytest.raises(InputError, match="higher rate"):
        omnicodec.compress(points, rate=1)
    data, _, codec = api.compress_to_bpp(points, 100.0)
    assert codec.card.model_id in LOSSY_MODELS and len(api.decompress(data).positions) == 4


def test_rate_out_of_range():
    for rate in (0, RATES[-1] + 1):
        with pytest.raises(InputError, match="out of range"):
            zoo.resolve("pointcloud", rate=rate)


def test_target_bpp_picks_the_highest_rate_within_it(sample_points, coded):
    sizes = {rate: 8 * len(data) / len(sample_points) for rate, data in coded.items()}
    data, _, codec = api.compress_to_bpp(sample_points, sizes[1] * 1.0001)
    assert len(data) <= len(coded[1]) * 1.0001 and codec.card.model_id in LOSSY_MODELS
    data, _, codec = api.compress_to_bpp(sample_points, 100.0)
    assert codec.card.model_id == LOSSY_MODELS[-1]
    data, _, codec = api.compress_to_bpp(sample_points, 1e-6)
    assert codec.card.model_id == LOSSY_MODELS[0]  # nothing fits: the fewest bits


def test_cli_lossy_compress_decompress(tmp_path, capsys):
    ocz, back = tmp_path / "l.ocz", tmp_path / "l.ply"
    code, out, _ = run(["compress", SAMPLE, "-o", ocz, "--rate", "2", "--json", "-q"], capsys)
    report = json.loads(out)
    assert code == 0 and report["model"] == "lossy-v2-r2" and "lossy" in report["grid"]
    code, out, _ = run(["decompress", ocz, "-o", back, "-q"], capsys)
    assert code == 0 and len(read_ply(back).positions) == report["voxels"]
    code, out, _ = run(["compress", SAMPLE, "-o", tmp_path / "b.ocz", "--bpp", "0.5", "--json", "-q"],
                       capsys)
    assert code == 0 and json.loads(out)["bits per input point"] <= 0.5


@pytest.mark.parametrize("rate", ["0", str(RATES[-1] + 1)])
def test_cli_rate_out_of_range_is_one_line(tmp_path, capsys, rate):
    out_file = tmp_path / "x.ocz"
    code, out, err = run(["compress", SAMPLE, "-o", out_file, "--rate", rate], capsys)
    assert code == 2 and "out of range" in err and len(err.strip().splitlines()) == 1
    assert not out_file.exists()


def test_cli_eval_writes_table_csv_and_plot(tmp_path, capsys):
    stem, anchor = tmp_path / "rd", tmp_path / "other_codec.csv"
    anchor.write_text("# points of another codec\nfile,bpp,d1_psnr,d2_psnr\n"
                      "ricardo_vox8.ply,0.1,50,52\nricardo_vox8.ply,0.4,60,63\nelse.ply,1,1,1\n")
    from omnicodec.evaluate import read_anchors

    assert [r["bpp"] for r in read_anchors([anchor], "ricardo_vox8.ply")["other_codec"]] == [0.1, 0.4]
    code, out, err = run(["eval", SAMPLE, "--rates", "1,2", "-o", stem, "--anchor", anchor], capsys)
    assert code == 0, err
    assert "D1 dB" in out and "lossy-v2-r2" in out and "peak 255" in out
    with open(f"{stem}.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["rate"] for row in rows] == ["1", "2"]
    assert all(float(row["d1_psnr"]) > 45 and float(row["d2_psnr"]) > 45 for row in rows)
    with open(f"{stem}.png", "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_eval_bad_input(tmp_path, capsys):
    cases = [
        (["eval", SAMPLE, "--rates", "99"], "out of range"),
        (["eval", SAMPLE, "--rates", "x"], "rates must look like"),
        (["eval", SAMPLE, "--rates", "5-3"], "rates must look like"),
        (["eval", SAMPLE, "--rates", "1", "--peak", "10"], "does not fit the data"),
        (["eval", SAMPLE, "--rates", "1", "--no-normal-estimation"], "needs reference normals"),
        (["eval", tmp_path / "missing.ply"], "no such file"),
        (["eval", SAMPLE, "--anchor", tmp_path / "none.csv"], "cannot read the anchor file"),
        (["eval", SAMPLE, "--anchor", SAMPLE], "needs the columns"),
    ]
    for args, message in cases:
        code, out, err = run([*args, "-o", tmp_path / "never", "-q"], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not list(tmp_path.glob("never*"))


def test_eval_of_float_cloud_needs_a_peak(tmp_path, capsys):
    src = tmp_path / "float.ply"
    write_ply(src, np.random.default_rng(0).normal(size=(3000, 3)))
    code, _, err = run(["eval", src, "--rates", "1", "-o", tmp_path / "f"], capsys)
    assert code == 2 and "--peak" in err


def test_bd_rate_of_known_curves():
    rates = np.array([0.05, 0.1, 0.2, 0.4])
    psnr = np.array([60.0, 64.0, 67.0, 70.0])
    for method in ("cubic", "pchip"):
        assert bd_rate(rates, psnr, rates / 2, psnr, method) == pytest.approx(-50.0)
        assert bd_rate(rates, psnr, rates, psnr, method) == pytest.approx(0.0, abs=1e-9)
        assert bd_psnr(rates, psnr, rates, psnr + 1.5, method) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate(rates, psnr, rates, psnr + 20)
