"""Configuration dataclasses for the reference LLaVA-OneVision model and its presets.

Facts in docs/model.md section 1. A preset name may carry depth overrides:
``0.5b?layers=2`` (LLM layers) or ``0.5b?layers=2&vision_layers=1``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from .tokenizer import TINY_SPECIAL_IDS, TINY_VOCAB_SIZE

PATCHES_PER_SIDE = 27  # 384 / 14
TOKENS_PER_CROP = PATCHES_PER_SIDE * PATCHES_PER_SIDE  # 729
DEFAULT_MAX_GRID_TOKENS = 9 * TOKENS_PER_CROP  # anyres_max_9 -> 6561

UNPAD_ROUNDINGS = ("original", "hf")
# Several images in one prompt: "eval" = the path behind the published numbers (lmms-eval stacks the
# padded images into one 4-D tensor, which skips the newline: 729 per image); "train" = training data
# and transformers' port (a list of images: 729 + 1 newline = 730 per image).
MULTI_IMAGE_LAYOUTS = ("eval", "train")
# The original code's video layouts (``mm_newline_position``, ``mm_spatial_pool_mode``).
VIDEO_NEWLINE_POSITIONS = ("grid", "frame", "one_token", "no_token")
VIDEO_POOL_MODES = ("average", "bilinear", "max")
# bicubic resize backend of image preprocessing: PIL as the original code, or torchvision
RESIZE_BACKENDS = ("pil", "torchvision")
VIDEO_POOL_STRIDE = 2  # the original video path pools with stride 2 whatever mm_spatial_pool_stride says
# LLaVA-NeXT's five grid shapes, scaled to OV's 384 crops, as (width, height) the way the original
# code reads ``image_grid_pinpoints``.
NEXT_GRID_WH = ((384, 768), (768, 384), (768, 768), (1152, 384), (384, 1152))
GRID_PINPOINT_SETS = ("ov", "next")


def default_grid_pinpoints(crop: int = 384, max_side: int = 6) -> list[tuple[int, int]]:
    """(height, width) candidates 384*i x 384*j for i, j in 1..6, in the HF config's order."""
    return [(crop * i, crop * j) for i in range(1, max_side + 1) for j in range(1, max_side + 1)]


@dataclass
class VisionConfig:
    hidden_size: int = 1152
    intermediate_size: int = 4304
    num_hidden_layers: int = 26  # the 27th SigLIP layer is dropped by the checkpoints
    num_attention_heads: int = 16
    image_size: int = 384
    patch_size: int = 14
    num_channels: int = 3
    layer_norm_eps: float = 1e-6
    hidden_act: str = "gelu_pytorch_tanh"

    def siglip_kwargs(self) -> dict:
        """transformers' SiglipVisionConfig keywords for this tower (no pooling head), as the model
        builds it and as save_pretrained writes it."""
        return dict(
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            image_size=self.image_size,
            patch_size=self.patch_size,
            layer_norm_eps=self.layer_norm_eps,
            hidden_act=self.hidden_act,
            vision_use_head=False,
        )


@dataclass
class TextConfig:
    hidden_size: int = 896
    intermediate_size: int = 4864
    num_hidden_layers: int = 24
    num_attention_heads: int = 14
    num_key_value_heads: int = 2
    vocab_size: int = 151936
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    max_position_embeddings: int = 32768
    tie_word_embeddings: bool = True
    hidden_act: str = "silu"

    def qwen2_kwargs(self) -> dict:
        """transformers' Qwen2Config keywords for this LLM, as the model builds it and as
        save_pretrained writes it."""
        return dict(
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            vocab_size=self.vocab_size,
            rms_norm_eps=self.rms_norm_eps,
            rope_theta=self.rope_theta,
            max_position_embeddings=self.max_position_embeddings,
            tie_word_embeddings=self.tie_word_embeddings,
        )


