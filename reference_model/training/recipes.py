"""The LLaVA-OneVision training stages as data, and the run options around them.

Facts: docs/model.md section 4 (paper Table 1 and the released LLaVA-NeXT scripts). A recipe says
*what* a stage trains (parts, learning rates, visual-token budget); ``TrainOptions`` says *how* this
run goes (batch, accumulation, steps, precision, saving). Both are plain dataclasses; any field can
be overridden from a YAML file or ``key=value`` pairs (``apply_overrides``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import TOKENS_PER_CROP, validate_video_layout

# Trainable parts. ``language_model`` follows LLaVA-NeXT's "mm_language_model" tunable part: every
# parameter outside the vision tower and the projector, i.e. the Qwen2 LLM and lm_head;
# image_newline is listed on its own so a recipe can say whether it trains.
PARTS = ("vision_tower", "projector", "newline", "language_model")
IMAGE_MODES = ("anyres", "base")  # base: plain 384 resize per image, 729 tokens, no newline
OVERLONG = ("skip", "truncate")
MIXED_PRECISION = ("no", "bf16", "fp16")
SCHEDULERS = ("cosine", "linear", "constant")
MODALITIES = (
    "single_image",
    "multi_image",
    "video",
    "long_video",
    "text",
)  # long_video: --data samples' 16 s clips
FRAME_SAMPLING = ("uniform", "fps")
# The paper's global batch (samples per optimizer step) by model size, the same in every stage
# (docs/model.md section 4). The run's global batch is TrainOptions.global_batch_size; unset, the CLI
# takes this one for the model being trained (batch_layout.default_global_batch).
PAPER_GLOBAL_BATCH = {"0.5b": 512, "7b": 256, "72b": 256}


@dataclass
class StageRecipe:
    """One stage of the recipe: what trains, how fast, and with how many visual tokens."""

    name: str
    trainable: tuple[str, ...]
    lr: float  # LLM + projector (+ newline); stage 1: the projector
    vision_lr: float | None = None  # vision tower's own param group; None when it is frozen
    image_mode: str = "anyres"
    max_grid_tokens: int | None = 9 * TOKENS_PER_CROP  # tau; only read in anyres mode
    video_frames: int = 32  # uniform: the frame count; fps: the cap
    # How a video's frames are chosen (ov_media.video.FrameSampling): uniform linspace (OV) or 1 frame a
    # second capped at video_frames (LLaVA-Video); force_sample: always video_frames uniform frames.
    video_sampling: str = "uniform"
    video_force_sample: bool = False
    # LLaVA-Video's "The video lasts for ..." line after the video placeholder (families.time_instruction).
    time_instruction: bool = False
    # The video layout trained (None: the model's config); LLaVA-Video: grid + average (182 per frame).
    video_newline_position: str | None = None
    video_pool_mode: str | None = None
    max_length: int = 32768
    modalities: tuple[str, ...] = ("single_image",)  # what --data samples generates for this stage
    warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    num_epochs: int = 1
    paper_global_batch: dict[str, int] = field(default_factory=lambda: dict(PAPER_GLOBAL_BATCH))
    description: str = ""


@dataclass
class TrainOptions:
    """How one run goes; independent of the stage."""

    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    # Samples per optimizer step over all processes. Set: train() derives gradient_accumulation_steps
    # from it, the process count and per_device_batch_size (batch_layout.split_global_batch). None:
    # per_device_batch_size x processes x gradient_accumulation_steps, whatever that gives.
    global_batch_size: int | None = None
    max_steps: int | None = None  # None: num_epochs over the data
    seed: int = 0
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    max_grad_norm: float | None = 1.0  # the HF Trainer default the released scripts ran with
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    overlong: str = "skip"
    group_by_length: bool = True
    group_size: int = 8  # global batches per length-sorted megabatch
    save_every: int | None = None  # optimizer steps between checkpoints; None: only at the end
    log_every: int = 1
    num_workers: int = 0
    progress: bool = True
    # Weights' dtype: auto keeps float32 master weights (autocast precision is mixed_precision's); an
    # explicit float16/bfloat16 trains in that dtype. A device map splits the model (naive model
    # parallel within one process; accelerate hooks move activations).
    dtype: str = "auto"
    device_map: str | None = None
    max_memory: str | None = None
    offload_folder: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # not read by the trainer; kept in the log


_FULL = ("vision_tower", "projector", "newline", "language_model")

STAGES: dict[str, StageRecipe] = {
    "1": StageRecipe(
        name="1",
        trainable=("projector",),
        lr=1e-3,
        image_mode="base",
        max_length=8192,
        description="language-image alignment: projector only, 729 tokens per image (plain resize, no newline)",
    ),
    "1.5": StageRecipe(
        name="1.5",
        trainable=_FULL,
        lr=1e-5,
        vision_lr=2e-6,
        # 729 x 5 = the base view + 4 crops' worth of grid tokens (anyres_max_4).
        max_grid_tokens=4 * TOKENS_PER_CROP,
        max_length=8192,
        description="high-quality knowledge: full model, AnyRes up to 729 x 5 tokens",
    ),
    "2-si": StageRecipe(
        name="2-si",
        trainable=_FULL,
        lr=1e-5,
        vision_lr=2e-6,
        max_grid_tokens=9 * TOKENS_PER_CROP,
        description="single-image: full model, anyres_max_9 (729 x 10 tokens)",
    ),
    "2-ov": StageRecipe(
        name="2-ov",
        trainable=_FULL,
        lr=1e-5,
        vision_lr=2e-6,
        max_grid_tokens=9 * TOKENS_PER_CROP,
        video_frames=32,
        modalities=("single_image", "multi_image", "video"),
        description="OneVision: single-image, multi-image and video mixed; anyres_max_9, 32 video frames",
    ),
    "video": StageRecipe(
        name="video",
        trainable=_FULL,
        lr=1e-5,
        vision_lr=2e-6,
        max_grid_tokens=9 * TOKENS_PER_CROP,
        video_frames=64,
        video_sampling="fps",
        time_instruction=True,
        video_newline_position="grid",
        video_pool_mode="average",
        modalities=("single_image", "video", "long_video"),
        description="LLaVA-Video: from a single-image (2-si) checkpoint, video + image data; 1 fps capped at 64 "
        "frames (uniform above the cap), grid + average (182 tokens per frame), time instruction on",
    ),
}
# The tiny preset (random weights, a 64-wide LLM) barely moves at stage 1's 1e-3 within the quick
# start's 12 steps; at this rate the mean loss drops clearly in the same few seconds. Real models keep
# the paper's rates.
TINY_STAGE_LR: dict[str, float] = {"1": 3e-2}


def apply_model_defaults(recipe: StageRecipe, model: str) -> StageRecipe:
    """Model-specific defaults of a stage (before any override): the tiny preset's stage-1 rate."""
    if str(model).split("?")[0].lower() == "tiny" and recipe.name in TINY_STAGE_LR:
        recipe.lr = TINY_STAGE_LR[recipe.name]
    return recipe


