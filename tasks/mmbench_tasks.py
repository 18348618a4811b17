"""MMBench (en dev): mmbench_en_dev and mmbench_en_dev_static (lmms-eval 0.7.3 names, used as-is).

Both tasks share lmms-eval's prompt, visuals and process_results; they differ only in how a prediction
that lmms-eval's rule-based matcher (MMBench_Evaluator.can_infer) cannot read is read:

- mmbench_en_dev_static: lmms-eval's offline variant (its static letter extractor).
- mmbench_en_dev (the paper's row): lmms-eval asks an LLM judge inside its gpt_eval_score aggregation,
  with requests.post to OPENAI_API_URL (default api.openai.com) and OPENAI_API_KEY (default the
  placeholder "YOUR_API_KEY"): without a real key that is about 45 s of failed retries per prediction,
  then a letter drawn from the global RNG. ov-bench never lets that happen. Such a prediction's record
  gets ``AWAITING_JUDGE_KEY`` and it is scored as mmbench_en_dev_static scores it; the aggregate counts
  them (``awaiting_judge``). With a judge configured (``--judge-url``), ov-bench's judging pass
  (``group_judged``, ov_bench/engine/judge_pass.py) judges each CircularEval group holding one:
  :meth:`MMBenchEnDev.judge_group` runs lmms-eval's ``eval_result(eval_method="openai")`` on the group
  (its prompt, its reading of the reply), its ``requests.post`` routed to the judge session
  (tasks/judging/routes.py). A reply lmms-eval's matcher cannot read fails the call (lmms-eval would ask
  twice more, then draw a random letter), so the group awaits the judge. The letter the judge's reply
  was read as goes into the record (``judge_answer``, and the row's own score), the group's CircularEval
  result into ``group_score`` (1.0: every rotation right).

The gpt_eval_score aggregate is lmms-eval's static aggregation over the predictions, each judged one
replaced by the letter the judge's reply was read as: for a judged group that is what lmms-eval's judge
aggregation gives (a question is right when every rotation, read by the matcher or the judge, is), for
any other group what mmbench_en_dev_static gives.

CircularEval: a question with k options has k rows, index i and i + r * 1e6 (rotated options); the
question counts as right only if every rotation is. `--limit` keeps a question's rows together
(group_key) and the aggregation is lmms-eval's over whatever rotations are present.

Side effects contained: lmms-eval's aggregations write JSON/xlsx files under `args.output_path/
submissions/` (here the task's submission_dir or a temporary directory, never ./submissions/), reseed
the process-global `random` module (random.seed(2680); the state is restored after the call), and the
`submission` metric's aggregation returns None (left out of the metrics, never passed to float()).
"""

from __future__ import annotations

import contextlib
import copy
import random
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tasks.estimators import MetricEstimator
from tasks.judging import (
    AWAITING_JUDGE_KEY,
    JudgeAbort,
    JudgeError,
    JudgeSession,
    active_session,
    route_requests,
)
from tasks.lmms import call, import_utils
from tasks.lmms_task import LmmsTask
from tasks.registry import register
from tasks.samples import paper_image_samples

CIRCULAR = 1_000_000  # rows with index >= 1e6 are rotations of index % 1e6
_API_FAILED = "Failed to obtain answer via API"  # lmms-eval's failure string (MMBench_Evaluator)
_lmms_state_lock = threading.Lock()  # guards the global RNG that lmms-eval's eval_result reseeds
JUDGE_ANSWER_KEY = "judge_answer"  # record key: the letter the judge's reply was read as


