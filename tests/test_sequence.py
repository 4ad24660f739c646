"""Sequences: sweeps of a drive coded as one stream of frames, each predicted from the one
before but for a random-access frame every K, decoded lazily, from any frame, and up to
the damage of a truncated or corrupted stream; frame names that are not plain file names
refused both ways; the CLI's --sequence, --random-access and --frames; golden sequences
that decode and re-encode byte for byte."""

import importlib.util
import json
import os

import numpy as np
import pytest

from conftest import synthetic_sweep
from float_guard import no_float
from omnicodec import api, bitstream, zoo
from omnicodec.cli.main import main
from omnicodec.data import PointCloud
from omnicodec.errors import BitstreamError, InputError
from omnicodec.io import read_ply, write_ply

FRAMES = 4
_spec = importlib.util.spec_from_file_location(
    "golden_streams", os.path.join(os.path.dirname(__file__), "data", "golden", "golden.py"))
golden_streams = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden_streams)


@pytest.fixture(scope="module")
def drive():
    """FRAMES sweeps of a small sensor moving 0.8 m a sweep along a street."""
    sweeps = [synthetic_sweep(lasers=16, columns=256, seed=index, travel=0.8 * index, sensor_seed=3)
              for index in range(FRAMES)]
    return [PointCloud(positions) for positions, _ in sweeps]


@pytest.fixture(scope="module")
def stream(drive):
    return api.compress_sequence(drive, names=[f"sweep_{i}.ply" for i in range(FRAMES)])


def millimetres(positions):
    return np.unique(np.rint(np.asarray(positions, np.float64) * 1000).astype(np.int64), axis=0)


def test_every_frame_decodes_to_its_sweep(drive, stream):
    sequence = api.Sequence(stream)
    assert len(sequence) == FRAMES and sequence.damage is None
    assert [frame.random_access for frame in sequence.frames] == [True] + [False] * (FRAMES - 1)
    assert [frame.name for frame in sequence.frames] == [f"sweep_{i}.ply" for i in range(FRAMES)]
    decoded = list(sequence.decode())
    assert [frame.index for frame, _, _ in decoded] == list(range(FRAMES))
    for cloud, (_, _, result) in zip(drive, decoded):
        np.testing.assert_array_equal(millimetres(result.data.positions), millimetres(cloud.positions))


def test_any_range_of_frames_decodes_alone(stream):
    sequence = api.Sequence(stream)
    everything = [result.data.positions for _, _, result in sequence.decode()]
    for start in range(FRAMES):
        for stop in range(start + 1, FRAMES + 2):
            part = list(sequence.decode(start, stop))
            assert [frame.index for frame, _, _ in part] == list(range(start, min(stop, FRAMES)))
            for frame, _, result in part:
                np.testing.assert_array_equal(result.data.positions, everything[frame.index])
    with pytest.raises(InputError, match="not a range"):
        list(sequence.decode(FRAMES))
    with pytest.raises(InputError, match="not a range"):
        list(sequence.decode(2, 1))


def test_a_sequence_of_one_frame_holds_the_plain_stream(drive, stream):
    sequence = api.Sequence(stream)
    first = sequence.reader.stream(sequence.frames[0])
    assert first == api.compress(drive[0])


def test_truncated_sequences_decode_up_to_the_damage(stream):
    whole = api.Sequence(stream)
    ends = [frame.offset + frame.length for frame in whole.frames]
    for cut in sorted({1, 5, 7, ends[0] - 1, ends[0], ends[0] + 3, ends[1] + 40, ends[-1], len(stream) - 1}):
        if cut < len(bitstream.SEQUENCE_MAGIC) + 2:
            with pytest.raises(BitstreamError):
                api.Sequence(stream[:cut])
            continue
        sequence = api.Sequence(stream[:cut])
        assert sequence.damage is not None
        whole_frames = sum(end <= cut for end in ends)
        assert len(sequence) == whole_frames
        seen = []
        with pytest.raises(BitstreamError, match="truncated"):
            for frame, _, _ in sequence.decode():
                seen.append(frame.index)
        assert seen == list(range(whole_frames))


