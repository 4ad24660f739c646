"""Colour PSNR (Y, Cb, Cr as pc_error -c 1): pc_error's values, vectors derived from them,
hand-computed cases, bad input, and `omnicodec metrics --colour`."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from omnicodec.cli.main import main
from omnicodec.errors import InputError
from omnicodec.io import write_ply
from omnicodec.metrics import colour_metrics, colour_psnr, file_colour_metrics, ycbcr

TESTS = Path(__file__).parent
SHARED_VECTORS = TESTS.parent.parent / "shared" / "data" / "metric_vectors_colour"
LOCAL_VECTORS = TESTS / "data" / "metric_vectors_colour"

# Asked of the implementation against pc_error itself (it agrees to about 1e-7 dB).
PC_ERROR_DB_TOLERANCE = 0.001
# The derived vectors were computed by this implementation: only float rounding may differ.
# (Keeping the BT.709 values in float64 instead of pc_error's float32 moves them by 5e-6 dB.)
LOCAL_DB_TOLERANCE = 1e-6
LOCAL_RELATIVE_TOLERANCE = 1e-7
CHANNELS = ("Y", "Cb", "Cr")
DIRECTIONS = ("A->B", "B->A", "symmetric")


def grey(*levels):
    return [[level] * 3 for level in levels]


def y_mse(*levels):
    """Mean of squared luma errors (level / 255)^2, for grey colours (Y = level / 255)."""
    return float(np.mean(np.square(np.array(levels) / 255.0)))


# -- pc_error itself ---------------------------------------------------------------------------

def pc_error_report(path):
    """{"n_A", "n_B", "1"/"2"/"F": [Y, Cb, Cr PSNR]} from pc_error's printed report."""
    text = path.read_text()
    sizes = re.search(r"scaling ratio: (\d+), (\d+),", text)
    report = {"n_A": int(sizes.group(1)), "n_B": int(sizes.group(2))}
    for code in "12F":
        report[code] = [float(re.search(rf"c\[{channel}\],PSNR{code}\s*:\s*(\S+)", text).group(1))
                        for channel in range(3)]
    return report


@pytest.mark.skipif(not SHARED_VECTORS.is_dir(), reason=f"no pc_error vectors at {SHARED_VECTORS}")
@pytest.mark.parametrize("name", ["B1", "B2", "B3"])
def test_agrees_with_pc_error(name):
    expected = json.loads((SHARED_VECTORS / "expected.json").read_text())[name]
    report = pc_error_report(SHARED_VECTORS / f"pc_error_{name}.txt")
    metrics = file_colour_metrics(SHARED_VECTORS / "A_soldier_head.ply",
                                  SHARED_VECTORS / f"{name}.ply")
    assert (metrics.reference_points, metrics.degraded_points) == (report["n_A"], report["n_B"])
    symmetric = [metrics.symmetric.y_psnr, metrics.symmetric.cb_psnr, metrics.symmetric.cr_psnr]
    assert symmetric == pytest.approx([expected[f"{channel}_psnr"] for channel in ("y", "cb", "cr")],
                                      abs=PC_ERROR_DB_TOLERANCE)
    for code, part in (("1", metrics.a_to_b), ("2", metrics.b_to_a), ("F", metrics.symmetric)):
        assert [part.y_psnr, part.cb_psnr, part.cr_psnr] == pytest.approx(
            report[code], abs=PC_ERROR_DB_TOLERANCE), code


# -- vectors derived from pc_error's -----------------------------------------------------------

