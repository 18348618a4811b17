"""Image cells: decoding them (the timed "media decode" stage) and reading their size from headers.

A cell is what a hub parquet row holds for a `datasets.Image` feature: {"bytes": ..., "path": ...}
(bytes win; a relative path is resolved against the doc's media root), or an already decoded
PIL image, or a plain path string. Every failure is a MediaError naming the doc and column.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.records import MEDIA_ROOT_KEY, MediaError

if TYPE_CHECKING:
    from PIL import Image


def _open(cell: Any, doc: dict, label: str):
    """An opened (lazy, header parsed) PIL image for a cell."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(cell, Image.Image):
        return cell
    data: bytes | None = None
    path: str | None = None
    if isinstance(cell, dict):
        data, path = cell.get("bytes"), cell.get("path")
    elif isinstance(cell, (bytes, bytearray)):
        data = bytes(cell)
    elif isinstance(cell, (str, os.PathLike)):
        path = os.fspath(cell)
    else:
        raise MediaError(f"{label}: unsupported image cell of type {type(cell).__name__}")
    try:
        if data:
            return Image.open(io.BytesIO(data))
        if path:
            resolved = resolve_path(path, doc)
            if not resolved.is_file():
                raise MediaError(f"{label}: image file not found: {resolved}")
            return Image.open(resolved)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise MediaError(f"{label}: cannot decode image ({type(e).__name__}: {e})") from None
    raise MediaError(f"{label}: image cell has neither bytes nor path")


def resolve_path(path: str, doc: dict) -> Path:
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    root = doc.get(MEDIA_ROOT_KEY)
    return Path(root) / p if root else p


_strict_lock = threading.Lock()


def decode_image(cell: Any, doc: dict, label: str) -> Image.Image:
    """Fully decode a cell; the pixel data is read here, so corrupt data fails here.

    lmms-eval sets PIL's global ImageFile.LOAD_TRUNCATED_IMAGES = True at import, which makes a
    truncated file decode silently with grey filler. ov-bench reports it as a MediaError instead, so
    the flag is switched off while this image loads."""
    return _load(_open(cell, doc, label), label, truncated_ok=False)


def _load(img: Image.Image, label: str, truncated_ok: bool) -> Image.Image:
    """Read the pixels with PIL's LOAD_TRUNCATED_IMAGES set for this one image only (under a lock, so
    no other thread's decode sees it) and put back as it was."""
    from PIL import ImageFile

    try:
        with _strict_lock:
            previous = ImageFile.LOAD_TRUNCATED_IMAGES
            ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok
            try:
                img.load()
            finally:
                ImageFile.LOAD_TRUNCATED_IMAGES = previous
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt pixel data
        raise MediaError(f"{label}: cannot decode image ({type(e).__name__}: {e})") from None
    return img


TRUNCATED_WARNING = "truncated image decoded with grey filler (as lmms-eval decodes it)"


def decode_image_lenient(
    cell: Any, doc: dict, label: str, strict: bool = False
) -> tuple[Image.Image, str | None]:
    """(image, warning) decoded as lmms-eval decodes it: lmms-eval sets PIL's LOAD_TRUNCATED_IMAGES
    globally at import, so a truncated file decodes with grey filler and is scored. Here the flag is
    set only around the second attempt at this one image (under a lock), never left switched on; a
    truncated image comes back with a warning. strict=True: a truncated image is a MediaError."""
    try:
        return decode_image(cell, doc, label), None
    except MediaError as e:
        if strict or "truncated" not in str(e).lower():
            raise
    return _load(_open(cell, doc, label), label, truncated_ok=True), f"{label}: {TRUNCATED_WARNING}"


def check_cell(cell: Any, doc: dict, label: str) -> None:
    """MediaError unless the cell has bytes or names an existing file (a stat, no decode)."""
    if isinstance(cell, dict):
        if cell.get("bytes"):
            return
        path = cell.get("path")
    elif isinstance(cell, (str, os.PathLike)):
        path = os.fspath(cell)
    else:
        return  # decoded image or raw bytes: present
    if not path:
        raise MediaError(f"{label}: image cell has neither bytes nor path")
    resolved = resolve_path(path, doc)
    if not resolved.is_file():
        raise MediaError(f"{label}: image file not found ({resolved})")


def image_size(cell: Any, doc: dict, label: str) -> tuple[int, int]:
    """(width, height) from the image header only; no pixel decode."""
    return tuple(_open(cell, doc, label).size)  # type: ignore[return-value]


def is_image_cell(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return bool(value.get("bytes") or value.get("path"))
    return True
