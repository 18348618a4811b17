"""The flags several commands share, each defined once with its one help text and default.

Not a command itself (no NAME). ``add_model_arguments`` defines the flags of a model's settings and
``model_spec(args)`` turns the parsed namespace into the one ``ModelSpec`` the engine takes; tasks/data
and engine flags have their groups too. A flag whose meaning differs between commands is not here:
``train`` keeps its own ``--batch-size`` (a per-device micro-batch, where ``run``'s is samples per
model call), ``--workers`` (data-loading processes) and ``--seed`` (data order and initialisation).
"""

from __future__ import annotations

import argparse
from typing import Any

from ov_media.video import SAMPLING_MODES
from reference_model.config import (
    MULTI_IMAGE_LAYOUTS,
    RESIZE_BACKENDS,
    VIDEO_NEWLINE_POSITIONS,
    VIDEO_POOL_MODES,
    resolve_grid_pinpoints,
)

from ..model_spec import DTYPES, UNPAD_ROUNDINGS, ModelSpec
from ..threshold import DEFAULT_SWEEP_THRESHOLDS, DEFAULT_THRESHOLD, parse_threshold

MODEL_HELP = "tiny | arch:0.5b[?layers=N] | PATH or hub id (HF or original layout) | hf:PATH (default: tiny)"


