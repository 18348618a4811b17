"""Single-image rows of the LLaVA-OneVision paper: infovqa_val, mmstar, scienceqa_img, realworldqa and
seedbench (lmms-eval 0.7.3 names; ov-bench uses the same ones).

Prompts, visuals and scores are lmms-eval's (tasks/lmms_task.py runs the functions each YAML names).
What ov-bench adds per record is a parsed answer and a parse-failed flag, taken from the same
lmms-eval functions that decide the score (its extract_mcq_answer for MMStar and RealWorldQA), and the
doc fields its sub-scores read that lmms-eval's per-sample results lack (ScienceQA's subject and grade,
SEED-Bench's question type). ``estimator`` says how each metric follows from the per-sample scores
(tasks/estimators.py): MMStar's are macro averages over l2 categories, SEED-Bench's shares of a
data type's rows, the rest plain means.

SEED-Bench is one lmms-eval task with two paper rows: `seed_image` (Table 3) and `seed_video`
(Table 5), plus `seed_all`, all three lmms-eval's own aggregations over the rows of that data_type.
Its video rows are not videos: the hub stores each clip as a list of frames in the same `image` column
as the image rows, and lmms-eval's seed_doc_to_visual hands that list to the model as images. ov-bench
does the same, so a video row takes the multi-image path (several images in one prompt) and
`--frames` does not apply to it (the frames are those the hub stores). seed_doc_to_text takes the doc
alone (lmms-eval calls it without kwargs because the YAML has none; passing them raises TypeError).
"""

from __future__ import annotations

import functools
import importlib
import re
import string
from pathlib import Path
from typing import Any

from tasks.base import ROW_KEY
from tasks.estimators import MetricEstimator
from tasks.lmms import call
from tasks.lmms_task import LmmsTask
from tasks.registry import register
from tasks.samples import paper_image_samples

MCQ = ["A", "B", "C", "D"]


def _extract_mcq(response: str, choices: list[str]) -> str:
    """lmms-eval's shared option-letter extractor ("" when it finds none)."""
    mcq = importlib.import_module("lmms_eval.tasks._task_utils.mcq_extract")
    return call(mcq.extract_mcq_answer, response, choices=choices)


@register
class InfoVQAVal(LmmsTask):
    name = "infovqa_val"
    lmms_eval_name = "infovqa_val"
    lmms_eval_group = "infovqa"  # with infovqa_test (server-scored)
    paper_row = "InfoVQA (val)"
    real_docs = 2801
    modality = "single_image"
    main_metric = "anls"
    lmms_eval_dir = "infovqa"
    lmms_eval_yaml = "infovqa_val.yaml"
    id_column = "questionId"
    image_columns = ("image",)

    def stratum(self, doc: dict) -> str:
        types = doc.get("answer_type") or [""]
        return types[0]

    def generate_samples(self, out_dir: Path) -> None:
        paper_image_samples.infovqa(out_dir, seed=0)


@register
class MMStar(LmmsTask):
    name = "mmstar"
    lmms_eval_name = "mmstar"
    paper_row = "MMStar"
    real_docs = 1500
    modality = "single_image"
    main_metric = "average"  # lmms-eval: the unweighted mean of the per-l2-category accuracies (0-1)
    lmms_eval_dir = "mmstar"
    lmms_eval_yaml = "mmstar.yaml"
    id_column = "index"
    image_columns = ("image",)
    # hub layout: one parquet at the repo root, declared as config "mmstar", split "val"
    metadata_files = "mmstar.parquet"
    readme_config = "mmstar"

    def stratum(self, doc: dict) -> str:
        return doc["l2_category"]

    def generate_samples(self, out_dir: Path) -> None:
        paper_image_samples.mmstar(out_dir, seed=0)

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        parsed = _extract_mcq(str(filtered), MCQ)  # what lmms-eval's exact_match compares
        return float(results["average"]["score"]), parsed or None, not parsed

    @staticmethod
    def _category(record: dict) -> str:
        (category,) = [k for k in record["lmms"] if k != "average"]  # process_results keys it by category
        return category

    @staticmethod
    def _l2_category(record: dict) -> str:
        return str(record["lmms"]["average"]["l2_category"])

    def subscores(self, record: dict) -> dict[str, str]:
        return {"category": self._category(record), "l2_category": self._l2_category(record)}

    def estimator(self, metric: str) -> MetricEstimator | None:
        """``average`` and each category's metric (coarse perception, ...): lmms-eval's
        mmstar_aggregate_results, the unweighted mean over the l2 categories present of their accuracies,
        over all records (average) or the category's own (a category metric: its three l2 categories)."""
        l2_of = _mmstar_l2_categories()
        if metric == "average":
            include, groups = None, tuple(l2 for l2s in l2_of.values() for l2 in l2s)
        elif metric in l2_of:
            include, groups = (lambda r: self._category(r) == metric), tuple(l2_of[metric])
        else:
            return None
        return MetricEstimator(include=include, group=self._l2_category, groups=groups)


@functools.cache
def _mmstar_l2_categories() -> dict[str, list[str]]:
    """MMStar category -> its l2 categories, lmms-eval's own table (eval_type_dict)."""
    return dict(importlib.import_module("lmms_eval.tasks.mmstar.utils").eval_type_dict)


