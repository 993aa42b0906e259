#!/usr/bin/env python3
"""Runs `mnist-mlp bench` and the PyTorch reference alternately, setting by setting, on
the same machine, and prints the ratios (Burn time / PyTorch time; < 1 means Burn is faster)
and each setting's product GFLOP/s against the machine's own large-gemm rate: the higher of
NumPy's 2048³ sgemm on all cores (measured first) and `bench`'s 2048³ product through the gemm
crate (measured with each setting; NumPy's BLAS may pick kernels narrower than the CPU's).
With --rounds N every setting runs N times, the rounds in turn, and each framework's fastest
round is kept: a busy host only ever slows a run, and on a shared VM it can slow a whole minute.

Usage: bench/compare.py [--epochs 3] [--rounds 1] [--binary target/release/mnist-mlp] [--python python3]
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = [(a, o) for o in ("sgd", "adam") for a in ("relu", "tanh", "sigmoid")]


def run(command):
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


LARGE_GEMM = """
import time
import numpy as np
a = np.random.rand(2048, 2048).astype(np.float32)
b = a.copy()
a @ b
times = []
for _ in range(5):
    started = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - started)
print(2 * 2048 ** 3 / min(times) / 1e9)
"""


def median(values):
    return statistics.median(list(values))


def fastest(records):
    """The record of the run with the shortest median epoch."""
    return min(records, key=lambda record: record["median_epoch_seconds"])


def large_gemm_gflops(python):
    """NumPy's 2048³ float32 matmul on all cores, best of five, in GFLOP/s."""
    output = subprocess.run([python, "-c", LARGE_GEMM], check=True, capture_output=True, text=True)
    return float(output.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--binary", default=str(ROOT / "target/release/mnist-mlp"))
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    numpy_rate = large_gemm_gflops(args.python)
    runs = {setting: ([], []) for setting in SETTINGS}
    for _ in range(args.rounds):
        for (activation, optimizer), (burns, torches) in runs.items():
            only = ["--activations", activation, "--optimizers", optimizer, "--epochs", str(args.epochs)]
            burns.append(run([args.binary, "bench", "--json", *only]))
            torches.append(run([args.python, str(ROOT / "bench/pytorch_reference.py"), *only]))
            print(json.dumps({"burn": burns[-1], "pytorch": torches[-1]}), file=sys.stderr, flush=True)
    rows = [(fastest(burns), fastest(torches)) for burns, torches in runs.values()]
    crate_rate = median(burn["large_gemm_gflops_per_second"] for burn, _ in rows)
    print(f"2048³ sgemm on all cores: NumPy {numpy_rate:.0f} GFLOP/s, the gemm crate (median of the "
          f"settings) {crate_rate:.0f} GFLOP/s; the large-gemm rate below is the higher\n")
    limit = max(numpy_rate, crate_rate)
    print(f"| setting | {rows[0][0]['framework']} s/epoch | {rows[0][1]['framework']} s/epoch | ratio "
          "| gemm floor s/epoch | burn ÷ floor | burn GFLOP/s | ÷ large-gemm rate "
          "| burn eval img/s | pytorch eval img/s | eval speed-up | burn peak MB | pytorch peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for burn, torch in rows:
        print(
            f"| {burn['activation']}/{burn['optimizer']} | {burn['median_epoch_seconds']:.2f} "
            f"| {torch['median_epoch_seconds']:.2f} | {burn['median_epoch_seconds'] / torch['median_epoch_seconds']:.2f}× "
            f"| {burn['floor_epoch_seconds']:.2f} | {1 / burn['efficiency']:.2f}× "
            f"| {burn['product_gflops_per_second']:.0f} | {burn['product_gflops_per_second'] / limit:.0%} "
            f"| {burn['eval_images_per_second']:.0f} | {torch['eval_images_per_second']:.0f} "
            f"| {burn['eval_images_per_second'] / torch['eval_images_per_second']:.2f}× "
            f"| {burn['peak_rss_mb']:.0f} | {torch['peak_rss_mb']:.0f} |"
        )

if __name__ == "__main__":
    main()
