"""Entropy-coder benchmark: our chunked rANS coder (omnicodec._coder) against torchac on the
same binary symbols, compression and speed measured in one run.

    python -m benchmarks.entropy_coder [--symbols 10000000] [--repeats 3] [--json out.json]
    python -m benchmarks.entropy_coder --device cuda      # 100 million symbols on the GPU

Probabilities of a one are drawn from Beta(0.3, 0.7), mostly confident as a trained
occupancy model's are, and quantized by the one frequency function; each symbol is then
drawn from its quantized probability p, so the ideal code length, the sum of -log2 p, is
what a coder given these frequencies can reach. The overhead is the compressed size over
that length.

On the CPU both coders run on one thread (OMP_NUM_THREADS=1, torch.set_num_threads(1)) and
each figure is the best of --repeats runs; torchac's times leave out building the CDF table
it needs. With --device cuda, symbols and frequencies live on the GPU, the times include
moving the stream between device and host, and the CPU must make the same bytes and decode
them.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch starts its thread pool

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from omnicodec.entropy import rans  # noqa: E402
from omnicodec.entropy.cdf import binary_cdf, binary_frequencies, ideal_bits  # noqa: E402
from omnicodec.entropy.coder import _torchac  # noqa: E402

BETA = (0.3, 0.7)


def occupancy_symbols(count, device, seed):
    """Frequencies of a one and symbols drawn from them, on `device`."""
    torch.manual_seed(seed)
    prob = torch.distributions.Beta(torch.tensor(BETA[0], device=device),
                                    torch.tensor(BETA[1], device=device)).sample((count,))
    freq = rans.binary_frequencies(prob)
    if not torch.equal(freq.cpu(), binary_frequencies(prob.cpu())):
        raise AssertionError("rans.binary_frequencies disagrees with cdf.binary_frequencies")
    return freq, torch.rand(count, device=device) < freq / 65536


def best_time(function, repeats, synchronize):
    """(best seconds of `repeats` calls, the last call's result)."""
    best = float("inf")
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        result = function()
        synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(name, encode, decode, symbols, ideal, repeats, synchronize=lambda: None):
    encode_s, data = best_time(encode, repeats, synchronize)
    decode_s, decoded = best_time(lambda: decode(data), repeats, synchronize)
    count = symbols.numel()
    return {"coder": name, "bytes": len(data), "overhead_pct": 100 * (8 * len(data) / ideal - 1),
            "encode_sym_s": count / encode_s, "decode_sym_s": count / decode_s,
            "exact": bool(torch.equal(decoded.bool().cpu(), symbols.cpu())), "data": data}


def print_rows(rows):
    print("| coder | bytes | overhead vs ideal | encode symbols/s | decode symbols/s | exact |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['coder']} | {row['bytes']:,} | {row['overhead_pct']:+.3f}% | "
              f"{row['encode_sym_s']:.3g} | {row['decode_sym_s']:.3g} | {row['exact']} |")


def ideal_length(freq, symbols):
    ideal = ideal_bits(freq.double() / 65536, symbols)
    print(f"ideal code length {ideal / symbols.numel():.4f} bits per symbol, {ideal / 8:,.0f} bytes\n")
    return ideal


def run_cpu(args):
    """-> (rows, summary, whether every check passed)"""
    torch.set_num_threads(1)
    freq, symbols = occupancy_symbols(args.symbols, "cpu", args.seed)
    ideal = ideal_length(freq, symbols)
    torchac = _torchac()
    cdf, symbols_int16 = binary_cdf(freq), symbols.to(torch.int16)
    rows = [
        measure("omnicodec rans", lambda: rans.encode_binary(freq, symbols, args.chunk_size),
                lambda data: rans.decode_binary(freq, data), symbols, ideal, args.repeats),
        measure("torchac", lambda: torchac.encode_int16_normalized_cdf(cdf, symbols_int16),
                lambda data: torchac.decode_int16_normalized_cdf(cdf, data), symbols, ideal, args.repeats),
    ]
    ours, theirs = rows
    summary = {"encode_speedup": ours["encode_sym_s"] / theirs["encode_sym_s"],
               "decode_speedup": ours["decode_sym_s"] / theirs["decode_sym_s"]}
    print_rows(rows)
    print(f"\nrans / torchac on one thread: encode {summary['encode_speedup']:.1f}x, "
          f"decode {summary['decode_speedup']:.1f}x")
    return rows, summary, all(row["exact"] for row in rows)


def run_cuda(args):
    """-> (rows, summary, whether every check passed)"""
    if not torch.cuda.is_available():
        raise SystemExit("--device cuda needs a CUDA GPU and a CUDA build of torch")
    freq, symbols = occupancy_symbols(args.symbols, "cuda", args.seed)
    ideal = ideal_length(freq, symbols)
    rows = [measure("omnicodec rans (cuda)", lambda: rans.encode_binary(freq, symbols, args.chunk_size),
                    lambda data: rans.decode_binary(freq, data), symbols, ideal, args.repeats,
                    torch.cuda.synchronize)]
    freq_cpu, symbols_cpu = freq.cpu(), symbols.cpu()
    summary = {
        "cpu_bytes_identical": rans.encode_binary(freq_cpu, symbols_cpu, args.chunk_size) == rows[0]["data"],
        "cpu_decodes_gpu_stream": bool(torch.equal(rans.decode_binary(freq_cpu, rows[0]["data"]), symbols_cpu)),
    }
    print_rows(rows)
    print(f"\nCPU makes the same bytes: {summary['cpu_bytes_identical']}; "
          f"CPU decodes the GPU's stream: {summary['cpu_decodes_gpu_stream']}")
    return rows, summary, rows[0]["exact"] and all(summary.values())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--symbols", type=int, help="default: 10 million on the CPU, 100 million on CUDA")
    parser.add_argument("--chunk-size", type=int, help="symbols per chunk (default: the coder's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if not rans.available():
        raise SystemExit("omnicodec._coder is not built: pip install --no-build-isolation -e .")
    args.symbols = args.symbols or (100_000_000 if args.device == "cuda" else 10_000_000)
    print(f"{args.symbols:,} binary symbols, probabilities ~ Beta{BETA}, device {args.device}\n")
    rows, summary, ok = (run_cuda if args.device == "cuda" else run_cpu)(args)
    for row in rows:
        del row["data"]
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"symbols": args.symbols, "device": args.device, "rows": rows, **summary}, handle, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
