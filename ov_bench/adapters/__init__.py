"""Model adapters: one small interface (base.ModelAdapter) over the reference model and transformers."""

from __future__ import annotations

from .base import Generation, ModelAdapter, Prepared

__all__ = [
    "ADAPTERS",
    "Generation",
    "ModelAdapter",
    "Prepared",
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
    if not spec or not spec.strip():
        raise ValueError("--model is empty")
    if spec.startswith("hf:"):
        path = spec[3:]
        if not path:
            raise ValueError("--model hf: needs a checkpoint directory, e.g. hf:/path/to/llava-onevision")
        return "hf", path
    return "reference", spec


def load_adapter(
    spec: str,
    *,
    max_grid_tokens: int | None,
    dtype: str = "auto",
    device: str = "cpu",
    unpad_rounding: str = "original",
    device_map: str | dict | None = None,
    max_memory: str | dict | None = None,
    offload_folder: str | None = None,
    **model_options,
) -> ModelAdapter:
    """Build the adapter for a --model value. Bad specs raise ValueError/FileNotFoundError (one line).
    ``device_map`` / ``max_memory`` / ``offload_folder`` split the model across devices (accelerate).
    ``model_options`` (None = the checkpoint's): multi_image_layout, video_layout, video_pool,
    grid_pinpoints, use_generation_config (reference model only) and image_resize (both)."""
    kind, target = parse_model_spec(spec)
    placement = dict(device_map=device_map, max_memory=max_memory, offload_folder=offload_folder)
    video = {k: model_options.pop(k, None) for k in ("frame_sampling", "force_sample", "time_instruction")}
    if kind == "hf":
        from .hf import HFAdapter

        if unpad_rounding != "original":
            raise ValueError(
                "--unpad-rounding applies to the reference model only (transformers always rounds 'hf')"
            )
        image_resize = model_options.pop("image_resize", None)
        given = [k for k, v in model_options.items() if v is not None and v is not True]
        if given:
            raise ValueError(
                f"{', '.join(given)}: reference model only (transformers' port has one layout: "
                "multi-image 'train', its own video layout and grid set)"
            )
        # None keeps the checkpoint's processor; pil / torchvision swap in that twin of it.
        adapter = HFAdapter(
            target,
            max_grid_tokens=max_grid_tokens,
            dtype=dtype,
            device=device,
            image_resize=image_resize,
            **placement,
        )
        adapter.apply_video_options(**video)  # transformers' port: OV's defaults, the harness's sampling
        return adapter
    from .reference import ReferenceAdapter

    model_options["image_resize"] = model_options.get("image_resize") or "pil"
    return ReferenceAdapter(
        target,
        max_grid_tokens=max_grid_tokens,
        dtype=dtype,
        device=device,
        unpad_rounding=unpad_rounding,
        **placement,
        **model_options,
        **video,
    )


def default_frames(spec: str) -> int:
    """The video frame count (cap) a --model gets by default, from JSON files only: a LLaVA-Video
    checkpoint's 64 (its evaluated path), else 32 (LLaVA-OneVision's)."""
    from pathlib import Path

    kind, target = parse_model_spec(spec)
    if kind != "hf" and Path(str(target)).is_dir() and (Path(str(target)) / "config.json").is_file():
        from reference_model.families import checkpoint_defaults

        try:
            return int(checkpoint_defaults(target)["video_frames"])
        except (ValueError, KeyError):
            return 32  # not an OV config: loading reports it in one line
    return 32


def check_model_spec(spec: str, max_grid_tokens: int | None = None) -> None:
    """Cheap validation of --model (and of tau for it) before anything is loaded: presets parse,
    directories hold weights, hf: gets a tau it can express."""
    from pathlib import Path

    kind, target = parse_model_spec(spec)
    if kind == "hf":
        from .hf import aspect_ratio_for, check_checkpoint_dir

        check_checkpoint_dir(target)
        aspect_ratio_for(max_grid_tokens, 1)
        return
    from reference_model import PRESETS, preset_config

    path = Path(target).expanduser()
    name = target.split("?")[0].lower()
    if not path.exists() and name in PRESETS and name != "tiny":
        raise ValueError(f"--model {spec}: use arch:{name} for random weights, or a checkpoint path")
    if not path.exists() and name.removeprefix("arch:") in PRESETS:
        preset_config(target)  # raises ValueError on a bad ?layers= option
        return
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"--model {spec}: expected a checkpoint directory, got a file")
        if not any(path.glob("*.safetensors")) and not any(path.glob("pytorch_model*.bin")):
            raise FileNotFoundError(
                f"--model {spec}: no weights in the directory (*.safetensors or pytorch_model*.bin)"
            )
        return
    if "/" in target and not target.startswith((".", "/", "~")) and target.count("/") == 1:
        return  # a hub id: the loader tries the hub and fails with its own one-line message offline
    raise FileNotFoundError(
        f"--model {spec}: no such preset or checkpoint directory (presets: tiny, "
        "arch:0.5b, arch:7b, arch:72b; transformers: hf:PATH)"
    )
