"""Numbers for people, and Markdown tables (no extra dependency).

:func:`fmt` is the one number formatter of every report, summary and plot axis: thousands separators,
no scientific notation above 1e-4, and units (``ms``, ``s`` with two decimals, ``bytes`` as
KiB/MiB/GiB, ``tokens``, ``share`` as a percentage). Tables name their unit in the header and pass
``unit`` only where the cell itself must carry it (bytes, whose unit changes with the size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MS = "ms"
SECONDS = "s"
BYTES = "bytes"
TOKENS = "tokens"
SHARE = "share"  # a fraction in [0, 1], printed as a percentage

_BINARY = ((2**30, "GiB", 2), (2**20, "MiB", 1), (2**10, "KiB", 1))


def _plain(value: float, digits: int) -> str:
    """A finite number: integers and anything from 1,000 up with separators and no decimals, the rest
    with ``digits`` significant digits (exponent notation only below 1e-4)."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def fmt_bytes(value: float) -> str:
    """Bytes in the largest binary unit that keeps the number at 1 or more: 1.50 GiB, 512.0 MiB."""
    for size, unit, decimals in _BINARY:
        if abs(value) >= size:
            return f"{value / size:,.{decimals}f} {unit}"
    return f"{int(value):,} B"


def fmt(value: Any, unit: str | None = None, digits: int = 4) -> str:
    """``value`` for people: None, NaN and inf as '-', booleans as yes/no, numbers with separators and
    ``unit`` (see the module doc); anything else as ``str``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    if unit == BYTES:
        return fmt_bytes(value)
    if unit == SHARE:
        return f"{value * 100:.1f}%"
    if unit == SECONDS and abs(value) < 1000:  # wall times: always two decimals
        return f"{value:.2f} s"
    text = _plain(value, digits)
    return f"{text} {unit}" if unit else text


def fmt_cell(value: Any, digits: int = 4, unit: str | None = None) -> str:
    """One Markdown table cell: :func:`fmt`, with pipes escaped and newlines flattened."""
    return fmt(value, unit, digits).replace("|", "\\|").replace("\n", " ")


def md_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    digits: int = 4,
    units: Sequence[str | None] | None = None,
) -> str:
    """A GitHub-flavoured Markdown table; None and NaN print as '-'; ``units[i]`` applies to column i."""
    units = list(units or []) + [None] * (len(header) - len(units or []))
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += [
        "| " + " | ".join(fmt_cell(c, digits, units[i]) for i, c in enumerate(row)) + " |" for row in rows
    ]
    return "\n".join(lines)
