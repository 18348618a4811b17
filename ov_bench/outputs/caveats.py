"""What a task's scored samples carry as a caveat: media that decoded only with a warning, and responses
the task could not parse. results.json keeps per task

    "media_warnings": {"count": n, "doc_ids": [first 5], "kinds": {"truncated_image": n, ...}}
    "parse_failures": {"count": n, "scored": m, "share": n / m, "doc_ids": [first 5]}

and the summary and the reports print them (``reports.summary.caveat_lines``). A media warning is what a row's record holds under
``media_warning`` (``engine.sample``: one or more ``"<label>: <message>"`` joined by ``"; "``); such
samples are scored as lmms-eval scores them, and ``--strict-media`` makes them error rows instead. A parse
failure is a scored row with ``parse_failed`` (the task fell back, e.g. lmms-eval's seeded random choice
for MMMU), so its score is partly chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_DOC_IDS = 5
WARNING_KEY = "media_warning"

# How a warning's message names its kind (first match wins); anything else is "other". A new kind of
# media warning adds its phrase here.
WARNING_KINDS = (
    ("truncated image", "truncated_image"),
    ("fewer frames", "short_video"),
    ("short video", "short_video"),
    ("unreadable", "unreadable_video"),
    ("subtitle", "missing_subtitles"),
)


def warning_kind(message: str) -> str:
    text = message.lower()
    return next((kind for phrase, kind in WARNING_KINDS if phrase in text), "other")


def row_warnings(row: Any) -> list[str]:
    """The media warnings recorded on one row (none for rows without a record)."""
    text = (row.record or {}).get(WARNING_KEY)
    return [w.strip() for w in str(text).split("; ") if w.strip()] if text else []


def media_warnings(rows: Sequence[Any]) -> dict[str, Any]:
    """Samples whose media decoded with a warning: how many, the first doc ids, and warnings per kind."""
    doc_ids: list[str] = []
    kinds: dict[str, int] = {}
    for row in rows:
        warnings = row_warnings(row)
        if not warnings:
            continue
        doc_ids.append(str(row.doc_id))
        for w in warnings:
            kind = warning_kind(w)
            kinds[kind] = kinds.get(kind, 0) + 1
    return {"count": len(doc_ids), "doc_ids": doc_ids[:MAX_DOC_IDS], "kinds": kinds}


def parse_failures(rows: Sequence[Any]) -> dict[str, Any]:
    """Scored samples (no error) whose response the task could not parse, and their share of them."""
    scored = [r for r in rows if r.error is None]
    failed = [str(r.doc_id) for r in scored if r.parse_failed]
    return {
        "count": len(failed),
        "scored": len(scored),
        "share": len(failed) / len(scored) if scored else None,
        "doc_ids": failed[:MAX_DOC_IDS],
    }
