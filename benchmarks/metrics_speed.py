"""D1/D2 metric speed on a 900k-point pair: the reference scan against a degraded copy of it.

    python -m benchmarks.metrics_speed [--reference soldier.ply --normals soldier_n.ply]

The degraded copy keeps a random 70% of the reference's points and moves 30% of those by
a random non-zero step in {-1, 0, 1}^3 (seeded), roughly what a lossy codec gives back.
Prints the point counts, the symmetric D1/D2 PSNRs, and the seconds of
``file_metrics`` (reading the three PLY files included) and of ``point_metrics`` alone
(arrays in memory): each the best of ``--repeat`` runs. Target: under 10 s on 2 cores.
"""

import argparse
import itertools
import json
import os
import tempfile
import time

import numpy as np

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "pointclouds")
_STEPS = np.array([step for step in itertools.product((-1, 0, 1), repeat=3) if any(step)])


def degraded_copy(points, keep=0.7, moved=0.3, seed=0):
    """A random ``keep`` share of the points, a ``moved`` share of them shifted by one step."""
    rng = np.random.default_rng(seed)
    kept = points[rng.random(len(points)) < keep].astype(np.float64)
    chosen = np.flatnonzero(rng.random(len(kept)) < moved)
    kept[chosen] += _STEPS[rng.integers(len(_STEPS), size=len(chosen))]
    return kept


def best_time(function, repeat):
    """(result, best seconds) of ``repeat`` calls."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return result, min(seconds)


def main(argv=None):
    from omnicodec.io import read_ply, write_ply
    from omnicodec.metrics import file_metrics, point_metrics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=os.path.join(DATA, "soldier_vox10_0690_partial.ply"))
    parser.add_argument("--normals", default=os.path.join(DATA, "soldier_vox10_0690_partial_n.ply"))
    parser.add_argument("--peak", type=float, default=1023)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    carrier = read_ply(args.normals)
    degraded = degraded_copy(carrier.positions)
    with tempfile.TemporaryDirectory() as folder:
        degraded_path = os.path.join(folder, "degraded.ply")
        write_ply(degraded_path, degraded.astype(np.float32))
        _, file_seconds = best_time(
            lambda: file_metrics(args.reference, degraded_path, args.peak, args.normals), args.repeat)
    metrics, array_seconds = best_time(
        lambda: point_metrics(carrier.positions, degraded, args.peak, carrier.normals), args.repeat)

    row = {"reference_points": metrics.reference_points, "degraded_points": metrics.degraded_points,
           "d1_psnr": metrics.symmetric.d1_psnr, "d2_psnr": metrics.symmetric.d2_psnr,
           "file_metrics_s": file_seconds, "point_metrics_s": array_seconds,
           "cpu_count": os.cpu_count()}
    for name, value in row.items():
        print(f"{name:18s} {value:.4f}" if isinstance(value, float) else f"{name:18s} {value}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(row, handle, indent=1)


if __name__ == "__main__":
    main()
