"""D1/D2 metrics: pc_error's values, vectors derived from them, hand-computed cases, bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from omnicodec.errors import InputError
from omnicodec.io import write_ply
from omnicodec.metrics import estimate_normals, file_metrics, point_metrics, psnr

TESTS = Path(__file__).parent
SHARED_VECTORS = TESTS.parent.parent / "shared" / "data" / "metric_vectors"
LOCAL_VECTORS = TESTS / "data" / "metric_vectors"

DB_TOLERANCE = 0.01
# pc_error sums the normals it carries over to B in float32: where thousands of them land on
# one point (pair_06, B of 8 points) its D2 is off the exact sum by about 1.4e-6.
RELATIVE_TOLERANCE = 1e-5
# pc_error starts its maxima at DBL_MIN, so a zero Hausdorff distance prints 2.22507386e-308.
ABSOLUTE_TOLERANCE = 1e-300


def vector_folders(root):
    return sorted(path.parent for path in root.glob("*/expected.json"))


def check_vector(folder):
    """Every value of every run of ``folder/expected.json`` (pc_error's layout)."""
    expected = json.loads((folder / "expected.json").read_text())
    computed = {}
    for name, run in expected["runs"].items():
        normals = run["flags"]["normals"]
        key = (normals, run["peak"])
        if key not in computed:  # the single-pass run repeats the A->B of the two-pass one
            computed[key] = file_metrics(folder / "A.ply", folder / "B.ply", run["peak"],
                                         normals and folder / normals,
                                         point_to_plane=normals is not None).as_dict()
        ours = computed[key]
        assert (ours["n_A"], ours["n_B"]) == (run["n_A"], run["n_B"])
        for direction in ("A->B", "B->A", "symmetric"):
            for metric, value in run.get(direction, {}).items():
                label = f"{folder.name} {name} {direction} {metric}"
                if metric.endswith("psnr"):
                    assert ours[direction][metric] == pytest.approx(float(value),
                                                                    abs=DB_TOLERANCE), label
                else:
                    assert math.isclose(ours[direction][metric], value, rel_tol=RELATIVE_TOLERANCE,
                                        abs_tol=ABSOLUTE_TOLERANCE), label


@pytest.mark.skipif(not SHARED_VECTORS.is_dir(), reason=f"no pc_error vectors at {SHARED_VECTORS}")
@pytest.mark.parametrize("folder", vector_folders(SHARED_VECTORS), ids=lambda folder: folder.name)
def test_agrees_with_pc_error(folder):
    check_vector(folder)


@pytest.mark.parametrize("folder", vector_folders(LOCAL_VECTORS), ids=lambda folder: folder.name)
def test_derived_vectors(folder):
    check_vector(folder)


def test_derived_vectors_are_all_there():
    assert len(vector_folders(LOCAL_VECTORS)) == 6


def as_expected(peak, d1_mse, d1_hausdorff, d2_mse, d2_hausdorff):
    def db(mse):
        return 10 * math.log10(3 * peak ** 2 / mse)

    return {"D1_mse": d1_mse, "D1_psnr": db(d1_mse), "D1_hausdorff": d1_hausdorff,
            "D1_hausdorff_psnr": db(d1_hausdorff), "D2_mse": d2_mse, "D2_psnr": db(d2_mse),
            "D2_hausdorff": d2_hausdorff, "D2_hausdorff_psnr": db(d2_hausdorff)}


def test_hand_computed_case():
    """A0 = (0,0,0) with normal (0,0,1) and A1 = (2,0,0) with normal (.6,0,.8); B has
    (1,0,1) twice (merged), (2,0,0), and (1,0,-3).

    A->B: A0's nearest is B0 = (1,0,1): D1 2; B0 carries A0's normal, so D2 is
          ((-1,0,-1).(0,0,1))^2 = 1. A1 lies on B1: 0 and 0.
          D1 MSE 1, Hausdorff 2; D2 MSE 0.5, Hausdorff 1.
    B->A: B0 is at squared distance 2 from both A0 and A1: D1 2, D2 the mean over both,
          (((1,0,1).(0,0,1))^2 + ((-1,0,1).(.6,0,.8))^2) / 2 = (1 + 0.04) / 2 = 0.52.
          B1 lies on A1: 0 and 0. B2 is at 10 from both: D2 ((1,0,-3).(0,0,1))^2 = 9 and
          ((-1,0,-3).(.6,0,.8))^2 = 9, mean 9.
          D1 MSE 12/3, Hausdorff 10; D2 MSE 9.52/3, Hausdorff 9.
    Symmetric: the larger of each.
    """
    reference = [[0, 0, 0], [2, 0, 0]]
    normals = [[0, 0, 1], [0.6, 0, 0.8]]
    degraded = [[1, 0, 1], [2, 0, 0], [1, 0, 1], [1, 0, -3]]
    peak = 10
    metrics = point_metrics(reference, degraded, peak, normals).as_dict()
    assert (metrics["n_A"], metrics["n_B"]) == (2, 3)
    expected = {"A->B": as_expected(peak, 1, 2, 0.5, 1),
                "B->A": as_expected(peak, 4, 10, 9.52 / 3, 9),
                "symmetric": as_expected(peak, 4, 10, 9.52 / 3, 9)}
    for direction, values in expected.items():
        assert metrics[direction] == pytest.approx(values, rel=1e-6), direction
    assert psnr(4, peak) == pytest.approx(18.75061263)  # 10 log10(3 * 10^2 / 4)


def test_near_ties_count_for_d2_but_not_for_carrying_normals():
    """pc_error averages D2 over neighbours whose squared distances differ by < 1e-8, but
    carries a reference normal only to the exactly nearest points of B; a B point that got
    none (B1 here) takes the mean normal of its own nearest reference points (A0 and A1).

    A0 = (0,0,0), normal (0,0,1); A1 = 2 B1, normal (1,0,0). B0 = (0,0,s), B1 = (s,0,e)
    with e = s / 1000 and B2 = A1 + (0,0,s/2), s = 0.001. A0 sees B0 and B1 as tied; A0's
    normal goes to B0 only, A1's to B2 (its nearest); B1, exactly between A0 and A1, gets
    their mean (.5,0,.5). D2 at A0 = (s^2 + ((s + e) / 2)^2) / 2; at A1, 0.
    """
    s, e = 0.001, 1e-6
    a1 = np.array([2 * s, 0, 2 * e], dtype=np.float32)
    reference = np.stack([np.zeros(3, np.float32), a1])
    degraded = np.array([[0, 0, s], [s, 0, e], a1 + [0, 0, s / 2]], dtype=np.float32)
    metrics = point_metrics(reference, degraded, 1.0, [[0, 0, 1], [1, 0, 0]])
    at_a0 = (s ** 2 + ((s + e) / 2) ** 2) / 2
    assert metrics.a_to_b.d2_hausdorff == pytest.approx(at_a0, rel=1e-5)
    assert metrics.a_to_b.d2_mse == pytest.approx(at_a0 / 2, rel=1e-5)


def test_identical_clouds_have_no_error():
    points = np.random.default_rng(0).integers(0, 100, size=(500, 3))
    metrics = point_metrics(points, points[::-1], 127)
    for distortion in (metrics.a_to_b, metrics.b_to_a, metrics.symmetric):
        assert distortion.d1_mse == distortion.d2_mse == distortion.d1_hausdorff == 0
        assert distortion.d1_psnr == distortion.d2_hausdorff_psnr == math.inf


def test_duplicates_and_signed_zeros_are_merged():
    cloud = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    doubled = np.concatenate([cloud, np.where(cloud == 0, -0.0, cloud), cloud + [0, 0, 0.5]])
    assert point_metrics(cloud, doubled, 2).degraded_points == 8
    assert point_metrics(doubled, cloud, 2).reference_points == 8


def test_a_merged_reference_point_keeps_its_first_normal():
    reference = [[0, 0, 0], [0, 0, 0], [5, 0, 0]]
    normals = [[0, 0, 1], [1, 0, 0], [0, 0, 1]]
    metrics = point_metrics(reference, [[0, 0, 1]], 5, normals)
    assert metrics.reference_points == 2
    assert metrics.b_to_a.d2_mse == 1  # the error (0,0,1) on the first normal, (0,0,1)


def test_estimated_normals_fit_planes_and_point_outwards():
    rng = np.random.default_rng(1)
    direction = rng.normal(size=(2000, 3))
    sphere = 50 * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    normals = estimate_normals(sphere)
    radial = sphere / 50
    assert np.einsum("ij,ij->i", normals, radial).min() > 0.95
    assert np.allclose(np.linalg.norm(normals, axis=1), 1)


def test_missing_normals_are_estimated_unless_disabled():
    rng = np.random.default_rng(2)
    plane = np.column_stack([rng.integers(0, 60, size=(3000, 2)), np.zeros(3000)])
    moved = plane + [0, 0, 1]
    metrics = point_metrics(plane, moved, 63)
    assert metrics.normals_estimated
    assert metrics.symmetric.d2_mse == pytest.approx(1)  # the whole error is across the plane
    assert metrics.symmetric.d1_mse == pytest.approx(1)
    with pytest.raises(InputError, match="normals"):
        point_metrics(plane, moved, 63, estimate_missing_normals=False)
    d1_only = point_metrics(plane, moved, 63, point_to_plane=False, estimate_missing_normals=False)
    assert d1_only.symmetric.d2_mse is None and "D2_mse" not in d1_only.as_dict()["symmetric"]


GOOD = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)


