"""A model's settings as one value: which checkpoint, where it runs, how its inputs are laid out and how
it decodes.

Every command builds one ``ModelSpec`` from its flags (``commands/flags.py``), the lmms-eval plugin parses
its ``model_args`` into one (``ModelSpec.from_model_args``), and ``RunConfig``, the sweep, ``load_adapter``,
the adapters and the token planner take it whole. A new model setting is a field here, its flag in
``commands/flags.py`` and its use in the adapter that honours it.

``None`` on a layout, video or resize field means "what the checkpoint says": the loader resolves the
checkpoint family's defaults (``reference_model.families``) and results.json records what was used. The
store key (``key_suffix``) names only the settings given explicitly, so a run directory made before this
module existed keeps its keys byte for byte.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ov_bench.threshold import DEFAULT_THRESHOLD, parse_threshold
from ov_media.video import SAMPLING_MODES
from reference_model.config import (
    MULTI_IMAGE_LAYOUTS,
    RESIZE_BACKENDS,
    VIDEO_NEWLINE_POSITIONS,
    VIDEO_POOL_MODES,
    resolve_grid_pinpoints,
)
from reference_model.families import checkpoint_defaults

DEFAULT_FRAMES = 32  # LLaVA-OneVision's evaluated frame count (a LLaVA-Video config says 64)
DTYPES = ("auto", "float32", "bfloat16", "float16")
UNPAD_ROUNDINGS = ("original", "hf")

# Store-key tags of the explicit settings, in the key's fixed order (the order keys have always had).
_VIDEO_TAGS = (("frame_sampling", "sampling"), ("force_sample", "force"), ("time_instruction", "ti"))
_LAYOUT_TAGS = (
    ("multi_image_layout", "mi"),
    ("video_layout", "video"),
    ("video_pool", "pool"),
    ("grid_pinpoints", "grid"),
)
# The layout settings a sweep changes in place; the packing-only ones leave the pixels alone. Transformers'
# port has no knob for any of them (one layout: multi-image 'train', its own video layout and grid set).
LAYOUT_SETTINGS = tuple(name for name, _ in _LAYOUT_TAGS)
PACKING_SETTINGS = ("multi_image_layout", "video_layout", "video_pool")


@dataclass(frozen=True)
class ModelSpec:
    """Everything that decides what a model computes and where (tasks and data are the run's)."""

    model: str = "tiny"  # tiny | arch:0.5b[?layers=N] | PATH | hub id | hf:PATH
    max_grid_tokens: int | None = DEFAULT_THRESHOLD  # AnyRes threshold tau; None = no cap
    dtype: str = "auto"  # float16 on CUDA as the original loader, float32 on CPU
    device: str = "auto"
    device_map: str | dict | None = None  # accelerate: auto | balanced | sequential | FILE.json | dict
    max_memory: str | dict | None = None  # "0=70GiB,cpu=200GiB"
    offload_folder: str | None = None
    unpad_rounding: str = "original"  # the original code's int() or transformers' round(x, 7)
    multi_image_layout: str | None = None  # eval (729 per image) | train (730)
    video_layout: str | None = None  # mm_newline_position
    video_pool: str | None = None  # mm_spatial_pool_mode
    grid_pinpoints: str | None = None  # ov | next | WxH,...
    frames: int | None = None  # video frames (the cap under fps sampling); None = the checkpoint's
    frame_sampling: str | None = None  # uniform | fps
    force_sample: bool | None = None
    time_instruction: bool | None = None
    image_resize: str | None = None  # pil | torchvision; None = the adapter's own default
    use_generation_config: bool = True  # the checkpoint's generation_config.json (eos ids, penalty)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("--model is empty")
        if self.model == "hf:":
            raise ValueError("--model hf: needs a checkpoint directory, e.g. hf:/path/to/llava-onevision")
        try:
            object.__setattr__(self, "max_grid_tokens", parse_threshold(self.max_grid_tokens))
        except ValueError as exc:
            raise ValueError(f"max_grid_tokens: {exc}") from None
        _choose("dtype", self.dtype, DTYPES)
        _choose("unpad_rounding", self.unpad_rounding, UNPAD_ROUNDINGS)
        _choose("multi_image_layout", self.multi_image_layout, MULTI_IMAGE_LAYOUTS)
        _choose("video_layout", self.video_layout, VIDEO_NEWLINE_POSITIONS)
        _choose("video_pool", self.video_pool, VIDEO_POOL_MODES)
        _choose("frame_sampling", self.frame_sampling, SAMPLING_MODES)
        _choose("image_resize", self.image_resize, RESIZE_BACKENDS)
        if self.grid_pinpoints is not None:  # validated now, kept as written (it is a store-key tag)
            resolve_grid_pinpoints(self.grid_pinpoints)
            object.__setattr__(self, "grid_pinpoints", self.grid_pinpoints.strip().lower())
        if self.frames is not None and (isinstance(self.frames, bool) or int(self.frames) < 1):
            raise ValueError(f"--frames must be >= 1, got {self.frames}")
        if self.offload_folder is not None and self.device_map is None and self.max_memory is None:
            raise ValueError("--offload-folder needs --device-map (or --max-memory)")
        if self.kind == "hf":
            if self.unpad_rounding != "original":
                raise ValueError(
                    "--unpad-rounding applies to the reference model only (transformers always rounds 'hf')"
                )
            given = [name for name in LAYOUT_SETTINGS if getattr(self, name) is not None]
            if not self.use_generation_config:
                given.append("use_generation_config")
            if given:
                raise ValueError(
                    f"{', '.join(given)}: reference model only (transformers' port has one layout: "
                    "multi-image 'train', its own video layout and grid set)"
                )

    # ---- what --model names ---------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``hf`` for transformers' implementation (``hf:PATH``), else ``reference``."""
        return "hf" if self.model.startswith("hf:") else "reference"

    @property
    def target(self) -> str:
        """The preset, path or hub id (``hf:`` stripped)."""
        return self.model[3:] if self.kind == "hf" else self.model

    def replace(self, **changes: Any) -> ModelSpec:
        return dataclasses.replace(self, **changes)

    def resolve_device(self, local_rank: int = 0) -> str:
        """``auto``: this process's GPU under a launcher's LOCAL_RANK, else the CPU. An explicit CUDA
        device on a machine without one is refused in one line (before anything is loaded)."""
        import torch

        try:
            torch.device(self.device if self.device != "auto" else "cpu")
        except (RuntimeError, ValueError):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}") from None
        if self.device == "auto":
            if torch.cuda.is_available():
                return f"cuda:{local_rank % torch.cuda.device_count()}"
            return "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"--device {self.device}: CUDA is not available on this machine")
        return self.device

    def checkpoint_frames(self) -> int:
        """The frame count (cap) this model gets by default, from JSON files only: a LLaVA-Video
        checkpoint's 64 (its evaluated path), else LLaVA-OneVision's 32."""
        if self.kind == "hf" or not (Path(self.target) / "config.json").is_file():
            return DEFAULT_FRAMES

        try:
            return int(checkpoint_defaults(self.target)["video_frames"])
        except (ValueError, KeyError):
            return DEFAULT_FRAMES  # not an OV config: loading reports it in one line

    # ---- views of the settings ------------------------------------------------------------
    def planner_layout(self) -> tuple:
        """The layout as ``count_prompt_visual_tokens`` keywords, hashable for the planner's cache."""
        layout: dict[str, Any] = {
            "multi_image_layout": self.multi_image_layout,
            "video_newline_position": self.video_layout,
            "video_pool_mode": self.video_pool,
        }
        if self.grid_pinpoints is not None:
            layout["grid_pinpoints"] = tuple(resolve_grid_pinpoints(self.grid_pinpoints))
        return tuple(sorted((k, v) for k, v in layout.items() if v is not None))

    def key_suffix(self, default_image_resize: str) -> str:
        """The store-key tags of every explicit setting that changes outputs, in the fixed order."""
        tags = [(tag, _tag_value(getattr(self, name))) for name, tag in _VIDEO_TAGS]
        if self.unpad_rounding != "original":
            tags.append(("unpad", self.unpad_rounding))
        if self.image_resize is not None and self.image_resize != default_image_resize:
            tags.append(("resize", self.image_resize))
        tags += [(tag, getattr(self, name)) for name, tag in _LAYOUT_TAGS]
        if not self.use_generation_config:
            tags.append(("gencfg", "off"))
        return "".join(f"/{tag}={value}" for tag, value in tags if value is not None)

    # ---- lmms-eval's --model_args ---------------------------------------------------------
    @classmethod
    def from_model_args(cls, args: dict[str, Any]) -> ModelSpec:
        """lmms-eval's ``key=value`` strings (``pretrained=`` names the model) as a ModelSpec."""
        args = dict(args)
        if str(args.get("pretrained") or "").strip() == "":
            raise ValueError(
                "model_args needs pretrained=PRESET_OR_PATH (tiny, arch:0.5b, arch:7b, arch:72b, "
                "arch:0.5b?layers=2 or a checkpoint directory)"
            )
        values: dict[str, Any] = {"model": str(args.pop("pretrained"))}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(args) - set(fields) - {"model"})
        if unknown:
            known = ", ".join(["pretrained", *(n for n in fields if n != "model")])
            raise ValueError(f"unknown model_args {', '.join(unknown)}; known: {known}")
        for name, value in args.items():
            if value is None or name == "model":
                continue
            if name in ("force_sample", "time_instruction", "use_generation_config"):
                values[name] = parse_bool(name, value)
            elif name == "frames":
                values[name] = parse_positive_int(name, value)
            elif name == "max_memory":
                values[name] = str(value).replace(";", ",")  # lmms-eval splits model_args at commas
            else:
                values[name] = str(value) if name != "max_grid_tokens" else value
        return cls(**values)


def _choose(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    """A setting with a fixed set of values (the CLI's choices check the flags earlier)."""
    if value is not None and value not in choices:
        raise ValueError(f"{name} {value!r}: choose one of {', '.join(choices)}")


def _tag_value(value: str | bool | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return "on" if value else "off"


def parse_bool(name: str, value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def parse_positive_int(name: str, value: Any) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return number