class _MMBenchEn(LmmsTask):
    modality = "single_image"
    paper_row = "MMBench (en dev)"
    real_docs = 4329
    main_metric = "gpt_eval_score"  # percent (lmms-eval returns overall_acc * 100)
    lmms_eval_dir = "mmbench"
    id_column = "index"
    image_columns = ("image",)

    def group_key(self, doc: dict) -> str:
        return str(int(doc["index"]) % CIRCULAR)  # a question and its rotations

    def stratum(self, doc: dict) -> str:
        return doc["category"]

    def subscores(self, record: dict) -> dict[str, str]:
        """The category_acc and l2_category_acc lmms-eval's eval_result prints (and writes to its JSON)."""
        item = record["lmms"]["gpt_eval_score"]
        return {"category": str(item["category"]), "l2_category": str(item["L2-category"])}

    def estimator(self, metric: str) -> MetricEstimator | None:
        """A MetricEstimator (tasks/estimators.py) for gpt_eval_score: lmms-eval's CircularEval, the
        percentage of questions (a row's index % 1e6) whose every rotation is read as right; each row's
        own score is that rotation's 0/1 (the judge's reading where one was asked)."""
        if metric != self.main_metric:
            return None
        return MetricEstimator(
            unit=lambda r: str(int(r["lmms"]["gpt_eval_score"]["index"]) % CIRCULAR),
            unit_value="all",
            multiplier=100.0,
        )

    def generate_samples(self, out_dir: Path) -> None:
        paper_image_samples.mmbench_en(out_dir, seed=0)

    @staticmethod
    def _en_utils() -> Any:
        return import_utils("mmbench", "en_utils")

    def _read_prediction(self, item: dict) -> tuple[str | None, bool]:
        """(letter, read by the rule-based matcher) for one row's gpt_eval_score entry: lmms-eval's
        prefetch_answer (can_infer), else the static extractor mmbench_en_dev_static falls back to."""
        evaluator = self._en_utils().mmbench_evaluator
        letter = call(evaluator.prefetch_answer, dict(item))
        if letter:
            return str(letter), True
        mcq = import_utils("_task_utils", "mcq_extract")
        choices = sorted(call(evaluator.build_choices, dict(item)))
        letter = call(mcq.extract_mcq_answer, str(item["prediction"]), choices=choices)
        return (letter or None), False

    def _readable(self, item: dict) -> bool:
        """Whether lmms-eval's rule-based matcher reads one row's prediction (else its judge is asked)."""
        return self._read_prediction(item)[1]

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        # this row's own answer; CircularEval (all rotations right) is decided in the aggregation
        item = results["gpt_eval_score"]
        return _own_answer(item, self._read_prediction(item)[0])

    def aggregate_metric(self, name: str, agg: Any, values: list) -> Any:
        # gpt_eval_score: lmms-eval's static aggregation (mmbench_en_dev's own calls its judge client;
        # its judged predictions arrive here already read, see MMBenchEnDev.aggregate). The
        # `submission` aggregation writes a spreadsheet and returns None (LmmsTask leaves it out).
        if name == "gpt_eval_score":
            agg = self._en_utils().mmbench_aggregate_dev_results_static
        return super().aggregate_metric(name, agg, values)

    def _call_aggregation(self, agg: Any, values: list) -> Any:
        with _lmms_state_lock, _global_random_kept():
            return super()._call_aggregation(agg, values)


def _own_answer(item: dict, letter: str | None) -> tuple[float, str | None, bool]:
    """(score, parsed, parse_failed) of a row read as ``letter``."""
    return float(letter == item["answer"]), letter, letter is None


@contextlib.contextmanager
def _global_random_kept() -> Iterator[None]:
    """lmms-eval's MMBench eval_result calls random.seed(2680) on the process-global RNG."""
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


@register
class MMBenchEnDevStatic(_MMBenchEn):
    name = "mmbench_en_dev_static"
    lmms_eval_name = "mmbench_en_dev_static"
    lmms_eval_yaml = "mmbench_en_dev_static.yaml"
    in_paper_suite = False  # the paper's row is mmbench_en_dev (judge-read predictions)


