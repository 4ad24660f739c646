"""The command line: reports, exit codes, one-line errors, nothing half-written."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import plyfile
import pytest

import omnicodec
from omnicodec.cli.main import main
from omnicodec.io import read_ply, write_ply
from tests.conftest import SAMPLE, sphere_shell, textured_views

def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_compress_decompress_info(tmp_path, capsys):
    ocz, back = tmp_path / "s.ocz", tmp_path / "back.ply"
    code, out, err = run(["compress", SAMPLE, "-o", ocz], capsys)
    assert code == 0
    assert "bits per input point" in out and "encode seconds" in out and "input points" in out
    code, out, _ = run(["decompress", ocz, "-o", back], capsys)
    assert code == 0 and "decode seconds" in out
    original, decoded = read_ply(SAMPLE).positions, read_ply(back).positions
    assert np.array_equal(np.unique(original, axis=0), np.unique(decoded, axis=0))
    code, out, _ = run(["info", ocz, "--json"], capsys)
    fields = json.loads(out)
    assert code == 0 and fields["codec"] == "pointcloud-lossless" and fields["model"] == "occupancy-v2"
    assert fields["input points"] == len(original) and "bits per input point" in fields
    assert fields["format version"] == 3
    assert not any("engine" in name for name in fields)  # streams do not record one


def test_info_reads_the_header_only(tmp_path, good_stream):
    """No weights and no engine: a bad OMNICODEC_ENGINE does not matter to it."""
    (tmp_path / "s.ocz").write_bytes(good_stream)
    code = ("import sys\nfrom omnicodec.cli.main import main\n"
            f"code = main(['info', {str(tmp_path / 's.ocz')!r}, '-q'])\n"
            "print('LOADED', [m for m in ('MinkowskiEngine', 'omnicodec.sparse.engines.torch_native') if m in sys.modules], code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "OMNICODEC_ENGINE": "nope"},
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert "LOADED [] 0" in result.stdout, result.stderr


def test_version_with_a_bad_engine_is_a_one_line_error():
    result = subprocess.run([sys.executable, "-m", "omnicodec", "--version"], capture_output=True,
                            text=True, env={**os.environ, "OMNICODEC_ENGINE": "nope"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "OMNICODEC_ENGINE=nope" in result.stderr


def test_json_report_and_voxelization_options(tmp_path, capsys):
    points = np.random.default_rng(0).normal(size=(2000, 3))
    src = tmp_path / "metres.ply"
    write_ply(src, points, {"red": np.zeros(2000, np.uint8)})
    code, out, err = run(["compress", src, "-o", tmp_path / "a.ocz", "--bits", "7", "--json", "-q",
                          "--no-colour"], capsys)
    report = json.loads(out)
    assert code == 0 and report["input points"] == 2000 and "voxel grid" in report["grid"]
    # A colour channel without the others is an error, not colour silently left out.
    code, out, err = run(["compress", src, "-o", tmp_path / "b.ocz", "--voxel-size", "0.05"], capsys)
    assert code == 2 and "only some colour channels (red)" in err and not (tmp_path / "b.ocz").exists()
    code, out, err = run(["compress", src, "-o", tmp_path / "b.ocz", "--voxel-size", "0.05", "--no-colour"],
                         capsys)
    assert code == 0 and "not coded" not in err
    # Attributes are named as the data model groups them, not by their PLY properties.
    write_ply(src, omnicodec.PointCloud(points, {"rgb": np.zeros((2000, 3), np.uint8),
                                                 "normals": np.ones((2000, 3), np.float32)}))
    code, out, err = run(["compress", src, "-o", tmp_path / "c.ocz", "--bits", "7"], capsys)
    not_coded = next(line for line in err.splitlines() if "not coded:" in line)
    assert code == 0 and not_coded.split("not coded: ")[1] == "normals"


def bad_ply_files(tmp_path):
    files = {}
    files["missing"] = tmp_path / "missing.ply"
    files["not a ply"] = tmp_path / "text.ply"
    files["not a ply"].write_text("this is not a point cloud\n")
    vertex = np.zeros(2, dtype=[("u", "f4"), ("v", "f4")])
    files["no xyz"] = tmp_path / "noxyz.ply"
    plyfile.PlyData([plyfile.PlyElement.describe(vertex, "vertex")]).write(str(files["no xyz"]))
    files["empty"] = tmp_path / "empty.ply"
    write_ply(files["empty"], np.zeros((0, 3)))
    files["nan"] = tmp_path / "nan.ply"
    write_ply(files["nan"], np.array([[0.0, 1.0, np.nan], [1.0, 2.0, 3.0]]))
    files["inf"] = tmp_path / "inf.ply"
    write_ply(files["inf"], np.array([[0.0, 1.0, np.inf], [1.0, 2.0, 3.0]]))
    files["huge integers"] = tmp_path / "huge.ply"
    write_ply(files["huge integers"], np.array([[0, 0, 0], [2**40, 0, 0]], dtype=np.float64))
    return files


@pytest.mark.parametrize("case", ["missing", "not a ply", "no xyz", "empty", "nan", "inf",
                                  "huge integers"])
def test_bad_input_files(tmp_path, capsys, case):
    src = bad_ply_files(tmp_path)[case]
    out_path = tmp_path / "out.ocz"
    code, out, err = run(["compress", src, "-o", out_path], capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("omnicodec: error:"), err
    assert "Traceback" not in err
    assert not out_path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".omnicodec-")]


@pytest.fixture(scope="module")
def shell_ply(tmp_path_factory):
    """A small integer cloud as a PLY file."""
    src = tmp_path_factory.mktemp("shell") / "shell.ply"
    write_ply(src, sphere_shell().astype(np.int32))
    return src


@pytest.fixture(scope="module")
def good_stream(shell_ply):
    out = shell_ply.parent / "good.ocz"
    main(["compress", str(shell_ply), "-o", str(out), "-q"])
    return out.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "flipped", "magic", "future version", "empty"])
def test_bad_bitstreams(tmp_path, capsys, good_stream, damage):
    data = bytearray(good_stream)
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":
        data[len(data) // 2] ^= 0x04
    elif damage == "magic":
        data[:4] = b"XXXX"
    elif damage == "future version":
        data[4] = 99
    else:
        data = b""
    src, out_path = tmp_path / "bad.ocz", tmp_path / "out.ply"
    src.write_bytes(bytes(data))
    code, out, err = run(["decompress", src, "-o", out_path], capsys)
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out_path.exists()
    code, out, err = run(["info", src], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1


def test_existing_output_survives_a_failed_run(tmp_path, capsys):
    out_path = tmp_path / "out.ocz"
    out_path.write_bytes(b"previous result")
    code, _, _ = run(["compress", tmp_path / "missing.ply", "-o", out_path], capsys)
    assert code != 0 and out_path.read_bytes() == b"previous result"


def test_real_process_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "omnicodec", "decompress", str(tmp_path / "none.ocz"), "-o",
         str(tmp_path / "x.ply")], capture_output=True, text=True,
        cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode != 0
    assert result.stderr.strip() == f"omnicodec: error: {tmp_path / 'none.ocz'}: no such file"
    version = subprocess.run([sys.executable, "-m", "omnicodec", "--version"],
                             capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("omnicodec ")


@pytest.mark.parametrize("points, voxels, merged", [
    (np.array([[3, 9, 27]], dtype=np.int32), 1, 0),
    (np.array([[-40, -3, 7], [-2, 5, 1000], [0, 0, 0]], dtype=np.int32), 3, 0),
    (np.array([[1, 2, 3], [1, 2, 3], [1, 2, 3], [4, 5, 6]], dtype=np.float32), 2, 2),
])
def test_one_point_negative_and_duplicate_clouds(tmp_path, capsys, points, voxels, merged):
    src, ocz, back = tmp_path / "in.ply", tmp_path / "c.ocz", tmp_path / "back.ply"
    write_ply(src, points)
    code, out, _ = run(["compress", src, "-o", ocz, "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["voxels"] == voxels and report["duplicates merged"] == merged
    code, _, _ = run(["decompress", ocz, "-o", back, "-q"], capsys)
    decoded = read_ply(back).positions
    assert code == 0 and decoded.dtype == points.dtype
    assert np.array_equal(np.unique(decoded, axis=0), np.unique(points, axis=0))


def test_metrics_command_reports_pc_error_values(capsys):
    folder = os.path.join(os.path.dirname(SAMPLE), "metric_vectors", "pair_01_small")
    expected = json.load(open(os.path.join(folder, "expected.json")))["runs"]["d1d2_hausdorff"]
    code, out, _ = run(["metrics", os.path.join(folder, "A.ply"), os.path.join(folder, "B.ply"),
                        "--normals", os.path.join(folder, "A_n.ply"), "--peak", "1023", "--json"],
                       capsys)
    result = json.loads(out)
    assert code == 0
    for key in ("D1_psnr", "D2_psnr"):
        assert abs(result["symmetric"][key] - expected["symmetric"][key]) < 0.01
    code, out, _ = run(["metrics", os.path.join(folder, "A.ply"), os.path.join(folder, "B.ply"),
                        "--peak", "1023"], capsys)
    assert code == 0 and "symmetric" in out and "D1" in out


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_flag_shows_the_traceback(tmp_path, where):
    args = ["compress", str(tmp_path / "missing.ply"), "-o", str(tmp_path / "x.ocz")]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    with pytest.raises(Exception, match="no such file"):
        main(args)


def test_models_lists_every_model_without_loading_weights(monkeypatch, capsys):
    from omnicodec import catalogue

    def refuse(model_id):
        raise AssertionError(f"'omnicodec models' loaded the weights of {model_id}")

    monkeypatch.setattr(catalogue, "_verified_state", refuse)
    code, out, _ = run(["models"], capsys)
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == list(catalogue.models())
    code, out, _ = run(["models", "--json"], capsys)
    assert code == 0 and [row["model"] for row in json.loads(out)] == list(catalogue.models())


def _info(path, capsys):
    code, out, err = run(["info", path, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("model", ["lossy-r3", "occupancy-v1"])
def test_compress_with_a_model(tmp_path, capsys, shell_ply, model):
    code, out, err = run(["compress", shell_ply, "-o", tmp_path / "m.ocz", "--model", model, "--json"],
                         capsys)
    assert code == 0 and json.loads(out)["model"] == model, err
    assert _info(tmp_path / "m.ocz", capsys)["model"] == model


@pytest.fixture(scope="module")
def lightfield_npy(tmp_path_factory):
    path = tmp_path_factory.mktemp("lf") / "lf.npy"
    np.save(path, textured_views())
    return path


def test_lf_compress_with_a_model(tmp_path, capsys, lightfield_npy):
    code, out, err = run(["lf", "compress", lightfield_npy, "-o", tmp_path / "lf.ocz", "--model",
                          "lightfield-v1", "--rate", "2", "--json"], capsys)
    assert code == 0 and json.loads(out)["model"] == "lightfield-v1", err
    fields = _info(tmp_path / "lf.ocz", capsys)
    assert fields["model"] == "lightfield-v1" and fields["rate"] == 2


@pytest.mark.parametrize("args, message", [
    (["compress", "{ply}", "--model", "lightfield-v1"], "codes light fields"),
    (["lf", "compress", "{npy}", "--model", "occupancy-v1"], "codes point clouds"),
    (["compress", "{ply}", "--model", "occupancy-v1", "--rate", "3"], "has no rates"),
    (["compress", "{ply}", "--model", "no-such-model"], "unknown model"),
])
def test_models_that_do_not_fit_are_refused(tmp_path, capsys, shell_ply, lightfield_npy, args,
                                            message):
    args = [str(a).format(ply=shell_ply, npy=lightfield_npy) for a in args]
    code, _, err = run([*args, "-o", tmp_path / "x.ocz"], capsys)
    assert code == (4 if message == "unknown model" else 2) and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x.ocz").exists()


@pytest.mark.parametrize("model, rate", [("occupancy-v1", ""), ("lossy-r3", "3")])
def test_eval_with_a_model_runs_it_once(tmp_path, capsys, shell_ply, model, rate):
    """A model of one rate (or none: lossless) is evaluated once, at its own rate."""
    code, out, err = run(["eval", shell_ply, "--model", model, "-o", tmp_path / "rd"], capsys)
    assert code == 0, err
    rows = (tmp_path / "rd.csv").read_text().splitlines()
    assert rows[0].startswith("rate,model,bytes") and len(rows) == 2
    assert rows[1].startswith(f"{rate},{model},")
    assert (tmp_path / "rd.png").read_bytes()[:4] == b"\x89PNG"


def test_lf_eval_with_a_model(tmp_path, capsys, lightfield_npy):
    code, out, err = run(["lf", "eval", lightfield_npy, "--model", "lightfield-v1", "--rates", "1",
                          "-o", tmp_path / "rd"], capsys)
    assert code == 0, err
    rows = (tmp_path / "rd.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("1,")


@pytest.fixture(scope="module")
def folder_stream(tmp_path_factory):
    """(an .ocz of a light field read from a folder of PNG views, the views it decodes to)."""
    from tests.test_lightfield_io import NAMINGS, _write_folder  # here: that module imports this one

    folder = tmp_path_factory.mktemp("lf_folder")
    _write_folder(folder / "in", textured_views(), NAMINGS[1])
    assert main(["lf", "compress", str(folder / "in"), "-o", str(folder / "lf.ocz"), "-q"]) == 0
    stream = folder / "lf.ocz"
    return stream, omnicodec.decompress(stream.read_bytes()).views


def test_lf_decompress_to_npy_writes_an_npy_file(tmp_path, capsys, folder_stream):
    stream, views = folder_stream
    code, _, err = run(["lf", "decompress", stream, "-o", tmp_path / "out.npy", "-q"], capsys)
    assert code == 0, err
    assert (tmp_path / "out.npy").is_file() and np.array_equal(np.load(tmp_path / "out.npy"), views)


def test_lf_decompress_to_h5_writes_an_hdf5_file(tmp_path, capsys, folder_stream):
    stream, views = folder_stream
    code, _, err = run(["lf", "decompress", stream, "-o", tmp_path / "out.h5", "-q"], capsys)
    assert code == 0, err
    assert (tmp_path / "out.h5").is_file()
    with h5py.File(tmp_path / "out.h5", "r") as f:
        assert np.array_equal(f["lightfield"][()], views)


@pytest.mark.parametrize("verb, output, message", [
    (["lf", "decompress"], "out.npy", "holds a point cloud, not a light field"),
    (["decompress"], "out.npy", "written as PLY"),
    (["decompress"], "out.h5", "written as PLY"),
])
def test_a_point_cloud_stream_is_not_written_as_a_light_field(tmp_path, capsys, good_stream, verb,
                                                              output, message):
    (tmp_path / "s.ocz").write_bytes(good_stream)
    code, _, err = run([*verb, tmp_path / "s.ocz", "-o", tmp_path / output], capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / output).exists()
