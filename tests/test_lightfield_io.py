"""Light-field input/output in every layout, quality metrics and the lf view picture."""

import os

import h5py
import numpy as np
import pytest
from PIL import Image

from omnicodec.errors import InputError
from omnicodec.io.lightfield import LightField, Naming, read_lightfield, view_name, write_lightfield
from omnicodec.metrics.lightfield import lightfield_quality, ssim, ycbcr
from tests.test_cli import run


def _views(rows=3, cols=3, height=16, width=24, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(rows, cols, height, width, 3),
                                                dtype=np.uint8)


def _write_folder(folder, views, naming):
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = views.shape[:2]
    for r in range(rows):
        for c in range(cols):
            Image.fromarray(views[r, c]).save(folder / view_name(naming, r, c, cols))


NAMINGS = [Naming("hci", digits=3), Naming("rowcol", prefix="2067", first=1, digits=2),
           Naming("rowcol", prefix="view", first=0, digits=2)]


@pytest.mark.parametrize("naming", NAMINGS, ids=["hci", "lytro", "view_rr_cc"])
def test_png_folders_round_trip_with_their_names(tmp_path, naming):
    views = _views()
    _write_folder(tmp_path / "in", views, naming)
    lf = read_lightfield(tmp_path / "in")
    assert np.array_equal(lf.views, views) and lf.naming == naming
    write_lightfield(tmp_path / "out", lf)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        sorted(p.name for p in (tmp_path / "in").iterdir())
    assert np.array_equal(read_lightfield(tmp_path / "out").views, views)


def test_grid_override_and_non_square_hci(tmp_path):
    views = _views(rows=2, cols=3)
    _write_folder(tmp_path / "lf", views, Naming("hci"))
    with pytest.raises(InputError, match="square grid"):
        read_lightfield(tmp_path / "lf")
    assert np.array_equal(read_lightfield(tmp_path / "lf", grid=(2, 3)).views, views)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_hdf5_and_npy_round_trip(tmp_path, dtype):
    views = _views().astype(dtype) * (257 if dtype == np.uint16 else 1)
    with h5py.File(tmp_path / "lf.h5", "w") as f:
        f.create_dataset("meta", data=np.zeros(3))
        f.create_dataset("group/lightfield", data=views)
    lf = read_lightfield(tmp_path / "lf.h5")
    assert lf.views.dtype == dtype and np.array_equal(lf.views, views)
    assert lf.naming.dataset == "group/lightfield"
    write_lightfield(tmp_path / "back.h5", lf)
    assert np.array_equal(read_lightfield(tmp_path / "back.h5").views, views)
    np.save(tmp_path / "lf.npy", views)
    lf = read_lightfield(tmp_path / "lf.npy")
    write_lightfield(tmp_path / "back.npy", lf)
    assert np.array_equal(np.load(tmp_path / "back.npy"), views)


def _source(tmp_path, kind, views):
    """``views`` stored as a Lytro-named PNG folder, an HDF5 file (dataset "data/lf") or an
    .npy, and read back."""
    path = tmp_path / {"folder": "in", "hdf5": "in.h5", "npy": "in.npy"}[kind]
    if kind == "folder":
        _write_folder(path, views, NAMINGS[1])
    elif kind == "hdf5":
        with h5py.File(path, "w") as f:
            f.create_dataset("data/lf", data=views)
    else:
        np.save(path, views)
    return read_lightfield(path)


SOURCES = ["folder", "hdf5", "npy"]


@pytest.mark.parametrize("source", SOURCES)
def test_output_files_follow_the_extension(tmp_path, source):
    views = _views()
    lf = _source(tmp_path, source, views)
    write_lightfield(tmp_path / "out.npy", lf)
    assert np.array_equal(np.load(tmp_path / "out.npy"), views)
    for name in ("out.h5", "out.HDF5"):
        write_lightfield(tmp_path / name, lf)
        back = read_lightfield(tmp_path / name)
        assert np.array_equal(back.views, views)
        assert back.naming.dataset == ("data/lf" if source == "hdf5" else "lightfield")


@pytest.mark.parametrize("source", SOURCES)
def test_output_folders_follow_a_trailing_separator_or_an_existing_folder(tmp_path, source):
    views = _views()
    lf = _source(tmp_path, source, views)
    names = (sorted(p.name for p in (tmp_path / "in").iterdir()) if source == "folder"
             else [f"view_{r:02d}_{c:02d}.png" for r in range(3) for c in range(3)])
    write_lightfield(f"{tmp_path / 'views.npy'}{os.sep}", lf)
    assert sorted(p.name for p in (tmp_path / "views.npy").iterdir()) == names
    (tmp_path / "views.npy" / "stray.png").write_bytes(b"an old view: replaced whole")
    write_lightfield(tmp_path / "views.npy", lf)
    assert sorted(p.name for p in (tmp_path / "views.npy").iterdir()) == names
    assert np.array_equal(read_lightfield(tmp_path / "views.npy").views, views)


def test_a_folder_holding_other_files_is_not_replaced(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="holds more than PNG views"):
        write_lightfield(folder, LightField(_views(), Naming("npy")))
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("source", SOURCES)
def test_output_without_extension_keeps_the_input_kind(tmp_path, source):
    views = _views()
    lf = _source(tmp_path, source, views)
    write_lightfield(tmp_path / "out", lf)
    out = tmp_path / "out"
    if source == "folder":
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (tmp_path / "in").iterdir())
        written = read_lightfield(out).views
    elif source == "hdf5":
        with h5py.File(out, "r") as f:
            written = f["data/lf"][()]
    else:
        written = np.load(out)
    assert np.array_equal(written, views)


