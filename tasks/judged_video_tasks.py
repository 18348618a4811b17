"""Video benchmarks scored by an LLM judge: activitynetqa, videochatgpt_{gen,temporal,consistency}
(group videochatgpt) and video_dc499 (the paper's VideoDC).

Their lmms-eval utils modules post to the judge with ``requests.post`` and read HF_HOME at import;
ov-bench runs private copies of them (tasks/lmms_isolated.py) whose ``requests`` goes to the judge
session (tasks/judging/routes.py). Prompts, reply parsing and aggregations are lmms-eval's.

- ActivityNet-QA: ``gpt_eval_accuracy`` (percent of "yes" verdicts) is the paper's number;
  ``gpt_eval_score`` is the mean 0-5 score. lmms-eval crashes (TypeError) on a reply its parser cannot
  read; here such a reply fails the judge call and the sample awaits the judge.
- VideoChatGPT: the paper's single number (out of 5) is the mean of five scores: correctness,
  detailed orientation and context (videochatgpt_gen, three judge calls a question), temporal
  (videochatgpt_temporal) and consistency (videochatgpt_consistency). Consistency questions come in
  pairs (two phrasings, one video); lmms-eval judges each pair inside its aggregation. ov-bench judges
  a pair as soon as both answers are stored, by calling that same aggregation on the pair
  (:meth:`VideoChatGPTConsistency.judge_group`, driven by ov_bench/engine/judge_pass.py), stores the pair's
  exchange and score on both rows, and aggregates the pair scores with lmms-eval's averaging.
  ``--limit`` keeps the two questions of a video together.
- video_dc499: one judge call per description, a 0-5 detail-orientation score.

Hub layouts are inferred from where lmms-eval looks (videos under ``$HF_HOME/<cache_dir>``):
ActivityNet-QA ``all_test/v_<video_name>.mp4`` in ``videos_chunked_*.zip``; VideoChatGPT and
VideoDetailDescription ``Test_Videos/<video_name>.mp4`` (both use cache_dir ``videochatgpt``).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from tasks.estimators import MetricEstimator
from tasks.judged import JudgedTask, check_score_dict_reply
from tasks.judging import JudgeAbort, JudgeError, active_session, load_private_judge_utils
from tasks.lmms import _FunctionTag, call
from tasks.lmms_task import jsonable
from tasks.registry import register
from tasks.video_tasks import VideoTask, _with_extensions


class JudgedVideoTask(JudgedTask, VideoTask):
    """A judged lmms-eval video task run from a private, judge-routed copy of its utils module."""

    layout_verified = False
    published_judge_model = "gpt-3.5-turbo-0613"  # the YAML metadata's gpt_eval_model_name

    def utils(self) -> ModuleType:
        return load_private_judge_utils(self.lmms_eval_dir)

    def _resolve(self, ref: Any) -> Any:
        if isinstance(ref, _FunctionTag):
            module, _, attr = ref.rpartition(".")
            return getattr(load_private_judge_utils(self.lmms_eval_dir, module or "utils"), attr)
        return ref

    def judge_modules(self) -> None:
        self.utils()

    def generate_samples(self, out_dir: Path) -> None:
        from tasks.samples import judged_video_samples

        getattr(judged_video_samples, self.name)(out_dir)


@register
class ActivityNetQA(JudgedVideoTask):
    name = "activitynetqa"
    lmms_eval_name = "activitynetqa"
    paper_row = "ActivityNet-QA"
    main_metric = "gpt_eval_accuracy"
    lmms_eval_dir = "activitynetqa"
    lmms_eval_yaml = "activitynetqa_generation.yaml"
    id_column = "question_id"
    real_docs = 8000
    media_patterns = ("videos_chunked_*.zip",)
    archive_patterns = ("videos_chunked_*.zip",)

    def stratum(self, doc: dict) -> str:
        return str(doc.get("type") or "")

    def video_candidates(self, doc: dict) -> list[str]:
        return _with_extensions(f"all_test/v_{doc['video_name']}", ("mp4", "webm", "mkv"))

    def check_judge_reply(self, reply: str) -> str | None:
        parsed = call(self.utils().parse_score, reply)
        if parsed is None:
            return "lmms-eval's parser finds no {'pred': ..., 'score': ...} dict"
        pred, score = parsed
        if pred not in ("yes", "no"):
            return f"'pred' {pred!r} is neither yes nor no"
        if not 0 <= score <= 5:
            return f"score {score} outside [0, 5]"
        return None

    def parse(self, doc: dict, filtered: Any, results: dict) -> tuple[str | None, bool]:
        return str(results["gpt_eval_accuracy"]["Correctness"]), False

    score_max = 100.0  # the per-sample score is the accuracy of one sample: 100 (yes) or 0

    def estimator(self, metric: str) -> MetricEstimator | None:
        """gpt_eval_accuracy: lmms-eval's share of "yes" verdicts among the yes/no ones, in percent
        (gpt_eval_score, the mean 0-5 score, is not the rows' score: no estimator)."""
        if metric != self.main_metric:
            return None

        def verdict(r: dict) -> bool:
            correctness = str(r["lmms"]["gpt_eval_accuracy"]["Correctness"]).lower()
            return "yes" in correctness or "no" in correctness  # the aggregation counts only these

        return MetricEstimator(include=verdict, score_max=self.score_max)


class VideoChatGPTTask(JudgedVideoTask):
    lmms_eval_dir = "videochatgpt"
    lmms_eval_group = "videochatgpt"
    paper_row = "VideoChatGPT"
    metadata_files = "{config}/{split}-*"
    media_patterns = ("videos.zip",)
    archive_patterns = ("videos.zip",)
    # judge scores 0-5, each metric their mean; a row's score is its task's main metric only (gen's
    # detailed_orientation and context are not a row's score, so they get no estimator)
    score_max = 5.0

    def doc_id(self, doc: dict) -> str:
        from tasks.records import ROW_KEY

        return f"{doc['video_name']}/{doc[ROW_KEY]}"  # rows have no id column; a video has several

    def video_candidates(self, doc: dict) -> list[str]:
        return _with_extensions(f"Test_Videos/{doc['video_name']}", ("mp4", "MP4", "mkv"))

    def check_judge_reply(self, reply: str) -> str | None:
        return check_score_dict_reply(reply)

    def parse(self, doc: dict, filtered: Any, results: dict) -> tuple[str | None, bool]:
        return "/".join(str(v["score"]) for v in results.values() if "score" in v) or None, False


@register
class VideoChatGPTGeneric(VideoChatGPTTask):
    name = "videochatgpt_gen"
    lmms_eval_name = "videochatgpt_gen"
    main_metric = "gpt_eval_score_correctness"
    lmms_eval_yaml = "videochatgpt_generic.yaml"
    real_docs = 1996


@register
class VideoChatGPTTemporal(VideoChatGPTTask):
    name = "videochatgpt_temporal"
    lmms_eval_name = "videochatgpt_temporal"
    main_metric = "gpt_eval_score_temporal"
    lmms_eval_yaml = "videochatgpt_temporal.yaml"
    real_docs = 499


@register
class VideoChatGPTConsistency(VideoChatGPTTask):
    """Scored per pair of questions (see the module doc): rows carry no score until their pair is judged."""

    name = "videochatgpt_consistency"
    lmms_eval_name = "videochatgpt_consistency"
    main_metric = "gpt_eval_score_consistency"
    lmms_eval_yaml = "videochatgpt_consistency.yaml"
    real_docs = 998
    group_judged = True  # ov_bench/engine/judge_pass.py judges each pair once the model has answered both

    def group_key(self, doc: dict) -> str:
        return str(doc["video_name"])  # the two phrasings of a question stay together under --limit

    def score(self, doc: dict, response: str) -> dict:
        # process_results only files the answer under Q1/pred1 or Q2/pred2: no judge call here
        record = VideoTask.score(self, doc, response)
        record["score"] = None
        return record

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        return 0.0, None, False  # replaced by the pair's score once judged

    def estimator(self, metric: str) -> MetricEstimator | None:
        """lmms-eval's mean over pairs of the pair's 0-5 score (both rows of a judged pair carry it):
        a pair is one unit, resampled whole."""
        if metric != self.main_metric:
            return None
        return MetricEstimator(unit=lambda r: "|".join(r["judge_group"]), score_max=self.score_max)

    def judge_groups(self, records: list[dict]) -> list[list[int]]:
        """Pairs of record indices as lmms-eval's videochatgpt_aggregate_submissions_consistency forms
        them: in order, each record with the next unpaired one of the same video."""
        names = [r["lmms"]["gpt_eval_score_consistency"].get("video_name") for r in records]
        paired: set[int] = set()
        out = []
        for i, name in enumerate(names):
            if i in paired:
                continue
            for j in range(i + 1, len(names)):
                if j not in paired and names[j] == name:
                    paired.update((i, j))
                    out.append([i, j])
                    break
        return out

    def judge_group(self, records: list[dict]) -> float:
        """A pair's consistency score: lmms-eval's aggregation run on its two records (one judge call)."""
        session = active_session()
        if session is None:
            raise JudgeError(f"{self.name} is scored by an LLM judge and none is configured (--judge-url)")
        agg = self.utils().videochatgpt_aggregate_consistency
        values = [jsonable(r["lmms"][self.main_metric]) for r in records]
        with session.checking(self.check_judge_reply):
            try:
                value = self._call_aggregation(agg, values)
            except JudgeAbort as e:
                raise JudgeError(e.reason) from None
        if session.failure is not None:
            raise JudgeError(session.failure)
        return float(value)

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        from tasks.base import parse_failure_rate

        pairs: dict[tuple, float] = {}
        for r in records:
            if r.get("group_score") is not None:
                pairs[tuple(r["judge_group"])] = float(r["group_score"])
        out: dict[str, float] = {}
        if pairs:
            agg = self.utils().videochatgpt_aggregate_score  # lmms-eval's average of per-pair scores
            out[self.main_metric] = float(self._call_aggregation(agg, [{"score": s} for s in pairs.values()]))
        out["pairs"] = float(len(pairs))
        unpaired = sum(1 for r in records if r.get("group_score") is None)
        if unpaired:
            out["unpaired_questions"] = float(unpaired)
        out["parse_failure_rate"] = parse_failure_rate(records)
        return out


@register
class VideoDC499(JudgedVideoTask):
    name = "video_dc499"
    lmms_eval_name = "video_dc499"
    paper_row = "VideoDC"
    main_metric = "gpt_eval_score"
    lmms_eval_dir = "video_detail_description"
    lmms_eval_yaml = "video_detail_description.yaml"
    real_docs = 499
    score_max = 5.0  # a 0-5 detail-orientation score; the metric is its mean
    media_patterns = ("*.zip",)
    archive_patterns = ("*.zip",)

    def doc_id(self, doc: dict) -> str:
        return str(doc["video_name"])  # one description question per video

    def video_candidates(self, doc: dict) -> list[str]:
        return _with_extensions(f"Test_Videos/{doc['video_name']}", ("mp4", "MP4", "mkv"))

    def check_judge_reply(self, reply: str) -> str | None:
        return check_score_dict_reply(reply)

    def process_results(self, doc: dict, response: str) -> tuple[Any, dict]:
        return super().process_results(dict(doc), response)  # lmms-eval's writes doc["pred"]

    def parse(self, doc: dict, filtered: Any, results: dict) -> tuple[str | None, bool]:
        return str(results["gpt_eval_score"]["score"]), False
