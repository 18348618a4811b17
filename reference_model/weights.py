"""Streaming weight loading: tensors go from the checkpoint files straight into a model built on the
meta device, one tensor at a time, in the model's dtype and on the device each one lives on.

Files: ``model.safetensors`` / ``pytorch_model.bin`` or sharded checkpoints through their
``*.index.json`` (``weight_map``: tensor name -> shard file). Safetensors shards are read with
``safe_open``; ``.bin`` shards (original lmms-lab checkpoints) with ``torch.load(mmap=True,
weights_only=True)``, which maps the file instead of reading it whole.

Host memory, never a second full copy:
- CPU, stored dtype = model dtype (safetensors): the parameter IS a view of the file's private,
  copy-on-write memory map (in-place updates stay in memory, the file is never written), read on
  first use; the resident set grows to the model's bytes as the model runs.
- CPU, another dtype: each tensor is read in 16 MB chunks through one staging buffer and cast into
  its final tensor: the model's bytes plus 16 MB.
- CUDA targets and .bin files: read through a memory map that is reopened after every
  ``window_bytes``, so host memory stays near one window plus the largest tensor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

WINDOW_BYTES = 64 * 2**20

_SAFETENSORS_INDEX = "model.safetensors.index.json"
_BIN_INDEX = "pytorch_model.bin.index.json"


@dataclass
class CheckpointFiles:
    """The weight files of a checkpoint directory and which tensor lives in which file."""

    directory: Path
    kind: str  # "safetensors" | "bin"
    files: list[Path]
    weight_map: dict[str, str] | None = None  # from an index.json; None = read the names from the files

    def total_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def checkpoint_files(directory: Path) -> CheckpointFiles:
    """Find the weights: an index.json (sharded) wins over loose files; safetensors over .bin."""
    for index_name, kind in ((_SAFETENSORS_INDEX, "safetensors"), (_BIN_INDEX, "bin")):
        index_path = directory / index_name
        if index_path.is_file():
            weight_map = json.loads(index_path.read_text()).get("weight_map") or {}
            names = sorted(set(weight_map.values()))
            missing = [n for n in names if not (directory / n).is_file()]
            if missing:
                raise FileNotFoundError(
                    f"{directory}: {index_name} lists shards that are not there: {missing[:3]}"
                )
            return CheckpointFiles(directory, kind, [directory / n for n in names], weight_map)
    files = sorted(directory.glob("*.safetensors"))
    if files:
        return CheckpointFiles(directory, "safetensors", files)
    bins = sorted(directory.glob("pytorch_model*.bin"))
    if bins:
        return CheckpointFiles(directory, "bin", bins)
    raise FileNotFoundError(f"{directory}: no weights (*.safetensors or pytorch_model*.bin)")


@dataclass
class TensorEntry:
    name: str  # as stored in the file
    file: Path
    shape: tuple[int, ...]
    nbytes: int


def list_tensors(ckpt: CheckpointFiles) -> list[TensorEntry]:
    """Names and shapes of every stored tensor, read from the headers only (no tensor data)."""
    entries: list[TensorEntry] = []
    for path in ckpt.files:
        if ckpt.kind == "safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt", device="cpu") as fh:
                for name in fh.keys():
                    piece = fh.get_slice(name)
                    shape = tuple(piece.get_shape())
                    entries.append(
                        TensorEntry(name, path, shape, _numel(shape) * _itemsize(piece.get_dtype()))
                    )
        else:
            state = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
            for name, tensor in state.items():
                entries.append(TensorEntry(name, path, tuple(tensor.shape), tensor.nbytes))
            del state
    return entries


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


_ST_ITEMSIZE = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}


def _itemsize(dtype: str) -> int:
    return _ST_ITEMSIZE.get(dtype, 4)


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _read_file_tensors(
    path: Path,
    kind: str,
    names: list[str],
    device: str,
    window_bytes: int,
    sizes: dict[str, int],
    dtype: torch.dtype,
) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield (stored name, tensor) for ``names`` of one file.

    CPU, safetensors: a tensor already in ``dtype`` is a view of the file's private (copy-on-write)
    memory map and becomes the parameter as it is, no copy (as transformers 5 loads); its pages are
    read on first use and are the model's own bytes. A tensor in another dtype is read with
    ``readinto`` into a fresh tensor, cast by the caller, and freed: one tensor in flight.
    CUDA and .bin: the file is reopened after every ``window_bytes`` read, so the pages already copied
    out leave the resident set; such a tensor may be a view of the map, so the caller copies it."""
    if kind == "safetensors" and device == "cpu":
        yield from _read_safetensors_cpu(path, names, dtype)
        return
    pending = list(names)
    while pending:
        batch, read = [], 0
        while pending and (not batch or read + sizes[pending[0]] <= window_bytes):
            batch.append(pending.pop(0))
            read += sizes[batch[-1]]
        if kind == "bin":
            state = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
            try:
                for name in batch:
                    yield name, state[name]
            finally:
                del state
            continue
        from safetensors import safe_open

        # Safetensors reads to a CUDA device directly (through pages of the file's memory map).
        with safe_open(str(path), framework="pt", device=device) as fh:
            for name in batch:
                yield name, fh.get_tensor(name)