@dataclass
class AnyResConfig:
    grid_pinpoints: list[tuple[int, int]] = field(default_factory=default_grid_pinpoints)
    max_grid_tokens: int | None = DEFAULT_MAX_GRID_TOKENS  # tau; None = no cap
    unpad_rounding: str = "original"  # "original" (int truncation) | "hf" (int(round(x, 7)))


@dataclass
class TokenIds:
    image: int = 151646
    video: int = 151647
    eos: int = 151645  # <|im_end|>
    pad: int = 151643  # <|endoftext|>


@dataclass
class ModelConfig:
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    anyres: AnyResConfig = field(default_factory=AnyResConfig)
    token_ids: TokenIds = field(default_factory=TokenIds)
    multi_image_pad_to_square: bool = True  # >1 image per prompt: pad with mean colour, one 384 crop each
    multi_image_layout: str = "eval"  # see MULTI_IMAGE_LAYOUTS: 729 (eval) or 730 (train) tokens per image
    video_frames: int = 32
    video_pool_stride: int = VIDEO_POOL_STRIDE  # fixed: the video path ignores mm_spatial_pool_stride
    video_newline_position: str = "one_token"  # mm_newline_position (OV: one newline after all frames)
    video_pool_mode: str = "bilinear"  # mm_spatial_pool_mode (OV: 27x27 -> 14x14 bilinear)
    # Which family the checkpoint belongs to and the video defaults its own evaluation used
    # (LLaVA-Video: lmms-eval's llava_vid, at most 64 frames at 1 fps, no time instruction).
    family: str = "onevision"
    family_reason: str = "default"  # why the family was chosen (shown by `ov-bench models`)
    video_sampling: str = "uniform"  # "uniform" (linspace) | "fps" (1 fps, uniform above the cap)
    video_force_sample: bool = False  # fps sampling: always take video_frames uniform frames
    video_time_instruction: bool = False  # LLaVA-Video's "The video lasts for ..." line before the question
    # The lmms-eval model whose task prompts (lmms_eval_specific_kwargs) the evaluation uses:
    # llava_onevision (the default entries) or llava_vid (Video-MME: "The best answer is:").
    eval_model_name: str = "llava_onevision"
    # LLaVA-Video's training switches as its config.json records them (add_time_instruction, force_sample):
    # read from an original-layout config or set by the LLaVA-Video training recipe; written back on save.
    training_switches: dict = field(default_factory=dict)
    # Why each family default was chosen (family defaults only; shown by `ov-bench models`).
    default_reasons: dict = field(default_factory=dict)
    conv_template: str = "qwen_1_5"
    projector_act: str = "gelu"  # mlp2x_gelu uses exact (erf) GELU
    image_resize: str = (
        "pil"  # bicubic resize backend: "pil" (the original code) | "torchvision" (transformers 5)
    )
    preset: str | None = None

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)


def validate_max_grid_tokens(tau: int | None) -> int | None:
    if tau is None:
        return None
    if isinstance(tau, bool) or not isinstance(tau, int) or tau <= 0:
        raise ValueError(f"max_grid_tokens must be a positive integer or None, got {tau!r}")
    return tau


def validate_multi_image_layout(layout: str) -> str:
    if layout not in MULTI_IMAGE_LAYOUTS:
        raise ValueError(
            f"multi_image_layout must be one of {', '.join(MULTI_IMAGE_LAYOUTS)}, got {layout!r}"
        )
    return layout


def validate_video_layout(newline_position: str, pool_mode: str) -> tuple[str, str]:
    """Refuse a layout the model does not implement (never run a video with another layout)."""
    if newline_position not in VIDEO_NEWLINE_POSITIONS:
        raise ValueError(
            f"mm_newline_position {newline_position!r} is not implemented; "
            f"known: {', '.join(VIDEO_NEWLINE_POSITIONS)}"
        )
    if pool_mode not in VIDEO_POOL_MODES:
        raise ValueError(
            f"mm_spatial_pool_mode {pool_mode!r} is not implemented; known: {', '.join(VIDEO_POOL_MODES)}"
        )
    return newline_position, pool_mode


