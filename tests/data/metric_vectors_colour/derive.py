"""Derive the small colour vectors here from ../shared/data/metric_vectors_colour (README.md).

    python tests/data/metric_vectors_colour/derive.py [../shared/data/metric_vectors_colour]

A and the three B clouds are cut by one cube: around the point of A nearest the middle of the
front (largest z) of A's bounding box, the largest whole half size that leaves A at most
MAX_POINTS points. The expected values are computed with omnicodec.metrics, which reproduces
pc_error release-v0.14.2 (-c 1 --dropdups=2 --neighborsProc=1) on the full shared pairs.
"""

import json
import os
import sys

import numpy as np

from omnicodec.io import read_ply, write_ply
from omnicodec.metrics import file_colour_metrics

MAX_POINTS = 2500
HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "..", "shared", "data", "metric_vectors_colour")
DEGRADED = ("B1", "B2", "B3")


def inside(points, center, half_size):
    return np.abs(points - center).max(axis=1) <= half_size


def crop(reference):
    """(center, half size) of the cube."""
    low, high = reference.min(axis=0), reference.max(axis=0)
    target = np.array([(low[0] + high[0]) / 2, (low[1] + high[1]) / 2, high[2]])
    center = reference[np.abs(reference - target).sum(axis=1).argmin()]
    half_size = 1
    while inside(reference, center, half_size + 1).sum() <= MAX_POINTS:
        half_size += 1
    return center, half_size


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    shared = argv[0] if argv else SHARED
    reference = read_ply(os.path.join(shared, "A_soldier_head.ply"))
    center, half_size = crop(reference.positions)
    expected = {
        "source": "shared/data/metric_vectors_colour (A_soldier_head.ply, B1/B2/B3.ply)",
        "crop": {"center": [float(value) for value in center], "half_size_linf": half_size},
        "tool": "omnicodec.metrics.colour_metrics (agrees with pc_error release-v0.14.2 "
                "-c 1 --dropdups=2 --neighborsProc=1 on the full shared pairs)",
        "pairs": {},
    }
    for name in ("A", *DEGRADED):
        source = "A_soldier_head.ply" if name == "A" else f"{name}.ply"
        cloud = read_ply(os.path.join(shared, source))
        kept = inside(cloud.positions, center, half_size)
        write_ply(os.path.join(HERE, f"{name}.ply"), cloud.positions[kept],
                  {"rgb": cloud.attributes["rgb"][kept]})
        if name == "A":
            expected["A"] = {"file": "A.ply", "n_points": int(kept.sum())}
            continue
        metrics = file_colour_metrics(os.path.join(HERE, "A.ply"), os.path.join(HERE, f"{name}.ply"))
        expected["pairs"][name] = {"file": f"{name}.ply", "n_points": int(kept.sum()),
                                   **metrics.as_dict()}
    with open(os.path.join(HERE, "expected.json"), "w") as handle:
        json.dump(expected, handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main()
