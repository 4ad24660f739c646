"""Batch coding on Ray (``--cluster ray``): the local batch's semantics, retries of files
whose worker died, joining a running cluster, and bad input. Ray is an optional dependency
of omnicodec but a required one of its tests (scripts/bootstrap.sh installs it)."""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from conftest import sphere_shell
from omnicodec import batch, cluster
from omnicodec.cli.main import main
from omnicodec.data import PointCloud
from omnicodec.errors import InputError
from omnicodec.io import atomic, write_ply


@pytest.fixture
def scans(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for i in range(4):
        write_ply(folder / ("sub" if i == 3 else "") / f"s{i}.ply", PointCloud(sphere_shell(seed=i).astype("int32")))
    return folder


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def outputs(folder):
    return {os.path.relpath(os.path.join(d, n), folder): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(folder) for n in names}


def test_ray_batch_is_the_local_batch(scans, tmp_path, capsys):
    code, out, _ = run(["compress", scans, "-o", tmp_path / "local", "--json", "-q"], capsys)
    assert code == 0
    code, out, _ = run(["compress", scans, "-o", tmp_path / "ray", "--cluster", "ray", "--json", "-q"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["done"] == 4 and summary["cluster"] == "ray"
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")  # the same streams, no leftovers
    # Up-to-date outputs are skipped, --force redoes them; decompression runs there too.
    code, out, _ = run(["compress", scans, "-o", tmp_path / "ray", "--cluster", "ray", "--json", "-q"], capsys)
    assert code == 0 and json.loads(out)["skipped"] == 4
    code, out, _ = run(["compress", scans, "-o", tmp_path / "ray", "--cluster", "ray", "--force", "--json", "-q"],
                       capsys)
    assert code == 0 and json.loads(out)["done"] == 4
    code, out, _ = run(["decompress", tmp_path / "ray", "-o", tmp_path / "back", "--cluster", "ray", "--json", "-q"],
                       capsys)
    assert code == 0 and json.loads(out)["done"] == 4 and len(outputs(tmp_path / "back")) == 4


@pytest.mark.parametrize("where", [["--cluster", "ray"], ["--jobs", "2"]])
def test_a_worker_killed_mid_file_costs_a_retry(scans, tmp_path, capsys, monkeypatch, where):
    code, _, _ = run(["compress", scans, "-o", tmp_path / "reference", "-q"], capsys)
    (tmp_path / "out").mkdir()
    leftover = atomic._temporary_prefix(str(tmp_path / "out" / "s1.ocz")) + "x1y2.tmp"
    (tmp_path / "out" / leftover).write_bytes(b"half")  # as a writer killed mid-write leaves it
    marker = tmp_path / "killed"
    monkeypatch.setenv(batch.CRASH_SWITCH, f"s1.ply:{marker}")
    code, out, _ = run(["compress", scans, "-o", tmp_path / "out", *where, "--json", "-q"], capsys)
    assert marker.exists()  # the first attempt at s1 did kill its worker
    assert code == 0 and json.loads(out)["done"] == 4
    assert outputs(tmp_path / "out") == outputs(tmp_path / "reference")


@pytest.mark.parametrize("where", [["--cluster", "ray"], ["--jobs", "2"]])
def test_a_file_whose_worker_always_dies_is_reported_failed(scans, tmp_path, capsys, monkeypatch, where):
    monkeypatch.setenv(batch.CRASH_SWITCH, "s1.ply:")  # every attempt at s1 kills its worker
    code, out, err = run(["compress", scans, "-o", tmp_path / "out", *where, "--json", "-q"], capsys)
    summary = json.loads(out)
    assert code == 1 and summary["failed"] == 1 and summary["done"] == 3  # the others were only retried
    assert f"s1.ply: worker process died on each of {batch.ATTEMPTS} attempts" in err
    assert not (tmp_path / "out" / "s1.ocz").exists()
    assert not [n for n in os.listdir(tmp_path / "out") if n.endswith(".tmp")]  # no partial output


def test_unreachable_cluster_is_a_one_line_error_and_writes_nothing(scans, tmp_path, capsys):
    listener = socket.socket()  # accepts connections but is no Ray head
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        for address in ("127.0.0.1:1", f"127.0.0.1:{listener.getsockname()[1]}"):
            code, _, err = run(["compress", scans, "-o", tmp_path / "out", "--cluster", "ray",
                                "--ray-address", address], capsys)
            assert code == 2 and f"cannot reach the Ray cluster at {address}" in err
            assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    finally:
        listener.close()


def test_bad_batch_places_and_options(scans, tmp_path, capsys, monkeypatch):
    (tmp_path / "a_file").write_text("")
    code, _, err = run(["compress", scans, "-o", tmp_path / "a_file" / "out"], capsys)
    assert code == 2 and "cannot make the output folder" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["compress", scans, "-o", tmp_path / "out", "--ray-address", "127.0.0.1:1"], capsys)
    assert code == 2 and "go with --cluster ray" in err
    code, _, err = run(["compress", scans, "-o", tmp_path / "out", "--cluster", "ray", "--jobs", "2"], capsys)
    assert code == 2 and "--jobs is for --cluster local" in err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(InputError, match=r"pip install 'omnicodec\[ray\]'"):
        cluster.import_ray()
    code, _, err = run(["compress", scans, "-o", tmp_path / "out", "--cluster", "ray"], capsys)
    assert code == 2 and "pip install 'omnicodec[ray]'" in err and not (tmp_path / "out").exists()


def test_a_task_larger_than_every_node_is_refused(scans, tmp_path, capsys):
    code, _, err = run(["compress", scans, "-o", tmp_path / "out", "--cluster", "ray", "--task-cpus", "999"], capsys)
    assert code == 2 and "--task-cpus 999: no node of the Ray cluster has that many CPUs" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_joins_a_running_cluster(scans, tmp_path, capsys):
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable))
    assert ray_cli, "Ray's command is installed beside this Python (scripts/bootstrap.sh installs Ray)"
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True)
    try:
        code, out, _ = run(["compress", scans, "-o", tmp_path / "out", "--cluster", "ray",
                            "--ray-address", f"127.0.0.1:{port}", "--json", "-q"], capsys)
        assert code == 0 and json.loads(out)["done"] == 4
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True)
