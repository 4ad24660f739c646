"""Batch runs over folders: worker processes, skipping up-to-date outputs, bad files."""

import json
import os

import numpy as np
import pytest

from omnicodec.io import read_ply, write_ply
from tests.conftest import sphere_shell
from tests.test_cli import run


@pytest.fixture
def scans(tmp_path):
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.ply", "b.ply", "sub/c.ply"]):
        write_ply(folder / name, sphere_shell(radius=10 + 4 * i, count=1500, seed=i).astype(np.int32))
    (folder / "broken.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nend_header\n1 2\n")
    (folder / "notes.txt").write_text("not a cloud")
    return folder


def test_compress_and_decompress_folders(scans, tmp_path, capsys):
    out, back = tmp_path / "out", tmp_path / "back"
    code, stdout, err = run(["compress", scans, "-o", out, "--jobs", "2", "--json", "-q"], capsys)
    summary = json.loads(stdout)
    assert code == 1  # one bad file
    assert (summary["files"], summary["done"], summary["failed"]) == (4, 3, 1)
    assert "broken.ply" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.ocz")) == \
        ["a.ocz", "b.ocz", "sub/c.ocz"]
    assert not list(out.rglob("*.tmp")) and not (out / "broken.ocz").exists()

    code, stdout, _ = run(["decompress", out, "-o", back, "--jobs", "1", "--json", "-q"], capsys)
    assert code == 0 and json.loads(stdout)["done"] == 3
    for name in ["a", "b", "sub/c"]:
        original = read_ply(scans / f"{name}.ply").positions
        decoded = read_ply(back / f"{name}.ply").positions
        assert np.array_equal(np.unique(original, axis=0), np.unique(decoded, axis=0))


def test_rerun_skips_complete_outputs_unless_forced(scans, tmp_path, capsys):
    os.remove(scans / "broken.ply")
    out = tmp_path / "out"
    code, stdout, _ = run(["compress", scans, "-o", out, "--json", "-q"], capsys)
    assert code == 0 and json.loads(stdout)["done"] == 3
    # A damaged output and a newer input are redone; the rest is skipped.
    (out / "a.ocz").write_bytes((out / "a.ocz").read_bytes()[:-3])
    later = os.path.getmtime(out / "b.ocz") + 10
    os.utime(scans / "b.ply", (later, later))
    code, stdout, _ = run(["compress", scans, "-o", out, "--json", "-q"], capsys)
    summary = json.loads(stdout)
    assert code == 0 and (summary["done"], summary["skipped"]) == (2, 1)
    assert [o["status"] for o in summary["outcomes"]] == ["done", "done", "skipped"]
    code, stdout, _ = run(["compress", scans, "-o", out, "--json", "-q", "--force"], capsys)
    assert json.loads(stdout)["done"] == 3
    # Other settings make other outputs: nothing is skipped.
    code, stdout, _ = run(["compress", scans, "-o", out, "--json", "-q", "--rate", "9"], capsys)
    assert json.loads(stdout)["done"] == 3


def test_rerun_with_a_quality_skips_its_own_outputs(tmp_path, capsys):
    from tests.test_colour import coloured_shell

    folder, out = tmp_path / "coloured", tmp_path / "out"
    folder.mkdir()
    for seed in range(2):
        write_ply(folder / f"{seed}.ply", coloured_shell(count=600, seed=seed))
    code, stdout, _ = run(["compress", folder, "-o", out, "--json", "-q", "--quality", "2"], capsys)
    assert code == 0 and json.loads(stdout)["done"] == 2
    code, stdout, _ = run(["compress", folder, "-o", out, "--json", "-q", "--quality", "2"], capsys)
    assert code == 0 and json.loads(stdout)["skipped"] == 2
    # Another quality is other rates: nothing is skipped.
    code, stdout, _ = run(["compress", folder, "-o", out, "--json", "-q", "--quality", "9"], capsys)
    assert code == 0 and json.loads(stdout)["done"] == 2


def test_summary_table(scans, tmp_path, capsys):
    code, stdout, _ = run(["compress", scans, "-o", tmp_path / "o"], capsys)
    assert code == 1
    assert "status" in stdout and "bits per point" in stdout and "failed" in stdout
    assert "sub/c.ply" in stdout


def test_bad_batch_arguments(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(["compress", empty, "-o", tmp_path / "o"], capsys)
    assert code == 2 and "no .ply or .pcd or .bin files" in err
    (empty / "x.ply").write_text("junk")
    code, _, err = run(["compress", empty, "-o", tmp_path / "o", "--jobs", "0"], capsys)
    assert code == 2 and "--jobs" in err
