"""The original-layout config keys that choose the video layout and the checkpoint family.

Original-layout checkpoints (lmms-lab/llava-onevision-*, lmms-lab/LLaVA-Video-*-Qwen2) carry the
LlavaQwen keys ``mm_newline_position`` and ``mm_spatial_pool_mode``; LLaVA-Video's config also says
``add_time_instruction`` / ``force_sample`` (its video-training switches). ``mm_spatial_pool_stride``
is not read: the original video path pools with stride 2 whatever it says (it may be null).

A LLaVA-Video checkpoint gets the defaults of its own evaluated path, lmms-eval's ``llava_vid`` with
the official command (``conv_template=qwen_1_5, max_frames_num=64, mm_spatial_pool_mode=average``):
the config's newline position (grid), average pooling (13x13 + a newline per row = 182 per frame),
at most 64 frames sampled at 1 fps (uniform above the cap), no force_sample, no time instruction, the
qwen_1_5 template and llava_vid's task prompts (Video-MME: "The best answer is:"). The config's own
``add_time_instruction: true, force_sample: true`` say how the checkpoint was TRAINED; llava_vid's
model_args ``add_time_instruction`` and ``force_sample`` default to False and the official command sets
neither, so the evaluation defaults leave both off (``--time-instruction`` / ``--force-sample`` turn
them on; the LLaVA-Video training recipe turns the time instruction on). Every one stays overridable.
"""

from __future__ import annotations

from .config import ModelConfig, validate_video_layout

LLAVA_VIDEO_EVAL = {
    "video_pool_mode": "average",
    "video_frames": 64,
    "video_sampling": "fps",
    "video_force_sample": False,
    "video_time_instruction": False,
    "conv_template": "qwen_1_5",
    "eval_model_name": "llava_vid",
}
_OFFICIAL = "lmms-eval llava_vid, official command conv_template=qwen_1_5,max_frames_num=64,mm_spatial_pool_mode=average"
LLAVA_VIDEO_REASONS = {
    "video_layout": "mm_newline_position from config.json (grid) + mm_spatial_pool_mode=average of the official "
    "command (182 tokens per frame)",
    "video_frames": f"max_frames_num=64 ({_OFFICIAL})",
    "video_sampling": "llava_vid samples 1 frame a second (video_fps=1), uniform above the 64-frame cap",
    "force_sample": "llava_vid's force_sample model_arg defaults to False and the official command does not set it "
    "(config.json's force_sample: true is the training setting); --force-sample turns it on",
    "time_instruction": "llava_vid's add_time_instruction model_arg defaults to False and the official command does "
    "not set it (config.json's add_time_instruction: true is the training setting); "
    "--time-instruction turns it on",
    "conv_template": f"qwen_1_5 ({_OFFICIAL})",
    "prompts": "lmms-eval picks llava_vid's lmms_eval_specific_kwargs: Video-MME post-prompt 'The best answer is:'",
}


def detect_family(raw: dict) -> tuple[str, str]:
    """(family, why) of an original-layout config.json."""
    for key in ("add_time_instruction", "force_sample"):
        if raw.get(key) is True:
            return "llava-video", f"config.json sets {key}: true (LLaVA-Video's video training)"
    name = str(raw.get("_name_or_path", ""))
    if "llava-video" in name.lower():
        return "llava-video", f"config.json _name_or_path {name!r}"
    return "onevision", "no LLaVA-Video keys in config.json"


def apply_original_layout(config: ModelConfig, raw: dict) -> ModelConfig:
    """Set the video layout, family and family defaults of ``config`` from an original-layout config.json;
    a layout the model does not implement is refused with one line."""
    newline = raw.get("mm_newline_position") or "one_token"
    pool = raw.get("mm_spatial_pool_mode") or "bilinear"
    validate_video_layout(newline, pool)
    family, why = detect_family(raw)
    config.family, config.family_reason = family, why
    config.training_switches = {k: raw[k] for k in ("add_time_instruction", "force_sample") if k in raw}
    config.video_newline_position, config.video_pool_mode = newline, pool
    if family == "llava-video":
        for key, value in LLAVA_VIDEO_EVAL.items():
            setattr(config, key, value)
        config.default_reasons = dict(LLAVA_VIDEO_REASONS)
        # How it was trained, kept for the training recipe and `ov-bench models` (not an evaluation default).
        config.default_reasons["trained_with"] = (
            f"add_time_instruction={raw.get('add_time_instruction')}, force_sample={raw.get('force_sample')}"
        )
    return config


def time_instruction(duration: float, frame_times) -> str:
    """LLaVA-Video's time instruction, exactly as its evaluated path writes it."""
    times = ",".join(f"{t:.2f}s" for t in frame_times)
    return (
        f"The video lasts for {duration:.2f} seconds, and {len(frame_times)} frames are uniformly sampled "
        f"from it. These frames are located at {times}.Please answer the following questions related to this video."
    )


def checkpoint_defaults(directory) -> dict:
    """What a checkpoint directory gets by default, read from its JSON files only (no weights): family
    and why, video layout, frames, sampling, time instruction, template, decoding settings."""
    import json
    from pathlib import Path

    # local: generation imports torch; families stays torch-free for ModelSpec and ov-bench models/tokens
    from .generation import read_generation_config

    path = Path(directory) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no config.json, not a checkpoint directory")
    raw = json.loads(path.read_text())
    config = ModelConfig()
    video_keys = ("mm_newline_position", "mm_spatial_pool_mode", "add_time_instruction", "force_sample")
    if raw.get("model_type") == "llava_onevision" and not any(k in raw for k in video_keys):
        config.family_reason = "HF layout (llava_onevision): LLaVA-OneVision's layout"
    elif raw.get("model_type") == "llava_onevision":  # saved by ov-bench after a LLaVA-Video recipe
        apply_original_layout(config, raw)
    elif "mm_projector_type" in raw or "mm_vision_tower" in raw:
        apply_original_layout(config, raw)
    else:
        raise ValueError(f"{directory}: model type {raw.get('model_type')!r} is not LLaVA-OneVision")
    settings = read_generation_config(directory)
    return {
        "family": config.family,
        "why": config.family_reason,
        "video_layout": f"{config.video_newline_position} + {config.video_pool_mode}",
        "video_frames": config.video_frames,
        "video_sampling": config.video_sampling,
        "force_sample": config.video_force_sample,
        "time_instruction": config.video_time_instruction,
        "conv_template": config.conv_template,
        "prompts": config.eval_model_name,
        "multi_image_layout": config.multi_image_layout,
        "reasons": dict(config.default_reasons),
        "generation_config": settings.to_dict() if settings is not None else None,
    }
