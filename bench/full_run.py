#!/usr/bin/env python3
"""Times a whole training run (test pass every epoch, metrics, checkpoints, final evaluation,
report) against fifteen-odd `mnist-mlp bench` epochs of the same setting, measured just
before and just after it, and prints the ratio (issue 11's goal: at most 1.15).

Usage: bench/full_run.py [config/relu.toml] [--rounds 2] [--binary target/release/mnist-mlp]

The bench epoch is the assignment's model at the config's activation and optimizer; it has no
L2 penalty, dropout or augmentation, so compare against the assignment's configs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_epoch_seconds(binary, activation, optimizer):
    only = ["--activations", activation, "--optimizers", optimizer, "--epochs", "3", "--json"]
    output = subprocess.run([binary, "bench", *only], check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])["median_epoch_seconds"]


def full_run(binary, config, artifacts):
    """Wall seconds and peak RSS (MB) of `mnist-mlp train config`, and its summary."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [binary, "train", str(config), "--artifacts", artifacts, "--fresh"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"the run failed: {process.stderr.read().decode().strip()}")
    name = tomllib.loads(Path(config).read_text())["experiment"]["name"]
    summary = json.loads((Path(artifacts) / name / "summary.json").read_text())
    return seconds, usage.ru_maxrss / 1024, summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "config/relu.toml"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--binary", default=str(ROOT / "target/release/mnist-mlp"))
    args = parser.parse_args()
    config = tomllib.loads(Path(args.config).read_text())
    activation = config.get("model", {}).get("activation", "relu")
    optimizer = config.get("optimizer", {}).get("name", "sgd")
    print("| round | bench s/epoch (before / after) | epochs | full run wall s | "
          "wall ÷ bench epochs | epochs' own s ÷ bench epochs | peak MB | test acc |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as artifacts:
        for round in range(1, args.rounds + 1):
            before = bench_epoch_seconds(args.binary, activation, optimizer)
            wall, peak_mb, summary = full_run(args.binary, args.config, artifacts)
            after = bench_epoch_seconds(args.binary, activation, optimizer)
            epochs = summary["epochs_trained"]
            bench = epochs * (before + after) / 2
            print(f"| {round} | {before:.3f} / {after:.3f} | {epochs} | {wall:.2f} | "
                  f"**{wall / bench:.3f}×** | {summary['train_seconds'] / bench:.3f}× | "
                  f"{peak_mb:.0f} | {summary['test_accuracy']:.2f} % |", flush=True)


if __name__ == "__main__":
    main()
