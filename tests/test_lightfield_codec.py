"""The light-field codecs: the light-field verbs and bad input of the default model (each
a one-line error, a non-zero exit and no output), and lightfield-v1, the 4D block
transform superseded by lightfield-v2 (tests/test_lightfield_synthesis.py), which still
codes when named and decodes its streams."""

import dataclasses
import json
import struct

import h5py
import numpy as np
import pytest

import omnicodec
from omnicodec.zoo import codec_id, codec_number
from omnicodec import api, bitstream, varint, zoo
from omnicodec.errors import BitstreamError, InputError
from omnicodec.io import write_ply
from omnicodec.io.lightfield import LightField, Naming, read_lightfield
from omnicodec.lightfield.learned_transform import BLOCK, LightFieldModel, dct_matrix, from_blocks, to_blocks
from tests.conftest import sphere_shell, textured_views
from tests.test_cli import run
from tests.test_lightfield_io import NAMINGS, _write_folder


@pytest.fixture(scope="module")
def scene():
    return LightField(textured_views(), Naming("npy"))


def test_round_trip_is_what_the_encoder_saw(scene):
    codec, prepared = api.prepare(scene, model="lightfield-v1", rate=2, tile=32)
    data, encoded = api.encode(codec, prepared, rate=2)
    decoded = omnicodec.decompress(data)
    assert decoded.views.dtype == np.uint8 and decoded.views.shape == scene.views.shape
    assert np.array_equal(decoded.views, encoded.decoded.views)
    assert decoded.naming == scene.naming
    header = api.info(data)
    fields = api.describe(header)
    assert codec_id(header.codec) == "lightfield" and (fields["views"], fields["view size"]) == ("3x3", "40x56")
    assert fields["tile"] == 32 and fields["rate"] == 2 and fields["bits per sample"] == 8
    # Not a copy of the input, and not garbage either.
    error = np.abs(decoded.views.astype(int) - scene.views).mean()
    assert 0 < error < 60


def test_higher_rates_spend_more_bits(scene):
    sizes = [len(omnicodec.compress(scene, rate=rate)) for rate in (1, len(zoo.rates("lightfield")))]
    assert sizes[0] < sizes[1]


def test_black_views_cost_almost_nothing_and_stay_black(scene):
    views = scene.views.copy()
    views[0] = 0  # a whole row of views carries no signal, as vignetted Lytro corners
    views[1, 1, :BLOCK, :] = 0
    full = omnicodec.compress(scene, model="lightfield-v1", rate=3)
    partly = omnicodec.compress(LightField(views, scene.naming), model="lightfield-v1", rate=3)
    decoded = omnicodec.decompress(partly).views
    assert not decoded[0].any() and not decoded[1, 1, :BLOCK].any()
    assert len(partly) < 1.05 * len(full)  # the black views add (almost) nothing
    black = omnicodec.compress(LightField(np.zeros_like(views), scene.naming), model="lightfield-v1", rate=3)
    assert len(black) < 200 and not omnicodec.decompress(black).views.any()


def test_blocks_pad_mark_black_view_blocks_and_fill_them():
    import torch

    views = torch.zeros(1, 2, 3, 10, 17, 3)
    views[0, 1, 2, 9, 16, 2] = 1.0
    views[0, 0, 0, :8, :8] = 5.0
    blocks, black = to_blocks(views)
    assert blocks.shape == (1, 1, 1, 2, 3, 9, 9, BLOCK, BLOCK, 3)
    # Padded views repeat the edge views; a black view block takes the others' mean.
    assert not black[0, 0, 0, 1, 2, 1, 2] and not black[0, 0, 0, 1, 2, 8, 8]
    assert black[0, 0, 0, 1, 2, 0, 0] and black[0, 0, 0, 1, 1].all()
    assert torch.equal(from_blocks(torch.where(black[..., None, None, None], 0.0, blocks), views.shape), views)


def test_transform_starts_orthonormal_and_inverts():
    import torch

    d = dct_matrix(9)
    assert torch.allclose(d @ d.t(), torch.eye(9), atol=1e-6)
    model = LightFieldModel(channels=8, hyper_channels=4)
    blocks = torch.rand(2, 9, 9, BLOCK, BLOCK, 3) * 255
    assert torch.allclose(model.samples(model.coefficients(blocks)), blocks, atol=1e-2)


