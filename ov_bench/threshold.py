"""The AnyRes threshold tau: its one parser and its one stored form.

tau caps the grid tokens of a single image (``anyres_max_N`` is tau = N * 729); None means no cap.
Command-line flags (``--max-grid-tokens``, ``--thresholds``), the lmms-eval plugin's
``max_grid_tokens=`` model argument and the Python API all go through :func:`parse_threshold`; the
results store and the setting labels use :func:`threshold_key`.
"""

from __future__ import annotations

from typing import Any

DEFAULT_THRESHOLD = 6561  # anyres_max_9, the released LLaVA-OneVision setting
# what `sweep` and `tokens` compare by default: one crop, four, nine (the default) and no cap
DEFAULT_SWEEP_THRESHOLDS: tuple[int | None, ...] = (729, 2916, DEFAULT_THRESHOLD, None)
_NO_CAP = ("none", "null", "")


def parse_threshold(value: Any) -> int | None:
    """``None`` / ``"none"`` -> None (no cap); a positive integer (or its text) -> that int.
    Anything else raises ValueError with one line."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NO_CAP):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and int(text) >= 1:
            return int(text)
    elif (
        not isinstance(value, bool) and isinstance(value, (int, float)) and int(value) == value and value >= 1
    ):
        return int(value)
    raise ValueError(f"threshold must be a positive integer or 'none', got {value!r}")


def threshold_key(tau: int | None) -> str:
    """The stored threshold column: the integer tau as text, or ``"none"`` for no cap."""
    return "none" if tau is None else str(int(tau))