@register
class ScienceQAImg(LmmsTask):
    name = "scienceqa_img"
    lmms_eval_name = "scienceqa_img"
    paper_row = "ScienceQA (image)"
    real_docs = 2017
    modality = "single_image"
    main_metric = "exact_match"
    lmms_eval_dir = "scienceqa"
    lmms_eval_yaml = "scienceqa_img.yaml"
    image_columns = ("image",)

    def doc_id(self, doc: dict) -> str:
        return str(doc[ROW_KEY])  # no id column; lmms-eval's doc_id is the row

    def stratum(self, doc: dict) -> str:
        return doc["subject"]

    def generate_samples(self, out_dir: Path) -> None:
        paper_image_samples.scienceqa(out_dir, seed=0)

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        # lmms-eval accepts the bare letter or "<Letter>. ..."; anything else scores 0 as unparsed
        pred = str(filtered).strip()
        letter = pred[0] if len(pred) == 1 or (len(pred) >= 2 and pred[1] == ".") else ""
        valid = string.ascii_uppercase[: len(doc["choices"])]
        ok = bool(letter) and letter.upper() in valid
        return float(results["exact_match"]), (letter.upper() if ok else None), not ok

    def score(self, doc: dict, response: str) -> dict:
        record = super().score(doc, response)
        # the docs' subject and grade, for the breakdown ScienceQA's paper reports (lmms-eval logs none)
        record.update({k: doc[k] for k in ("subject", "grade") if doc.get(k)})
        return record

    def subscores(self, record: dict) -> dict[str, str]:
        """ScienceQA's own breakdown: subject (natural / social / language science) and grade band
        (G1-6, G7-12); exact_match is a plain mean, so each is the mean over that label's records."""
        out = {}
        if "subject" in record:
            out["subject"] = str(record["subject"])
        if "grade" in record:
            out["grade"] = _grade_band(str(record["grade"]))
        return out


def _grade_band(grade: str) -> str:
    """ScienceQA's "grade1".."grade12" as its paper groups them: "1-6" or "7-12" (anything else as is)."""
    m = re.fullmatch(r"grade(\d+)", grade.strip().lower())
    if not m:
        return grade
    return "1-6" if int(m.group(1)) <= 6 else "7-12"


@register
class RealWorldQA(LmmsTask):
    name = "realworldqa"
    lmms_eval_name = "realworldqa"
    paper_row = "RealWorldQA"
    real_docs = 765
    layout_verified = False  # file paths seen; the image_path column inferred (docs/tasks.md)
    modality = "single_image"
    main_metric = "exact_match"
    lmms_eval_dir = "realworldqa"
    lmms_eval_yaml = "realworldqa.yaml"
    image_columns = ("image",)

    def doc_id(self, doc: dict) -> str:
        return str(doc[ROW_KEY])

    def stratum(self, doc: dict) -> str:
        return "choice" if self._is_mcq(doc) else "open"

    @staticmethod
    def _is_mcq(doc: dict) -> bool:
        return doc["answer"].strip().upper() in MCQ  # lmms-eval's own test in realworldqa_process_results

    def generate_samples(self, out_dir: Path) -> None:
        paper_image_samples.realworldqa(out_dir, seed=0)

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        if self._is_mcq(doc):
            parsed = _extract_mcq(str(filtered), MCQ)
            return float(results["exact_match"]), parsed or None, not parsed
        return float(results["exact_match"]), str(filtered).strip(), False


@register
class SEEDBench(LmmsTask):
    name = "seedbench"
    lmms_eval_name = "seedbench"
    paper_row = "SEED-Bench (image) / SEED-Bench (video)"
    paper_modalities = ("single_image", "video")  # seed_image is a Table 3 row, seed_video a Table 5 row
    real_docs = 17990
    layout_verified = False  # file paths seen; the column schema inferred (docs/tasks.md)
    modality = "single_image"
    main_metric = "seed_image"
    lmms_eval_dir = "seedbench"
    lmms_eval_yaml = "seedbench.yaml"
    id_column = "question_id"
    image_columns = ("image",)

    def stratum(self, doc: dict) -> str:
        return f"{doc['data_type']}/{doc['question_type_id']}"

    def generate_samples(self, out_dir: Path) -> None:
        paper_image_samples.seedbench(out_dir, seed=0)

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        data = results["seed_all"]
        agg = next(a for n, _, a, _ in self._metrics if n == "seed_all")
        score = call(agg, [data])  # lmms-eval's comparison, on one sample
        pred = str(data["pred"])
        return float(score), pred, pred.strip().upper() not in MCQ

    def score(self, doc: dict, response: str) -> dict:
        record = super().score(doc, response)
        # SEED-Bench's evaluation dimension (1-9 image, 10-12 video)
        if doc.get("question_type_id") is not None:
            record["question_type_id"] = int(doc["question_type_id"])
        return record

    def subscores(self, record: dict) -> dict[str, str]:
        """By data type (seed_image / seed_video, the two paper rows) and by SEED-Bench's question type
        id (its 12 evaluation dimensions; ids, as the hub rows carry no names)."""
        (key,) = [k for k in record["lmms"] if k != "seed_all"]  # seed_<data_type>
        out = {"data_type": key.removeprefix("seed_")}
        if "question_type_id" in record:
            out["question_type"] = str(record["question_type_id"])
        return out

    def estimator(self, metric: str) -> MetricEstimator | None:
        """lmms-eval's seed_aggregation_result, the share right: over the rows of one data_type
        (seed_image, seed_video: process_results files a row under seed_<data_type>) or over every row
        (seed_all, a micro average: the video rows weigh by their number, not as one half)."""
        if metric == "seed_all":
            return MetricEstimator()
        if metric in ("seed_image", "seed_video"):
            return MetricEstimator(include=lambda r: metric in r["lmms"])
        return None
