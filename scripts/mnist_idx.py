"""Reads MNIST's IDX files (raw or gzip-compressed) with NumPy; shared by the Python checks."""
import gzip
from pathlib import Path

import numpy as np


def read_idx(folder: Path, name: str) -> np.ndarray:
    """The array stored in `folder/name` (or `name.gz`), shaped by its header."""
    path = Path(folder) / name
    if not path.exists():
        path = Path(folder) / (name + ".gz")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims).copy()