ALIASES = {
    "2": "2-si",
    "2-single-image": "2-si",
    "2-onevision": "2-ov",
    "ov": "2-ov",
    "si": "2-si",
    "llava-video": "video",
}


def stage_names() -> list[str]:
    return list(STAGES) + list(ALIASES)


def get_stage(name: str) -> StageRecipe:
    """A fresh copy of a stage's recipe (``1``, ``1.5``, ``2-si``, ``2-ov``, ``video`` or an alias)."""
    key = ALIASES.get(str(name), str(name))
    if key not in STAGES:
        raise ValueError(f"unknown stage {name!r}; known: {', '.join(stage_names())}")
    stage = STAGES[key]
    return dataclasses.replace(stage, paper_global_batch=dict(stage.paper_global_batch))


def _coerce(name: str, value: Any, current: Any, annotation: str) -> Any:
    """Convert a YAML/CLI value to the field's type (strings from ``key=value`` included)."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("none", "null", "") and "None" in annotation:
            return None
        if "bool" in annotation:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{name}: expected true/false, got {value!r}")
        if "tuple" in annotation:
            return tuple(p.strip() for p in text.split(",") if p.strip())
        if "int" in annotation and "float" not in annotation:
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"{name}: expected an integer, got {value!r}") from None
        if "float" in annotation:
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"{name}: expected a number, got {value!r}") from None
        return text
    if "tuple" in annotation and isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    if "float" in annotation and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def apply_overrides(recipe: StageRecipe, options: TrainOptions, overrides: Mapping[str, Any]) -> None:
    """Set fields of the recipe or the options by name, in place; unknown names are an error."""
    recipe_fields = {f.name: f for f in dataclasses.fields(StageRecipe)}
    option_fields = {f.name: f for f in dataclasses.fields(TrainOptions)}
    for key, value in overrides.items():
        name = key.replace("-", "_")
        if name == "name":
            raise ValueError("the stage name cannot be overridden; pick it with --stage")
        target, fields = (recipe, recipe_fields) if name in recipe_fields else (options, option_fields)
        if name not in fields:
            known = sorted((set(recipe_fields) | set(option_fields)) - {"name", "extra"})
            raise ValueError(f"unknown training setting {key!r}; known: {', '.join(known)}")
        annotation = str(fields[name].type)
        setattr(target, name, _coerce(name, value, getattr(target, name), annotation))
    validate(recipe, options)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["lr=1e-3", "max_steps=20"]`` -> dict; a pair without ``=`` is an error."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def load_yaml_overrides(path: str | Path) -> dict[str, Any]:
    """A YAML mapping of setting -> value (``stage:`` is allowed and returned under that key)."""
    import yaml

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such recipe file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of setting: value, got {type(data).__name__}")
    return data


def validate(recipe: StageRecipe, options: TrainOptions) -> None:
    bad_parts = [p for p in recipe.trainable if p not in PARTS]
    if bad_parts or not recipe.trainable:
        raise ValueError(
            f"trainable must be a non-empty subset of {', '.join(PARTS)}, got {recipe.trainable}"
        )
    if "vision_tower" in recipe.trainable and recipe.vision_lr is None:
        raise ValueError("the vision tower is trainable but vision_lr is not set")
    for name in ("lr", "vision_lr"):
        value = getattr(recipe, name)
        if value is not None and not (isinstance(value, (int, float)) and value >= 0):
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if recipe.image_mode not in IMAGE_MODES:
        raise ValueError(f"image_mode must be one of {IMAGE_MODES}, got {recipe.image_mode!r}")
    if recipe.lr_scheduler not in SCHEDULERS:
        raise ValueError(f"lr_scheduler must be one of {SCHEDULERS}, got {recipe.lr_scheduler!r}")
    bad_modalities = [m for m in recipe.modalities if m not in MODALITIES]
    if bad_modalities:
        raise ValueError(f"modalities must be among {', '.join(MODALITIES)}, got {recipe.modalities}")
    if recipe.video_sampling not in FRAME_SAMPLING:
        raise ValueError(f"video_sampling must be one of {FRAME_SAMPLING}, got {recipe.video_sampling!r}")
    if recipe.video_newline_position is not None or recipe.video_pool_mode is not None:
        validate_video_layout(
            recipe.video_newline_position or "one_token", recipe.video_pool_mode or "bilinear"
        )
    if not 0 <= recipe.warmup_ratio < 1:
        raise ValueError(f"warmup_ratio must be in [0, 1), got {recipe.warmup_ratio}")
    if recipe.max_grid_tokens is not None and (
        not isinstance(recipe.max_grid_tokens, int) or recipe.max_grid_tokens < 1
    ):
        raise ValueError(
            f"max_grid_tokens must be a positive integer or none, got {recipe.max_grid_tokens!r}"
        )
    positive = {
        "video_frames": recipe.video_frames,
        "max_length": recipe.max_length,
        "num_epochs": recipe.num_epochs,
        "per_device_batch_size": options.per_device_batch_size,
        "gradient_accumulation_steps": options.gradient_accumulation_steps,
        "log_every": options.log_every,
        "group_size": options.group_size,
    }
    for name in ("max_steps", "save_every", "global_batch_size"):
        if getattr(options, name) is not None:
            positive[name] = getattr(options, name)
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    paper = recipe.paper_global_batch
    if not isinstance(paper, Mapping) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in paper.values()
    ):
        raise ValueError(f"paper_global_batch must map model sizes to positive integers, got {paper!r}")
    if options.mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {options.mixed_precision!r}")
    if options.overlong not in OVERLONG:
        raise ValueError(f"overlong must be one of {OVERLONG}, got {options.overlong!r}")
    if options.num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {options.num_workers}")


def to_dict(recipe: StageRecipe, options: TrainOptions) -> dict[str, Any]:
    return {"recipe": dataclasses.asdict(recipe), "options": dataclasses.asdict(options)}
