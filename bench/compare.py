#!/usr/bin/env python3
"""Runs `mnist-mlp bench` and the PyTorch reference alternately, setting by setting, on
the same machine, and prints the ratios (Burn time / PyTorch time; < 1 means Burn is faster).

Usage: bench/compare.py [--epochs 3] [--binary target/release/mnist-mlp] [--python python3]
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = [(a, o) for o in ("sgd", "adam") for a in ("relu", "tanh", "sigmoid")]


def run(command):
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--binary", default=str(ROOT / "target/release/mnist-mlp"))
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    rows = []
    for activation, optimizer in SETTINGS:
        only = ["--activations", activation, "--optimizers", optimizer, "--epochs", str(args.epochs)]
        burn = run([args.binary, "bench", "--json", *only])
        torch = run([args.python, str(ROOT / "bench/pytorch_reference.py"), *only])
        rows.append((burn, torch))
        print(json.dumps({"burn": burn, "pytorch": torch}), file=sys.stderr, flush=True)
    print(f"| setting | {rows[0][0]['framework']} s/epoch | {rows[0][1]['framework']} s/epoch | ratio "
          "| gemm floor s/epoch | burn ÷ floor | burn eval img/s | pytorch eval img/s | eval speed-up "
          "| burn peak MB | pytorch peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for burn, torch in rows:
        print(
            f"| {burn['activation']}/{burn['optimizer']} | {burn['median_epoch_seconds']:.2f} "
            f"| {torch['median_epoch_seconds']:.2f} | {burn['median_epoch_seconds'] / torch['median_epoch_seconds']:.2f}× "
            f"| {burn['floor_epoch_seconds']:.2f} | {1 / burn['efficiency']:.2f}× "
            f"| {burn['eval_images_per_second']:.0f} | {torch['eval_images_per_second']:.0f} "
            f"| {burn['eval_images_per_second'] / torch['eval_images_per_second']:.2f}× "
            f"| {burn['peak_rss_mb']:.0f} | {torch['peak_rss_mb']:.0f} |"
        )

if __name__ == "__main__":
    main()
