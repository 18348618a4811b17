"""The LLaVA-OneVision reference model: config, AnyRes arithmetic, model, processor, checkpoints."""

from .anyres import (
    count_image_tokens,
    count_multi_image_tokens,
    count_prompt_visual_tokens,
    count_video_tokens,
    image_grid_shape,
)
from .config import PRESETS, AnyResConfig, ModelConfig, TextConfig, TokenIds, VisionConfig, preset_config

__all__ = [
    "PRESETS",
    "AnyResConfig",
    "LlavaOneVision",
    "ModelConfig",
    "TextConfig",
    "TokenIds",
    "VisionConfig",
    "count_image_tokens",
    "count_multi_image_tokens",
    "count_prompt_visual_tokens",
    "count_video_tokens",
    "image_grid_shape",
    "preset_config",
]


def __getattr__(name: str):
    # torch/transformers load only when the model itself is asked for.
    if name == "LlavaOneVision":
        from .modeling import LlavaOneVision

        return LlavaOneVision
    raise AttributeError(name)
