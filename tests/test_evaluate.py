"""``omnicodec eval`` of coloured clouds: colour columns (and none for a cloud without
colour), --colour-rates, the colour RD plot, BD-rate against colour anchors, and bad colour
options; on a small cloud (about 1300 points) so that each coding takes a moment."""

import csv
import dataclasses
import json

import numpy as np
import pytest

import omnicodec
from omnicodec import evaluate
from omnicodec.cli.main import main
from omnicodec.errors import InputError
from omnicodec.io import write_ply
from tests.conftest import sphere_shell
from tests.test_colour import coloured_shell

PNG = b"\x89PNG\r\n\x1a\n"


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def coloured_ply(tmp_path_factory):
    """A small coloured cloud (about 1300 points) as a PLY file."""
    src = tmp_path_factory.mktemp("coloured") / "coloured.ply"
    write_ply(src, coloured_shell(count=1500))
    return src


@pytest.fixture(scope="module")
def plain_ply(tmp_path_factory):
    src = tmp_path_factory.mktemp("plain") / "plain.ply"
    write_ply(src, sphere_shell(count=1500).astype(np.int32))
    return src


def read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_parse_colour_rates():
    count = len(omnicodec.catalogue.card("colour-v5").settings["colour_rates"])
    assert evaluate.colour_rate_count() == count
    assert evaluate.parse_colour_rates("all") == list(range(1, count + 1))
    assert evaluate.parse_colour_rates("2-4,7") == [2, 3, 4, 7]
    with pytest.raises(InputError, match=f"colour rate {count + 1} is out of range: colour rates are 1 to {count}"):
        evaluate.parse_colour_rates(str(count + 1))


