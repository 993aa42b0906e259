#!/usr/bin/env bash
# Trains the same short config with the same seed on every backend of one binary built with
# all of them (`cargo build --release --all-features`), and checks that ndarray and wgpu agree
# with flex: the run's figures, its diagnostics, and the saliency of one prediction. wgpu runs on whatever Vulkan device is present; on CI, Mesa's software lavapipe.
# Usage: scripts/backend-agreement.sh BINARY WORK_DIR   (needs MNIST in $MNIST_DATA_DIR or ./data)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$1"
work="$2"
mkdir -p "$work"
data="${MNIST_DATA_DIR:-$PWD/data}"
# wgpu probes for a display server and complains without a runtime folder; give it one.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

# batch 100 divides 60 000: no partial batch, so the GPU compiles one set of kernels.
printf '[experiment]\nname = "agree"\nseed = 5\n[data]\ndir = "%s"\n[model]\nhidden = [128, 64]\n[training]\nepochs = 1\nbatch_size = 100\n' \
  "$data" > "$work/agree.toml"

for backend in flex ndarray wgpu; do
  "$bin" train "$work/agree.toml" --backend "$backend" --artifacts "$work/$backend" | tail -1
  # flex's model explained on each backend: the same answer, and a map written.
  "$bin" predict "$work/flex/agree" --index 0 --backend "$backend" --explain "$work/$backend/why" \
    > "$work/$backend/why.txt"
done

python3 - "$work" <<'PY'
import csv, json, os, sys
work = sys.argv[1]
def figures(backend):
    summary = json.load(open(f"{work}/{backend}/agree/summary.json"))
    rows = [r for r in csv.DictReader(open(f"{work}/{backend}/agree/metrics.csv")) if r["kind"] == "epoch"]
    diagnostics = list(csv.DictReader(open(f"{work}/{backend}/agree/diagnostics.csv")))
    # As initialised the weights are bit-identical on every backend: the probe must agree.
    gradient = float(next(r for r in diagnostics if r["epoch"] == "0" and r["layer"] == "1")["weight_grad_norm"])
    answer = open(f"{work}/{backend}/why.txt").readline().strip()
    explained = os.path.isfile(f"{work}/{backend}/why/test-0.saliency.png")
    return float(rows[0]["train_loss"]), summary["test_accuracy"], summary["backend"], gradient, answer, explained
reference = figures("flex")
failed = 0
for backend in ("ndarray", "wgpu"):
    loss, accuracy, name, gradient, answer, explained = figures(backend)
    ok = (name == backend and abs(loss - reference[0]) <= 1e-3 and abs(accuracy - reference[1]) <= 0.2
          and abs(gradient - reference[3]) <= 1e-4 * reference[3] and answer == reference[4] and explained)
    failed += not ok
    print(f"{backend}: first-epoch train loss {loss:.6f} (flex {reference[0]:.6f}), "
          f"test accuracy {accuracy:.2f}% (flex {reference[1]:.2f}%), first layer's initial gradient norm "
          f"{gradient:.6f} (flex {reference[3]:.6f}), saliency map written: {explained}, "
          f"flex's model predicts '{answer}': {'agrees' if ok else 'DISAGREES'}")
print(f"backend-agreement: {2 - failed} passed, {failed} failed")
sys.exit(failed)
PY