def test_sixteen_bit_hdf5_round_trips_as_sixteen_bit(tmp_path, scene, capsys):
    deep = scene.views.astype(np.uint16) * 257
    with h5py.File(tmp_path / "lf.h5", "w") as f:
        f.create_dataset("data/lf", data=deep)
    code, out, err = run(["lf", "compress", tmp_path / "lf.h5", "-o", tmp_path / "lf.ocz", "--rate", "4"], capsys)
    assert code == 0, err
    code, out, err = run(["lf", "decompress", tmp_path / "lf.ocz", "-o", tmp_path / "back.h5"], capsys)
    assert code == 0, err
    back = read_lightfield(tmp_path / "back.h5")
    assert back.views.dtype == np.uint16 and back.naming.dataset == "data/lf"
    assert np.abs(back.views.astype(float) / 257 - scene.views).mean() < 60


@pytest.mark.parametrize("naming", NAMINGS[:2], ids=["hci", "lytro"])
def test_cli_folder_round_trip_keeps_view_names_and_reports(tmp_path, naming, capsys):
    _write_folder(tmp_path / "in", textured_views(), naming)
    code, out, err = run(["lf", "compress", tmp_path / "in", "-o", tmp_path / "lf.ocz", "--rate", "2",
                          "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["views"] == "3x3" and report["pixels"] == 9 * 40 * 56 and report["model"] == "lightfield-v6"
    assert report["bits per pixel"] == pytest.approx(8 * (tmp_path / "lf.ocz").stat().st_size / report["pixels"], rel=1e-3)
    # The plain verbs detect a light field too.
    code, out, err = run(["decompress", tmp_path / "lf.ocz", "-o", tmp_path / "out"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in (tmp_path / "in").iterdir())
    code, out, err = run(["compress", tmp_path / "in", "-o", tmp_path / "again.ocz", "--rate", "2"], capsys)
    assert code == 0, err
    assert (tmp_path / "again.ocz").read_bytes() == (tmp_path / "lf.ocz").read_bytes()
    code, out, err = run(["info", tmp_path / "lf.ocz", "--json"], capsys)
    assert code == 0 and json.loads(out)["codec"] == "lightfield-synthesis"


def test_lf_eval_writes_table_csvs_and_plot(tmp_path, capsys):
    np.save(tmp_path / "lf.npy", textured_views())
    anchors = tmp_path / "anchors.csv"
    anchors.write_text("lightfield,codec,setting,bytes,bpp,psnr_y,psnr_yuv,ssim_y\n"
                       "lf.npy,x265,qp 30,100,0.5,30,31,0.9\nlf.npy,x265,qp 40,50,0.25,25,26,0.8\n")
    code, out, err = run(["lf", "eval", tmp_path / "lf.npy", "--rates", "1,4", "-o", tmp_path / "rd",
                          "--anchor", anchors], capsys)
    assert code == 0, err
    assert "PSNR-YUV" in out
    rows = (tmp_path / "rd.csv").read_text().splitlines()
    assert rows[0].startswith("rate,bytes,bits_per_pixel,psnr_y,psnr_yuv,ssim_y") and len(rows) == 3
    assert len((tmp_path / "rd_views.csv").read_text().splitlines()) == 1 + 2 * 9
    assert (tmp_path / "rd.png").read_bytes()[:4] == b"\x89PNG"


def _stream(tmp_path, scene, capsys):
    np.save(tmp_path / "lf.npy", scene.views)
    code, _, err = run(["lf", "compress", tmp_path / "lf.npy", "-o", tmp_path / "lf.ocz"], capsys)
    assert code == 0, err
    return (tmp_path / "lf.ocz").read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "flipped", "cut in half"])
def test_damaged_streams_fail_cleanly_and_write_nothing(tmp_path, scene, damage, capsys):
    data = bytearray(_stream(tmp_path, scene, capsys))
    if damage == "truncated":
        data = data[:-7]
    elif damage == "flipped":
        data[len(data) // 2] ^= 0x10
    else:
        data = data[:len(data) // 2]
    (tmp_path / "bad.ocz").write_bytes(bytes(data))
    code, out, err = run(["lf", "decompress", tmp_path / "bad.ocz", "-o", tmp_path / "out.npy"], capsys)
    assert code != 0 and err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    assert not (tmp_path / "out.npy").exists()


def test_one_set_of_verbs_and_options_of_the_other_kind(tmp_path, scene, capsys):
    """A light-field stream decodes through the same verbs as a cloud's; options of the
    other kind of data are refused, in the API and on the command line."""
    data = _stream(tmp_path, scene, capsys)
    decoded = omnicodec.decompress(data)
    assert isinstance(decoded, LightField) and decoded.views.shape == scene.views.shape
    with pytest.raises(InputError, match="voxel_size do not apply to light field model"):
        omnicodec.compress(scene, voxel_size=0.5)
    with pytest.raises(InputError, match="tile do not apply to point cloud model"):
        omnicodec.compress(sphere_shell(), tile=32)
    write_ply(tmp_path / "c.ply", sphere_shell())
    cases = [
        (["lf", "compress", tmp_path / "lf.npy", "-o", tmp_path / "x.ocz", "--rate", "9"], "out of range"),
        (["lf", "compress", tmp_path / "lf.npy", "-o", tmp_path / "x.ocz", "--model", "lightfield-v1", "--tile",
          "20"], "multiple of 16"),
        (["lf", "compress", tmp_path / "lf.npy", "-o", tmp_path / "x.ocz", "--tile", "32"],
         "tile do not apply to light field model lightfield-v6"),
        (["lf", "compress", tmp_path / "nothing", "-o", tmp_path / "x.ocz"], "no such file"),
        (["compress", tmp_path / "lf.npy", "-o", tmp_path / "x.ocz", "--bits", "8"],
         "bits do not apply to light field model"),
        (["compress", tmp_path / "lf.npy", "-o", tmp_path / "x.ocz", "--voxel-size", "0.5"],
         "voxel_size do not apply to light field model"),
        (["compress", tmp_path / "c.ply", "-o", tmp_path / "x.ocz", "--tile", "32"],
         "tile do not apply to point cloud model"),
        (["compress", tmp_path / "c.ply", "-o", tmp_path / "x.ocz", "--grid", "3x3"],
         "--grid and --dataset are light-field options"),
        (["lf", "compress", tmp_path / "lf.ocz", "-o", tmp_path / "x.ocz"], "not a light field"),
    ]
    for argv, message in cases:
        code, out, err = run(argv, capsys)
        assert code != 0 and message in err and err.count("\n") == 1, (argv, err)
        assert not (tmp_path / "x.ocz").exists()


def test_bad_light_field_folders_fail_on_the_command_line(tmp_path, capsys):
    good = textured_views()
    _write_folder(tmp_path / "missing", good, NAMINGS[1])
    (tmp_path / "missing" / "2067_02_02.png").unlink()
    (tmp_path / "empty").mkdir()
    with h5py.File(tmp_path / "nodata.h5", "w") as f:
        f.create_dataset("image", data=np.zeros((4, 4, 3), np.uint8))
    for name, message in [("missing", "views are missing"), ("nodata.h5", "no single"),
                          ("empty", "no PNG views")]:
        code, out, err = run(["lf", "compress", tmp_path / name, "-o", tmp_path / "x.ocz"], capsys)
        assert code != 0 and message in err and err.count("\n") == 1, (name, err)
        assert not (tmp_path / "x.ocz").exists()


def _codec_header(naming=b'{"digits": 3, "kind": "hci"}'):
    """A light-field codec header: U, V, H, W, sample bits, tile, gain index, then the naming."""
    return struct.pack("<4IBHf", 9, 9, 512, 512, 8, 128, 2.5) + varint.encode([len(naming)]) + naming


def test_header_round_trip_and_corrupt_naming():
    header = bitstream.Header(codec=codec_number("lightfield"), model_id="m", weights_hash=b"w" * 8, coder="rans",
                              checksum=b"12345678", codec_header=_codec_header())
    back, sections = bitstream.unpack(bitstream.pack(header, [b"abc"]))
    assert back == header and sections == [b"abc"]
    assert api.describe(back) == {"views": "9x9", "view size": "512x512", "bits per sample": 8,
                                  "rate": 3.5, "tile": 128,
                                  "naming": dataclasses.asdict(Naming("hci", digits=3))}
    with pytest.raises(BitstreamError):
        bitstream.unpack(bitstream.pack(header, [b"abc"])[:-1])
    for naming in (b'{"kind": "hci"', b'{"colour": 1}', b"\xff"):
        damaged = dataclasses.replace(header, codec_header=_codec_header(naming))
        with pytest.raises(BitstreamError, match="light-field header is corrupted"):
            api.describe(damaged)
    with pytest.raises(BitstreamError, match="light-field header is corrupted"):
        api.describe(dataclasses.replace(header, codec_header=_codec_header()[:-1]))