def test_eval_colour_rates_rows_plot_and_bd_rate(tmp_path, capsys, coloured_ply):
    """One row per colour rate at lossless geometry, colour bits growing with the rate; the
    colour plot at --colour-plot; the BD-rate against a colour anchor of this file."""
    anchor = tmp_path / "raht.csv"
    anchor.write_text("# another codec's colour points\nfile,colour_bpp,y_psnr\n"
                      "coloured.ply,0.6,24\ncoloured.ply,1.5,30\ncoloured.ply,5,38\nelse.ply,1,1\n")
    stem, plot = tmp_path / "rd", tmp_path / "colour.png"
    code, out, err = run(["eval", coloured_ply, "--colour-rates", "1,4,7", "-o", stem,
                          "--colour-plot", plot, "--colour-anchor", anchor, "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    points = report["points"]
    assert [p["colour_rate"] for p in points] == [1, 4, 7]
    assert all(p["model"] == "occupancy-v2" and p["colour_model"] == "colour-v5" for p in points)
    colour_bpp = [p["colour_bits_per_point"] for p in points]
    assert colour_bpp == sorted(colour_bpp) and colour_bpp[0] < colour_bpp[-1]
    assert points[-1]["y_psnr"] > points[0]["y_psnr"]
    assert len({p["geometry_bits_per_point"] for p in points}) == 1  # one lossless geometry
    for p in points:
        assert p["d1_psnr"] == float("inf") and p["geometry_bytes"] + p["colour_bytes"] < p["bytes"]
        assert p["ycbcr_psnr"] == pytest.approx((6 * p["y_psnr"] + p["cb_psnr"] + p["cr_psnr"]) / 8)
        assert p["colour_bits_per_point"] == pytest.approx(8 * p["colour_bytes"] / p["decoded_points"])
    bd = report["colour_bd_rate"]
    assert [row["method"] for row in bd] == ["cubic", "pchip"] and all(row["anchor"] == "raht" for row in bd)
    assert all(isinstance(row["bd_rate_y"], float) for row in bd)
    assert report["colour_plot"] == str(plot) and plot.read_bytes()[:8] == PNG
    assert (tmp_path / "rd.png").read_bytes()[:8] == PNG
    rows = read_csv(tmp_path / "rd.csv")
    assert [row["colour_rate"] for row in rows] == ["1", "4", "7"]
    assert set(evaluate.COLOUR_COLUMNS) <= set(rows[0])


def test_eval_qualities_code_geometry_and_colour_rates_together(tmp_path, capsys, coloured_ply, plain_ply):
    qualities = omnicodec.catalogue.card("colour-v5").settings["qualities"]
    assert evaluate.parse_qualities("all") == list(range(1, len(qualities) + 1))
    code, out, err = run(["eval", coloured_ply, "--qualities", "1,3", "-o", tmp_path / "q", "--json"], capsys)
    assert code == 0, err
    points = json.loads(out)["points"]
    for point, quality in zip(points, (1, 3)):
        rate, colour_rate = qualities[quality - 1]
        assert point["colour_rate"] == colour_rate and point["rate"] == (rate or None)
    assert points[0]["bits_per_point"] < points[1]["bits_per_point"]
    assert (tmp_path / "q_colour.png").read_bytes()[:8] == PNG and (tmp_path / "q.png").read_bytes()[:8] == PNG
    code, _, err = run(["eval", coloured_ply, "--qualities", "1", "--rates", "3"], capsys)
    assert code == 2 and "--qualities" in err and err.count("\n") == 1
    code, _, err = run(["eval", plain_ply, "--qualities", "1"], capsys)
    assert code == 2 and "needs a cloud with colours" in err


def test_eval_colour_columns_only_for_a_coloured_cloud(tmp_path, capsys, coloured_ply, plain_ply):
    # A coloured cloud at one lossy geometry rate: the table has the colour columns.
    code, out, err = run(["eval", coloured_ply, "--rates", "6", "--colour-rates", "2",
                          "-o", tmp_path / "c"], capsys)
    assert code == 0, err
    header, row = out.splitlines()[1:3]
    for column in ("crate", "c.bytes", "geo bpp", "col bpp", "Y dB", "Cb dB", "Cr dB", "YCbCr dB"):
        assert column in header
    assert row.split()[:2] == ["6", "lossy-v2-r6"] and row.split()[8] == "2"
    (point,) = read_csv(tmp_path / "c.csv")
    assert point["colour_rate"] == "2" and float(point["d1_psnr"]) < float("inf")
    assert 10 < float(point["y_psnr"]) < float("inf")
    assert (tmp_path / "c_colour.png").read_bytes()[:8] == PNG  # the default colour plot
    # Every geometry rate (here the one of a lossless model) with lossless colour.
    code, out, err = run(["eval", coloured_ply, "--model", "occupancy-v1", "-o", tmp_path / "l",
                          "--json"], capsys)
    assert code == 0, err
    (point,) = json.loads(out)["points"]
    assert point["colour_rate"] is None and point["colour_model"] == "colour-v5"
    assert point["y_psnr"] == point["cb_psnr"] == point["cr_psnr"] == float("inf")
    assert point["colour_bytes"] > 0 and point["geometry_bits_per_point"] < point["bits_per_point"]
    # A cloud without colour (or with it left out): the columns and files of before.
    plain_columns = [f.name for f in dataclasses.fields(evaluate.RatePoint)
                     if f.name not in evaluate.COLOUR_COLUMNS]
    for cloud, extra in ((plain_ply, []), (coloured_ply, ["--no-colour"])):
        stem = tmp_path / cloud.stem
        code, out, err = run(["eval", cloud, "--model", "occupancy-v1", "-o", stem, *extra], capsys)
        assert code == 0, err
        assert "Y dB" not in out and "with colour" not in out
        assert list(read_csv(f"{stem}.csv")[0]) == plain_columns
        assert not (tmp_path / f"{cloud.stem}_colour.png").exists()
        code, out, err = run(["eval", cloud, "--model", "occupancy-v1", "-o", stem, "--json", *extra],
                             capsys)
        report = json.loads(out)
        assert list(report["points"][0]) == plain_columns
        assert "colour_plot" not in report and "colour_bd_rate" not in report


def test_eval_bad_colour_options_are_one_line_errors(tmp_path, capsys, coloured_ply, plain_ply):
    deep = tmp_path / "deep.ply"
    cloud = coloured_shell(count=200)
    write_ply(deep, omnicodec.PointCloud(cloud.positions, {"rgb": cloud.attributes["rgb"].astype(np.uint16) * 257}))
    cases = [
        ([coloured_ply, "--colour-rates", "x"], "colour rates must look like 1,3,5 or 2-4"),
        ([coloured_ply, "--colour-rates", "5-3"], "colour rates must look like"),
        ([coloured_ply, "--colour-rates", "0"], "colour rate 0 is out of range"),
        ([coloured_ply, "--colour-rates", "99"], "colour rate 99 is out of range"),
        ([coloured_ply, "--colour-rates", "1", "--rates", "3,4"], "one geometry rate"),
        ([coloured_ply, "--colour-anchor", tmp_path / "none.csv"], "cannot read the anchor file"),
        ([coloured_ply, "--colour-anchor", coloured_ply], "needs the columns file, colour_bpp, y_psnr"),
        ([plain_ply, "--colour-rates", "1"], "--colour-rates needs a cloud with colours"),
        ([plain_ply, "--colour-plot", tmp_path / "never.png"], "--colour-plot needs a cloud with colours"),
        ([plain_ply, "--colour-anchor", tmp_path / "none.csv"], "cannot read the anchor file"),
        ([coloured_ply, "--no-colour", "--colour-plot", tmp_path / "never.png"], "--no-colour leaves them out"),
        ([deep, "--colour-rates", "1"], "needs 8-bit colours"),
    ]
    for args, message in cases:
        code, out, err = run(["eval", *args, "-o", tmp_path / "never", "-q"], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not list(tmp_path.glob("never*"))
