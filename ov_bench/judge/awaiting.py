"""Which stored rows await the LLM judge, and the one line a run ends with when some do.

A stored row awaits the judge when
- its scoring failed at the judge (error ``judge: ...``) in an earlier invocation (each invocation
  tries a sample's judge calls once; the run then exits 1 and a rerun tries again),
- it is scored by a judge and was judged by another judge model (``--judge-model`` changed).

Rows of group-judged tasks (VideoChatGPT consistency, MMBench's CircularEval groups, whose records flag
``AWAITING_JUDGE_KEY`` until their group is judged) are judged by group in engine/judge_pass.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ov_bench.judge.cli import is_judged

JUDGE_ERROR = "judge:"  # the error prefix of a sample whose judge call failed


def awaits_judge(row: Any, task: Any, judge_model: str) -> bool:
    if row.response is None:
        return False
    if row.error is not None:
        return row.error.startswith(JUDGE_ERROR)
    if getattr(task, "group_judged", False):
        return False  # its groups are judged by engine/judge_pass.py judge_groups
    if is_judged(task):
        return row.judge_model != judge_model
    return row.judge_model is not None and row.judge_model != judge_model


def awaiting_judge_line(rows: Sequence[Any]) -> str | None:
    """The one line a run prints (and exits 1 with) when samples await the judge; None when none do."""
    waiting = [r for r in rows if r.error and r.error.startswith(JUDGE_ERROR)]
    if not waiting:
        return None
    reason, _ = Counter(r.error[len(JUDGE_ERROR) :].strip() for r in waiting).most_common(1)[0]
    return (
        f"ov-bench: {len(waiting)} sample(s) await the LLM judge ({reason}); rerun the same command to "
        "judge only those, without running the model again"
    )
