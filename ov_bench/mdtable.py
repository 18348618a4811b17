"""Markdown tables for the reports and the PR-comment summaries (no extra dependency)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def fmt_cell(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table; None and NaN print as '-'."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt_cell(c, digits) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_number(value: Any, spec: str = ".4g") -> str:
    """A number with a format spec (``.1f``, ``.3g``); None and NaN print as '-'."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return format(value, spec)