@register
class MMBenchEnDev(_MMBenchEn):
    name = "mmbench_en_dev"
    lmms_eval_name = "mmbench_en_dev"
    lmms_eval_yaml = "mmbench_en_dev.yaml"
    # scoring stays "local": it runs without a judge; with one, its judging pass judges the
    # CircularEval groups holding a prediction the rule-based matcher cannot read
    group_judged = True

    def score(self, doc: dict, response: str) -> dict:
        record = super().score(doc, response)
        if not self._readable(record["lmms"]["gpt_eval_score"]):
            record[AWAITING_JUDGE_KEY] = True  # lmms-eval would ask its judge; cleared once judged
        return record

    def judge_groups(self, records: list[dict]) -> list[list[int]]:
        """Indices of the records of each CircularEval group (a question and its rotations) that holds
        a prediction the rule-based matcher cannot read, and the question's own row (without it
        lmms-eval scores no question)."""
        groups: dict[int, list[int]] = {}
        for i, r in enumerate(records):
            groups.setdefault(int(r["lmms"]["gpt_eval_score"]["index"]) % CIRCULAR, []).append(i)
        items = [r["lmms"]["gpt_eval_score"] for r in records]
        return [
            group
            for question, group in groups.items()
            if any(int(items[i]["index"]) == question for i in group)
            and not all(self._readable(items[i]) for i in group)
        ]

    def judge_group(self, records: list[dict]) -> float:
        """One CircularEval group through the judge session: lmms-eval's eval_result (judge mode) on the
        group's rows; returns its result (1.0: every rotation right) and puts the letter each judged
        prediction was read as into its record (``judge_answer``, ``parsed``, ``score``)."""
        session = active_session()
        if session is None:
            raise JudgeError(f"{self.name}: no LLM judge is configured (--judge-url)")
        evaluator, read = _judging_evaluator(self._en_utils().mmbench_evaluator, session)
        values = [copy.deepcopy(r["lmms"]["gpt_eval_score"]) for r in records]
        with _lmms_state_lock, _global_random_kept():
            try:
                overall, _, _ = call(evaluator.eval_result, values, eval_method="openai")
            except JudgeAbort as e:
                raise JudgeError(e.reason) from None
        if session.failure is not None:  # defensive: a failure lmms-eval code got past
            raise JudgeError(session.failure)
        for r in records:  # this judge's reading replaces an earlier judge model's
            item = r["lmms"]["gpt_eval_score"]
            r.pop(JUDGE_ANSWER_KEY, None)
            letter = read.get(int(item["index"]))
            if letter is not None:
                r[JUDGE_ANSWER_KEY] = letter
            else:
                letter = self._read_prediction(item)[0]
            r["score"], r["parsed"], r["parse_failed"] = _own_answer(item, letter)
        return float(overall)

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        out = super().aggregate([_judge_read(r) for r in records])
        out["awaiting_judge"] = float(sum(bool(r.get(AWAITING_JUDGE_KEY)) for r in records))
        out["judge_answers"] = float(sum(JUDGE_ANSWER_KEY in r for r in records))
        return out


def _judge_read(record: dict) -> dict:
    """The record with its gpt_eval_score prediction replaced by the letter the judge read it as, if any:
    lmms-eval's matcher reads that letter as the judge's answer, as its judge aggregation does."""
    letter = record.get(JUDGE_ANSWER_KEY)
    if letter is None:
        return record
    lmms = dict(record["lmms"], gpt_eval_score=dict(record["lmms"]["gpt_eval_score"], prediction=letter))
    return dict(record, lmms=lmms)


def _judging_evaluator(evaluator: Any, session: JudgeSession) -> tuple[Any, dict[int, str]]:
    """A copy of lmms-eval's MMBench_Evaluator whose judge calls go to ``session`` (its module's
    requests.post is routed there), where a reply its matcher (can_infer) cannot read fails the call,
    and the letter read for each judged row index is kept in the returned dict."""
    route_requests(sys.modules[type(evaluator).__module__])
    judged = copy.copy(evaluator)
    read: dict[int, str] = {}

    def extract_answer_from_item(item: Any) -> tuple[str, str]:
        choices = evaluator.build_choices(item)

        def readable(reply: str) -> str | None:
            if _API_FAILED in reply or not evaluator.can_infer(reply, dict(choices)):
                return "lmms-eval's matcher reads no single option letter in it"
            return None

        with session.checking(readable):
            letter, reply = type(evaluator).extract_answer_from_item(judged, item)
        read[int(item["index"])] = str(letter)
        return letter, reply

    judged.extract_answer_from_item = extract_answer_from_item
    return judged, read