@pytest.mark.parametrize("name, dtype, message", [
    ("out.png", np.uint8, r"cannot write a light field as \.png; give a folder"),
    ("out.ply", np.uint8, r"\.npy, \.h5/\.hdf5"),
    ("out.ocz", np.uint8, "or no extension"),
    ("out.txt", np.uint8, "cannot write"),
    (f"views{os.sep}", np.uint16, "this light field is 16-bit"),
])
def test_refused_outputs_write_nothing(tmp_path, name, dtype, message):
    _write_folder(tmp_path / "in", _views(), NAMINGS[0])
    lf = read_lightfield(tmp_path / "in")
    before = sorted(tmp_path.iterdir())
    with pytest.raises(InputError, match=message):
        write_lightfield(f"{tmp_path}{os.sep}{name}", LightField(lf.views.astype(dtype), lf.naming))
    assert sorted(tmp_path.iterdir()) == before


def test_bad_light_fields(tmp_path):
    good = _views()
    cases = {}
    _write_folder(tmp_path / "missing", good, NAMINGS[1])
    (tmp_path / "missing" / "2067_02_02.png").unlink()
    cases["missing"] = "views are missing"
    _write_folder(tmp_path / "sizes", good, NAMINGS[0])
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "sizes" / "input_Cam004.png")
    cases["sizes"] = "the others"
    _write_folder(tmp_path / "gray", good, NAMINGS[0])
    Image.fromarray(np.zeros((16, 24), np.uint8)).save(tmp_path / "gray" / "input_Cam001.png")
    cases["gray"] = "not RGB"
    _write_folder(tmp_path / "deep", good, NAMINGS[0])
    Image.fromarray(np.zeros((16, 24), np.uint16)).save(tmp_path / "deep" / "input_Cam002.png")
    cases["deep"] = "16-bit"
    _write_folder(tmp_path / "deep_rgb", good, NAMINGS[0])
    _write_png_rgb16(tmp_path / "deep_rgb" / "input_Cam003.png", np.zeros((16, 24, 3), np.uint16))
    cases["deep_rgb"] = "16-bit"
    (tmp_path / "empty").mkdir()
    cases["empty"] = "no PNG views"
    with h5py.File(tmp_path / "nodata.h5", "w") as f:
        f.create_dataset("image", data=np.zeros((4, 4, 3), np.uint8))
    cases["nodata.h5"] = "no single"
    cases["absent"] = "no such file"
    for name, message in cases.items():
        with pytest.raises(InputError, match=message):
            read_lightfield(tmp_path / name)


def _write_png_rgb16(path, image):
    """A 16-bit RGB PNG by hand (Pillow cannot write one)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width, _ = image.shape
    raw = b"".join(b"\0" + image[y].astype(">u2").tobytes() for y in range(height))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    path.write_bytes(png)


def test_quality_metrics():
    views = _views(height=32, width=32)
    same = lightfield_quality(views, views)
    assert same.psnr_y == np.inf and same.ssim_y == pytest.approx(1.0)
    noisy = np.clip(views.astype(int) + np.random.default_rng(1).integers(-4, 5, views.shape), 0, 255)
    quality = lightfield_quality(views, noisy.astype(np.uint8))
    assert 35 < quality.psnr_y < 50 and quality.view_psnr_y.shape == (3, 3)
    assert 0 < quality.ssim_y < 1
    # BT.709: white is Y 255 with neutral chroma.
    assert np.allclose(ycbcr(np.array([[255, 255, 255]], np.uint8)), [[255, 128, 128]])
    flat = np.full((32, 32), 100.0)
    assert ssim(flat, flat) == pytest.approx(1.0)


def test_lf_view_picture(tmp_path, capsys):
    views = _views(height=40, width=48)
    _write_folder(tmp_path / "lf", views, NAMINGS[0])
    np.save(tmp_path / "rec.npy", np.clip(views.astype(int) + 3, 0, 255).astype(np.uint8))
    code, out, err = run(["lf", "view", tmp_path / "lf", tmp_path / "rec.npy", "-o", tmp_path / "v.png"],
                         capsys)
    assert code == 0, err
    assert "PSNR-Y" in out
    picture = np.asarray(Image.open(tmp_path / "v.png").convert("RGB"))
    assert picture.shape[1] > picture.shape[0] and picture.std() > 10
    code, _, err = run(["lf", "view", tmp_path / "lf", tmp_path / "nothing", "-o", tmp_path / "w.png"],
                       capsys)
    assert code == 2 and "no such file" in err and not (tmp_path / "w.png").exists()
    code, _, err = run(["lf", "view", tmp_path / "lf", "--grid", "2x2", "-o", tmp_path / "w.png"], capsys)
    assert code == 2 and "outside" in err
    np.save(tmp_path / "small.npy", views[:2, :2])
    code, _, err = run(["lf", "view", tmp_path / "lf", tmp_path / "small.npy", "-o", tmp_path / "w.png"],
                       capsys)
    assert code == 2 and "differ in shape" in err and not (tmp_path / "w.png").exists()
