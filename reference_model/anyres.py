"""Higher AnyRes with bilinear interpolation (``anyres_max_N``), as small pure functions.

Arithmetic (no tensors) and the matching feature-space operations live side by side so the
analytic token count and the model share one definition of every shape. Facts: docs/model.md s. 2-3.
Sizes are (width, height) for images, as PIL reports them; grid pinpoints are (height, width).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .config import DEFAULT_MAX_GRID_TOKENS, PATCHES_PER_SIDE, TOKENS_PER_CROP, default_grid_pinpoints

CROP = 384
_DEFAULT_PINPOINTS = tuple(default_grid_pinpoints())


def select_best_resolution(width: int, height: int, grid_pinpoints: Sequence[Sequence[int]]) -> tuple[int, int]:
    """The (width, height) candidate keeping the most original pixels, then wasting the least."""
    best, best_effective, best_wasted = None, -1, math.inf
    for cand_h, cand_w in grid_pinpoints:
        scale = min(cand_w / width, cand_h / height)
        effective = min(int(width * scale) * int(height * scale), width * height)
        wasted = cand_w * cand_h - effective
        if effective > best_effective or (effective == best_effective and wasted < best_wasted):
            best, best_effective, best_wasted = (cand_w, cand_h), effective, wasted
    return best


def resized_size_for_canvas(width: int, height: int, canvas_w: int, canvas_h: int) -> tuple[int, int]:
    """Size of the image resized to fit the canvas keeping aspect ratio (the short side rounds up)."""
    scale_w, scale_h = canvas_w / width, canvas_h / height
    if scale_w < scale_h:
        return canvas_w, min(math.ceil(height * scale_w), canvas_h)
    return min(math.ceil(width * scale_h), canvas_w), canvas_h


def _round(x: float, rounding: str) -> int:
    return int(x) if rounding == "original" else int(round(x, 7))


def unpadded_shape(width: int, height: int, grid_h: int, grid_w: int, rounding: str = "original") -> tuple[int, int]:
    """(rows, cols) of a grid_h x grid_w feature map after removing the letterbox padding."""
    if width / height > grid_w / grid_h:
        new_h = _round(height * (grid_w / width), rounding)
        pad = (grid_h - new_h) // 2
        return grid_h - 2 * pad, grid_w
    new_w = _round(width * (grid_h / height), rounding)
    pad = (grid_w - new_w) // 2
    return grid_h, grid_w - 2 * pad


def interpolated_shape(rows: int, cols: int, max_grid_tokens: int | None) -> tuple[int, int]:
    """Shape after the threshold step: shrink when the map exceeds tau by more than 1.1x (linear)."""
    if max_grid_tokens is None:
        return rows, cols
    times = math.sqrt(rows * cols / max_grid_tokens)
    if times > 1.1:
        return int(rows // times), int(cols // times)
    return rows, cols


def image_grid_shape(
    width: int,
    height: int,
    *,
    max_grid_tokens: int | None = DEFAULT_MAX_GRID_TOKENS,
    unpad_rounding: str = "original",
    grid_pinpoints: Sequence[Sequence[int]] | None = None,
) -> tuple[int, int]:
    """(rows, cols) of the crop-feature map of one image after unpad and threshold (before newlines)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image has a zero or negative side: {width}x{height}")
    best_w, best_h = select_best_resolution(width, height, grid_pinpoints or _DEFAULT_PINPOINTS)
    grid_h, grid_w = best_h // CROP * PATCHES_PER_SIDE, best_w // CROP * PATCHES_PER_SIDE
    rows, cols = unpadded_shape(width, height, grid_h, grid_w, unpad_rounding)
    return interpolated_shape(rows, cols, max_grid_tokens)


def count_image_tokens(
    width: int,
    height: int,
    *,
    max_grid_tokens: int | None = DEFAULT_MAX_GRID_TOKENS,
    unpad_rounding: str = "original",
    grid_pinpoints: Sequence[Sequence[int]] | None = None,
) -> int:
    """Visual tokens of one image alone in a prompt: 729 base tokens + rows * (cols + 1)."""
    rows, cols = image_grid_shape(
        width, height, max_grid_tokens=max_grid_tokens, unpad_rounding=unpad_rounding, grid_pinpoints=grid_pinpoints
    )
    return TOKENS_PER_CROP + rows * (cols + 1)


def count_multi_image_tokens(num_images: int) -> int:
    """Several images in one prompt: each padded to a square and encoded as one crop + newline."""
    return num_images * (TOKENS_PER_CROP + 1)


def pooled_side(pool_stride: int = 2) -> int:
    return math.ceil(PATCHES_PER_SIDE / pool_stride)


def count_video_tokens(num_frames: int, pool_stride: int = 2) -> int:
    """A video of F frames: each frame pooled to ceil(27/stride)^2 tokens, one newline at the end."""
    return num_frames * pooled_side(pool_stride) ** 2 + 1


def count_prompt_visual_tokens(
    image_sizes: Sequence[tuple[int, int]],
    num_video_frames: Sequence[int] = (),
    *,
    max_grid_tokens: int | None = DEFAULT_MAX_GRID_TOKENS,
    unpad_rounding: str = "original",
    pool_stride: int = 2,
) -> int:
    """All visual tokens of one prompt, following the model's single- vs multi-image rule."""
    if len(image_sizes) == 1:
        images = count_image_tokens(*image_sizes[0], max_grid_tokens=max_grid_tokens, unpad_rounding=unpad_rounding)
    else:
        images = count_multi_image_tokens(len(image_sizes))
    return images + sum(count_video_tokens(f, pool_stride) for f in num_video_frames)
