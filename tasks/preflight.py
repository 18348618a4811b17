"""Preflight: are the media of the selected docs there? A stat per file, never a decode, so it runs
before the model loads and costs milliseconds per thousand docs.

Video tasks resolve the path lmms-eval's doc_to_visual would open (a file, or a folder of frames for
MVBench's episodic_reasoning); image tasks check that each image cell lmms-eval's doc_to_visual uses
has bytes or an existing file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tasks.records import MediaError, TaskSpec


@dataclass(frozen=True)
class MissingMedia:
    doc_id: str
    reason: str  # one line: what was looked for and where


def missing_media(task: TaskSpec, docs: list[dict]) -> list[MissingMedia]:
    """The docs whose media cannot be found, with the reason."""
    check = getattr(task, "media_present", None)
    out = []
    for doc in docs:
        try:
            if check is not None:
                check(doc)
        except MediaError as e:
            out.append(MissingMedia(str(task.doc_id(doc)), str(e)))
    return out


def summarize(missing: list[MissingMedia], total: int) -> str:
    """One line: how many docs lack media and the most common kind of reason."""
    kinds = Counter(m.reason.split(": ", 1)[-1].split(" (")[0] for m in missing)
    top = ", ".join(f"{k} ({n})" for k, n in kinds.most_common(2))
    return f"{len(missing)}/{total} docs have no media: {top}"
