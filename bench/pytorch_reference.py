#!/usr/bin/env python3
"""PyTorch reference for `mnist-mlp bench`: the same MLP (784-500-250-100-10, Xavier-uniform
weights, zero biases), batch 64, lr 0.01, SGD or Adam (PyTorch defaults), in-memory u8
images scaled per batch, threads = cores. Prints one JSON object per setting, with the
keys `mnist-mlp bench --json` uses.

Usage: bench/pytorch_reference.py [--epochs 3] [--data-dir data] [--activations relu,tanh]
                                  [--device cpu|cuda]
Needs: pip install torch numpy
"""
import argparse
import json
import os
import resource
import sys
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from mnist_idx import read_idx  # noqa: E402

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
SETTINGS = [(a, o) for o in ("sgd", "adam") for a in ("relu", "tanh", "sigmoid")]


def model_for(activation: str) -> nn.Module:
    sizes = [784, 500, 250, 100, 10]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        linear = nn.Linear(fan_in, fan_out)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def bench(activation, optimizer_name, epochs, device, train_x, train_y, test_x, test_y):
    torch.manual_seed(42)
    model = model_for(activation).to(device)
    if optimizer_name == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    n = train_x.shape[0]
    epoch_seconds = []
    for epoch in range(epochs + 1):  # the first epoch warms up
        started = time.perf_counter()
        order = torch.randperm(n, device=device)
        for start in range(0, n, 64):
            index = order[start : start + 64]
            x = train_x[index].float().div_(255.0)
            loss = loss_fn(model(x), train_y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if device.type == "cuda":  # kernels run asynchronously: wait for the epoch's last one
            torch.cuda.synchronize()
        if epoch > 0:
            epoch_seconds.append(time.perf_counter() - started)
    eval_seconds = []
    with torch.no_grad():
        for _ in range(3):
            started = time.perf_counter()
            correct = 0
            for start in range(0, test_x.shape[0], 1000):
                x = test_x[start : start + 1000].float().div_(255.0)
                correct += (model(x).argmax(1) == test_y[start : start + 1000]).sum().item()
            eval_seconds.append(time.perf_counter() - started)
    return {
        "framework": f"pytorch-{torch.__version__}" + ("-cuda" if device.type == "cuda" else ""),
        "activation": activation,
        "optimizer": optimizer_name,
        "epoch_seconds": epoch_seconds,
        "median_epoch_seconds": statistics.median(epoch_seconds),
        "eval_images_per_second": test_x.shape[0] / statistics.median(eval_seconds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    parser.add_argument("--activations", default="")
    parser.add_argument("--optimizers", default="")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for an NVIDIA GPU")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    device = torch.device(args.device)
    data = Path(args.data_dir)
    tensors = [
        torch.from_numpy(read_idx(data, "train-images-idx3-ubyte").reshape(-1, 784)),
        torch.from_numpy(read_idx(data, "train-labels-idx1-ubyte").astype(np.int64)),
        torch.from_numpy(read_idx(data, "t10k-images-idx3-ubyte").reshape(-1, 784)),
        torch.from_numpy(read_idx(data, "t10k-labels-idx1-ubyte").astype(np.int64)),
    ]
    train_x, train_y, test_x, test_y = (t.to(device) for t in tensors)
    wanted_a = set(filter(None, args.activations.split(",")))
    wanted_o = set(filter(None, args.optimizers.split(",")))
    for activation, optimizer_name in SETTINGS:
        if (wanted_a and activation not in wanted_a) or (wanted_o and optimizer_name not in wanted_o):
            continue
        result = bench(activation, optimizer_name, args.epochs, device, train_x, train_y, test_x, test_y)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
