"""Single-image benchmarks: mmmu (lmms-eval mmmu_val), ai2d, mme, chartqa, docvqa (docvqa_val).

Prompts, visuals and scores are lmms-eval 0.7.3's (see tasks/lmms_task.py). Two things differ
from running lmms-eval, both documented here:

- MMMU multiple choice: when no option letter or option text is found in a response, lmms-eval's
  parser returns `random.choice(all_choices)` from the global RNG, so the score of an unparseable
  answer changes from run to run. ov-bench runs the same parser with `random` replaced, for that
  call only, by a random.Random seeded from the doc id: the fallback letter is the same in every
  run and process. Such records have parse_failed=True, and aggregate() reports
  parse_failure_rate (the share of records with parse_failed) beside mmmu_acc.
- MME: lmms-eval's aggregation asserts that both questions of every image are present. A subset
  from `limit` keeps pairs together; if a pair is still incomplete (a sample failed), aggregate()
  drops the unpaired question and reports how many it dropped as mme_unpaired_dropped.
"""

from __future__ import annotations

import functools
import importlib
import random
import re
import string
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from tasks.base import ROW_KEY, parse_failure_rate
from tasks.estimators import MetricEstimator
from tasks.lmms_task import LmmsTask
from tasks.registry import register
from tasks.samples import image_samples

_fallback_lock = threading.Lock()


class _DocSeededRandom:
    """Stands in for the `random` module inside lmms-eval's MMMU parser for one call."""

    def __init__(self, seed: str):
        self._rng = random.Random(seed)
        self.used = False

    def choice(self, seq: Any) -> Any:
        self.used = True
        return self._rng.choice(seq)

    def __getattr__(self, name: str) -> Any:  # anything else the module might use: the real thing
        return getattr(random, name)


@register
class MMMU(LmmsTask):
    name = "mmmu"
    lmms_eval_name = "mmmu_val"
    paper_row = "MMMU (val)"
    real_docs = 900
    modality = "single_image"
    main_metric = "mmmu_acc"
    lmms_eval_dir = "mmmu"
    lmms_eval_yaml = "mmmu_val.yaml"
    id_column = "id"
    image_columns = tuple(f"image_{i}" for i in range(1, 8))
    samples_version = 2

    def stratum(self, doc: dict) -> str:
        # ids look like "validation_Art_Theory_12": the subject is between split and number
        m = re.match(r"^[^_]+_(.+?)_\d+$", str(doc["id"]))
        return m.group(1) if m else ""

    def generate_samples(self, out_dir: Path) -> None:
        image_samples.mmmu(out_dir, seed=0)

    def subscores(self, record: dict) -> dict[str, str]:
        subject = record["lmms"]["mmmu_acc"]["subdomain"]
        return {"subject": subject, "discipline": _mmmu_disciplines().get(subject, "?")}

    def process_results(self, doc: dict, response: str) -> tuple[Any, dict]:
        mcq = importlib.import_module("lmms_eval.tasks._task_utils.mmmu_mcq_utils")
        shim = _DocSeededRandom(f"ov-bench:mmmu:{self.doc_id(doc)}")
        with _fallback_lock:  # the module attribute is process-global; swap it for this call only
            original = mcq.random
            mcq.random = shim
            try:
                filtered, results = super().process_results(doc, response)
            finally:
                mcq.random = original
        acc = results["mmmu_acc"]
        # lmms-eval keeps open-question candidates in set order (varies with PYTHONHASHSEED); the
        # order does not change the score, so sort it to make records reproducible.
        acc["parsed_pred"] = [
            sorted(p, key=lambda x: (type(x).__name__, str(x))) if isinstance(p, list) else p
            for p in acc["parsed_pred"]
        ]
        acc["parse_failed"] = shim.used
        return filtered, results

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        utils = importlib.import_module("lmms_eval.tasks.mmmu.utils")
        sample = results["mmmu_acc"]
        _, metric = utils.evaluate_mmmu([sample])
        pred = sample["parsed_pred"][0]
        parsed = pred if isinstance(pred, str) else "; ".join(str(p) for p in pred)
        return metric["acc"], parsed, bool(sample.get("parse_failed"))


@functools.cache
def _mmmu_disciplines() -> dict[str, str]:
    """MMMU subject -> discipline, from lmms-eval's own table (DOMAIN_CAT2SUB_CAT)."""
    utils = importlib.import_module("lmms_eval.tasks.mmmu.utils")
    return {sub: domain for domain, subs in utils.DOMAIN_CAT2SUB_CAT.items() for sub in subs}


