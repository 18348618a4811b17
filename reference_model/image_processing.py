"""Pixel preprocessing: AnyRes crops, multi-image pad-to-square, video frames.

Resizes are bicubic, by one of two backends (``ModelConfig.image_resize``):
- ``"pil"`` (default): PIL, as in the code the checkpoints were trained with (LLaVA-NeXT ``mm_utils``
  + SigLIP's image processor) and transformers 5's ``LlavaOnevisionImageProcessorPil``;
- ``"torchvision"``: torchvision's antialiased bicubic on uint8 tensors, as transformers 5's default
  ``LlavaOnevisionImageProcessor`` (what ``AutoProcessor`` builds). The two differ by up to one uint8 level.
Padding, cropping and normalisation are batched tensor ops. Output is float32 normalised with
mean = std = 0.5, shape [N, 3, 384, 384].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from .anyres import CROP, resized_size_for_canvas, select_best_resolution
from .config import RESIZE_BACKENDS

MEAN_COLOR = (127, 127, 127)  # int(0.5 * 255): the pad colour for multi-image mode


def validate_resize_backend(backend: str) -> str:
    if backend not in RESIZE_BACKENDS:
        raise ValueError(f"image resize backend must be one of {', '.join(RESIZE_BACKENDS)}, got {backend!r}")
    return backend


def _to_rgb(image: Image.Image) -> Image.Image:
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image, got {type(image).__name__}")
    if image.width <= 0 or image.height <= 0:
        raise ValueError(f"image has a zero side: {image.width}x{image.height}")
    return image if image.mode == "RGB" else image.convert("RGB")


def _chw_uint8(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


def resize_chw(image: Image.Image, width: int, height: int, backend: str = "pil") -> torch.Tensor:
    """Bicubic resize of an RGB image to uint8 [3, height, width] with the chosen backend."""
    if backend == "pil":
        return _chw_uint8(image.resize((width, height), Image.BICUBIC))
    if backend == "torchvision":
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as tvF

        return tvF.resize(
            _chw_uint8(image), [height, width], interpolation=InterpolationMode.BICUBIC, antialias=True
        )
    raise ValueError(validate_resize_backend(backend))


def normalize(pixels_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [..., 3, H, W] -> float32 in [-1, 1] (rescale 1/255, mean = std = 0.5)."""
    return (pixels_uint8.to(torch.float32) * (1 / 255) - 0.5) / 0.5


def anyres_crops(
    image: Image.Image, grid_pinpoints: Sequence[Sequence[int]], resize: str = "pil"
) -> torch.Tensor:
    """Base view + row-major 384x384 crops of the letterboxed best-fit resolution, uint8 [1+n, 3, 384, 384]."""
    image = _to_rgb(image)
    width, height = image.size
    best_w, best_h = select_best_resolution(width, height, grid_pinpoints)
    new_w, new_h = resized_size_for_canvas(width, height, best_w, best_h)
    canvas = torch.zeros(3, best_h, best_w, dtype=torch.uint8)
    top, left = (best_h - new_h) // 2, (best_w - new_w) // 2
    canvas[:, top : top + new_h, left : left + new_w] = resize_chw(image, new_w, new_h, resize)
    gh, gw = best_h // CROP, best_w // CROP
    crops = canvas.view(3, gh, CROP, gw, CROP).permute(1, 3, 0, 2, 4).reshape(gh * gw, 3, CROP, CROP)
    base = resize_chw(image, CROP, CROP, resize)
    return torch.cat([base[None], crops], dim=0)


def pad_to_square(image: Image.Image, color: tuple[int, int, int] = MEAN_COLOR) -> Image.Image:
    image = _to_rgb(image)
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new("RGB", (side, side), color)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


def multi_image_crop(image: Image.Image, resize: str = "pil") -> torch.Tensor:
    """One image of a multi-image prompt: pad to a square with the mean colour, resize to 384, uint8 [1, 3, 384, 384]."""
    return resize_chw(pad_to_square(image), CROP, CROP, resize)[None]


def video_frames(frames, resize: str = "pil") -> torch.Tensor:
    """Frames (list of PIL images or uint8 [F, H, W, 3]) resized to 384x384 without padding, uint8 [F, 3, 384, 384]."""
    if isinstance(frames, np.ndarray) or isinstance(frames, torch.Tensor):
        array = np.asarray(frames)
        if array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] == 0:
            raise ValueError(f"video frames must be uint8 [F, H, W, 3] with F > 0, got shape {array.shape}")
        frames = [Image.fromarray(f.astype(np.uint8, copy=False)) for f in array]
    if len(frames) == 0:
        raise ValueError("a video needs at least one frame")
    resized = [resize_chw(_to_rgb(f), CROP, CROP, resize) for f in frames]
    return torch.stack(resized)
