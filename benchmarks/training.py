"""Training speed: steps per second of ``omnicodec.train`` for a model kind, on a CPU or a
GPU, after a few warm-up steps (the first ones build caches and kernels).

    python -m benchmarks.training --data ~/.cache/omnicodec/train_blocks.h5 [--device cuda] \
        [--steps 40] [--warmup 5] [--threads 2] [-- more omnicodec.train options]

Prints one JSON line: kind, device (and the GPU's name), sparse engine, threads, steps
timed and steps per second. Under torchrun every rank times its own steps; rank 0 prints.
"""

import argparse
import json
import tempfile
import time

import torch

from omnicodec import train
from omnicodec.sparse import engine


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--kind", default="lossless")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5, help="steps before the timing (at least 1)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("more", nargs="*", help="more omnicodec.train options (after --)")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    stamps = {}

    def on_step(model, step):
        if args.device == "cuda":
            torch.cuda.synchronize()
        stamps[step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as run:
        device = ["--device", args.device] if args.kind in train.KIND_OPTIONS["device"][0] else []
        if args.device == "cuda" and not device:
            parser.error(f"--kind {args.kind} trains on the CPU only")
        options = train.parse_args(["--kind", args.kind, "--data", args.data, "--run", run, *device,
                                    "--steps", str(args.warmup + args.steps), "--threads", str(args.threads),
                                    "--checkpoint-minutes", "1000", "--seed", "0", *args.more])
        train.train(options, on_step)
    rank, _ = train.rank_and_world()
    if rank == 0:
        seconds = stamps[args.warmup + args.steps] - stamps[args.warmup]
        print(json.dumps({"kind": args.kind, "device": args.device,
                          "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
                          "engine": engine().NAME, "threads": args.threads, "steps": args.steps,
                          "steps_per_s": round(args.steps / seconds, 3)}))


if __name__ == "__main__":
    main()
