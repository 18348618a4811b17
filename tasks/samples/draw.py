"""Drawing and writing helpers for the generated sample sets.

Images are simple scenes drawn with PIL (coloured shapes, bar charts, text pages) so answers can be
read off the pixels; sizes cycle through a list covering tiny, square, panoramic, tall and large
images so AnyRes visual-token counts vary. Everything is seeded: the same version writes the same
bytes. Parquet files are written through `datasets` with the benchmark's Features, so image cells
are the hub's {"bytes", "path"} structs and the schema metadata matches a hub download.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

# (width, height): tiny, square, common photo sizes, panoramic, tall, large, and the two sizes where
# the original and HF unpad rounding disagree (docs/model.md section 2).
SIZES: list[tuple[int, int]] = [
    (384, 384),
    (24, 18),
    (640, 480),
    (1600, 300),
    (300, 1200),
    (1024, 768),
    (2000, 1500),
    (820, 369),
    (96, 160),
    (1280, 720),
    (571, 1713),
    (512, 1024),
]

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 30),
    "purple": (140, 60, 180),
    "orange": (245, 140, 20),
}
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS = [(255, 255, 255), (235, 235, 225), (30, 30, 40), (200, 225, 245)]


def size_at(i: int) -> tuple[int, int]:
    return SIZES[i % len(SIZES)]


def _shape(draw: Any, shape: str, box: tuple[float, float, float, float], fill: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)


def shapes_image(rng: random.Random, size: tuple[int, int], items: list[tuple[str, str]]) -> Image.Image:
    """A scene with one shape per (colour, shape) item, laid out on a grid so they never overlap."""
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size, rng.choice(BACKGROUNDS))
    draw = ImageDraw.Draw(img)
    n = max(1, len(items))
    cols = max(1, round((n * w / max(h, 1)) ** 0.5))
    rows = -(-n // cols)
    cw, ch = w / cols, h / rows
    for k, (color, shape) in enumerate(items):
        r, c = divmod(k, cols)
        pad = 0.15 + 0.1 * rng.random()
        box = (c * cw + pad * cw, r * ch + pad * ch, (c + 1) * cw - pad * cw, (r + 1) * ch - pad * ch)
        _shape(draw, shape, box, COLORS[color])
    return img


def random_scene(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` (colour, shape) pairs for ``shapes_image``."""
    return [(rng.choice(list(COLORS)), rng.choice(SHAPES)) for _ in range(n)]


def bar_chart(
    rng: random.Random, size: tuple[int, int], labels: list[str], values: list[float]
) -> Image.Image:
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    top = max(values) or 1.0
    bw = w / (2 * len(values) + 1)
    palette = list(COLORS.values())
    for i, (label, v) in enumerate(zip(labels, values)):
        x0 = bw * (2 * i + 1)
        y0 = h * 0.9 - (h * 0.75) * v / top
        draw.rectangle((x0, y0, x0 + bw, h * 0.9), fill=palette[i % len(palette)])
        draw.text((x0, h * 0.92), label, fill=(0, 0, 0), font=_font(max(8, int(h * 0.04))))
        draw.text((x0, max(0, y0 - h * 0.06)), f"{v:g}", fill=(0, 0, 0), font=_font(max(8, int(h * 0.04))))
    return img


def text_page(rng: random.Random, size: tuple[int, int], lines: list[str]) -> Image.Image:
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(img)
    step = h / (len(lines) + 1)
    font = _font(max(8, int(min(step * 0.6, w / 25))))
    for i, line in enumerate(lines):
        draw.text((w * 0.05, step * (i + 0.5)), line, fill=(10, 10, 10), font=font)
    return img


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def encode(img: Image.Image, name: str, fmt: str = "PNG") -> dict[str, Any]:
    """An image cell as the hub stores it: {"bytes", "path"}."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return {"bytes": buf.getvalue(), "path": name}


def write_parquet(rows: list[dict], features: dict[str, Any], path: Path) -> None:
    """Write rows with `datasets` Features (hub-identical schema and metadata)."""
    import datasets
    from datasets.utils import logging as ds_logging

    path.parent.mkdir(parents=True, exist_ok=True)
    ds = datasets.Dataset.from_list(rows, features=datasets.Features(features))
    bars = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        ds.to_parquet(str(path))
    finally:
        if bars:
            ds_logging.enable_progress_bar()


def letters(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)]
