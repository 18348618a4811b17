"""Example prompts and responses of a run, per task: a few right, wrong and unparseable samples from the
rows (samples.sqlite), so a reader sees what the model was asked and what it answered.

right: full credit (score >= 1); wrong: parsed, less than full credit (partial credit included, the
score says how much); unparseable: the task could not parse the response (``parse_failed``). Rows with
errors, or without a score (an unjudged sample), are not examples. The prompt is the text the model got
(chat template, media placeholders), recorded in the row's record by ``engine.sample``; rows of older
stores have none. Long texts are cut to :data:`MAX_CHARS`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ov_bench.mdtable import fmt
from ov_bench.reports.document import fence, inline_html

KINDS = ("right", "wrong", "unparseable")
PER_KIND = 2
MAX_CHARS = 800


def example_kind(row: Any) -> str | None:
    if row.error is not None:
        return None
    if row.parse_failed:
        return "unparseable"
    if row.score is None:
        return None
    return "right" if row.score >= 1.0 else "wrong"


def pick_examples(rows: Sequence[Any], per_kind: int = PER_KIND) -> dict[str, list[Any]]:
    """The first ``per_kind`` rows of each kind, in the rows' order (the task's seeded doc order)."""
    picked: dict[str, list[Any]] = {k: [] for k in KINDS}
    for row in rows:
        kind = example_kind(row)
        if kind is not None and len(picked[kind]) < per_kind:
            picked[kind].append(row)
    return picked


def _cut(text: str | None) -> str:
    if text is None:
        return "(not recorded)"
    return (
        text
        if len(text) <= MAX_CHARS
        else text[:MAX_CHARS] + f" ... [{len(text) - MAX_CHARS} more characters]"
    )


@dataclass
class Example:
    """One sample as a block: its kind, doc id, score and parsed answer, then prompt and response."""

    kind: str
    row: Any

    def _head(self) -> str:
        r = self.row
        parsed = "" if r.parsed is None else f", parsed `{r.parsed}`"
        return f"**{self.kind}**: doc `{r.doc_id}`, score {fmt(r.score)}{parsed}"

    def _prompt(self) -> str:
        return _cut((self.row.record or {}).get("prompt"))

    def markdown(self) -> str:
        return "\n\n".join(
            [self._head(), "prompt:", fence(self._prompt()), "response:", fence(_cut(self.row.response))]
        )

    def html(self) -> str:
        return (
            f'<div class="example example-{html.escape(self.kind)}"><p class="label">{inline_html(self._head())}'
            f"</p><p>prompt:</p><pre>{html.escape(self._prompt())}</pre>"
            f"<p>response:</p><pre>{html.escape(_cut(self.row.response))}</pre></div>"
        )


def example_blocks(rows: Sequence[Any]) -> list[Example]:
    picked = pick_examples(rows)
    return [Example(kind, row) for kind in KINDS for row in picked[kind]]