@register
class AI2D(LmmsTask):
    name = "ai2d"
    lmms_eval_name = "ai2d"
    paper_row = "AI2D (test)"
    real_docs = 3088
    modality = "single_image"
    main_metric = "exact_match"
    lmms_eval_dir = "ai2d"
    lmms_eval_yaml = "ai2d.yaml"
    image_columns = ("image",)

    def doc_id(self, doc: dict) -> str:
        return str(doc[ROW_KEY])  # the hub rows have no id column; lmms-eval's doc_id is the row

    def stratum(self, doc: dict) -> str:
        return str(len(doc["options"]))  # no task-type column: stratify by number of options

    def generate_samples(self, out_dir: Path) -> None:
        image_samples.ai2d(out_dir, seed=0)

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        parsed = str(filtered).strip()
        # exact_match compares case- and punctuation-insensitively with the target letter; a
        # response that does not reduce to one of the option letters counts as unparsed
        letter = parsed.translate(str.maketrans("", "", string.punctuation)).strip().upper()
        valid = {chr(ord("A") + i) for i in range(len(doc["options"]))}
        return float(results["exact_match"]), parsed, letter not in valid


@register
class MME(LmmsTask):
    name = "mme"
    lmms_eval_name = "mme"
    paper_row = "MME (cognition / perception)"
    real_docs = 2374
    modality = "single_image"
    main_metric = "mme_perception_score"
    lmms_eval_dir = "mme"
    lmms_eval_yaml = "mme.yaml"
    image_columns = ("image",)

    def doc_id(self, doc: dict) -> str:
        return str(doc[ROW_KEY])

    def stratum(self, doc: dict) -> str:
        return doc["category"]

    def group_key(self, doc: dict) -> str:
        return doc["question_id"]  # the two questions about one image are scored as a pair

    def generate_samples(self, out_dir: Path) -> None:
        image_samples.mme(out_dir, seed=0)

    @staticmethod
    def _value(record: dict) -> dict:
        (value,) = record["lmms"].values()  # {"mme_perception_score" | "mme_cognition_score": {...}}
        return value

    def subscores(self, record: dict) -> dict[str, str]:
        return {"category": self._value(record)["category"]}

    def estimator(self, metric: str) -> MetricEstimator | None:
        """lmms-eval's MME score: per category, the mean over image pairs of (accuracy + both-right) in
        percent, summed over the categories of the metric's type (pairs only, as aggregate() keeps)."""
        kinds = {"mme_perception_score": "Perception", "mme_cognition_score": "Cognition"}
        if metric not in kinds:
            return None
        categories = tuple(importlib.import_module("lmms_eval.tasks.mme.utils").eval_type_dict[kinds[metric]])
        return MetricEstimator(
            include=lambda r: self._value(r)["category"] in categories,
            group=lambda r: self._value(r)["category"],
            unit=lambda r: self._value(r)["question_id"],
            unit_value="mean_plus_all",
            combine="sum",
            multiplier=100.0,
            groups=categories,
            complete_unit=2,
        )

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        utils = importlib.import_module("lmms_eval.tasks.mme.utils")
        (value,) = results.values()
        parsed = utils.parse_pred_ans(str(filtered).strip())
        return float(value["score"]), parsed, parsed == "other"

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        def qid(r: dict) -> tuple[str, str]:
            (v,) = r["lmms"].values()
            return v["category"], v["question_id"]

        counts = Counter(qid(r) for r in records)
        paired = [r for r in records if counts[qid(r)] == 2]
        out = super().aggregate(paired)
        out["parse_failure_rate"] = parse_failure_rate(records)
        if len(paired) != len(records):
            out["mme_unpaired_dropped"] = float(len(records) - len(paired))
        return out


@register
class ChartQA(LmmsTask):
    name = "chartqa"
    lmms_eval_name = "chartqa"
    paper_row = "ChartQA (test)"
    real_docs = 2500
    modality = "single_image"
    main_metric = "relaxed_overall"
    lmms_eval_dir = "chartqa"
    lmms_eval_yaml = "chartqa.yaml"
    image_columns = ("image",)

    def doc_id(self, doc: dict) -> str:
        return str(doc[ROW_KEY])

    def stratum(self, doc: dict) -> str:
        return doc["type"]

    def generate_samples(self, out_dir: Path) -> None:
        image_samples.chartqa(out_dir, seed=0)


@register
class DocVQA(LmmsTask):
    name = "docvqa"
    lmms_eval_name = "docvqa_val"
    paper_row = "DocVQA (val)"
    real_docs = 5349
    modality = "single_image"
    main_metric = "anls"
    lmms_eval_dir = "docvqa"
    lmms_eval_yaml = "docvqa_val.yaml"
    id_column = "questionId"
    image_columns = ("image",)

    def stratum(self, doc: dict) -> str:
        types = doc.get("question_types") or [""]
        return types[0]

    def generate_samples(self, out_dir: Path) -> None:
        image_samples.docvqa(out_dir, seed=0)
