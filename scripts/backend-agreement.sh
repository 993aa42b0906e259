#!/usr/bin/env bash
# Trains the same short config with the same seed on every backend of one binary built with
# all of them (`cargo build --release --all-features`), and checks that ndarray and wgpu agree
# with flex. wgpu runs on whatever Vulkan device is present; on CI, Mesa's software lavapipe.
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
done

python3 - "$work" <<'PY'
import csv, json, sys
work = sys.argv[1]
def figures(backend):
    summary = json.load(open(f"{work}/{backend}/agree/summary.json"))
    rows = [r for r in csv.DictReader(open(f"{work}/{backend}/agree/metrics.csv")) if r["kind"] == "epoch"]
    return float(rows[0]["train_loss"]), summary["test_accuracy"], summary["backend"]
reference = figures("flex")
failed = 0
for backend in ("ndarray", "wgpu"):
    loss, accuracy, name = figures(backend)
    ok = name == backend and abs(loss - reference[0]) <= 1e-3 and abs(accuracy - reference[1]) <= 0.2
    failed += not ok
    print(f"{backend}: first-epoch train loss {loss:.6f} (flex {reference[0]:.6f}), "
          f"test accuracy {accuracy:.2f}% (flex {reference[1]:.2f}%): {'agrees' if ok else 'DISAGREES'}")
print(f"backend-agreement: {2 - failed} passed, {failed} failed")
sys.exit(failed)
PY
