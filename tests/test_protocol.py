"""The codec protocol and registry, the runtime state made explicit, and the helpers the
codecs share: a new codec is one class and one model card."""

import dataclasses
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

import omnicodec
from omnicodec import api, bitstream, catalogue, codec, runtime, zoo
from omnicodec.data import PointCloud
from omnicodec.errors import BitstreamError, InputError, ModelError
from omnicodec.io import write_ply
from omnicodec.sparse.keys import pack_keys
from tests.conftest import sphere_shell

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code, env=None):
    """Run ``code`` in a fresh interpreter from the repository root, with ``env`` added to
    the environment (a None value removes the variable)."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={name: value for name, value in environment.items() if value is not None})


class RawPositions(codec.Codec):
    """A codec for the test: int32 positions as they are, one section."""

    options = ()

    def prepare(self, data):
        return np.asarray(data.positions if isinstance(data, PointCloud) else data, dtype="<i4")

    def encode(self, prepared, rate=None, progress=None, reference=None):
        return codec.Encoded(header=len(prepared).to_bytes(4, "little"), sections=[prepared.tobytes()],
                             checksum=bitstream.checksum(prepared), decoded=PointCloud(prepared),
                             details={"input points": len(prepared)})

    def decode(self, header, sections, progress=None, reference=None):
        positions = np.frombuffer(sections[0], dtype="<i4").reshape(-1, 3)
        return codec.Decoded(PointCloud(positions), bitstream.checksum(positions), {})

    @classmethod
    def describe(cls, header):
        return {"points": cls.input_units(header)}

    @classmethod
    def input_units(cls, header):
        return int.from_bytes(header, "little")


@pytest.fixture
def raw_codec(monkeypatch):
    """RawPositions registered as codec "raw-positions" with model card "raw-v1": what adding
    a codec takes."""
    module = types.ModuleType("raw_positions_codec")
    module.RawPositions = RawPositions
    monkeypatch.setitem(sys.modules, "raw_positions_codec", module)
    monkeypatch.setitem(catalogue.codecs(), "raw-positions",
                        catalogue.Registration(200, "pointcloud", "raw_positions_codec:RawPositions"))
    card = catalogue.ModelCard(model_id="raw-v1", file="", sha256="", codec="raw-positions", data="",
                         command="", seed=0, steps=0, result="")
    monkeypatch.setitem(catalogue.models(), "raw-v1", card)
    return card


def test_a_new_codec_is_one_class_and_one_card(raw_codec, tmp_path, capsys):
    from omnicodec.cli.main import main

    points = sphere_shell()
    data = omnicodec.compress(points, model="raw-v1")
    header = api.info(data)
    assert (zoo.codec_id(header.codec), header.model_id) == ("raw-positions", "raw-v1")
    assert api.describe(header) == {"points": len(points)}
    assert np.array_equal(omnicodec.decompress(data).positions, points)
    src, ocz, back = tmp_path / "in.ply", tmp_path / "x.ocz", tmp_path / "back.ply"
    write_ply(src, points.astype(np.int32))
    assert main(["compress", str(src), "-o", str(ocz), "--model", "raw-v1", "-q"]) == 0
    assert main(["decompress", str(ocz), "-o", str(back), "-q"]) == 0
    assert main(["info", str(ocz)]) == 0 and "raw-positions" in capsys.readouterr().out


def test_every_card_names_a_registered_codec_class():
    for card in catalogue.models().values():
        cls = zoo.codec_class(card.codec)
        assert issubclass(cls, codec.Codec) and (cls.network is not None or not card.file)
        assert card.data_kind in ("pointcloud", "lightfield")
    numbers = [entry.number for entry in catalogue.codecs().values()]
    assert len(set(numbers)) == len(numbers)
    assert {zoo.codec_number(name) for name in ("pointcloud-lossless", "pointcloud-lossy",
                                                   "lightfield")} == set(bitstream.LEGACY_MODES)
    for kind in ("pointcloud", "lightfield"):  # one default in general, one per content
        for content in {card.content for card in catalogue.models().values() if card.data_kind == kind}:
            assert sum(card.default for card in catalogue.models().values()
                       if card.data_kind == kind and card.content == content) == 1
    assert zoo.rates("pointcloud") == list(range(1, 14)) and zoo.rates("lightfield") == list(range(1, 9))
    assert zoo.load("lightfield-v1").rates == len(catalogue.card("lightfield-v1").rates)


def test_unknown_codec_and_mismatched_codec_are_refused():
    data = omnicodec.compress(sphere_shell())
    header, sections = bitstream.unpack(data)
    for number in (99, zoo.codec_number("lightfield")):
        forged = bitstream.pack(dataclasses.replace(header, codec=number), sections)
        with pytest.raises(BitstreamError, match="does not match its model"):
            omnicodec.decompress(forged)
    with pytest.raises(ModelError, match="does not ship"):
        omnicodec.decompress(bitstream.pack(dataclasses.replace(header, model_id="nope-v9"), sections))
    with pytest.raises(ModelError, match="codec number 99"):
        api.describe(dataclasses.replace(header, codec=99))


def test_decoded_data_are_checked_against_the_stream_checksum():
    header, sections = bitstream.unpack(omnicodec.compress(sphere_shell()))
    forged = bitstream.pack(dataclasses.replace(header, checksum=b"\0" * 8), sections)
    with pytest.raises(BitstreamError, match="checksum"):
        omnicodec.decompress(forged)


def test_options_a_codec_does_not_take_are_refused():
    with pytest.raises(InputError, match="tile"):
        omnicodec.compress(sphere_shell(), tile=32)
    with pytest.raises(InputError, match="codes light fields"):
        omnicodec.compress(sphere_shell(), model="lightfield-v1")
    with pytest.raises(InputError, match="out of range"):
        omnicodec.compress(sphere_shell(), rate=14)


def test_report_names_the_attributes_not_coded(tmp_path):
    points = sphere_shell()
    colours = np.zeros((len(points), 3), dtype=np.uint8)
    src = tmp_path / "c.ply"
    write_ply(src, PointCloud(points.astype(np.int32), {"rgb": colours, "intensity": np.ones(len(points)),
                                                        "curvature": np.zeros(len(points))}))
    report = api.compress_file(src, tmp_path / "c.ocz")
    assert report.codec == "pointcloud-colour" and list(report.not_coded) == ["intensity", "curvature"]
    assert report.units == len(points) and report.details["voxels"] == len(points)
    report = api.compress_file(src, tmp_path / "i.ocz", no_colour=True)
    assert report.codec == "pointcloud-intensity" and list(report.not_coded) == ["curvature"]
    report = api.compress_file(src, tmp_path / "g.ocz", no_attributes=True)
    assert report.codec == "pointcloud-lossless" and list(report.not_coded) == []


def test_loaded_models_cannot_change_each_other():
    first, second = zoo.load("occupancy-v1"), zoo.load("occupancy-v1")
    assert first is not second
    with torch.no_grad():
        for parameter in first.parameters():
            parameter.zero_()
    fresh = zoo.load("occupancy-v1")
    assert all(p.abs().sum() > 0 for p in fresh.parameters() if p.numel() > 8)
    assert all(torch.equal(a, b) for a, b in zip(second.parameters(), fresh.parameters()))


def test_help_and_import_load_neither_torch_nor_an_engine():
    result = _python("import sys\nimport omnicodec\nfrom omnicodec.cli.main import main\n"
                     "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                     "loaded = [m for m in ('torch', 'MinkowskiEngine', 'omnicodec.sparse') if m in sys.modules]\n"
                     "print('LOADED', loaded)")
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


def test_bad_engine_variable_is_a_one_line_error(tmp_path):
    """(The default lossless model computes in integers, with no sparse engine: a float
    model is what reads the variable.)"""
    src = tmp_path / "s.ply"
    write_ply(src, sphere_shell().astype(np.int32))
    result = _python("import sys\nfrom omnicodec.cli.main import main\n"
                     f"sys.exit(main(['compress', {str(src)!r}, '-o', {str(tmp_path / 's.ocz')!r}, '-q', "
                     "'--model', 'occupancy-v1']))",
                     env={"OMNICODEC_ENGINE": "nope"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "OMNICODEC_ENGINE=nope" in result.stderr
    assert not (tmp_path / "s.ocz").exists()


def test_mkl_reproducible_mode_is_set_where_the_codec_runs():
    if runtime.mkl_strict() is None:
        pytest.skip("this torch has no MKL")
    common = ("import os, warnings\nimport numpy as np\nimport omnicodec\nfrom omnicodec import runtime\n"
              "points = np.array([[0, 0, 0], [1, 2, 3], [3, 3, 3]])\n")
    fresh = _python(common + "omnicodec.compress(points)\n"
                    "print(os.environ['MKL_CBWR'], runtime.mkl_strict())", env={"MKL_CBWR": None})
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.split() == ["AUTO,STRICT", "True"]
    late = _python("import torch\n"
                   "a = torch.ones(64, 64); a @ a\n" + common +
                   "with warnings.catch_warnings(record=True) as caught:\n"
                   "    warnings.simplefilter('always')\n    omnicodec.compress(points)\n"
                   "print([str(w.message) for w in caught if 'MKL' in str(w.message)])",
                   env={"MKL_CBWR": None})
    assert late.returncode == 0, late.stderr
    assert "MKL_CBWR=AUTO,STRICT" in late.stdout


def test_keys_sort_as_rows_and_refuse_overflow():
    rows = np.array([[0, 5, 1], [1, 0, 0], [0, 5, 0], [0, 0, 7]])
    keys = pack_keys(rows, [2, 3, 3])
    assert list(np.argsort(keys)) == sorted(range(4), key=lambda i: tuple(rows[i]))
    assert torch.equal(pack_keys(torch.from_numpy(rows), [2, 3, 3]), torch.from_numpy(keys))
    with pytest.raises(ValueError, match="outside"):
        pack_keys(rows, [2, 2, 3])
    with pytest.raises(ValueError, match="outside"):
        pack_keys(-rows, [2, 3, 3])
    with pytest.raises(ValueError, match="63-bit"):
        pack_keys(rows, [30, 30, 4])


def test_an_unknown_coder_to_encode_with_is_bad_input():
    with pytest.raises(InputError, match="entropy coder 'nope' is not available"):
        omnicodec.compress(sphere_shell(), coder="nope")


def test_coding_options_are_keywords():
    """0.1.0's compress(points, voxel_size, bits, model...) must not silently mean another
    thing now: options after the data are keywords only."""
    with pytest.raises(TypeError):
        omnicodec.compress(sphere_shell(), None, 8)