@pytest.mark.parametrize("name", ["B1", "B2", "B3"])
def test_derived_vectors(name):
    """Cut from the shared pairs (tests/data/metric_vectors_colour/README.md): same geometry
    (B1), tied nearest neighbours (B2), and duplicate points with other colours (B3)."""
    expected = json.loads((LOCAL_VECTORS / "expected.json").read_text())["pairs"][name]
    metrics = file_colour_metrics(LOCAL_VECTORS / "A.ply", LOCAL_VECTORS / expected["file"]).as_dict()
    assert (metrics["n_A"], metrics["n_B"]) == (expected["n_A"], expected["n_B"])
    for direction in DIRECTIONS:
        for key, value in expected[direction].items():
            label = f"{name} {direction} {key}"
            if key.endswith("psnr"):
                assert metrics[direction][key] == pytest.approx(value, abs=LOCAL_DB_TOLERANCE), label
            else:
                assert metrics[direction][key] == pytest.approx(value, rel=LOCAL_RELATIVE_TOLERANCE), label


def test_derived_vectors_hold_ties_and_duplicates():
    expected = json.loads((LOCAL_VECTORS / "expected.json").read_text())["pairs"]
    assert expected["B3"]["n_points"] > expected["B3"]["n_B"] == expected["B2"]["n_B"]
    assert expected["B1"]["n_points"] == expected["B1"]["n_B"] == expected["B1"]["n_A"]


# -- hand-computed cases -----------------------------------------------------------------------

def test_tied_neighbours_average_rounded_half_away_from_zero():
    """A's point has two nearest points in B: grey 10 and 11, mean 10.5, rounded to 11 (C's
    round; rounding half to even would give 10)."""
    metrics = colour_metrics([[0, 0, 0]], grey(0), [[1, 0, 0], [-1, 0, 0]], grey(10, 11))
    assert metrics.a_to_b.y_mse == pytest.approx(y_mse(11), rel=1e-6)
    assert metrics.b_to_a.y_mse == pytest.approx(y_mse(10, 11), rel=1e-6)  # one neighbour each
    assert metrics.symmetric.y_mse == metrics.a_to_b.y_mse
    assert metrics.symmetric.y_psnr == pytest.approx(20 * math.log10(255 / 11), abs=1e-5)
    assert metrics.symmetric.cb_mse == pytest.approx(0, abs=1e-15)  # grey: Cb = Cr = 0.5
    assert metrics.symmetric.cr_mse == pytest.approx(0, abs=1e-15)


def test_duplicates_merge_by_integer_division_and_count_once():
    """B's two points at (1, 0, 0), grey 10 and 13, become one point of grey 23 // 2 = 11
    (truncated; rounding gives 12). With (-1, 0, 0), grey 21, tied with it: (11 + 21) / 2 = 16
    (a merged point counts once; weighted by its two points it would be 14, and 15 from the
    three original greys; 17 from a rounded merge)."""
    degraded = [[1, 0, 0], [-1, 0, 0], [1, 0, 0]]
    metrics = colour_metrics([[0, 0, 0]], grey(0), degraded, grey(10, 21, 13))
    assert (metrics.reference_points, metrics.degraded_points) == (1, 2)
    assert metrics.a_to_b.y_mse == pytest.approx(y_mse(16), rel=1e-6)
    assert metrics.b_to_a.y_mse == pytest.approx(y_mse(11, 21), rel=1e-6)


def test_reference_duplicates_merge_too():
    """A's duplicates (grey 0, 1, 1: merged 2 // 3 = 0) make one point of A, measured once."""
    metrics = colour_metrics([[0, 0, 0], [0, 0, 0], [0, 0, 0], [2, 0, 0]], grey(0, 1, 1, 7),
                             [[0, 0, 0], [2, 0, 0]], grey(5, 7))
    assert metrics.reference_points == 2
    assert metrics.a_to_b.y_mse == pytest.approx(y_mse(5, 0), rel=1e-6)


def test_more_than_ten_tied_neighbours():
    """pc_error first asks for 10 neighbours and widens by 5 while the last still ties: the 12
    points at distance sqrt(2) of the origin (greys 0..11) all count, mean 5.5, rounded to 6."""
    offsets = [point for point in np.ndindex(3, 3, 3) if np.sum(np.abs(np.array(point) - 1)) == 2]
    degraded = np.array(offsets) - 1
    assert len(degraded) == 12
    metrics = colour_metrics([[0, 0, 0]], grey(0), degraded, grey(*range(12)))
    assert metrics.a_to_b.y_mse == pytest.approx(y_mse(6), rel=1e-6)