@pytest.mark.parametrize("where", ["record", "frame"])
def test_corrupted_frames_stop_decoding_with_a_clear_error(stream, where):
    whole = api.Sequence(stream)
    frame = whole.frames[2]
    damaged = bytearray(stream)
    damaged[frame.offset - 2 if where == "record" else frame.offset + frame.length // 2] ^= 0x10
    sequence = api.Sequence(bytes(damaged))
    seen = []
    with pytest.raises(BitstreamError, match="corrupted"):
        for decoded_frame, _, _ in sequence.decode():
            seen.append(decoded_frame.index)
    assert seen == [0, 1]


def test_wrong_versions_and_plain_decoders_are_refused(stream):
    newer = stream[:4] + (bitstream.SEQUENCE_VERSION + 1).to_bytes(2, "little") + stream[6:]
    with pytest.raises(BitstreamError, match="newer omnicodec"):
        api.Sequence(newer)
    with pytest.raises(InputError, match="sequence of frames"):
        api.decompress(stream)
    with pytest.raises(BitstreamError, match="not an omnicodec sequence"):
        api.Sequence(api.compress(np.zeros((3, 3), np.int32) + np.arange(3)[:, None]))


@pytest.mark.parametrize("name", ["../escape.ply", "/tmp/abs.ply", "a/b.ply", "..", "a\\b.ply", "x\0.ply"])
def test_frame_names_that_are_not_plain_file_names_are_refused(drive, name):
    with pytest.raises(InputError, match="plain file name"):
        api.compress_sequence(drive[:1], names=[name])
    record = bitstream._record_header(bitstream.RANDOM_ACCESS, name, 0)
    crafted = api.compress_sequence([])[:6] + record + bitstream._record_header(bitstream.END, "", 1)
    with pytest.raises(BitstreamError, match="plain, unique file name"):
        list(api.Sequence(crafted).decode())


def _relabelled(stream, index, kind):
    """``stream`` with frame ``index``'s record saying ``kind`` (RANDOM_ACCESS, PREDICTED)."""
    frames = api.Sequence(stream).frames
    start = frames[index - 1].offset + frames[index - 1].length if index else len(bitstream.SEQUENCE_MAGIC) + 2
    crafted = bytearray(stream)
    crafted[start:frames[index].offset] = bitstream._record_header(kind, frames[index].name, frames[index].length)
    return bytes(crafted)


def test_a_name_twice_and_frames_labelled_wrongly_are_refused(drive, stream):
    with pytest.raises(InputError, match="already in this sequence"):
        api.compress_sequence(drive[:2], names=["same.ply", "same.ply"])
    with pytest.raises(InputError, match="already in this sequence"):  # an unnamed frame 1 decodes to this name
        api.compress_sequence(drive[:2], names=["frame_000001.ply"])
    alone = api.compress_sequence(drive[:2], names=["a.ply", "b.ply"], model="lidar-v3")  # predicts nothing
    with pytest.raises(BitstreamError, match="frame 1 .*predicted from the frame before, which model lidar-v3"):
        list(api.Sequence(_relabelled(alone, 1, bitstream.PREDICTED)).decode())
    with pytest.raises(BitstreamError, match="frame 1 .*predicted from the sweep before it, which was not decoded"):
        list(api.Sequence(_relabelled(stream, 1, bitstream.RANDOM_ACCESS)).decode(1))
    first = api.Sequence(_relabelled(stream, 0, bitstream.PREDICTED))
    assert first.frames == [] and "first frame needs a frame before it" in first.damage
    alone = api.compress_sequence(drive[:2], random_access=1)  # a model that predicts, this frame not
    with pytest.raises(BitstreamError, match="frame 1 .*labelled as predicted .* but its stream is not"):
        list(api.Sequence(_relabelled(alone, 1, bitstream.PREDICTED)).decode())


def test_a_frame_after_one_without_a_sensor_decodes_alone(drive):
    blob = PointCloud(np.random.default_rng(0).normal(size=(3000, 3)).astype(np.float32))
    sequence = api.Sequence(api.compress_sequence([drive[0], blob, drive[1]], voxel_size=0.001))
    assert [frame.random_access for frame in sequence.frames] == [True, True, True]
    assert len(list(sequence.decode())) == 3


def test_predicted_frames_cost_less_and_random_access_frames_come_every_k(drive, stream):
    alone = api.compress_sequence(drive, random_access=1)
    assert all(frame.random_access for frame in api.Sequence(alone).frames)
    assert len(stream) < len(alone)
    sequence = api.Sequence(stream)
    for frame, _, decoded in sequence.decode():
        assert ("predicted from the sweep before" in decoded.details) == (frame.index > 0)
    every_two = api.Sequence(api.compress_sequence(drive, random_access=2))
    assert [frame.random_access for frame in every_two.frames] == [True, False, True, False]
    assert [frame.index for frame, _, _ in every_two.decode(3)] == [3]  # decoded from frame 2
    for wrong in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="random-access"):
            api.compress_sequence(drive[:1], random_access=wrong)


