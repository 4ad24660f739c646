"""Batch speed: the same folder compressed with --jobs 1, with --jobs N and on Ray, in
one run.

    python -m benchmarks.batch ../shared/data/pointclouds/mvub [--files 8] [--jobs 2] [--ray]

Copies the first --files .ply files of the folder (cycling through them when it has
fewer) into a scratch folder, then runs ``omnicodec compress FOLDER -o OUT --jobs J
--force`` as a fresh process for J = 1 and J = N, and reports the wall times and their
ratio (the figure of issue 6: at most 0.65 with 2 jobs on 2 cores). With --ray, also
``--cluster ray`` (a local Ray instance started by the run, one CPU per file's task) and
its ratio to --jobs N: Ray's overhead (issue 17: at most 1.2).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time


def timed_batch(folder, out, where, extra):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "omnicodec", "compress", folder, "-o", out,
                             *where, "--force", "-q", *extra])
    if result.returncode != 0:
        raise SystemExit(f"batch with {' '.join(where)} failed ({result.returncode})")
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rate", type=int, help="lossy rate (default: lossless)")
    parser.add_argument("--ray", action="store_true", help="also time --cluster ray")
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
        serial = timed_batch(folder, os.path.join(scratch, "out1"), ["--jobs", "1"], extra)
        parallel = timed_batch(folder, os.path.join(scratch, "outN"), ["--jobs", str(args.jobs)], extra)
        on_ray = timed_batch(folder, os.path.join(scratch, "outR"), ["--cluster", "ray"], extra) if args.ray else None
    print(f"{args.files} files from {args.folder}: --jobs 1 {serial:.1f} s, "
          f"--jobs {args.jobs} {parallel:.1f} s, ratio {parallel / serial:.2f} "
          f"({os.cpu_count()} cores)")
    if on_ray is not None:
        print(f"--cluster ray {on_ray:.1f} s: {on_ray / parallel:.2f} times --jobs {args.jobs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