def test_distances_within_1e8_tie():
    """As for D2, squared distances closer than 1e-8 tie (1e-6 and 1.0022e-6 here), farther
    ones (1e-6 and 1.21e-6) do not."""
    reference = [[0, 0, 0]]
    tied = colour_metrics(reference, grey(0), [[1e-3, 0, 0], [-1.0011e-3, 0, 0]], grey(10, 12))
    assert tied.a_to_b.y_mse == pytest.approx(y_mse(11), rel=1e-6)
    apart = colour_metrics(reference, grey(0), [[1e-3, 0, 0], [-1.1e-3, 0, 0]], grey(10, 12))
    assert apart.a_to_b.y_mse == pytest.approx(y_mse(10), rel=1e-6)


def test_bt709_channels_symmetric_worst_and_summary():
    """A: one black point; B: pure blue on it and pure red two units away. BT.709 (pc_error's
    coefficients): blue is Y 0.0722, Cb 1, Cr 0.5 - 0.0458; red is Y 0.2126, Cb 0.5 - 0.1146,
    Cr 1; black is Y 0, Cb = Cr = 0.5. A->B sees blue only, B->A the mean of blue and red:
    the symmetric value takes B->A for Y and Cr, A->B for Cb."""
    metrics = colour_metrics([[0, 0, 0]], [[0, 0, 0]], [[0, 0, 0], [2, 0, 0]],
                             [[0, 0, 255], [255, 0, 0]])
    blue = np.square([0.0722, 0.5, 0.0458])
    red = np.square([0.2126, 0.1146, 0.5])
    assert metrics.a_to_b.mse == pytest.approx(blue, rel=1e-6)
    assert metrics.b_to_a.mse == pytest.approx((blue + red) / 2, rel=1e-6)
    worst = [(blue[0] + red[0]) / 2, blue[1], (blue[2] + red[2]) / 2]
    assert metrics.symmetric.mse == pytest.approx(worst, rel=1e-6)
    psnrs = [-10 * math.log10(value) for value in worst]
    symmetric = metrics.symmetric
    assert [symmetric.y_psnr, symmetric.cb_psnr, symmetric.cr_psnr] == pytest.approx(psnrs, abs=1e-5)
    assert symmetric.ycbcr_psnr == pytest.approx((6 * psnrs[0] + psnrs[1] + psnrs[2]) / 8, abs=1e-5)
    fields = symmetric.as_dict()
    assert list(fields) == ["Y_mse", "Cb_mse", "Cr_mse", "Y_psnr", "Cb_psnr", "Cr_psnr",
                            "YCbCr_psnr"]
    assert fields["YCbCr_psnr"] == symmetric.ycbcr_psnr


def test_ycbcr_is_pc_errors_float32_bt709():
    values = ycbcr([[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]])
    assert values.dtype == np.float32
    expected = [[0.2126, 0.5 - 0.1146, 1.0], [0.7152, 0.5 - 0.3854, 0.5 - 0.4542],
                [0.0722, 1.0, 0.5 - 0.0458], [128 / 255, 0.5, 0.5]]
    assert values == pytest.approx(np.array(expected, dtype=np.float32), abs=1e-7)
    assert values[0, 0] == np.float32(0.2126 * 255 / 255.0)


def test_identical_clouds_are_infinitely_good():
    points = np.arange(30).reshape(10, 3)
    colours = np.arange(30).reshape(10, 3) * 8
    metrics = colour_metrics(points, colours, points[::-1], colours[::-1])
    for part in (metrics.a_to_b, metrics.b_to_a, metrics.symmetric):
        assert part.mse == (0, 0, 0) and part.ycbcr_psnr == math.inf
    assert colour_psnr(0) == math.inf and colour_psnr(0.01) == pytest.approx(20)


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("colours, match", [
    ([[0, 0, 256]], "0 to 255"),
    ([[0, -1, 0]], "0 to 255"),
    ([[0.5, 0, 0]], "0 to 255"),
    ([[np.nan, 0, 0]], "0 to 255"),
    ([[0, 0]], "shape"),
    ([[0, 0, 0], [0, 0, 0]], "shape"),
    ([["red", "green", "blue"]], "numbers"),
])
def test_bad_colours(colours, match):
    with pytest.raises(InputError, match=match):
        colour_metrics([[0, 0, 0]], colours, [[0, 0, 0]], [[0, 0, 0]])


