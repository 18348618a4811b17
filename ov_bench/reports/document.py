"""A report as data: a title, banners and sections of blocks, each block able to write itself as Markdown
and as HTML. The run's and the sweep's reports build one :class:`Report` and render it twice
(``render_markdown`` here, ``html_report.render_html`` for the page; ``html_report.write_report_files``
writes both with the figures), so report.md and report.html never say different things.

A block is anything with ``markdown() -> str`` and ``html() -> str``: :class:`Text` (inline Markdown:
```code``` and ``**bold**``), :class:`Heading`, :class:`Bullets`, :class:`Table` (cells through ``mdtable.fmt``),
:class:`Figure` (a PNG: a file beside report.md, embedded in the page), :class:`Preformatted`, and
:class:`Raw` for a section written by hand in both formats.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ov_bench.mdtable import fmt, md_table


class Block(Protocol):
    def markdown(self) -> str: ...

    def html(self) -> str: ...


SHORT_CELL = 32  # characters: a text cell up to this long stays on one line in HTML
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def inline_html(text: str) -> str:
    """Escaped text with the inline Markdown the reports use (```code```, ``**bold**``) as HTML."""
    out = html.escape(str(text))
    out = _CODE.sub(r"<code>\1</code>", out)
    return _BOLD.sub(r"<strong>\1</strong>", out)


def fence(text: str, info: str = "") -> str:
    """A fenced Markdown code block that no run of backticks inside ``text`` can close early."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


@dataclass
class Text:
    text: str

    def markdown(self) -> str:
        return self.text

    def html(self) -> str:
        return f"<p>{inline_html(self.text)}</p>"


@dataclass
class Heading:
    """A sub-heading inside a section (a task's name, say)."""

    text: str

    def markdown(self) -> str:
        return f"### {self.text}"

    def html(self) -> str:
        return f"<h3>{inline_html(self.text)}</h3>"


@dataclass
class Bullets:
    items: Sequence[str]

    def markdown(self) -> str:
        return "\n".join(f"- {item}" for item in self.items)

    def html(self) -> str:
        return "<ul>" + "".join(f"<li>{inline_html(item)}</li>" for item in self.items) + "</ul>"


@dataclass
class Table:
    """Rows of values, formatted by ``mdtable.fmt`` (``units[i]`` for column i; None: a plain number)."""

    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    units: Sequence[str | None] | None = None
    caption: str = ""
    empty: str = "none"

    def _units(self) -> list[str | None]:
        units = list(self.units or [])
        return units + [None] * (len(self.header) - len(units))

    def markdown(self) -> str:
        body = md_table(self.header, self.rows, units=self.units) if self.rows else self.empty
        return f"**{self.caption}**\n\n{body}" if self.caption else body

    def html(self) -> str:
        caption = f"<p><strong>{inline_html(self.caption)}</strong></p>" if self.caption else ""
        if not self.rows:
            return caption + f"<p>{html.escape(self.empty)}</p>"
        units = self._units()
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in self.header)
        body = []
        for row in self.rows:
            cells = []
            for value, unit in zip(row, units):
                text = fmt(value, unit)
                numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
                # numbers right-aligned; short labels (tau-2916) never broken over lines
                cls = ' class="num"' if numeric else (' class="short"' if len(text) <= SHORT_CELL else "")
                cells.append(f"<td{cls}>{html.escape(text)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (
            f'{caption}<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )


@dataclass
class Figure:
    """A PNG written as ``name`` beside report.md and embedded (base64) in report.html."""

    name: str
    png: bytes
    caption: str = ""

    def markdown(self) -> str:
        return f"![{self.caption or self.name}]({self.name})"

    def html(self) -> str:
        uri = "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")
        alt = html.escape(self.caption or self.name)
        return f'<figure><img alt="{alt}" src="{uri}"><figcaption>{alt}</figcaption></figure>'


@dataclass
class Preformatted:
    text: str

    def markdown(self) -> str:
        return fence(self.text)

    def html(self) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"


@dataclass
class Raw:
    """A block written by hand in both formats (the HTML is trusted: escape what you put in it)."""

    markdown_text: str
    html_text: str

    def markdown(self) -> str:
        return self.markdown_text

    def html(self) -> str:
        return self.html_text


@dataclass
class Banner:
    """A line above everything else: ``warning`` (random weights) or ``note`` (sample data)."""

    text: str
    kind: str = "warning"


@dataclass
class Section:
    title: str
    blocks: list[Any] = field(default_factory=list)

    @classmethod
    def from_html(cls, title: str, html_text: str, markdown_text: str = "") -> Section:
        """A section from hand-written HTML (and its Markdown; empty: the page's only)."""
        return cls(title, [Raw(markdown_text or "(see report.html)", html_text)])


@dataclass
class Report:
    title: str
    banners: list[Banner] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]


def render_markdown(report: Report) -> str:
    out = [f"# {report.title}", ""]
    for banner in report.banners:
        out += [f"> **{banner.text}**", ""]
    for section in report.sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            out += [block.markdown(), ""]
    return "\n".join(out)
