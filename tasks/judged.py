"""What every LLM-judged task shares (scoring == "judge"): a judge session is required, each reply is
checked before lmms-eval parses it, and lmms-eval's aggregations run without writing outside the run.

The judged tasks call lmms-eval's own process_results and aggregations (prompts and reply parsing are
lmms-eval's, verbatim). What ov-bench adds, and why:

- ``check_judge_reply(reply)``: lmms-eval turns an unusable reply into a score (0, -1, an empty
  extraction) or loops on it (MMVet); here a reply that lmms-eval's own parser cannot read, or whose
  score is outside the prompt's range, fails the judge call, so the sample becomes an error row that
  a rerun judges again (tasks/judging/session.py).
- aggregations that take ``args`` write submission files under ``args.output_path`` (``./submissions``
  when it is None): they get a temporary directory, removed afterwards; aggregations that return
  None (submission metrics, MathVista at 0%) are left out instead of crashing ``float(None)``.
"""

from __future__ import annotations

import copy
import inspect
import re
import tempfile
from types import SimpleNamespace
from typing import Any, ClassVar

from tasks.judging import JudgeAbort, JudgeError, active_session
from tasks.lmms import call


class JudgedTask:
    """Mixin for LmmsTask subclasses scored by an LLM judge (put it first in the bases)."""

    scoring: ClassVar[str] = "judge"
    # lmms-eval 0.7.3's YAML metadata names the judge behind the published numbers where it says one.
    published_judge_model: ClassVar[str | None] = None

    def check_judge_reply(self, reply: str) -> str | None:
        """None if lmms-eval can read ``reply`` as a score in range, else why not."""
        return None

    def judge_modules(self) -> None:
        """Import (and route) the lmms-eval modules that call the judge; before the first score."""

    def score(self, doc: dict, response: str) -> dict:
        session = active_session()
        if session is None:
            raise JudgeError(f"{self.name} is scored by an LLM judge and none is configured (--judge-url)")
        self.judge_modules()
        with session.checking(self.check_judge_reply):
            try:
                record = super().score(doc, response)  # type: ignore[misc]
            except JudgeAbort as e:
                raise JudgeError(e.reason) from None
        if session.failure is not None:  # defensive: a failure lmms-eval code got past
            raise JudgeError(session.failure)
        return record

    def _call_aggregation(self, agg: Any, values: list) -> Any:
        values = copy.deepcopy(values)  # some aggregations mutate their input (MathVista pops keys)
        if "args" in inspect.signature(agg).parameters:
            with tempfile.TemporaryDirectory(prefix="ov-bench-submissions-") as tmp:
                return call(agg, values, args=SimpleNamespace(output_path=tmp))
        return call(agg, values)

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        from tasks.base import parse_failure_rate

        out: dict[str, float] = {}
        for name, _, agg, _ in self._metrics:  # type: ignore[attr-defined]
            values = [r["lmms"][name] for r in records if name in r.get("lmms", {})]
            if not values:
                continue
            value = self._call_aggregation(agg, values)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[name] = float(value)
        out["parse_failure_rate"] = parse_failure_rate(records)
        return out


# ---- reply checks shared by several tasks ------------------------------------------------------------


def check_binary_reply(reply: str) -> str | None:
    """A 0/1 verdict (lmms-eval's BINARY_JUDGE_PROMPT and DC100's prompt): exactly one standalone 0 or 1.
    lmms-eval's parser reads any "1" anywhere as 1 ("10", "0 or 1"); those are refused here."""
    verdicts = set(re.findall(r"(?<![\d.])[01](?!\d|\.\d)", reply))
    if len(verdicts) != 1:
        return "expected one verdict, 0 or 1"
    return None


def check_score_dict_reply(reply: str, low: int = 0, high: int = 5) -> str | None:
    """A Python dict literal with an integer 'score' in [low, high] (the video judges' format)."""
    import ast

    try:
        value = ast.literal_eval(reply.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return "not a Python dict literal"
    if not isinstance(value, dict) or "score" not in value:
        return "no 'score' key"
    try:
        score = int(value["score"])
    except (TypeError, ValueError):
        return "'score' is not a number"
    if not low <= score <= high:
        return f"score {score} outside [{low}, {high}]"
    return None
