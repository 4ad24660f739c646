"""Golden streams (tests/data/golden): streams of omnicodec 0.1.0 (format version 2) and of
this version decode to what they decoded to when made; this version re-encodes their
inputs byte for byte; and the old streams' coded sections are exactly the new ones'.

That holds on every machine for streams whose models compute in integers
(:func:`omnicodec.zoo.portable`). A float model's stream holds only where the machine
computes as the writer's did (the manifest names that machine); elsewhere what holds, and
is tested, is that its decoder refuses it with a one-line error (its checksum), never
returns other data, and that what it encodes here decodes here.
"""

import importlib.util
import os

import numpy as np
import pytest

from omnicodec import bitstream, zoo
from omnicodec.cli.main import main
from omnicodec.errors import BitstreamError
from omnicodec.io import read_ply
from omnicodec.sparse import available_engines, use_engine

_spec = importlib.util.spec_from_file_location(
    "golden", os.path.join(os.path.dirname(__file__), "data", "golden", "golden.py"))
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

ENTRIES = golden.entries()
ENGINES = available_engines()


def _read(entry):
    with open(os.path.join(golden.HERE, entry["stream"]), "rb") as handle:
        return handle.read()


def _params(entries):
    """One test per entry; an entry made with an engine this install lacks is skipped
    (MinkowskiEngine is optional), as the engine-equivalence tests are."""
    return [pytest.param(e, id=e["stream"], marks=() if e["engine"] in ENGINES else
                         pytest.mark.skip(reason=f"engine {e['engine']} is not installed"))
            for e in entries]


def test_every_codec_and_both_versions_have_golden_streams():
    versions = {e["version"] for e in ENTRIES}
    assert versions == {2, bitstream.FORMAT_VERSION}
    from omnicodec import catalogue
    from omnicodec.zoo import codec_id

    for version in versions:
        codecs = {codec_id(bitstream.unpack(_read(e))[0].codec) for e in ENTRIES if e["version"] == version}
        # 0.1.0 (version 2) had the first three codecs; the current version has them all.
        assert codecs == {name for name, entry in catalogue.codecs().items()
                          if version == bitstream.FORMAT_VERSION or entry.number <= 3}


def _portable(data):
    return zoo.portable(bitstream.unpack(data)[0])


def _decoded_or_refusal(data):
    """(the decoded array, None), or (None, the message) where the decoder refused it."""
    try:
        return golden.decoded_array(data), None
    except BitstreamError as exc:
        return None, str(exc)


def test_every_golden_entry_names_the_machine_that_wrote_it():
    assert all(entry["machine"] for entry in ENTRIES)


@pytest.mark.parametrize("entry", _params(ENTRIES))
def test_golden_stream_decodes_to_its_recorded_data(entry):
    data = _read(entry)
    with use_engine(entry["engine"]):
        decoded, refusal = _decoded_or_refusal(data)
    if refusal is not None:  # a float model, and a machine that computes otherwise than the writer's
        assert not _portable(data), f"an integer stream was refused: {refusal}"
        assert "\n" not in refusal and "computes in float" in refusal
        return
    assert decoded.dtype.str == entry["decoded_dtype"]
    assert golden.digest(decoded) == entry["decoded_sha256"]


@pytest.mark.parametrize("entry", _params([e for e in ENTRIES if e["version"] == bitstream.FORMAT_VERSION]))
def test_inputs_reencode_to_the_golden_bytes(entry):
    golden_bytes = _read(entry)
    with use_engine(entry["engine"]):
        data = golden.encode(entry)
        if data != golden_bytes and not _portable(golden_bytes):  # a float model computes otherwise here:
            assert _decoded_or_refusal(data)[1] is None  # what it writes here decodes here
            return
    assert data == golden_bytes


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e["version"] == 2], ids=lambda e: e["stream"])
def test_old_streams_hold_exactly_the_current_sections(entry):
    """0.1.0 and this version code the same bits: only the container around them changed."""
    current = next(e for e in ENTRIES if e["version"] == bitstream.FORMAT_VERSION
                   and e["engine"] == entry["engine"]
                   and os.path.basename(e["stream"]) == os.path.basename(entry["stream"]))
    old_header, old_sections = bitstream.unpack(_read(entry))
    new_header, new_sections = bitstream.unpack(_read(current))
    assert old_header.version == 2 and new_header.version == bitstream.FORMAT_VERSION
    assert old_sections == new_sections
    assert (old_header.codec, old_header.model_id, old_header.weights_hash, old_header.coder,
            old_header.checksum, old_header.codec_header) == \
        (new_header.codec, new_header.model_id, new_header.weights_hash, new_header.coder,
         new_header.checksum, new_header.codec_header)
    assert entry["decoded_sha256"] == current["decoded_sha256"]


def _cli_decompressed(entry, out, capsys):
    """Whether ``omnicodec decompress`` decoded an old (float) stream to ``out``; where this
    machine computes otherwise than the writer's, it must refuse it cleanly: exit 3, one
    line on stderr, no output file."""
    code = main(["--engine", "torch", "decompress", os.path.join(golden.HERE, entry["stream"]),
                 "-o", str(out), "-q"])
    if code == 0:
        return True
    error = capsys.readouterr().err
    assert code == 3 and error.startswith("omnicodec: error:") and error.count("\n") == 1
    assert not out.exists()
    return False


def test_old_stream_decodes_through_the_plain_cli_verb(tmp_path, capsys):
    entry = next(e for e in ENTRIES if e["version"] == 2 and e["engine"] == "torch"
                 and e["model"] == "occupancy-v1" and e["coder"] == "rans" and not e["options"])
    out = tmp_path / "back.ply"
    if not _cli_decompressed(entry, out, capsys):
        return
    positions = read_ply(out).positions
    assert positions.dtype.str == entry["decoded_dtype"]
    assert golden.digest(positions) == entry["decoded_sha256"]
    original = golden.read_input(entry["input"]).positions
    assert np.array_equal(np.unique(positions, axis=0), np.unique(original, axis=0))


def test_old_light_field_stream_decodes_through_the_plain_cli_verb(tmp_path, capsys):
    entry = next(e for e in ENTRIES if e["version"] == 2 and e["engine"] == "torch"
                 and e["model"] == "lightfield-v1")
    out = tmp_path / "back.npy"
    if _cli_decompressed(entry, out, capsys):
        assert golden.digest(np.load(out)) == entry["decoded_sha256"]