@pytest.mark.parametrize("reference, degraded, peak, normals, reason", [
    (np.empty((0, 3)), GOOD, 10, None, "empty"),
    (GOOD, np.empty((0, 3)), 10, None, "empty"),
    (GOOD[:, :2], GOOD, 10, None, "shape"),
    (GOOD, [[0, 0, np.nan]], 10, None, "NaN"),
    (GOOD, [[0, 0, 1e39]], 10, None, "float32"),
    (GOOD, GOOD, 0, None, "positive"),
    (GOOD, GOOD, -1023, None, "positive"),
    (GOOD, GOOD, math.nan, None, "positive"),
    (GOOD, GOOD, "high", None, "number"),
    (GOOD * 6000, GOOD, 511, None, "does not fit"),
    (GOOD, GOOD, 10, GOOD[:3], "one per point"),
    (GOOD, GOOD, 10, GOOD + [np.nan, 0, 0], "NaN"),
])
def test_bad_input(reference, degraded, peak, normals, reason):
    with pytest.raises(InputError, match=reason):
        point_metrics(reference, degraded, peak, normals)


def test_estimating_normals_needs_three_points():
    with pytest.raises(InputError, match="at least 3"):
        estimate_normals(GOOD[:2])


def test_bad_files(tmp_path):
    write_ply(tmp_path / "a.ply", GOOD)
    normals = {"nx": np.ones(4), "ny": np.zeros(4), "nz": np.zeros(4)}
    write_ply(tmp_path / "other_n.ply", GOOD + 1, normals)
    with pytest.raises(InputError, match="no such file"):
        file_metrics(tmp_path / "a.ply", tmp_path / "missing.ply", 10)
    with pytest.raises(InputError, match="no nx/ny/nz"):
        file_metrics(tmp_path / "a.ply", tmp_path / "a.ply", 10, normals_path=tmp_path / "a.ply")
    with pytest.raises(InputError, match="not those of"):
        file_metrics(tmp_path / "a.ply", tmp_path / "a.ply", 10,
                     normals_path=tmp_path / "other_n.ply")
