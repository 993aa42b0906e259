#!/usr/bin/env python3
"""Independent check of a saved model: load model.safetensors with NumPy only,
run the forward pass over the MNIST test set and print the accuracy.

Usage: scripts/check_safetensors.py artifacts/relu [--data-dir data]
Needs: pip install numpy safetensors
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open

from mnist_idx import read_idx

ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}


def numpy_logits(path, images):
    """The model in `path` (model.safetensors) on `images` [n, 784] in [0, 1], NumPy only."""
    with safe_open(str(path), framework="np") as f:
        metadata = f.metadata() or {}
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    activation = ACTIVATIONS[metadata["activation"]]
    # PyTorch nn.Sequential layout: Linear layers at even indices, weights [out, in].
    layers = sorted({int(key.split(".")[0]) for key in tensors})
    x = images
    for position, index in enumerate(layers):
        x = x @ tensors[f"{index}.weight"].T + tensors[f"{index}.bias"]
        if position < len(layers) - 1:
            x = activation(x)
    return x


def committee_logits(members):
    """One member's logits as they are; several members' as the log of their mean softmax."""
    if len(members) == 1:
        return members[0]
    log_probs = [z - z.max(axis=1, keepdims=True) for z in members]
    log_probs = [z - np.log(np.exp(z).sum(axis=1, keepdims=True)) for z in log_probs]
    stacked = np.stack(log_probs).astype(np.float64)  # [members, batch, 10]
    top = stacked.max(axis=0)
    return top + np.log(np.exp(stacked - top).sum(axis=0)) - np.log(len(members))


def weights_file(model):
    """A run folder's model.safetensors, or the file itself."""
    path = Path(model)
    return path / "model.safetensors" if path.is_dir() else path


def test_set(data_dir):
    """The MNIST test images [10000, 784] in [0, 1] and their labels."""
    data = Path(data_dir)
    images = read_idx(data, "t10k-images-idx3-ubyte").reshape(-1, 784).astype(np.float32) / 255.0
    return images, read_idx(data, "t10k-labels-idx1-ubyte")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="run folder or model.safetensors")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    args = parser.parse_args()
    path = weights_file(args.model)
    images, labels = test_set(args.data_dir)
    x = numpy_logits(path, images)
    accuracy = 100.0 * float(np.mean(x.argmax(axis=1) == labels))
    print(f"numpy test accuracy {accuracy:.2f}% ({path}, {len(labels)} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
