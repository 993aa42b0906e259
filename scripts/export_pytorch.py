"""Writes an MLP's weights the ways PyTorch users save them, with the Python standard
library alone (no torch, no NumPy), so tests and CI can feed `mnist-mlp` real PyTorch
files on any machine.

    python3 scripts/export_pytorch.py artifacts/relu/model.safetensors OUT_DIR

reads our model.safetensors (an nn.Sequential state_dict) and writes into OUT_DIR:

  sequential.safetensors  safetensors.torch.save_file(model.state_dict(), ...) of the
                          nn.Sequential: 0.weight, 0.bias, 2.weight, ...; no metadata
  named.pt                torch.save(model.state_dict(), ...) of a module whose Linear
                          layers are attributes fc1, fc2, ... (torch's zip format)
  checkpoint.pth          torch.save({"epoch": 1, "state_dict": ...}, ...), the
                          training-checkpoint shape many scripts use
  legacy.pt               torch.save(model.state_dict(), ..., _use_new_zipfile_serialization=False)
                          of the nn.Sequential: PyTorch <= 1.5's format

The .pt files are what torch.save writes: a zip holding archive/data.pkl (a protocol-2
pickle whose tensors are torch._utils._rebuild_tensor_v2 calls over persistent
('storage', torch.FloatStorage, key, 'cpu', numel) ids), archive/data/<key> with each
storage's little-endian bytes, archive/byteorder and archive/version. The two torch
names the pickle refers to are stood in for by stub modules while pickling.
"""
import collections
import io
import json
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path


def read_safetensors(path):
    """{name: (shape, raw little-endian f32 bytes)} in file order, and the metadata."""
    raw = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    data = raw[8 + length :]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        if info["dtype"] != "F32":
            sys.exit(f"{path}: tensor {name} is {info['dtype']}; this exporter writes F32 only")
        start, end = info["data_offsets"]
        tensors[name] = (info["shape"], data[start:end])
    return tensors, metadata


def write_safetensors(path, tensors):
    header, offset = {}, 0
    for name, (shape, data) in tensors.items():
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    body = b"".join(data for _, data in tensors.values())
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + body)


class _Storage:
    """One tensor's bytes, pickled by reference (persistent id) as torch does."""

    def __init__(self, key, data):
        self.key, self.data = key, data


def _stub_torch():
    """Stand-ins for the two torch names a state_dict pickle refers to."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks):
        raise NotImplementedError("only for pickling")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = FloatStorage, utils, _rebuild_tensor_v2
    return torch, utils


def _pickle_tensors(obj_of_tensors, legacy):
    """The protocol-2 pickle torch.save writes for `obj_of_tensors`, whose leaves are
    (shape, bytes) tensors, and the storages it refers to. The legacy format's
    persistent ids carry one more field (a view's metadata, None)."""
    torch, utils = _stub_torch()
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    storages = []

    class Tensor:
        def __init__(self, shape, data):
            self.shape, self.storage = shape, _Storage(str(len(storages)), data)
            storages.append(self.storage)

        def __reduce__(self):
            stride = [1] * len(self.shape)
            for i in range(len(self.shape) - 2, -1, -1):
                stride[i] = stride[i + 1] * self.shape[i + 1]
            return (
                utils._rebuild_tensor_v2,
                (self.storage, 0, tuple(self.shape), tuple(stride), False, collections.OrderedDict()),
            )

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                pid = ("storage", torch.FloatStorage, obj.key, "cpu", len(obj.data) // 4)
                return pid + (None,) if legacy else pid
            return None

    def tensors_in(value):
        if isinstance(value, tuple):
            return Tensor(*value)
        if isinstance(value, dict):
            out = type(value)((key, tensors_in(v)) for key, v in value.items())
            if hasattr(value, "_metadata"):
                out._metadata = value._metadata
            return out
        return value

    buffer = io.BytesIO()
    try:
        Pickler(buffer, protocol=2).dump(tensors_in(obj_of_tensors))
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return buffer.getvalue(), storages


def write_torch_save(path, obj_of_tensors):
    """torch.save(obj, path) for an object whose leaves are (shape, bytes) tensors."""
    data_pkl, storages = _pickle_tensors(obj_of_tensors, legacy=False)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        for storage in storages:
            archive.writestr(f"archive/data/{storage.key}", storage.data)
        archive.writestr("archive/version", "3\n")


# The number that opens PyTorch's legacy format, and the format's version.
LEGACY_MAGIC, LEGACY_VERSION = 0x1950A86A20F9469CFC6C, 1001


def write_torch_save_legacy(path, obj_of_tensors):
    """torch.save(obj, path, _use_new_zipfile_serialization=False), PyTorch <= 1.5's
    format: five pickles (magic, version, system info, the object, its storages' keys,
    sorted as torch sorts them), then each storage as its element count and bytes."""
    main, storages = _pickle_tensors(obj_of_tensors, legacy=True)
    sys_info = {"protocol_version": LEGACY_VERSION, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    keys = sorted(storage.key for storage in storages)
    by_key = {storage.key: storage for storage in storages}
    with open(path, "wb") as out:
        for value in (LEGACY_MAGIC, LEGACY_VERSION, sys_info):
            pickle.dump(value, out, protocol=2)
        out.write(main)
        pickle.dump(keys, out, protocol=2)
        for key in keys:
            out.write(struct.pack("<q", len(by_key[key].data) // 4) + by_key[key].data)


def state_dict(items, prefixes):
    """An OrderedDict with the `_metadata` attribute nn.Module.state_dict() attaches."""
    sd = collections.OrderedDict(items)
    sd._metadata = collections.OrderedDict([("", {"version": 1})] + [(p, {"version": 1}) for p in prefixes])
    return sd


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    tensors, _ = read_safetensors(sys.argv[1])
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "sequential.safetensors", tensors)
    # Sequential indices 0, 2, 4, ... become fc1, fc2, fc3, ...
    layers = sorted({name.split(".")[0] for name in tensors}, key=int)
    rename = {layer: f"fc{i + 1}" for i, layer in enumerate(layers)}
    named = [(f"{rename[layer]}.{kind}", value) for (layer, kind), value in
             ((tuple(name.split(".")), value) for name, value in tensors.items())]
    write_torch_save(out / "named.pt", state_dict(named, rename.values()))
    write_torch_save(out / "checkpoint.pth", {"epoch": 1, "state_dict": state_dict(named, rename.values())})
    write_torch_save_legacy(out / "legacy.pt", state_dict(tensors.items(), layers))
    print(f"wrote {out}/sequential.safetensors, named.pt, checkpoint.pth and legacy.pt")


if __name__ == "__main__":
    main()
