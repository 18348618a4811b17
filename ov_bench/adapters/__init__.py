"""Model adapters: one small interface (base.ModelAdapter) over the reference model and transformers."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ov_bench.model_spec import ModelSpec
from reference_model import PRESETS, preset_config

from .base import Generation, ModelAdapter, Prepared
from .hf import HFAdapter, aspect_ratio_for, check_checkpoint_dir, check_hf_device_map
from .reference import ReferenceAdapter

__all__ = [
    "ADAPTERS",
    "Generation",
    "ModelAdapter",
    "ModelSpec",
    "Prepared",
    "as_model_spec",
    "check_model_spec",
    "load_adapter",
    "parse_model_spec",
]

# name -> (how to write --model, what it is); `ov-bench models` prints these.
ADAPTERS = {
    "reference": (
        "tiny | arch:0.5b[?layers=N] | PATH",
        "ov-bench's reference LlavaOneVision (presets with random weights, or a checkpoint in the "
        "HF or original lmms-lab layout)",
    ),
    "hf": (
        "hf:PATH",
        "transformers' LlavaOnevisionForConditionalGeneration + AutoProcessor from a local "
        "save_pretrained directory; tau must be a multiple of 729 (anyres_max_N)",
    ),
}


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``hf:PATH`` -> ("hf", PATH); anything else -> ("reference", spec)."""
    model = ModelSpec(model=spec)
    return model.kind, model.target


def as_model_spec(spec: ModelSpec | str, **fields: Any) -> ModelSpec:
    """A ModelSpec as given, or one built from a --model string and ModelSpec field keywords."""
    if isinstance(spec, ModelSpec):
        return spec.replace(**fields) if fields else spec
    return ModelSpec(model=spec, **fields)


def load_adapter(spec: ModelSpec | str, **fields: Any) -> ModelAdapter:
    """Build the adapter for a model's settings (a ModelSpec, or a --model string with ModelSpec field
    keywords: ``load_adapter("tiny", max_grid_tokens=729)``). ``device="auto"`` is resolved here (the
    runner resolves it per process first). Bad settings raise ValueError/FileNotFoundError (one line)."""
    spec = as_model_spec(spec, **fields)
    spec = spec.replace(device=spec.resolve_device())
    if spec.kind == "hf":
        return HFAdapter(spec)

    return ReferenceAdapter(spec)


def check_hub_checkpoint(repo: str) -> None:
    """A hub id (or a mistyped local path that looks like one) must be loadable under the current
    offline settings: in the local hub cache when HF_HUB_OFFLINE is set, else the hub must answer.
    Checked in seconds, before anything is written, instead of failing after the download attempt."""
    from huggingface_hub import snapshot_download

    from reference_model.checkpoints import HUB_ALLOW_PATTERNS
    from tasks.data import hub_unreachable_reason

    hint = (
        f"--model {repo}: not a local directory; as a hub id it {{}}. Download it first: "
        f"`hf download {repo} --local-dir DIR`, then --model DIR"
    )
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        try:
            snapshot_download(repo, allow_patterns=list(HUB_ALLOW_PATTERNS), local_files_only=True)
        except Exception:  # not cached (or only partly): the loader would fail the same way, later
            raise FileNotFoundError(
                hint.format("is not in the local hub cache (HF_HUB_OFFLINE is set)")
            ) from None
        return
    reason = hub_unreachable_reason()
    if reason:
        raise FileNotFoundError(hint.format(f"cannot be fetched: the hub is unreachable ({reason})"))


def check_model_spec(spec: ModelSpec | str) -> None:
    """Cheap validation of a model's settings against the machine before anything is loaded or written:
    presets parse, directories hold weights, hf: gets a tau it can express, the device exists, a device
    map fits the model's module names (on the meta device, no weight read)."""
    spec = as_model_spec(spec)
    spec.resolve_device()
    target = spec.target
    if spec.kind == "hf":
        check_checkpoint_dir(target)
        aspect_ratio_for(spec.max_grid_tokens, 1)
        if spec.device_map is not None or spec.max_memory is not None:
            check_hf_device_map(target, spec.device_map, spec.max_memory, spec.offload_folder, spec.dtype)
        return
    path = Path(target).expanduser()
    name = target.split("?")[0].lower()
    if not path.exists() and name in PRESETS and name != "tiny":
        raise ValueError(f"--model {target}: use arch:{name} for random weights, or a checkpoint path")
    if not path.exists() and name.removeprefix("arch:") in PRESETS:
        preset_config(target)  # raises ValueError on a bad ?layers= option
    elif path.exists():
        if not path.is_dir():
            raise ValueError(f"--model {target}: expected a checkpoint directory, got a file")
        if not any(path.glob("*.safetensors")) and not any(path.glob("pytorch_model*.bin")):
            raise FileNotFoundError(
                f"--model {target}: no weights in the directory (*.safetensors or pytorch_model*.bin)"
            )
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", target) and not target.startswith("."):
        check_hub_checkpoint(target)
    else:
        raise FileNotFoundError(
            f"--model {target}: no such preset or checkpoint directory (presets: tiny, "
            "arch:0.5b, arch:7b, arch:72b; transformers: hf:PATH)"
        )
    if spec.device_map is not None or spec.max_memory is not None:
        # local: the model class imports torch and transformers (1-2 s); ov_bench.adapters stays
        # light on import (the engine and the commands' prechecks import it)
        from reference_model import LlavaOneVision

        LlavaOneVision.check_device_map(
            target, spec.device_map, spec.max_memory, spec.offload_folder, spec.dtype
        )
