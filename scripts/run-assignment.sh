#!/usr/bin/env bash
# Runs the five experiments of the assignment, then compares them.
# Usage: scripts/run-assignment.sh [extra train flags, e.g. --epochs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
for experiment in baseline tanh relu relu_adam relu_l2; do
  ./target/release/mnist-mlp train "config/$experiment.toml" --fresh "$@"
done
./target/release/mnist-mlp compare
