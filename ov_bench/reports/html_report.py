"""A :class:`~ov_bench.reports.document.Report` as one self-contained HTML page (the run's report.html and
the sweep's): CSS inline, PNGs embedded as base64 data URIs, no script and no external URL, so the file
opens from disk in a browser, can be attached to a CI run or mailed as it is. :func:`write_report_files`
writes a report's two files and its PNGs.
"""

from __future__ import annotations

import html
from pathlib import Path

from ov_bench.outputs.results import REPORT_HTML, REPORT_MD
from ov_bench.reports.document import Report, inline_html, render_markdown

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; white-space: nowrap; } td.short { white-space: nowrap; }
figure { margin: 1rem 0; } figcaption { font-size: 0.85rem; color: #555; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
code { background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; font-size: 0.9em; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.5rem; white-space: pre-wrap;
      word-break: break-word; font-size: 0.8rem; max-height: 20rem; overflow: auto; }
.banner { padding: 0.6rem 0.9rem; margin: 0.6rem 0; font-weight: 600; }
.banner.warning { background: #fde2e1; border-left: 5px solid #c62828; color: #7f1010; }
.banner.note { background: #fff6d6; border-left: 5px solid #e0b400; }
.example { border: 1px solid #ddd; border-radius: 4px; padding: 0.4rem 0.7rem; margin: 0.6rem 0; }
.example .label { font-weight: 600; }
"""


def render_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
    ]
    parts += [f'<p class="banner {html.escape(b.kind)}">{inline_html(b.text)}</p>' for b in report.banners]
    for section in report.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [block.html() for block in section.blocks]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report_files(output_dir: Path, report: Report) -> tuple[Path, Path]:
    """report.md, report.html and the figures' PNGs into ``output_dir`` (a run's and a sweep's report)."""
    output_dir = Path(output_dir)
    for figure in report.figures():
        (output_dir / figure.name).write_bytes(figure.png)
    md_path, html_path = output_dir / REPORT_MD, output_dir / REPORT_HTML
    md_path.write_text(render_markdown(report))
    html_path.write_text(render_html(report))
    return md_path, html_path
