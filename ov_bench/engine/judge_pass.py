"""The judging pass a run makes after its model loop (rank 0): stored samples that await this judge
(ov_bench/judge/awaiting.py) are judged again from their stored responses, and group-judged tasks get
their groups judged. The model is never run here.

Group-judged tasks (``group_judged = True``; VideoChatGPT consistency's question pairs, and any task
whose lmms-eval aggregation judges several samples together, such as MMBench's circular groups)
provide ``judge_groups(records) -> list[list[int]]`` (indices of records judged together, records in
document order) and ``judge_group(records) -> float`` (one score for the group, called inside a
judge session, on copies of the records that it may update: MMBench puts the letter the judge read
into each record). The pass stores the group's exchanges and score on every row of the group
(``record["judge_group"]``, ``record["group_score"]``, ``record["group_judge_model"]``) and clears
``AWAITING_JUDGE_KEY``; a row's score is its record's own ``score``, else the group's.

Stored successful exchanges of the same judge model answer identical requests again (no HTTP call),
so a partly judged sample only sends what is missing.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any

from ov_bench.adapters.base import Generation
from ov_bench.engine.sample import score_into_row
from ov_bench.judge.awaiting import JUDGE_ERROR, awaits_judge
from ov_bench.judge.scoring import replaying
from tasks.judging import (
    AWAITING_JUDGE_KEY,
    Exchange,
    JudgeConfig,
    JudgeError,
    judge_scope,
    judge_session,
)

log = logging.getLogger(__name__)

_KEPT_RECORD_KEYS = ("media_warning", "warnings")  # what the model call left in a record


def rescore(row: Any, task: Any, doc: dict) -> Any:
    """Score a stored row's response again (the run's judge scope must be open)."""
    kept = {k: row.record[k] for k in _KEPT_RECORD_KEYS if row.record and k in row.record}
    gen = Generation(
        text=row.response,
        new_tokens=row.new_tokens or 0,
        visual_positions=row.visual_tokens_measured or 0,
        prompt_tokens=row.prompt_tokens or 0,
    )
    row.error = row.record = row.score = row.parsed = row.parse_failed = None
    row.judge_model, row.judge_exchanges = None, None
    score_into_row(row, task, doc, gen)
    if row.record is not None:
        row.record.update(kept)
    row.finished_at = time.time()
    return row


def judge_pending(store: Any, plans: Sequence[Any], identity: Any, judge: JudgeConfig, since: float) -> int:
    """Re-judge the stored rows of ``plans`` that await ``judge`` (rows written at or after ``since``,
    this invocation's, are left alone) and judge complete groups. Returns the number of rows written."""
    written = 0
    with judge_scope(judge):
        for plan in plans:
            written += _rescore_pending(store, plan, identity, judge.model, since)
            if getattr(plan.task, "group_judged", False):
                written += judge_groups(store, plan, identity, judge.model)
    return written


def _stored_exchanges(store: Any, row: Any, judge_model: str) -> list[dict]:
    return store.judge_exchanges(row.task, row.doc_id, row.model_key, row.threshold, judge_model)


def _rescore_pending(store: Any, plan: Any, identity: Any, judge_model: str, since: float) -> int:
    docs = dict(zip(plan.doc_ids, plan.docs))
    rows = store.rows(identity.model_key, identity.threshold, plan.name)
    todo = [
        r
        for r in rows
        if r.doc_id in docs and r.finished_at < since and awaits_judge(r, plan.task, judge_model)
    ]
    if todo:
        log.info("%s: judging %d stored response(s) with %s", plan.name, len(todo), judge_model)
    for row in todo:
        with replaying(_stored_exchanges(store, row, judge_model)):
            rescore(row, plan.task, docs[row.doc_id])
        store.write(row)
    return len(todo)


def judge_groups(store: Any, plan: Any, identity: Any, judge_model: str) -> int:
    """Judge every group of a group-judged task not yet judged by ``judge_model``; the group's exchanges
    and score go on each of its rows (a failure: each row awaits the judge)."""
    task = plan.task
    order = {doc_id: i for i, doc_id in enumerate(plan.doc_ids)}
    rows = [
        r
        for r in store.rows(identity.model_key, identity.threshold, plan.name)
        if r.ok and r.record is not None and r.doc_id in order
    ]
    rows.sort(key=lambda r: order[r.doc_id])  # lmms-eval forms its groups in document order
    written = 0
    for indices in task.judge_groups([r.record for r in rows]):
        group = [rows[i] for i in indices]
        if all(r.record.get("group_judge_model") == judge_model for r in group):
            continue
        replay = [Exchange.from_dict(e) for e in _stored_exchanges(store, group[0], judge_model)]
        records = [copy.deepcopy(r.record) for r in group]  # judge_group's updates count only on success
        error = None
        with judge_session(replay) as session:
            try:
                score = task.judge_group(records)
            except JudgeError as exc:
                error = str(exc).splitlines()[0] if str(exc) else "judge call failed"
        exchanges = [e.to_dict() for e in session.exchanges]
        for row, record in zip(group, records):
            row.judge_model, row.judge_exchanges = judge_model, exchanges
            row.finished_at = time.time()
            for key in ("judge_group", "group_score", "group_judge_model"):
                row.record.pop(key, None)
            if error is not None:
                row.error, row.score = f"{JUDGE_ERROR} {error}", None
                continue
            record.pop(AWAITING_JUDGE_KEY, None)
            record.update(
                judge_group=[r.doc_id for r in group], group_score=score, group_judge_model=judge_model
            )
            row.record = record
            row.score = score if record.get("score") is None else float(record["score"])
            row.parsed = None if record.get("parsed") is None else str(record["parsed"])
            row.parse_failed = bool(record.get("parse_failed", False))
        store.write_many(group)
        written += len(group)
    return written
