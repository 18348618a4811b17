"""A synthetic training set whose answers are in the pixels: coloured shapes in images, multi-image
sets and short videos, as LLaVA conversation JSON with media files beside it.

Deterministic for a given seed. Questions (answers are one or two words, so a tiny model learns them
in a few dozen steps and an evaluation can check them):

- single image: "What colour is the shape?" -> "red"; "What shape is shown?" -> "circle"
- multi-image: "What colour is the shape in the second image?" -> "blue"
- video: "Which way does the square move?" -> "left" / "right"; "What colour is the square?" -> "green"
- long video (LONG_VIDEO_SECONDS s at LONG_VIDEO_FPS fps, 64x64): the same questions on clips long enough
  that LLaVA-Video's 1 fps sampling takes fewer frames than a uniform 64 (16 at the video recipe's cap)

``answer_style="letter"`` asks for the answer's first letter instead ("... Answer with one letter." ->
"r"): the tiny model's byte-level tokenizer spells words one byte at a time, and a one-letter answer
lets a test see the visual signal being learned within a few dozen steps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .media import write_video

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 50), "blue": (30, 60, 220), "yellow": (235, 215, 30)}
SHAPES = ("square", "circle", "triangle")
ORDINALS = ("first", "second", "third")
SIZES = ((64, 64), (96, 64), (64, 96), (80, 80))
SAMPLES_VERSION = 2  # a set's files never change within a version (long_video is a key of its own)
DEFAULT_COUNTS = {"single_image": 48, "multi_image": 16, "video": 16, "long_video": 8}
LONG_VIDEO_SECONDS, LONG_VIDEO_FPS = 16, 2


def _draw(shape: str, colour: str, size: tuple[int, int], rng: np.random.Generator):
    from PIL import Image, ImageDraw

    width, height = size
    background = tuple(int(v) for v in rng.integers(0, 40, 3))  # dark, so every colour stands out
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    side = int(min(width, height) * rng.uniform(0.7, 0.95))  # large: most patches see the colour
    x0 = int(rng.integers(0, width - side + 1))
    y0 = int(rng.integers(0, height - side + 1))
    box = (x0, y0, x0 + side - 1, y0 + side - 1)
    fill = COLOURS[colour]
    if shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([(x0 + side // 2, y0), (x0, y0 + side - 1), (x0 + side - 1, y0 + side - 1)], fill=fill)
    return image


ANSWER_STYLES = ("word", "letter")


def _conversation(question: str, answer: str, placeholders: str, style: str) -> list[dict]:
    if style == "letter":
        question, answer = question.split(" Answer ")[0] + " Answer with one letter.", answer[0]
    return [{"from": "human", "value": f"{placeholders}\n{question}"}, {"from": "gpt", "value": answer}]


def _single(i: int, rng: np.random.Generator, media: Path, style: str) -> dict:
    shape, colour = SHAPES[rng.integers(len(SHAPES))], list(COLOURS)[rng.integers(len(COLOURS))]
    name = f"images/single_{i:04d}.png"
    _draw(shape, colour, SIZES[rng.integers(len(SIZES))], rng).save(media / name)
    if i % 3 < 2:
        question, answer = "What colour is the shape?", colour
    else:
        question, answer = "What shape is shown?", shape
    return {
        "id": f"single_{i:04d}",
        "image": name,
        "conversations": _conversation(question, answer, "<image>", style),
    }


def _multi(i: int, rng: np.random.Generator, media: Path, style: str) -> dict:
    n = 2
    colours = rng.choice(list(COLOURS), size=n, replace=False).tolist()
    names = []
    for k, colour in enumerate(colours):
        name = f"images/multi_{i:04d}_{k}.png"
        _draw(SHAPES[rng.integers(len(SHAPES))], colour, SIZES[rng.integers(len(SIZES))], rng).save(
            media / name
        )
        names.append(name)
    which = int(rng.integers(n))
    question = f"What colour is the shape in the {ORDINALS[which]} image?"
    return {
        "id": f"multi_{i:04d}",
        "image": names,
        "conversations": _conversation(question, colours[which], " ".join(["<image>"] * n), style),
    }


def _video(
    i: int,
    rng: np.random.Generator,
    media: Path,
    style: str,
    frames: int = 4,
    size: int = 64,
    fps: int = 4,
    prefix: str = "video",
) -> dict:
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    direction = ("left", "right")[i % 2]
    side = size // 3
    y = int(rng.integers(0, size - side))
    xs = np.linspace(0, size - side, frames).astype(int)
    if direction == "left":
        xs = xs[::-1]
    clip = np.zeros((frames, size, size, 3), dtype=np.uint8)
    for f, x in enumerate(xs):
        clip[f, y : y + side, x : x + side] = COLOURS[colour]
    name = f"videos/{prefix}_{i:04d}.mp4"
    write_video(media / name, clip, fps=fps, codec="mpeg4", qscale=2)  # near lossless: colours survive
    if (i // 2) % 2 == 0:
        question, answer = "Which way does the square move? Answer left or right.", direction
    else:
        question, answer = "What colour is the square?", colour
    # LLaVA's video records write <image> as the placeholder; the loader maps it to <video>.
    return {
        "id": f"{prefix}_{i:04d}",
        "video": name,
        "conversations": _conversation(question, answer, "<image>", style),
    }


def make_synthetic_set(
    directory: str | Path, counts: dict[str, int] | None = None, seed: int = 0, answer_style: str = "word"
) -> Path:
    """Write ``train.json`` and its media under ``directory``; returns the JSON's path.
    ``counts``: records per modality (single_image, multi_image, video, long_video)."""
    if answer_style not in ANSWER_STYLES:
        raise ValueError(f"answer_style must be one of {ANSWER_STYLES}, got {answer_style!r}")
    # long_video only when asked for (ensure_synthetic_set asks for the stages that train on it)
    counts = {**DEFAULT_COUNTS, "long_video": 0, **(counts or {})}
    unknown = set(counts) - set(DEFAULT_COUNTS)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; known: {', '.join(DEFAULT_COUNTS)}")
    media = Path(directory).expanduser()
    (media / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    records = [_single(i, rng, media, answer_style) for i in range(counts["single_image"])]
    records += [_multi(i, rng, media, answer_style) for i in range(counts["multi_image"])]
    records += [_video(i, rng, media, answer_style) for i in range(counts["video"])]
    records += [
        _video(
            i,
            rng,
            media,
            answer_style,
            frames=LONG_VIDEO_SECONDS * LONG_VIDEO_FPS,
            fps=LONG_VIDEO_FPS,
            prefix="long_video",
        )
        for i in range(counts["long_video"])
    ]
    path = media / "train.json"
    path.write_text(json.dumps(records, indent=1))
    return path


def cache_root() -> Path:
    """OV_BENCH_CACHE, default ~/.cache/ov-bench (the same cache the evaluation samples use)."""
    return Path(os.environ.get("OV_BENCH_CACHE") or Path.home() / ".cache" / "ov-bench").expanduser()


def ensure_synthetic_set(modalities: tuple[str, ...] = ("single_image",), seed: int = 0) -> Path:
    """The cached synthetic set holding ``modalities`` (generated on first use); returns its JSON."""
    counts = {m: (DEFAULT_COUNTS[m] if m in modalities else 0) for m in DEFAULT_COUNTS}
    key = "-".join(m for m in DEFAULT_COUNTS if counts[m]) or "empty"
    directory = cache_root() / "train-samples" / f"v{SAMPLES_VERSION}-seed{seed}-{key}"
    marker = directory / ".complete"
    if not marker.is_file():
        # Build in a temporary sibling and rename, so concurrent processes never see half a set.
        tmp = directory.with_name(f"{directory.name}.tmp{os.getpid()}")
        make_synthetic_set(tmp, counts, seed)
        (tmp / ".complete").write_text(json.dumps(counts))
        try:
            tmp.rename(directory)
        except OSError:  # another process won the race; its set is identical
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return directory / "train.json"
