"""Derive the small metric vectors here from ../shared/data/metric_vectors (see README.md).

    python tests/data/metric_vectors/derive.py [../shared/data/metric_vectors]

Each shared pair is cut to the largest cube (around the pair's own crop centre; for
pair_06, whose B has 8 points, around the B point nearest that centre) that leaves A at most
MAX_POINTS points; B is cut by the same cube. The expected values are computed with
omnicodec.metrics, which reproduces pc_error release-v0.14.2 on the full shared pairs.
"""

import json
import os
import sys

import numpy as np

from omnicodec.io import read_ply, write_ply
from omnicodec.metrics import file_metrics

MAX_POINTS = 1200
HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "..", "shared", "data", "metric_vectors")
PEAK = 1023.0


def inside(points, center, half_size):
    return np.abs(points - center).max(axis=1) <= half_size


def crop_center(pair, degraded):
    center = np.asarray(pair["crop"]["center"])
    if len(degraded) < 10:  # keep a tiny B tiny but not empty
        center = degraded[np.abs(degraded - center).max(axis=1).argmin()]
    return center


def largest_half_size(points, center):
    """The largest whole half size whose cube holds at most MAX_POINTS points."""
    half_size = 1
    while inside(points, center, half_size + 1).sum() <= MAX_POINTS:
        half_size += 1
    return half_size


def expected_run(folder, with_normals):
    """One run of expected.json: D1 only, or D1 and D2 with the normals of A_n.ply."""
    metrics = file_metrics(os.path.join(folder, "A.ply"), os.path.join(folder, "B.ply"), PEAK,
                           os.path.join(folder, "A_n.ply") if with_normals else None,
                           point_to_plane=with_normals).as_dict()
    for direction in ("A->B", "B->A", "symmetric"):
        metrics[direction] = {key: "inf" if np.isinf(value) else value
                              for key, value in metrics[direction].items()}
    return {"peak": metrics.pop("peak"), "flags": {"normals": "A_n.ply" if with_normals else None},
            **metrics}


def derive(source, target):
    pair = json.load(open(os.path.join(source, "expected.json")))
    with_normals = read_ply(os.path.join(source, "A_n.ply"))
    degraded = read_ply(os.path.join(source, "B.ply")).positions
    center = crop_center(pair, degraded)
    half_size = largest_half_size(with_normals.positions, center)
    kept_a = inside(with_normals.positions, center, half_size)
    kept_b = inside(degraded, center, half_size)
    normals = {"normals": with_normals.attributes["normals"][kept_a]}
    os.makedirs(target, exist_ok=True)
    write_ply(os.path.join(target, "A.ply"), with_normals.positions[kept_a])
    write_ply(os.path.join(target, "A_n.ply"), with_normals.positions[kept_a], normals)
    write_ply(os.path.join(target, "B.ply"), degraded[kept_b])
    counts = {name: (len(points), len(np.unique(points, axis=0)))
              for name, points in (("A", with_normals.positions[kept_a]), ("B", degraded[kept_b]))}
    expected = {
        "pair": os.path.basename(target),
        "description": f"{pair['description']}; both clouds cut to the cube below",
        "source": f"shared/data/metric_vectors/{pair['pair']}",
        "crop": {"center": [float(value) for value in center], "half_size_linf": float(half_size)},
        "A": {"file": "A.ply", "n_points": counts["A"][0], "n_unique": counts["A"][1],
              "normals_file": "A_n.ply"},
        "B": {"file": "B.ply", "n_points": counts["B"][0], "n_unique": counts["B"][1]},
        "tool": "omnicodec.metrics (agrees with pc_error release-v0.14.2 on the full shared pairs)",
        "runs": {"d1": expected_run(target, False), "d1d2_hausdorff": expected_run(target, True)},
    }
    with open(os.path.join(target, "expected.json"), "w") as handle:
        json.dump(expected, handle, indent=1)
        handle.write("\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    shared = argv[0] if argv else SHARED
    for name in sorted(os.listdir(shared)):
        if os.path.isfile(os.path.join(shared, name, "expected.json")):
            derive(os.path.join(shared, name), os.path.join(HERE, f"{name}_small"))


if __name__ == "__main__":
    main()