_ST_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def safetensors_header(path: Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file (name -> dtype, shape, data_offsets) and where data starts."""
    with open(path, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    header.pop("__metadata__", None)
    return header, 8 + size


STAGING_BYTES = 16 * 2**20


def _read_safetensors_cpu(
    path: Path, names: list[str], dtype: torch.dtype
) -> Iterator[tuple[str, torch.Tensor]]:
    """CPU reads of one safetensors file (the format: a JSON header, then raw little-endian bytes at
    each tensor's ``data_offsets``): views of the memory map for tensors stored in ``dtype``; the
    others are cast chunk by chunk through one small staging buffer into their final tensor, so a
    cast load holds the model's bytes plus 16 MB (a whole-tensor temporary would add the largest
    tensor, and the allocator may keep such freed blocks)."""
    from safetensors import safe_open

    header, start = safetensors_header(path)
    staging: dict[torch.dtype, torch.Tensor] = {}
    with safe_open(str(path), framework="pt", device="cpu") as mapped, open(path, "rb", buffering=0) as fh:
        for name in names:
            info = header[name]
            stored = _ST_DTYPES[info["dtype"]]
            if stored == dtype or not stored.is_floating_point:
                yield name, mapped.get_tensor(name)
                continue
            begin, end = info["data_offsets"]
            out = torch.empty(info["shape"], dtype=dtype)
            flat = out.view(-1)
            item = torch.empty((), dtype=stored).element_size()
            if stored not in staging:
                staging[stored] = torch.empty(STAGING_BYTES // item, dtype=stored)
            buf = staging[stored]
            raw = memoryview(buf.view(torch.uint8).numpy())
            fh.seek(start + begin)
            done, total = 0, (end - begin) // item
            while done < total:
                count = min(total - done, buf.numel())
                got = 0
                while got < count * item:
                    n = fh.readinto(raw[got : count * item])
                    if not n:
                        raise ValueError(f"{path}: truncated file, tensor {name} ends early")
                    got += n
                flat[done : done + count].copy_(buf[:count])  # the cast
                done += count
            yield name, out


def stream_into(
    model: nn.Module,
    ckpt: CheckpointFiles,
    rename: Callable[[str], str],
    *,
    dtype: torch.dtype,
    device_of: Callable[[str], str],
    ignorable: Callable[[str], bool] = lambda _k: False,
    on_disk: Callable[[str, torch.Tensor], None] | None = None,
    window_bytes: int = WINDOW_BYTES,
) -> LoadReport:
    """Fill ``model``'s parameters and persistent buffers (on the meta device or anywhere) from ``ckpt``.

    ``rename`` maps a stored name to the model's; ``device_of(model_name)`` says where the tensor goes
    ("cpu", "cuda:N", or "disk", which hands the tensor to ``on_disk`` and leaves the meta tensor in
    place for accelerate's offload hooks). Floating tensors are cast to ``dtype``. Checks first, from
    the file headers alone: missing tensors, unexpected ones and shape mismatches raise ValueError
    before any tensor data is read. Tied parameters (one tensor under two names) are filled once."""
    own = _own_tensors(model)
    holders = _holders(model)
    entries = list_tensors(ckpt)
    by_model_name: dict[str, TensorEntry] = {}
    unexpected = []
    for entry in entries:
        name = rename(entry.name)
        if name in own:
            by_model_name[name] = entry
        elif not ignorable(name):
            unexpected.append(name)
    missing = [k for k in own if k not in by_model_name]
    report = LoadReport(missing=missing, unexpected=unexpected)
    if missing or unexpected:
        raise ValueError(
            f"checkpoint does not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for name, entry in by_model_name.items():
        expected = tuple(own[name][1].shape)
        if entry.shape != expected:
            raise ValueError(f"checkpoint tensor {name} has shape {entry.shape}, model expects {expected}")

    # Largest tensors first in each file: their transient copy lands while little else is resident.
    per_file: dict[Path, list[str]] = {}
    stored_to_model: dict[tuple[Path, str], str] = {}
    for name, entry in sorted(by_model_name.items(), key=lambda kv: -kv[1].nbytes):
        per_file.setdefault(entry.file, []).append(entry.name)
        stored_to_model[(entry.file, entry.name)] = name
    sizes = {e.name: e.nbytes for e in entries}
    for path, names in per_file.items():
        # One device per read pass so safetensors can read straight to it.
        groups: dict[str, list[str]] = {}
        for stored in names:
            groups.setdefault(_read_device(device_of(stored_to_model[(path, stored)])), []).append(stored)
        for read_device, group in groups.items():
            for stored, tensor in _read_file_tensors(
                path, ckpt.kind, group, read_device, window_bytes, sizes, dtype
            ):
                name = stored_to_model[(path, stored)]
                target = device_of(name)
                value = tensor.to(dtype) if tensor.is_floating_point() else tensor
                if target == "disk":
                    if on_disk is None:
                        raise ValueError(f"{name} is mapped to disk but no offload folder was given")
                    on_disk(name, value)
                else:
                    # .bin tensors are views of torch.load's whole-file map (reopened per window): copy
                    # them. Safetensors CPU views stay views of their copy-on-write map (see above).
                    value = value.to(target, copy=value is tensor and ckpt.kind == "bin")
                    _set_tensor(holders, name, value, own[name])
                report.loaded.append(name)
                del tensor, value
    return report


def _read_device(target: str) -> str:
    return target if target.startswith("cuda") else "cpu"


def _own_tensors(model: nn.Module) -> dict[str, tuple[str, torch.Tensor]]:
    """Model name -> (kind, tensor) of each parameter and persistent buffer, tied duplicates removed."""
    out: dict[str, tuple[str, torch.Tensor]] = {}
    seen: set[int] = set()
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in seen:
            continue
        seen.add(id(param))
        out[name] = ("param", param)
    for module_name, module in model.named_modules():
        persistent = [b for b in module._buffers if b not in module._non_persistent_buffers_set]
        for b in persistent:
            if module._buffers[b] is not None:
                out[f"{module_name}.{b}" if module_name else b] = ("buffer", module._buffers[b])
    return out


def _holders(model: nn.Module) -> dict[int, list[tuple[nn.Module, str, str]]]:
    """id(tensor) -> every (module, attribute, kind) holding it; tied weights have several holders."""
    out: dict[int, list[tuple[nn.Module, str, str]]] = {}
    for module in model.modules():
        for pname, p in module._parameters.items():
            if p is not None:
                out.setdefault(id(p), []).append((module, pname, "param"))
        for bname, b in module._buffers.items():
            if b is not None:
                out.setdefault(id(b), []).append((module, bname, "buffer"))
    return out


def _set_tensor(
    holders: dict[int, list[tuple[nn.Module, str, str]]],
    name: str,
    value: torch.Tensor,
    own: tuple[str, torch.Tensor],
) -> None:
    kind, old = own
    new = nn.Parameter(value, requires_grad=old.requires_grad) if kind == "param" else value
    for module, attr, holder_kind in holders[id(old)]:
        (module._parameters if holder_kind == "param" else module._buffers)[attr] = new