def resolve_grid_pinpoints(spec) -> list[tuple[int, int]]:
    """A grid set as (height, width) pairs: ``"ov"`` (384*i x 384*j, i, j in 1..6: 36 sizes), ``"next"``
    (LLaVA-NeXT's five shapes of 384), a string ``"WxH,WxH,..."`` (width first, as image sizes are
    written), or a list of (height, width) pairs. Every side must be a positive multiple of 384."""
    if isinstance(spec, str):
        name = spec.strip().lower()
        if name == "ov":
            return default_grid_pinpoints()
        if name == "next":
            return [(h, w) for w, h in NEXT_GRID_WH]
        pairs = []
        for part in filter(None, (p.strip() for p in name.split(","))):
            match = re.fullmatch(r"(\d+)x(\d+)", part)
            if not match:
                raise ValueError(
                    f"grid pinpoints must be ov, next or WxH,WxH,... (e.g. 384x768,768x384); got {spec!r}"
                )
            w, h = int(match.group(1)), int(match.group(2))
            pairs.append((h, w))
    else:
        try:
            pairs = [(int(h), int(w)) for h, w in spec]
        except (TypeError, ValueError):
            raise ValueError(f"grid pinpoints must be (height, width) pairs, got {spec!r}") from None
    if not pairs:
        raise ValueError(f"grid pinpoints are empty: {spec!r}")
    for h, w in pairs:
        if h <= 0 or w <= 0 or h % 384 or w % 384:
            raise ValueError(f"grid pinpoint {w}x{h} is not a positive multiple of 384 on both sides")
    return pairs


def grid_pinpoints_name(pinpoints) -> str:
    """``ov`` / ``next`` when the pairs are one of the named sets, else ``WxH,...``."""
    pairs = [tuple(p) for p in pinpoints]
    for name in GRID_PINPOINT_SETS:
        if pairs == resolve_grid_pinpoints(name):
            return name
    return ",".join(f"{w}x{h}" for h, w in pairs)


def validate_unpad_rounding(rounding: str) -> str:
    if rounding not in UNPAD_ROUNDINGS:
        raise ValueError(f"unpad_rounding must be one of {UNPAD_ROUNDINGS}, got {rounding!r}")
    return rounding


_QWEN2 = {
    "0.5b": TextConfig(896, 4864, 24, 14, 2, 151936, tie_word_embeddings=True),
    "7b": TextConfig(3584, 18944, 28, 28, 4, 152064, tie_word_embeddings=False),
    "72b": TextConfig(8192, 29568, 80, 64, 8, 152064, tie_word_embeddings=False),
}


def tiny_config() -> ModelConfig:
    """Random-weight model small enough for tests; keeps the real 384/14 geometry so token
    arithmetic is identical to the released models."""
    return ModelConfig(
        vision=VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2),
        text=TextConfig(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=TINY_VOCAB_SIZE,
            max_position_embeddings=16384,
            tie_word_embeddings=True,
        ),
        token_ids=TokenIds(**TINY_SPECIAL_IDS),
        preset="tiny",
    )


PRESETS = ("tiny", "0.5b", "7b", "72b")


def preset_config(spec: str) -> ModelConfig:
    """``tiny``, ``0.5b``, ``7b``, ``72b``, optionally with ``?layers=N&vision_layers=M``."""
    name, _, query = spec.partition("?")
    name = name.lower().removeprefix("arch:")
    if name == "tiny":
        cfg = tiny_config()
    elif name in _QWEN2:
        cfg = ModelConfig(text=dataclasses.replace(_QWEN2[name]), preset=name)
    else:
        raise ValueError(f"unknown preset {spec!r}; known: {', '.join(PRESETS)}")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in ("layers", "vision_layers"):
            raise ValueError(f"unknown preset option {key!r} in {spec!r}; known: layers, vision_layers")
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{key} must be a positive integer in {spec!r}")
        if key == "layers":
            cfg.text.num_hidden_layers = int(value)
        else:
            cfg.vision.num_hidden_layers = int(value)
    cfg.preset = spec
    return cfg
