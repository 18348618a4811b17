"""What a task's scored samples carry as a caveat: media that decoded only with a warning, and responses
the task could not parse. results.json keeps per task

    "media_warnings": {"count": n, "doc_ids": [first 5], "kinds": {"truncated_image": n, ...}}  (samples)
    "parse_failures": {"count": n, "scored": m, "share": n / m, "doc_ids": [first 5]}

and the summary and the reports print them (``reports.summary.caveat_lines``). A media warning is what a row's record holds under
``media_warning`` (``engine.sample``: one or more ``"<label>: <message>"`` joined by ``"; "``: a truncated
image, a missing subtitle archive); such
samples are scored as lmms-eval scores them, and ``--strict-media`` makes them error rows instead. A parse
failure is a scored row with ``parse_failed`` (the task fell back, e.g. lmms-eval's seeded random choice
for MMMU), so its score is partly chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_DOC_IDS = 5
WARNING_KEY = "media_warning"

# How a warning's text names its kind; a row counts once per kind whose phrase its warning text holds, and
# under "other" when it holds none. A new kind of media warning adds its phrase here. (Rows join several
# warnings with "; ", which a warning's own text may also hold, so the text is searched, not split.)
WARNING_KINDS = (
    ("truncated image", "truncated_image"),
    ("fewer frames", "short_video"),
    ("short video", "short_video"),
    ("unreadable", "unreadable_video"),
    ("subtitle.zip", "missing_subtitles"),
    ("no subtitle", "missing_subtitles"),
)


def warning_kinds(text: str) -> list[str]:
    """The kinds a row's warning text names, in WARNING_KINDS order (["other"] when none)."""
    lowered = text.lower()
    kinds = [kind for phrase, kind in WARNING_KINDS if phrase in lowered]
    return list(dict.fromkeys(kinds)) or ["other"]


def row_warning(row: Any) -> str | None:
    """The media warning text recorded on one row (None for rows without a record or a warning)."""
    return (row.record or {}).get(WARNING_KEY) or None


def media_warnings(rows: Sequence[Any]) -> dict[str, Any]:
    """Samples whose media decoded with a warning: how many, the first doc ids, and samples per kind."""
    doc_ids: list[str] = []
    kinds: dict[str, int] = {}
    for row in rows:
        text = row_warning(row)
        if not text:
            continue
        doc_ids.append(str(row.doc_id))
        for kind in warning_kinds(str(text)):
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
