"""Higher AnyRes with bilinear interpolation (``anyres_max_N``), as small pure functions.

Arithmetic (no tensors) and the matching feature-space operations live side by side so the
analytic token count and the model share one definition of every shape. Facts: docs/model.md s. 2-3.
Sizes are (width, height) for images, as PIL reports them; grid pinpoints are (height, width).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .config import (
    DEFAULT_MAX_GRID_TOKENS,
    PATCHES_PER_SIDE,
    TOKENS_PER_CROP,
    VIDEO_POOL_STRIDE,
    ModelConfig,
    default_grid_pinpoints,
    validate_multi_image_layout,
    validate_video_layout,
)

CROP = 384
_DEFAULT_PINPOINTS = tuple(default_grid_pinpoints())


def select_best_resolution(
    width: int, height: int, grid_pinpoints: Sequence[Sequence[int]]
) -> tuple[int, int]:
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


def unpadded_shape(
    width: int, height: int, grid_h: int, grid_w: int, rounding: str = "original"
) -> tuple[int, int]:
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
        width,
        height,
        max_grid_tokens=max_grid_tokens,
        unpad_rounding=unpad_rounding,
        grid_pinpoints=grid_pinpoints,
    )
    return TOKENS_PER_CROP + rows * (cols + 1)


def count_multi_image_tokens(num_images: int, multi_image_layout: str = "eval") -> int:
    """Several images in one prompt, each padded to a square and encoded as one 384 crop: 729 tokens per
    image on the evaluated path (``eval``, no newline), 729 + 1 newline in training / transformers (``train``)."""
    validate_multi_image_layout(multi_image_layout)
    return num_images * (TOKENS_PER_CROP + (multi_image_layout == "train"))


def pooled_side(pool_mode: str = "bilinear") -> int:
    """Side of a frame's 27x27 map after the video path's stride-2 pooling: 14 (bilinear, ceil(27/2)),
    13 (average / max: a 2x2 kernel with stride 2 drops the last row and column)."""
    validate_video_layout("one_token", pool_mode)
    if pool_mode == "bilinear":
        return math.ceil(PATCHES_PER_SIDE / VIDEO_POOL_STRIDE)
    return (PATCHES_PER_SIDE - VIDEO_POOL_STRIDE) // VIDEO_POOL_STRIDE + 1


def count_video_tokens(
    num_frames: int,
    pool_stride: int = VIDEO_POOL_STRIDE,
    *,
    newline_position: str = "one_token",
    pool_mode: str = "bilinear",
) -> int:
    """A video of F frames, each pooled to r x r tokens, then newlines by ``mm_newline_position``:
    grid F*r*(r+1), frame F*(r*r+1), one_token F*r*r + 1, no_token F*r*r. ``pool_stride`` is accepted
    for old callers only: the original video path always pools with stride 2."""
    if pool_stride != VIDEO_POOL_STRIDE:
        raise ValueError(f"the video path pools with stride {VIDEO_POOL_STRIDE}, got {pool_stride}")
    validate_video_layout(newline_position, pool_mode)
    r = pooled_side(pool_mode)
    per_frame = {"grid": r * (r + 1), "frame": r * r + 1}.get(newline_position, r * r)
    return num_frames * per_frame + (newline_position == "one_token")


def count_prompt_visual_tokens(
    image_sizes: Sequence[tuple[int, int]],
    num_video_frames: Sequence[int] = (),
    *,
    max_grid_tokens: int | None = DEFAULT_MAX_GRID_TOKENS,
    unpad_rounding: str = "original",
    pool_stride: int = VIDEO_POOL_STRIDE,
    multi_image_layout: str = "eval",
    grid_pinpoints: Sequence[Sequence[int]] | None = None,
    video_newline_position: str = "one_token",
    video_pool_mode: str = "bilinear",
) -> int:
    """All visual tokens of one prompt, following the model's single- vs multi-image rule."""
    if len(image_sizes) == 1:
        images = count_image_tokens(
            *image_sizes[0],
            max_grid_tokens=max_grid_tokens,
            unpad_rounding=unpad_rounding,
            grid_pinpoints=grid_pinpoints,
        )
    else:
        images = count_multi_image_tokens(len(image_sizes), multi_image_layout)
    return images + sum(
        count_video_tokens(f, pool_stride, newline_position=video_newline_position, pool_mode=video_pool_mode)
        for f in num_video_frames
    )


def count_for_config(
    config: ModelConfig, image_sizes: Sequence[tuple[int, int]], num_video_frames: Sequence[int] = ()
) -> int:
    """``count_prompt_visual_tokens`` with every layout setting taken from a model config."""
    anyres = config.anyres
    return count_prompt_visual_tokens(
        image_sizes,
        num_video_frames,
        max_grid_tokens=anyres.max_grid_tokens,
        unpad_rounding=anyres.unpad_rounding,
        multi_image_layout=config.multi_image_layout,
        grid_pinpoints=anyres.grid_pinpoints,
        video_newline_position=config.video_newline_position,
        video_pool_mode=config.video_pool_mode,
    )
