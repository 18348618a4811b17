"""Single-image benchmarks scored by an LLM judge: mmvet, llava_in_the_wild, dc100_en (the paper's
ImageDC), mathvista_testmini_{cot,solution,format} (group mathvista_testmini) and
mathverse_testmini_vision_only.

Prompts, judge prompts, reply parsing and aggregations are lmms-eval 0.7.3's (tasks/lmms_task.py,
tasks/judged.py); the judge is reached through ov-bench's transport (tasks/judging/). Where
lmms-eval's code scores the judge's verdict wrongly, the lmms-eval score is kept (parity) and the
corrected score is reported beside it:

- dc100_en: ``process_results`` calls ``.strip()`` on the int verdict that ``evaluate_binary``
  returns, raises AttributeError inside its own ``try`` and scores every sample 0, whatever the judge
  said. ``llm_as_judge_eval`` is that 0; ``llm_as_judge_eval_corrected`` is the mean of the judge's
  verdicts (lmms-eval's own ``ResponseParser.parse_binary_response`` of the stored reply). Neither
  reproduces the paper's ImageDC scale (a 0-100 rating from an older prompt).
- MathVista: ``normalize_extracted_answer`` calls ``round(x, precision)`` with the hub's float64
  precision, which raises, so every float-answer question is scored wrong. Records of those rows carry
  ``true_false_corrected`` (the same lmms-eval functions with an int precision) and aggregate() adds
  ``llm_as_judge_eval_corrected`` and ``float_answer_rows``. Its aggregation returns None at 0% and
  mutates its input: ov-bench passes copies and reports 0.0 for None.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tasks.judged import JudgedTask, check_binary_reply
from tasks.judging import active_session, import_judge_module, route_openai_client
from tasks.lmms import _FunctionTag, call
from tasks.lmms_task import LmmsTask, jsonable
from tasks.registry import register


class JudgedImageTask(JudgedTask, LmmsTask):
    """A judged single-image lmms-eval task; its utils modules are imported with the judge routed."""

    modality = "single_image"
    image_columns = ("image",)
    layout_verified = False
    samples_version = 2  # the scenes are drawn by draw.random_scene (colour order changed)

    def _module(self, name: str = "utils") -> Any:
        return import_judge_module(f"lmms_eval.tasks.{self.lmms_eval_dir}.{name}")

    def _resolve(self, ref: Any) -> Any:
        if isinstance(ref, _FunctionTag):
            module, _, attr = ref.rpartition(".")
            return getattr(self._module(module or "utils"), attr)
        return ref

    def judge_modules(self) -> None:
        self._module()

    def generate_samples(self, out_dir: Path) -> None:
        from tasks.samples import judged_samples

        getattr(judged_samples, self.name)(out_dir)


@register
class MMVet(JudgedImageTask):
    name = "mmvet"
    lmms_eval_name = "mmvet"
    paper_row = "MMVet"
    main_metric = "gpt_eval_score"
    lmms_eval_dir = "mmvet"
    lmms_eval_yaml = "mmvet.yaml"
    id_column = "question_id"
    real_docs = 218
    published_judge_model = "gpt-4-0613"  # what lmms-eval judged MMVet with before 0.7.3's default
    score_max = 100.0  # the per-sample score is mmvet_aggregate_results of one sample: correctness x 100

    def stratum(self, doc: dict) -> str:
        return str(doc.get("capability") or "")

    def check_judge_reply(self, reply: str) -> str | None:
        # mmvet_process_results reads float(reply.split(" ")[0]) and retries until it is in [0, 1]
        token = reply.strip().split(" ")[0].strip()
        try:
            value = float(token)
        except ValueError:
            return "no correctness score (a number 0.0-1.0) first"
        if not 0.0 <= value <= 1.0:
            return f"correctness {value} outside [0, 1]"
        return None

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        sample = results["gpt_eval_score"]
        agg = self._module().mmvet_aggregate_results
        return float(self._call_aggregation(agg, [jsonable(sample)])), str(sample["score"]), False


@register
class LLaVAInTheWild(JudgedImageTask):
    name = "llava_in_the_wild"
    lmms_eval_name = "llava_in_the_wild"
    paper_row = "LLaVA-W"
    main_metric = "gpt_eval_llava_all"
    lmms_eval_dir = "llava-in-the-wild"
    lmms_eval_yaml = "llava-in-the-wild.yaml"
    id_column = "question_id"
    real_docs = 60

    def stratum(self, doc: dict) -> str:
        return str(doc.get("category") or "")

    def judge_modules(self) -> None:
        # Its verifier pipeline is built on first use from the environment; build it now, routed.
        from tasks.judging import judge_import_env

        module = self._module()
        if module._pipeline is None:
            with judge_import_env():
                call(module._get_pipeline)

    def check_judge_reply(self, reply: str) -> str | None:
        scores = call(self._module()._parse_comparative_scores, reply).metadata["scores"]
        if list(scores) == [-1, -1]:
            return "no two scores on its first line"
        if not all(1 <= s <= 10 for s in scores):
            return f"scores {scores} outside [1, 10]"
        return None

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        review = results["gpt_eval_llava_all"]
        value = self._call_aggregation(self._module().llava_all_aggregation, [jsonable(review)])
        s1, s2 = review["scores"]
        return float(value), f"{s1:g} {s2:g}", False

    def estimator(self, metric: str) -> None:
        # llava_aggregation is a ratio of means (mean model score / mean reference score x 100), not a
        # function of the per-sample ratios: no interval rather than a wrong one
        return None


@register
class DC100EN(JudgedImageTask):
    name = "dc100_en"
    lmms_eval_name = "dc100_en"
    paper_row = "ImageDC"
    main_metric = "llm_as_judge_eval"
    lmms_eval_dir = "internal_eval"
    lmms_eval_yaml = "dc100_en.yaml"
    id_column = "question_id"
    real_docs = 100

    def judge_modules(self) -> None:
        self._module("dc100_en_utils")

    def check_judge_reply(self, reply: str) -> str | None:
        return check_binary_reply(reply)

    def score(self, doc: dict, response: str) -> dict:
        record = super().score(doc, response)
        # the judge's verdict, read by lmms-eval's own parser (process_results discards it, see above)
        from lmms_eval.llm_judge import ResponseParser

        session = active_session()
        replies = [e.reply for e in session.exchanges if e.ok] if session is not None else []
        if replies:
            verdict = int(call(ResponseParser.parse_binary_response, replies[-1].strip(), "0/1"))
            record["judge_verdict"] = verdict
            record["lmms_eval_discards_verdict"] = verdict != record["lmms"]["llm_as_judge_eval"]
        return record

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        out = super().aggregate(records)
        verdicts = [r["judge_verdict"] for r in records if "judge_verdict" in r]
        if verdicts:
            out["llm_as_judge_eval_corrected"] = sum(verdicts) / len(verdicts)
        return out


# ---- MathVista testmini: three prompt variants, one scoring --------------------------------------------


class MathVistaTestmini(JudgedImageTask):
    lmms_eval_group = "mathvista_testmini"
    paper_row = "MathVista (testmini)"
    main_metric = "llm_as_judge_eval"
    lmms_eval_dir = "mathvista"
    id_column = "pid"
    image_columns = ("decoded_image",)
    layout_verified = True  # AI4Math/MathVista's README configs and features were checked
    real_docs = 1000
    metadata_files = "data/{split}-*"
    # the per-sample score is mathvista_aggregate_results of one sample (100 or 0, None read as 0); the
    # metric, round(100 x correct / total, 2), is their mean
    score_max = 100.0

    def stratum(self, doc: dict) -> str:
        return f"{doc.get('question_type')}/{doc.get('answer_type')}"

    @functools.cached_property
    def _evaluator(self) -> Any:
        return self._module().mathvista_evaluator

    def judge_modules(self) -> None:
        self._module()
        import_judge_module("lmms_eval.tasks.mathvista.mathvista_evals")

    def score(self, doc: dict, response: str) -> dict:
        record = super().score(doc, response)
        result = record["lmms"]["llm_as_judge_eval"]
        if result["answer_type"] == "float" and not isinstance(result["precision"], int):
            # lmms-eval's round(x, <float precision>) raised: score the same extraction as it meant to
            ev = self._evaluator
            corrected = call(
                ev.normalize_extracted_answer,
                result["extraction"],
                result["choices"],
                result["question_type"],
                result["answer_type"],
                int(result["precision"]),
            )
            record["float_precision_bug"] = True
            record["true_false_corrected"] = bool(call(ev.safe_equal, corrected, result["answer"]))
        return record

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        result = results["llm_as_judge_eval"]
        value = self._call_aggregation(self._module().mathvista_aggregate_results, [jsonable(result)])
        parsed = result["prediction"]
        return (0.0 if value is None else float(value)), parsed, parsed is None

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        out = super().aggregate(records)
        values = [r["lmms"]["llm_as_judge_eval"] for r in records if "llm_as_judge_eval" in r.get("lmms", {})]
        if not values:
            return out
        out.setdefault("llm_as_judge_eval", 0.0)  # lmms-eval's aggregation says None at 0%
        affected = [r for r in records if r.get("float_precision_bug")]
        out["float_answer_rows"] = float(len(affected))
        corrected = []
        for r in records:
            value = dict(r["lmms"]["llm_as_judge_eval"])
            if r.get("float_precision_bug"):
                value["true_false"] = r["true_false_corrected"]
            corrected.append(value)
        fixed = self._call_aggregation(self._module().mathvista_aggregate_results, corrected)
        out["llm_as_judge_eval_corrected"] = 0.0 if fixed is None else float(fixed)
        return out


@register
class MathVistaTestminiFormat(MathVistaTestmini):
    # The paper's row: before 0.7.3 split it, lmms-eval's mathvista_testmini prompted with shot_type
    # "format-prompt", which is what _format keeps (_cot and _solution are newer prompts).
    name = "mathvista_testmini_format"
    lmms_eval_name = "mathvista_testmini_format"
    lmms_eval_yaml = "mathvista_testmini_format.yaml"
    in_paper_suite = True


@register
class MathVistaTestminiCot(MathVistaTestmini):
    name = "mathvista_testmini_cot"
    lmms_eval_name = "mathvista_testmini_cot"
    lmms_eval_yaml = "mathvista_testmini_cot.yaml"
    in_paper_suite = False


@register
class MathVistaTestminiSolution(MathVistaTestmini):
    name = "mathvista_testmini_solution"
    lmms_eval_name = "mathvista_testmini_solution"
    lmms_eval_yaml = "mathvista_testmini_solution.yaml"
    in_paper_suite = False


@register
class MathVerseVisionOnly(JudgedImageTask):
    name = "mathverse_testmini_vision_only"
    lmms_eval_name = "mathverse_testmini_vision_only"
    paper_row = "MathVerse (testmini, vision-only)"
    main_metric = "gpt_eval_score"
    lmms_eval_dir = "mathverse"
    lmms_eval_yaml = "mathverse_testmini_vision_only.yaml"
    id_column = "sample_index"
    real_docs = 788
    # README configs: testmini_version_split / vision_only -> testmini_vision_only.parquet at the root
    metadata_files = "testmini_{split}.parquet"

    def stratum(self, doc: dict) -> str:
        return str(doc.get("question_type") or "")

    def judge_modules(self) -> None:
        self._module()
        evals = import_judge_module("lmms_eval.tasks.mathverse.mathverse_evals")
        route_openai_client(evals.MathVerseEvaluator)  # its extraction client (unused by scoring)

    def check_judge_reply(self, reply: str) -> str | None:
        return check_binary_reply(reply)

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        return float(results["gpt_eval_score"]), filtered, False
