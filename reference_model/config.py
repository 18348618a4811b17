"""Configuration dataclasses for the reference LLaVA-OneVision model and its presets.

Facts in docs/model.md section 1. A preset name may carry depth overrides:
``0.5b?layers=2`` (LLM layers) or ``0.5b?layers=2&vision_layers=1``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

PATCHES_PER_SIDE = 27  # 384 / 14
TOKENS_PER_CROP = PATCHES_PER_SIDE * PATCHES_PER_SIDE  # 729
DEFAULT_MAX_GRID_TOKENS = 9 * TOKENS_PER_CROP  # anyres_max_9 -> 6561

UNPAD_ROUNDINGS = ("original", "hf")


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
    multi_image_pad_to_square: bool = True  # >1 image per prompt: pad with mean colour, 730 tokens each
    video_frames: int = 32
    video_pool_stride: int = 2
    projector_act: str = "gelu"  # mlp2x_gelu uses exact (erf) GELU
    preset: str | None = None

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)


def validate_max_grid_tokens(tau: int | None) -> int | None:
    if tau is None:
        return None
    if isinstance(tau, bool) or not isinstance(tau, int) or tau <= 0:
        raise ValueError(f"max_grid_tokens must be a positive integer or None, got {tau!r}")
    return tau


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
    from .tokenizer import TINY_SPECIAL_IDS, TINY_VOCAB_SIZE

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