def test_lossy_drives_predict_frames_and_decode_to_what_the_encoder_rebuilt(drive):
    stream = api.compress_sequence(drive, rate=5)
    sequence = api.Sequence(stream)
    assert [frame.random_access for frame in sequence.frames] == [True] + [False] * (FRAMES - 1)
    decoded = list(sequence.decode())  # each frame's checksum is the encoder's rebuild's
    assert [header.model_id for _, header, _ in decoded] == ["lidar-v5-r5"] * FRAMES
    assert len(stream) < len(api.compress_sequence(drive, rate=5, random_access=1))


@pytest.fixture(scope="module")
def drive_folder(drive, tmp_path_factory):
    folder = tmp_path_factory.mktemp("drive")
    for index, cloud in enumerate(drive):
        write_ply(folder / f"frame_{index:04d}.ply", cloud)
    return folder


def test_cli_codes_a_drive_and_decodes_its_frames(drive_folder, tmp_path, capsys):
    target = tmp_path / "drive.ocz"
    assert main(["compress", str(drive_folder), "-o", str(target), "--sequence", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == FRAMES
    assert [row["name"] for row in report["frame list"]] == [f"frame_{i:04d}.ply" for i in range(FRAMES)]
    assert main(["info", str(target), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["frames"] == FRAMES and info["damage"] == "none" and info["bytes"] == os.path.getsize(target)
    assert [row["kind"] for row in info["frame list"]] == ["random access"] + ["predicted"] * (FRAMES - 1)
    assert [row["bytes"] for row in info["frame list"]] == [row["bytes"] for row in report["frame list"]]
    out = tmp_path / "out"
    assert main(["decompress", str(target), "-o", str(out), "-q"]) == 0
    assert sorted(os.listdir(out)) == [f"frame_{i:04d}.ply" for i in range(FRAMES)]
    for index in range(FRAMES):
        np.testing.assert_array_equal(millimetres(read_ply(out / f"frame_{index:04d}.ply").positions),
                                      millimetres(read_ply(drive_folder / f"frame_{index:04d}.ply").positions))
    part = tmp_path / "part"
    assert main(["decompress", str(target), "-o", str(part), "--frames", "1:3", "-q"]) == 0
    assert sorted(os.listdir(part)) == ["frame_0001.ply", "frame_0002.ply"]


def test_cli_takes_globs_and_lists_in_order(drive_folder, tmp_path, capsys):
    target = tmp_path / "drive.ocz"
    pattern = str(drive_folder / "frame_000[21].ply")
    assert main(["compress", pattern, str(drive_folder / "frame_0000.ply"), "-o", str(target), "--sequence",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in report["frame list"]] == ["frame_0001.ply", "frame_0002.ply", "frame_0000.ply"]


def test_cli_writes_what_precedes_the_damage_then_fails(drive_folder, tmp_path, capsys):
    target = tmp_path / "drive.ocz"
    assert main(["compress", str(drive_folder), "-o", str(target), "--sequence", "-q"]) == 0
    data = target.read_bytes()
    cut = api.Sequence(data).frames[2].offset + 10
    target.write_bytes(data[:cut])
    out = tmp_path / "out"
    assert main(["decompress", str(target), "-o", str(out), "-q"]) == 3
    error = capsys.readouterr().err
    assert "truncated" in error and "frames 0 to 1 were written" in error and "Traceback" not in error
    assert sorted(os.listdir(out)) == ["frame_0000.ply", "frame_0001.ply"]
    assert main(["info", str(target)]) == 3


@pytest.mark.parametrize("args, message", [
    (["EXTRA"], "2 inputs"),
    (["--sequence", "--bpp", "3"], "do not apply to sequences"),
    (["--sequence", "--grid", "3x3"], "do not apply to sequences"),
    (["--random-access", "2"], "--random-access goes with --sequence"),
    (["--sequence", "--random-access", "0"], "takes a whole number of frames"),
])
def test_cli_refuses_options_that_do_not_fit(drive_folder, tmp_path, capsys, args, message):
    inputs = [str(drive_folder / "frame_0000.ply")]
    if "EXTRA" in args:
        inputs.append(str(drive_folder / "frame_0001.ply"))
        args = []
    assert main(["compress", *inputs, "-o", str(tmp_path / "x.ocz"), *args]) != 0
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "x.ocz").exists()


def test_cli_decompress_options_of_sequences(drive_folder, tmp_path, capsys):
    single = tmp_path / "one.ocz"
    assert main(["compress", str(drive_folder / "frame_0000.ply"), "-o", str(single), "-q"]) == 0
    assert main(["decompress", str(single), "-o", str(tmp_path / "one.ply"), "--frames", "0:1"]) == 2
    assert "--frames goes with a sequence" in capsys.readouterr().err
    target = tmp_path / "drive.ocz"
    assert main(["compress", str(drive_folder), "-o", str(target), "--sequence", "-q"]) == 0
    assert main(["decompress", str(target), "-o", str(tmp_path / "drive.ply")]) == 2
    assert "decodes to a folder" in capsys.readouterr().err
    assert main(["decompress", str(target), "-o", str(tmp_path / "x"), "--frames", "9:"]) == 2
    assert "not a range" in capsys.readouterr().err


GOLDEN = os.path.join(os.path.dirname(__file__), "data", "golden", "sequence")
GOLDEN_SWEEPS = [os.path.join(GOLDEN, f"sweep_{index}.ply") for index in range(3)]


def test_the_golden_sequence_decodes_and_reencodes_byte_for_byte(tmp_path):
    with open(os.path.join(GOLDEN, "drive_v1.ocz"), "rb") as handle:
        golden = handle.read()
    sequence = api.Sequence(golden)
    assert [frame.name for frame in sequence.frames] == [os.path.basename(path) for path in GOLDEN_SWEEPS]
    assert [frame.random_access for frame in sequence.frames] == [True, True, True]
    for (frame, header, decoded), path in zip(sequence.decode(), GOLDEN_SWEEPS):
        source = read_ply(path)
        assert zoo.stream_models(header)[:2] == ["intensity-v2", "lidar-v3"]
        order = np.lexsort(np.rint(np.asarray(decoded.data.positions, np.float64) * 1000).T)
        expected = np.lexsort(np.rint(np.asarray(source.positions, np.float64) * 1000).T)
        np.testing.assert_array_equal(millimetres(decoded.data.positions), millimetres(source.positions))
        np.testing.assert_array_equal(decoded.data.attributes["intensity"][order],
                                      source.attributes["intensity"][expected])
    api.compress_sequence_files(GOLDEN_SWEEPS, tmp_path / "again.ocz", voxel_size=0.001, model="lidar-v3")
    assert (tmp_path / "again.ocz").read_bytes() == golden


@pytest.mark.parametrize("entry", golden_streams.sequence_entries(), ids=lambda entry: entry["stream"])
def test_golden_drives_decode_and_reencode_byte_for_byte(entry, monkeypatch):
    with open(os.path.join(GOLDEN, entry["stream"]), "rb") as handle:
        golden = handle.read()
    sequence = api.Sequence(golden)
    assert [frame.random_access for frame in sequence.frames] == [True, False, False]
    assert golden_streams.decoded_sequence_digest(golden) == entry["decoded_sha256"]
    with no_float(monkeypatch):  # the predicted frames' decoder computes in integers
        golden_streams.decoded_sequence_digest(golden)
    assert golden_streams.encode_sequence(entry) == golden