def test_whole_float_colours_are_accepted():
    metrics = colour_metrics([[0, 0, 0]], [[10.0, 20.0, 30.0]], [[0, 0, 0]], np.uint8([[10, 20, 30]]))
    assert metrics.symmetric.mse == (0, 0, 0)


def test_file_without_colours(tmp_path):
    write_ply(tmp_path / "plain.ply", np.zeros((2, 3), np.float32))
    with pytest.raises(InputError, match="plain.ply: the cloud has no colours"):
        file_colour_metrics(LOCAL_VECTORS / "A.ply", tmp_path / "plain.ply")
    with pytest.raises(InputError, match="plain.ply: the cloud has no colours"):
        file_colour_metrics(tmp_path / "plain.ply", LOCAL_VECTORS / "A.ply")


# -- the command line --------------------------------------------------------------------------

def run(args, capsys):
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_metrics_command_colour_json(capsys):
    expected = json.loads((LOCAL_VECTORS / "expected.json").read_text())["pairs"]["B3"]
    code, out, _ = run(["metrics", LOCAL_VECTORS / "A.ply", LOCAL_VECTORS / "B3.ply", "--colour",
                        "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert list(result) == ["colour"]  # no --peak: colour alone
    for key in (*(f"{channel}_psnr" for channel in CHANNELS), "YCbCr_psnr"):
        assert result["colour"]["symmetric"][key] == pytest.approx(expected["symmetric"][key],
                                                                    abs=LOCAL_DB_TOLERANCE)
    code, out, _ = run(["metrics", LOCAL_VECTORS / "A.ply", LOCAL_VECTORS / "B3.ply", "--color",
                        "--peak", "1023", "--no-d2", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and "D1_psnr" in result["symmetric"] and "colour" in result
    assert result["colour"]["n_B"] == expected["n_B"]


def test_metrics_command_colour_text(capsys):
    expected = json.loads((LOCAL_VECTORS / "expected.json").read_text())["pairs"]["B2"]
    code, out, _ = run(["metrics", LOCAL_VECTORS / "A.ply", LOCAL_VECTORS / "B2.ply", "--colour",
                        "--peak", "1023", "--no-d2"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert any(line.startswith("symmetric") and "D1" in line for line in lines)
    colour_line = [line for line in lines if line.startswith("symmetric") and "Cb" in line][0]
    symmetric = expected["symmetric"]
    for channel in CHANNELS:
        assert f"{channel} {symmetric[f'{channel}_psnr']:.4f}" in colour_line
    assert f"(6Y+Cb+Cr)/8 {symmetric['YCbCr_psnr']:.4f} dB" in colour_line


def test_metrics_command_colour_needs_colours(tmp_path, capsys):
    write_ply(tmp_path / "plain.ply", np.zeros((2, 3), np.float32))
    for pair in ((LOCAL_VECTORS / "A.ply", tmp_path / "plain.ply"),
                 (tmp_path / "plain.ply", LOCAL_VECTORS / "A.ply")):
        code, out, err = run(["metrics", *pair, "--colour", "--peak", "1023"], capsys)
        assert code == 2 and out == ""
        assert err.startswith("omnicodec: error: ") and "plain.ply" in err and "colour" in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_metrics_command_needs_peak_or_colour(capsys):
    code, out, err = run(["metrics", LOCAL_VECTORS / "A.ply", LOCAL_VECTORS / "B1.ply"], capsys)
    assert code == 2 and out == "" and "--peak" in err and len(err.strip().splitlines()) == 1
