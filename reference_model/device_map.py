"""Splitting a model across devices with accelerate: parse and validate a device map, infer one under
memory limits, and dispatch the model (GPU placement, CPU offload and disk offload as accelerate does).

Device maps: ``auto`` / ``balanced`` / ``balanced_low_0`` / ``sequential`` (as transformers reads
them), a dict ``{module name: device}``, or a JSON file holding such a dict. Devices: a GPU index
(``0``, ``"cuda:1"``), ``"cpu"``, ``"disk"`` (needs an offload folder). ``max_memory``:
``{0: "70GiB", "cpu": "200GiB"}`` or the text ``0=70GiB,1=70GiB,cpu=200GiB``.

Several processes (``accelerate launch``, data parallel) with a device map: local rank r of n takes
GPUs [r*k, (r+1)*k) with k = gpus // n, and GPU indices in a map or in max_memory count within that
group (``0`` is the process's first GPU).

Every check runs on the model built on the meta device, before any weight is read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")

# Tensors the model's own code reads directly (not through a module call) or combines with them:
# they must live, really, on the device the inputs go to (the main device).
ANCHORS = ("model.image_newline", "model.multi_modal_projector", "model.language_model.embed_tokens")


@dataclass
class DevicePlan:
    device_map: dict[str, Any]  # module name -> int GPU index | "cpu" | "disk"
    main_device: str  # where inputs go: "cuda:N" or "cpu"
    gpus: list[int] = field(default_factory=list)  # this process's GPU group

    @property
    def devices(self) -> list[str]:
        """The devices that run computation, in order of first use."""
        out: list[str] = []
        for d in self.device_map.values():
            name = self.main_device if d in ("cpu", "disk") else f"cuda:{d}"
            if name not in out:
                out.append(name)
        return out or [self.main_device]


def parse_max_memory(text: str | dict | None) -> dict[Any, str] | None:
    """``0=70GiB,1=70GiB,cpu=200GiB`` -> {0: "70GiB", 1: "70GiB", "cpu": "200GiB"}; sizes are checked."""
    if text is None or isinstance(text, dict):
        return _check_max_memory(text) if text else None
    out: dict[Any, str] = {}
    for part in [p.strip() for p in str(text).split(",") if p.strip()]:
        key, sep, size = part.partition("=")
        if not sep or not key.strip() or not size.strip():
            raise ValueError(
                f"--max-memory {text!r}: expected DEVICE=SIZE pairs such as 0=70GiB,1=70GiB,cpu=200GiB"
            )
        key, size = key.strip().lower(), size.strip()
        try:
            out[_device_key(key, f"--max-memory {text!r}")] = size_bytes(size)
        except ValueError as exc:
            if "not a device" in str(exc):
                raise
            raise ValueError(f"--max-memory {text!r}: {size!r} is not a size (e.g. 70GiB, 500MB)") from None
    return _check_max_memory(out) if out else None


def size_bytes(size: str | int) -> int:
    """``70GiB`` / ``500MB`` / ``123B`` / ``123`` -> bytes (accelerate's units: GB = 10^9, GiB = 2^30)."""
    from accelerate.utils import convert_file_size_to_int

    if isinstance(size, int):
        return size
    text = str(size).strip()
    digits = text[:-1] if text.upper().endswith("B") and text[:-1].isdigit() else text
    if digits.isdigit():
        return int(digits)
    value = convert_file_size_to_int(text)
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{size!r} is not a size")
    return value


def _check_max_memory(max_memory: dict) -> dict:
    out = {}
    for key, size in max_memory.items():
        dev = _device_key(key, "max_memory")
        if dev == "disk":
            raise ValueError("max_memory: 'disk' takes no limit; give --offload-folder to allow disk offload")
        out[dev] = size_bytes(size)
    return out


def _device_key(key: Any, what: str) -> Any:
    """A device as accelerate writes it: int GPU index, "cpu" or "disk"."""
    if isinstance(key, bool):
        raise ValueError(f"{what}: {key!r} is not a device (a GPU index, cpu or disk)")
    if isinstance(key, int):
        return key
    text = str(key).strip().lower()
    if text in ("cpu", "disk"):
        return text
    match = re.fullmatch(r"(?:cuda:)?(\d+)", text)
    if match:
        return int(match.group(1))
    if text == "cuda":
        return 0
    raise ValueError(f"{what}: {key!r} is not a device (a GPU index such as 0 or cuda:1, cpu or disk)")


def read_device_map(value: str | dict | None) -> str | dict | None:
    """A --device-map value: a strategy name, a dict, or a JSON file holding a dict."""
    if value is None or isinstance(value, dict):
        return value
    text = str(value).strip()
    if text.lower() in STRATEGIES:
        return text.lower()
    path = Path(text).expanduser()
    if text.startswith("{"):
        raw = text
    elif path.is_file():
        raw = path.read_text()
    else:
        raise ValueError(f"--device-map {text!r}: not one of {', '.join(STRATEGIES)} and not a JSON file")
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--device-map {text}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError(f"--device-map {text}: expected a JSON object {{module name: device}}")
    return mapping


def gpu_group(
    local_rank: int | None = None, local_world: int | None = None, n_gpus: int | None = None
) -> list[int]:
    """This process's GPUs: local rank r of n gets [r*k, (r+1)*k) with k = gpus // n."""
    rank = int(os.environ.get("LOCAL_RANK", 0)) if local_rank is None else local_rank
    world = int(os.environ.get("LOCAL_WORLD_SIZE", 1)) if local_world is None else local_world
    total = torch.cuda.device_count() if n_gpus is None else n_gpus
    if world <= 1:
        return list(range(total))
    k = total // world
    if k == 0:
        raise ValueError(
            f"{world} processes with a device map need at least one GPU each; this machine has {total}"
        )
    return list(range(rank * k, (rank + 1) * k))


def no_split_classes(model: nn.Module) -> list[str]:
    """SigLIP encoder layers and Qwen2 decoder layers are never split across devices."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    for module in model.modules():
        kind = type(module).__name__
        if kind.endswith(("EncoderLayer", "DecoderLayer")):
            names.add(kind)
    return sorted(names)


def plan_device_map(
    model: nn.Module,
    device_map: str | dict | None,
    max_memory: str | dict | None,
    dtype: torch.dtype,
    *,
    offload_folder: str | None = None,
    gpus: list[int] | None = None,
    anchors: tuple[str, ...] = ANCHORS,
) -> DevicePlan:
    """Validate (explicit map) or infer (strategy, or max_memory alone) the device map of ``model``
    (on the meta device). Raises ValueError with one line for an unknown module, a device that does
    not exist, or limits the model cannot fit into."""
    group = gpu_group() if gpus is None else gpus
    device_map = read_device_map(device_map) if device_map is not None else "auto"
    limits = _group_limits(parse_max_memory(max_memory), group)
    if isinstance(device_map, dict):
        mapping = _explicit_map(model, device_map, group)
        if limits:
            _check_explicit_fits(model, mapping, limits, dtype)
    else:
        mapping = _infer_map(model, device_map, limits, dtype, group, allow_disk=offload_folder is not None)
        mapping = _pin_anchors(model, mapping, anchors)
    if "disk" in mapping.values() and offload_folder is None:
        raise ValueError("the device map offloads modules to disk; give --offload-folder DIR")
    plan = DevicePlan(mapping, _main_device(model, mapping, anchors), group)
    _check_anchors(model, plan, anchors)
    return plan


def _group_limits(limits: dict | None, group: list[int]) -> dict | None:
    if not limits:
        return limits
    out = {}
    for key, size in limits.items():
        if isinstance(key, int):
            if key >= len(group):
                raise ValueError(f"--max-memory: GPU {key} does not exist here ({_gpus_text(group)})")
            key = group[key]
        out[key] = size
    return out


def _gpus_text(group: list[int]) -> str:
    return f"GPUs of this process: {group}" if group else "no GPU"


def _module_names(model: nn.Module) -> set[str]:
    names = {n for n, _ in model.named_modules()}
    names |= {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()}
    return names


def _explicit_map(model: nn.Module, mapping: dict, group: list[int]) -> dict[str, Any]:
    known = _module_names(model)
    out: dict[str, Any] = {}
    for name, device in mapping.items():
        name = str(name)
        if name not in known:
            close = sorted(n for n in known if n and n.split(".")[-1] == name.split(".")[-1])[:2]
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise ValueError(f"device map: no module named {name!r} in the model{hint}")
        dev = _device_key(device, f"device map entry {name!r}")
        if isinstance(dev, int):
            if dev >= len(group):
                raise ValueError(
                    f"device map entry {name!r}: GPU {dev} does not exist here ({_gpus_text(group)})"
                )
            dev = group[dev]
        out[name] = dev
    # Every parameter must be covered, by its own name or a module above it.
    for pname, _ in model.named_parameters():
        if _lookup(out, pname) is None:
            raise ValueError(
                f"device map: {pname!r} is on no device (map {pname.rsplit('.', 1)[0]!r} or a module above it)"
            )
    return out


def _lookup(mapping: dict[str, Any], name: str) -> Any:
    """The device of ``name``: its own entry or the closest module above it."""
    probe = name
    while True:
        if probe in mapping:
            return mapping[probe]
        if "." not in probe:
            return mapping.get("")
        probe = probe.rsplit(".", 1)[0]


def _infer_map(
    model: nn.Module,
    strategy: str,
    limits: dict | None,
    dtype: torch.dtype,
    group: list[int],
    allow_disk: bool,
) -> dict[str, Any]:
    from accelerate import infer_auto_device_map
    from accelerate.utils import get_balanced_memory, get_max_memory

    available = get_max_memory()
    allowed = {k: v for k, v in available.items() if k in group or k in ("cpu", "disk")}
    if limits:
        unknown = [k for k in limits if k not in allowed and k != "cpu"]
        if unknown:
            raise ValueError(f"--max-memory: GPU {unknown[0]} does not exist here ({_gpus_text(group)})")
        budget = dict(limits)
    else:
        budget = allowed
    no_split = no_split_classes(model)
    if strategy != "sequential" and any(isinstance(k, int) for k in budget):
        budget = get_balanced_memory(
            model,
            max_memory=budget,
            no_split_module_classes=no_split,
            dtype=dtype,
            low_zero=strategy == "balanced_low_0",
        )
    mapping = infer_auto_device_map(model, max_memory=budget, no_split_module_classes=no_split, dtype=dtype)
    if "disk" in mapping.values() and not allow_disk:
        need = _model_bytes(model, dtype)
        given = ", ".join(f"{k}={_gib(v)}" for k, v in budget.items() if k != "disk")
        raise ValueError(
            f"the model ({_gib(need)} in {str(dtype).removeprefix('torch.')}) does not fit into "
            f"the memory limits ({given}); raise --max-memory or give --offload-folder for disk offload"
        )
    return dict(mapping)


def _check_explicit_fits(model: nn.Module, mapping: dict, limits: dict, dtype: torch.dtype) -> None:
    from accelerate.utils import compute_module_sizes

    sizes = compute_module_sizes(model, dtype=dtype)
    used: dict[Any, int] = {}
    for name, device in mapping.items():
        used[device] = used.get(device, 0) + sizes.get(name, 0)
    for device, nbytes in used.items():
        if device in limits and nbytes > limits[device]:
            raise ValueError(
                f"device map puts {_gib(nbytes)} on {device}, above its --max-memory {_gib(limits[device])}"
            )


def _main_device(model: nn.Module, mapping: dict[str, Any], anchors: tuple[str, ...]) -> str:
    """Where inputs go: the device the token embeddings run on (offloaded weights run on the first GPU)."""
    gpu_ids = sorted({d for d in mapping.values() if isinstance(d, int)})
    known = _module_names(model)
    embed = next((a for a in reversed(anchors) if a in known), None)
    device = _lookup(mapping, embed) if embed else None
    if isinstance(device, int):
        return f"cuda:{device}"
    return f"cuda:{gpu_ids[0]}" if gpu_ids else "cpu"


def _as_entry(device: str) -> Any:
    return int(device.split(":")[1]) if device.startswith("cuda") else device


def _pin_anchors(model: nn.Module, mapping: dict[str, Any], anchors: tuple[str, ...]) -> dict[str, Any]:
    """An inferred map may put the small tensors the model reads directly (image_newline, the projector:
    a few MB) on another device than the token embeddings; move those entries to the main device."""
    main = _as_entry(_main_device(model, mapping, anchors))
    out = dict(mapping)
    for name in anchors[:-1]:
        if name in out and _executes_on(out[name], main) != _executes_on(main, main):
            out[name] = main
        elif name == "model.image_newline" and out.get(name) == "disk":
            out[name] = main
    return out


def _executes_on(device: Any, main: Any) -> Any:
    return main if device in ("cpu", "disk") else device


def _check_anchors(model: nn.Module, plan: DevicePlan, anchors: tuple[str, ...]) -> None:
    known = _module_names(model)
    present = [a for a in anchors if a in known]
    main = _as_entry(plan.main_device)
    for name in present:
        device = _lookup(plan.device_map, name)
        if name == "model.image_newline" and device == "disk":
            raise ValueError(
                "device map: model.image_newline is read directly by the model; it cannot go to disk"
            )
        if _executes_on(device, main) != main:
            raise ValueError(
                f"device map: {', '.join(present)} must run on one device (the one inputs go to, "
                f"{plan.main_device}), but {name} is on {device}"
            )


def _model_bytes(model: nn.Module, dtype: torch.dtype) -> int:
    from accelerate.utils import compute_module_sizes

    return compute_module_sizes(model, dtype=dtype)[""]


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f}GiB"


def dispatch(
    model: nn.Module,
    plan: DevicePlan,
    offload_folder: str | None,
    load: Callable[[nn.Module, Callable[[str], str], Callable[[str, torch.Tensor], None] | None], None]
    | None = None,
) -> nn.Module:
    """Place ``model`` by ``plan``. With ``load`` (a streaming loader), the model is on the meta device
    and ``load(model, device_of, on_disk)`` fills each tensor where it belongs; without it the model
    is complete on the CPU. Then accelerate's ``dispatch_model`` adds the hooks that move activations
    between devices and bring offloaded weights in."""
    from accelerate import dispatch_model
    from accelerate.utils import offload_weight, save_offload_index

    folder = None
    if "disk" in plan.device_map.values():
        Path(offload_folder).mkdir(parents=True, exist_ok=True)
        # A fresh folder: accelerate would otherwise reuse an index.json left by another model.
        folder = tempfile.mkdtemp(prefix="ov-bench-offload-", dir=offload_folder)
    index: dict = {}

    def device_of(name: str) -> str:
        device = _lookup(plan.device_map, name)
        return f"cuda:{device}" if isinstance(device, int) else device

    def on_disk(name: str, tensor: torch.Tensor) -> None:
        offload_weight(tensor, name, folder, index=index)

    offload_index = None
    if load is not None:
        load(model, device_of, on_disk if folder else None)
        if folder:
            from accelerate.utils import find_tied_parameters

            # A tied weight is stored once; its other names (lm_head.weight) read the same file.
            for group in find_tied_parameters(model):
                stored = next((n for n in group if n in index), None)
                for alias in group if stored else ():
                    if alias not in index:
                        index[alias] = index[stored]
                        source, target = Path(folder, f"{stored}.dat"), Path(folder, f"{alias}.dat")
                        try:
                            os.link(source, target)  # accelerate finds a weight's file by its name
                        except OSError:
                            shutil.copyfile(source, target)
            save_offload_index(index, folder)
            offload_index = index
    import warnings

    with warnings.catch_warnings():  # accelerate warns about parameter entries (model.image_newline)
        warnings.filterwarnings("ignore", message="The following device_map keys do not match")
        dispatch_model(
            model,
            device_map=plan.device_map,
            main_device=_as_entry(plan.main_device),
            offload_dir=folder,
            offload_index=offload_index,
            offload_buffers=False,
        )
    model._ov_device_plan = plan  # profiling reads the devices from here
    return model


def cuda_hint(device_map, max_memory):
    """What ``--dtype auto`` looks at when the model is split: the GPUs the map or the limits name."""
    mapping = read_device_map(device_map) if device_map is not None else None
    if isinstance(mapping, dict):
        return mapping
    gpus = {k: k for k in (parse_max_memory(max_memory) or {}) if isinstance(k, int)}
    return gpus or ("cuda" if torch.cuda.is_available() else "cpu")
