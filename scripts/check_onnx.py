#!/usr/bin/env python3
"""Checks an exported ONNX model in onnxruntime against the run's own weights: the logits of
every MNIST test image, from onnxruntime and from a NumPy forward pass over model.safetensors,
must agree within 1e-4, and the accuracy is printed. Given several runs, the ONNX file is their
committee, and its logits are checked against the log of the members' mean probabilities.

Usage: scripts/check_onnx.py model.onnx artifacts/relu [MORE_RUNS…] [--data-dir data]
Needs: pip install numpy safetensors onnxruntime
"""
import argparse
import os
import sys

import numpy as np
import onnxruntime

from check_safetensors import committee_logits, numpy_logits, test_set, weights_file

TOLERANCE = 1e-4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx", help="the exported .onnx file")
    parser.add_argument("runs", nargs="+",
                        help="the run folder(s) (or model.safetensors) it was exported from")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    args = parser.parse_args()
    images, labels = test_set(args.data_dir)
    session = onnxruntime.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    (onnx,) = session.run(["logits"], {"pixels": images})
    reference = committee_logits([numpy_logits(weights_file(run), images) for run in args.runs])
    worst = float(np.max(np.abs(onnx - reference)))
    accuracy = 100.0 * float(np.mean(onnx.argmax(axis=1) == labels))
    print(f"onnxruntime {onnxruntime.__version__}: test accuracy {accuracy:.2f}%, "
          f"largest logit difference from NumPy {worst:.2e} over {len(labels)} images")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
