"""Scoring one sample with the run's judge: a judge session around ``task.score``, its exchanges on the row.

The engine (engine/sample.py ``score_into_row``) calls :func:`score_sample` instead of ``task.score``.
Without a judge in scope the task scores as it always did (a judged task then raises JudgeError).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from tasks.judging import Exchange, active_scope, judge_session

# Stored exchanges that may answer this scoring's requests again (set by the re-judging pass).
_REPLAY: contextvars.ContextVar[list[dict] | None] = contextvars.ContextVar(
    "ov_bench_judge_replay", default=None
)


@contextlib.contextmanager
def replaying(exchanges: list[dict] | None) -> Iterator[None]:
    token = _REPLAY.set(exchanges)
    try:
        yield
    finally:
        _REPLAY.reset(token)


def score_sample(task: Any, doc: dict, response: str, row: Any) -> dict:
    """``task.score(doc, response)``; with a judge in scope, inside a judge session whose exchanges (and
    the judge model, for judged tasks or when a call was made) go to ``row`` even when scoring fails."""
    scope = active_scope()
    if scope is None:
        return task.score(doc, response)
    replay = [Exchange.from_dict(e) for e in _REPLAY.get() or ()]
    with judge_session(replay) as session:
        try:
            return task.score(doc, response)
        finally:
            if session.exchanges or getattr(task, "scoring", "local") == "judge":
                row.judge_model = scope.config.model
                row.judge_exchanges = [e.to_dict() for e in session.exchanges]
