"""The model's layout, preprocessing and decoding flags, shared by run, sweep and tokens.

Not a command itself (no NAME): ``add_layout_arguments`` adds the flags, ``layout_options`` turns the
parsed namespace into the keyword arguments ``adapters.load_adapter`` (and the planner) take. Every
default is None, meaning "what the checkpoint's config says"; the facts behind each choice are in
``reference_model.config``.
"""

from __future__ import annotations

import argparse

from reference_model.config import MULTI_IMAGE_LAYOUTS, VIDEO_NEWLINE_POSITIONS, VIDEO_POOL_MODES


def grid_pinpoints_arg(text: str) -> str:
    """``ov`` | ``next`` | ``WxH,WxH,...``: validated now, kept as written (it is also a store key)."""
    from reference_model.config import resolve_grid_pinpoints

    try:
        resolve_grid_pinpoints(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip().lower()


def add_layout_arguments(parser: argparse.ArgumentParser, *, generation: bool = True) -> None:
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
        choices=("uniform", "fps"),
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
    if generation:  # flags that change pixels, the prompt's text or decoding, not visual token counts
        parser.add_argument(
            "--time-instruction",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="LLaVA-Video's 'The video lasts for ... seconds ...' line before the question "
            "(off by default, as in its official evaluation; its training used it)",
        )
        parser.add_argument(
            "--image-resize",
            choices=("pil", "torchvision"),
            default=None,
            help="bicubic resize backend of image preprocessing (default: pil for the reference "
            "model, as the original code; for hf: the checkpoint's own image processor)",
        )
        parser.add_argument(
            "--no-generation-config",
            action="store_true",
            help="ignore the checkpoint's generation_config.json (its eos ids, repetition_penalty)",
        )


def layout_options(args: argparse.Namespace) -> dict:
    """The parsed flags as load_adapter keyword arguments (absent flags are left out)."""
    options = {
        "multi_image_layout": args.multi_image_layout,
        "video_layout": args.video_layout,
        "video_pool": args.video_pool,
        "grid_pinpoints": args.grid_pinpoints,
        "image_resize": getattr(args, "image_resize", None),
        "frame_sampling": getattr(args, "frame_sampling", None),
        "force_sample": getattr(args, "force_sample", None),
        "time_instruction": getattr(args, "time_instruction", None),
    }
    options = {k: v for k, v in options.items() if v is not None}
    if getattr(args, "no_generation_config", False):
        options["use_generation_config"] = False
    return options


def planner_layout(args: argparse.Namespace) -> tuple:
    """The flags as ``count_prompt_visual_tokens`` keywords, hashable for the planner's cache."""
    from reference_model.config import resolve_grid_pinpoints

    layout = {
        "multi_image_layout": args.multi_image_layout,
        "video_newline_position": args.video_layout,
        "video_pool_mode": args.video_pool,
    }
    if args.grid_pinpoints is not None:
        layout["grid_pinpoints"] = tuple(resolve_grid_pinpoints(args.grid_pinpoints))
    return tuple(sorted((k, v) for k, v in layout.items() if v is not None))
