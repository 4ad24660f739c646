"""Batch speed: the same folder compressed with --jobs 1 and with --jobs N, in one run.

    python -m benchmarks.batch ../shared/data/pointclouds/mvub [--files 8] [--jobs 2]

Copies the first --files .ply files of the folder (cycling through them when it has
fewer) into a scratch folder, then runs ``omnicodec compress FOLDER -o OUT --jobs J
--force`` as a fresh process for J = 1 and J = N, and reports the wall times and their
ratio (the figure of issue 6: at most 0.65 with 2 jobs on 2 cores).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time


def timed_batch(folder, out, jobs, extra):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "omnicodec", "compress", folder, "-o", out,
                             "--jobs", str(jobs), "--force", "-q", *extra])
    if result.returncode != 0:
        raise SystemExit(f"batch with --jobs {jobs} failed ({result.returncode})")
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rate", type=int, help="lossy rate (default: lossless)")
    args = parser.parse_args(argv)
    sources = sorted(f for f in os.listdir(args.folder) if f.lower().endswith(".ply"))
    if not sources:
        raise SystemExit(f"{args.folder}: no .ply files")
    extra = ["--rate", str(args.rate)] if args.rate else []
    with tempfile.TemporaryDirectory() as scratch:
        folder = os.path.join(scratch, "in")
        os.makedirs(folder)
        for i in range(args.files):
            name = sources[i % len(sources)]
            shutil.copy(os.path.join(args.folder, name), os.path.join(folder, f"{i:02d}_{name}"))
        serial = timed_batch(folder, os.path.join(scratch, "out1"), 1, extra)
        parallel = timed_batch(folder, os.path.join(scratch, "outN"), args.jobs, extra)
    print(f"{args.files} files from {args.folder}: --jobs 1 {serial:.1f} s, "
          f"--jobs {args.jobs} {parallel:.1f} s, ratio {parallel / serial:.2f} "
          f"({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
