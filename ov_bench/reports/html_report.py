"""A self-contained HTML page: headings, text, pandas tables and PNGs embedded as base64 data URIs.

No external resource (no CSS, script or image URL), so the file can be attached to a CI run, mailed
or opened offline as it is.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1rem 0; } figcaption { font-size: 0.85rem; color: #555; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.note { background: #fff6d6; border-left: 4px solid #e0b400; padding: 0.5rem 0.8rem; }
"""


@dataclass
class Image:
    name: str  # file name it is also written under (for report.md)
    png: bytes
    caption: str = ""


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)  # plain text (escaped)
    tables: list[tuple[str, Any]] = field(default_factory=list)  # (caption, pandas.DataFrame)
    images: list[Image] = field(default_factory=list)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def table_html(df: Any) -> str:
    return df.to_html(index=False, na_rep="-", border=0, float_format=lambda v: f"{v:.4g}", escape=True)


def render_html(title: str, sections: Sequence[Section], notes: Sequence[str] = ()) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
        for caption, df in section.tables:
            if caption:
                parts.append(f"<p><strong>{html.escape(caption)}</strong></p>")
            parts.append(table_html(df))
        for image in section.images:
            parts.append(
                f'<figure><img alt="{html.escape(image.caption or image.name)}" '
                f'src="{data_uri(image.png)}"><figcaption>{html.escape(image.caption)}</figcaption></figure>'
            )
    parts.append("</body></html>")
    return "\n".join(parts)
