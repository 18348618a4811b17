"""MMBench (en dev): mmbench_en_dev and mmbench_en_dev_static (lmms-eval 0.7.3 names, used as-is).

Both tasks share lmms-eval's prompt, visuals and process_results; they differ only in how the
gpt_eval_score aggregation reads a prediction that lmms-eval's rule-based matcher
(MMBench_Evaluator.can_infer) cannot read:

- mmbench_en_dev (the paper's row): lmms-eval sends it to an LLM judge. lmms-eval 0.7.3 does that with
  requests.post to OPENAI_API_URL (default api.openai.com) with OPENAI_API_KEY (default the placeholder
  "YOUR_API_KEY"): without a real key that is about 45 s of failed retries per prediction, then a
  letter drawn from the global RNG. ov-bench never lets that client run. With a judge configured
  (`task.judge`, see below) the unreadable predictions go through it inside lmms-eval's own
  aggregation (its prompt, its retries, its fallback); without one they are scored exactly as
  mmbench_en_dev_static scores them, the record says `judge_needed: true` and the aggregate counts
  them (`judge_needed`, and `judge_static_fallback` for those scored without a judge).
- mmbench_en_dev_static: lmms-eval's offline variant (its robust letter extractor instead of the judge).

CircularEval: a question with k options has k rows, index i and i + r * 1e6 (rotated options); the
question counts as right only if every rotation is. `--limit` keeps a question's rows together
(group_key) and the aggregation is lmms-eval's over whatever rotations are present.

Side effects contained: lmms-eval's aggregations write JSON/xlsx files under `args.output_path/
submissions/` (here the task's submission_dir or a temporary directory, never ./submissions/), reseed
the process-global `random` module (random.seed(2680); the state is restored after the call), and the
`submission` metric's aggregation returns None (left out of the metrics, never passed to float()).

Hook for a judge: set `task.judge` to a callable taking lmms-eval's matching prompt (str) and returning
the judge's reply text (str); an exception or an empty reply counts as lmms-eval's "Failed to obtain
answer via API". Only mmbench_en_dev uses it.
"""

from __future__ import annotations

import contextlib
import copy
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tasks.lmms import call, import_utils
from tasks.lmms_task import LmmsTask
from tasks.registry import register
from tasks.samples import paper_image_samples

CIRCULAR = 1_000_000  # rows with index >= 1e6 are rotations of index % 1e6
_API_FAILED = "Failed to obtain answer via API"  # lmms-eval's failure string (MMBench_Evaluator)
_lmms_state_lock = threading.Lock()  # guards lmms-eval's module-level evaluator and the global RNG

Judge = Callable[[str], str]


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

    def estimator(self, metric: str) -> Any:
        """A MetricEstimator (tasks/estimators.py) for gpt_eval_score: lmms-eval's CircularEval, the
        percentage of questions (a row's index % 1e6) whose every rotation is read as right; each row's
        own score is that rotation's 0/1 (the judge's reading where one was asked)."""
        from tasks.estimators import MetricEstimator

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

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        # this row's own answer; CircularEval (all rotations right) is decided in the aggregation
        item = results["gpt_eval_score"]
        letter, _ = self._read_prediction(item)
        return float(letter == item["answer"]), letter, letter is None

    def aggregate_metric(self, name: str, agg: Any, values: list) -> Any:
        # the `submission` aggregation writes a spreadsheet and returns None (LmmsTask leaves it out)
        return (
            self._aggregate_gpt_eval(values)
            if name == "gpt_eval_score"
            else super().aggregate_metric(name, agg, values)
        )

    def _aggregate_gpt_eval(self, values: list[dict]) -> Any:
        raise NotImplementedError

    def _call_aggregation(self, agg: Any, values: list) -> Any:
        with _lmms_state_lock, _global_random_kept():
            return super()._call_aggregation(agg, values)


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

    def _aggregate_gpt_eval(self, values: list[dict]) -> Any:
        (agg,) = [a for n, _, a, _ in self._metrics if n == "gpt_eval_score"]
        return self._call_aggregation(agg, values)


@register
class MMBenchEnDev(_MMBenchEn):
    name = "mmbench_en_dev"
    lmms_eval_name = "mmbench_en_dev"
    lmms_eval_yaml = "mmbench_en_dev.yaml"

    # The judge for predictions the rule-based matcher cannot read: prompt -> reply text. None: those
    # predictions are scored as mmbench_en_dev_static scores them (never lmms-eval's own HTTP client).
    judge: Judge | None = None

    def score(self, doc: dict, response: str) -> dict:
        record = super().score(doc, response)
        _, readable = self._read_prediction(record["lmms"]["gpt_eval_score"])
        record["judge_needed"] = not readable  # lmms-eval would ask its judge about this prediction
        return record

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        out = super().aggregate(records)
        needed = sum(bool(r.get("judge_needed")) for r in records)
        out["judge_needed"] = float(needed)
        out["judge_static_fallback"] = float(needed if self.judge is None else 0)
        return out

    def _aggregate_gpt_eval(self, values: list[dict]) -> Any:
        utils = self._en_utils()
        if self.judge is None:  # mmbench_en_dev_static's aggregation: no judge, no network
            return self._call_aggregation(utils.mmbench_aggregate_dev_results_static, values)
        judged = _judge_evaluator(utils.mmbench_evaluator, self.judge)
        with _lmms_state_lock, _global_random_kept():
            original = utils.mmbench_evaluator
            utils.mmbench_evaluator = judged  # read by the aggregation at call time
            try:
                return LmmsTask._call_aggregation(self, utils.mmbench_aggregate_dev_results_eval, values)
            finally:
                utils.mmbench_evaluator = original


def _judge_evaluator(evaluator: Any, judge: Judge) -> Any:
    """A copy of lmms-eval's MMBench_Evaluator whose chat call is `judge` and whose own HTTP client
    refuses to run: its prompt building, answer reading, retries and random fallback stay lmms-eval's."""
    judged = copy.copy(evaluator)

    def ask(prompt: str, *args: Any, **kwargs: Any) -> str:
        try:
            reply = judge(prompt)
        except Exception:  # a judge failure is what lmms-eval's client reports after its retries
            return _API_FAILED
        reply = "" if reply is None else str(reply).strip()
        return reply or _API_FAILED

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ov-bench: lmms-eval's MMBench HTTP client is disabled; configure a judge")

    judged.get_chat_response = ask
    judged._post_request = refuse
    return judged