# ---- argument types ---------------------------------------------------------------------------
def _int_at_least(text: str, minimum: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer >= 0")


def threshold(text: str) -> int | None:
    """``none`` (no cap) or a positive integer tau."""
    try:
        return parse_threshold(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {text!r}") from None


def _list_of(parse: Any, what: str) -> Any:
    def parse_list(text: str) -> list:
        values = [parse(t) for t in text.split(",") if t.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}")
        return list(dict.fromkeys(values))

    return parse_list


threshold_list = _list_of(threshold, "thresholds (integers or 'none')")
frames_list = _list_of(positive_int, "frame counts")


def task_list(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of task names")
    return names


def grid_pinpoints_arg(text: str) -> str:
    """``ov`` | ``next`` | ``WxH,WxH,...``: validated now, kept as written (it is also a store key)."""
    try:
        resolve_grid_pinpoints(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip().lower()


# ---- groups of flags --------------------------------------------------------------------------
def add_tasks_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tasks",
        type=task_list,
        required=True,
        metavar="T1,T2",
        help="comma-separated task names, lmms-eval task or group names, or suites (see `ov-bench tasks`)",
    )


def add_task_arguments(parser: argparse.ArgumentParser, *, limit_help: str) -> None:
    """--tasks, --data, --limit, --seed: which docs."""
    add_tasks_argument(parser)
    parser.add_argument(
        "--data", default="hub", help="hub | samples | DIR (a local copy of the hub repos; default: hub)"
    )
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N", help=limit_help)
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the --limit subset and torch (default 0)"
    )


def add_model_arguments(
    parser: argparse.ArgumentParser, *, axes: bool = False, runtime: bool = True, generation: bool = True
) -> None:
    """The flags of a ModelSpec. ``axes``: --thresholds and --frames take lists (sweep, tokens) instead
    of one value (run); ``runtime``: dtype, device and placement; ``generation``: the flags that change
    pixels, the prompt's text or decoding but not visual-token counts."""
    parser.add_argument("--model", default="tiny", help=MODEL_HELP)
    if axes:
        parser.add_argument(
            "--thresholds",
            type=threshold_list,
            default=list(DEFAULT_SWEEP_THRESHOLDS),
            metavar="T1,T2",
            help="grid-token thresholds tau, integers or 'none' (default: 729,2916,6561,none)",
        )
    else:
        parser.add_argument(
            "--max-grid-tokens",
            type=threshold,
            default=DEFAULT_THRESHOLD,
            metavar="TAU|none",
            help=f"AnyRes grid-token threshold tau (anyres_max_9 = {DEFAULT_THRESHOLD}, the default); "
            "none = no cap",
        )
    parser.add_argument(
        "--frames",
        type=frames_list if axes else positive_int,
        default=None,
        metavar="F1,F2" if axes else "F",
        help=("a list of video frame counts" if axes else "video frames per sample")
        + ", the cap with --frame-sampling fps (default: the checkpoint's: 32, LLaVA-Video 64)",
    )
    if runtime:
        parser.add_argument(
            "--dtype",
            choices=DTYPES,
            default="auto",
            help="auto (default): float16 on CUDA as the original loader, float32 on CPU",
        )
        parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
        add_placement_arguments(parser)
    parser.add_argument(
        "--unpad-rounding",
        choices=UNPAD_ROUNDINGS,
        default="original",
        help="reference model only: unpad rounding of the original code (default) or of transformers",
    )
    parser.add_argument(
        "--multi-image-layout",
        choices=MULTI_IMAGE_LAYOUTS,
        default=None,
        help="several images in one prompt: eval = 729 tokens each, no newline (lmms-eval's "
        "evaluated path, the default); train = 730 (training and transformers' port)",
    )
    parser.add_argument(
        "--video-layout",
        choices=VIDEO_NEWLINE_POSITIONS,
        default=None,
        help="mm_newline_position of the video path (default: the checkpoint's; OV one_token, "
        "LLaVA-Video grid)",
    )
    parser.add_argument(
        "--video-pool",
        choices=VIDEO_POOL_MODES,
        default=None,
        help="mm_spatial_pool_mode, stride 2 (default: the checkpoint's; OV bilinear 14x14, "
        "LLaVA-Video's evaluation average 13x13)",
    )
    parser.add_argument(
        "--grid-pinpoints",
        type=grid_pinpoints_arg,
        default=None,
        metavar="ov|next|WxH,...",
        help="AnyRes grid set: ov (1x1..6x6 of 384), next (LLaVA-NeXT's five shapes of 384) or "
        "a list of WxH sizes (default: the checkpoint's)",
    )
    parser.add_argument(
        "--frame-sampling",
        choices=SAMPLING_MODES,
        default=None,
        help="video frames: uniform = F linspace frames (OV); fps = 1 frame a second capped at F, "
        "uniform above the cap (LLaVA-Video's evaluation). Default: the checkpoint's "
        "(LLaVA-Video fps, else uniform)",
    )
    parser.add_argument(
        "--force-sample",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fps sampling: always take F uniform frames (llava_vid's force_sample; off by default, "
        "as in LLaVA-Video's official evaluation)",
    )
    if not generation:
        return
    parser.add_argument(
        "--time-instruction",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="LLaVA-Video's 'The video lasts for ... seconds ...' line before the question "
        "(off by default, as in its official evaluation; its training used it)",
    )
    parser.add_argument(
        "--image-resize",
        choices=RESIZE_BACKENDS,
        default=None,
        help="bicubic resize backend of image preprocessing (default: pil for the reference "
        "model, as the original code; for hf: the checkpoint's own image processor)",
    )
    parser.add_argument(
        "--no-generation-config",
        action="store_true",
        help="ignore the checkpoint's generation_config.json (its eos ids, repetition_penalty)",
    )


def add_placement_arguments(parser: argparse.ArgumentParser) -> None:
    """--device-map, --max-memory, --offload-folder (run, sweep, train)."""
    add_device_map_argument(parser)
    parser.add_argument(
        "--max-memory",
        default=None,
        metavar="0=70GiB,1=70GiB,cpu=200GiB",
        help="memory per device for --device-map (GPU indices count within this process's GPUs)",
    )
    parser.add_argument(
        "--offload-folder",
        default=None,
        metavar="DIR",
        help="where weights mapped to disk are kept (allows disk offload)",
    )


def add_device_map_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device-map",
        default=None,
        metavar="auto|balanced|sequential|FILE.json",
        help="split the model across devices with accelerate (SigLIP and Qwen2 layers are never "
        "split); FILE.json maps module names to a GPU index, cpu or disk (tokens: FILE.json only, "
        "costed per architecture)",
    )


def add_engine_arguments(parser: argparse.ArgumentParser, *, output_default: str) -> None:
    """How the samples are run and kept: output, decoding budget, prefetch, resume, timers, progress."""
    parser.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help=f"output directory (default: {output_default}); reuse it to resume",
    )
    parser.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=None,
        metavar="N",
        help="override the tasks' max_new_tokens",
    )
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=2,
        help="prefetch threads decoding media and preprocessing ahead of the model (0 = inline)",
    )
    parser.add_argument("--retry-errors", action="store_true", help="on resume, run error rows again")
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="skip per-stage timers and peak-memory probes (end-to-end time is still recorded)",
    )
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="before timing, one untimed call on a tiny synthetic input (a 32x32 image, 2 new "
        "tokens) for kernel and allocator warm-up; its cost is results.json's run.warmup_s "
        "(default: on)",
    )
    add_progress_argument(parser)


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_json_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", default=None, metavar="FILE", help=f"also write {what} as JSON to FILE")


# ---- the parsed flags as values ------------------------------------------------------------------
_SPEC_FLAGS = (
    "model",
    "max_grid_tokens",
    "frames",
    "dtype",
    "device",
    "device_map",
    "max_memory",
    "offload_folder",
    "unpad_rounding",
    "multi_image_layout",
    "video_layout",
    "video_pool",
    "grid_pinpoints",
    "frame_sampling",
    "force_sample",
    "time_instruction",
    "image_resize",
)


def model_spec(args: argparse.Namespace, **fields: Any) -> ModelSpec:
    """The ModelSpec of the parsed flags (a command without a flag keeps the field's default);
    ``fields`` override (a sweep's list-valued --frames and --thresholds are its axes, not one value)."""
    values = {name: getattr(args, name) for name in _SPEC_FLAGS if hasattr(args, name)}
    if getattr(args, "no_generation_config", False):
        values["use_generation_config"] = False
    values.update(fields)
    return ModelSpec(**values)
