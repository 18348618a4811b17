"""What every report and summary says first when its numbers are not benchmark results: random weights
(``tiny``, ``arch:`` presets: results.json's model block has ``random_weights: true``) and sample data."""

from __future__ import annotations

from typing import Any

from ov_bench.reports.document import Banner

RANDOM_WEIGHTS = "RANDOM WEIGHTS: scores are meaningless"


def random_weights_text(model: dict[str, Any]) -> str:
    return (
        f"{RANDOM_WEIGHTS}. `{model.get('id') or model.get('key')}` is a preset architecture with random "
        "weights (`random_weights: true`), not a trained checkpoint; latency, memory and token counts are real."
    )


def banners(model: dict[str, Any] | None, data: dict[str, Any] | None) -> list[Banner]:
    """The banners of a run's or a sweep's report (``model`` and ``data``: results.json's blocks)."""
    out = []
    if (model or {}).get("random_weights"):
        out.append(Banner(random_weights_text(model), "warning"))
    if (data or {}).get("samples"):
        out.append(Banner(str(data.get("note") or "SAMPLE DATA"), "note"))
    return out


def notice_lines(model: dict[str, Any] | None, data: dict[str, Any] | None) -> list[str]:
    """The same, as plain lines for the terminal."""
    return ["note: " + b.text.replace("`", "") for b in banners(model, data)]
