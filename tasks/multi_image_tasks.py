"""Multi-image benchmarks: muirbench and llava_interleave_bench (lmms-eval 0.7.3).

llava_interleave_bench is lmms-eval's group of that name restricted to the members it can score:
llava_interleave_bench_in_domain (hub config in_domain) and llava_interleave_bench_out_domain
(out_of_domain). The third member, llava_interleave_bench_multi_view (multi_view_in_domain), is left
out: its hub rows have no `answer` column, so lmms-eval's own interleave_process_results raises
KeyError on every row. lmms-eval reports no group-level number (the group YAML has no
aggregate_metric_list); ov-bench reports lmms-eval's `overall_score` per member
(overall_score_in_domain, overall_score_out_domain) and, as `overall_score`, the same lmms-eval
function over the records of both members.
"""

from __future__ import annotations

import importlib
import string
from pathlib import Path
from typing import Any

from tasks.base import HubDataset, parse_failure_rate
from tasks.lmms import call, load_task_yaml
from tasks.lmms_task import LmmsTask
from tasks.registry import register
from tasks.samples import multi_image_samples

CONFIG_KEY = "_config"  # added to llava_interleave_bench rows: the hub config they came from


@register
class MuirBench(LmmsTask):
    name = "muirbench"
    lmms_eval_name = "muirbench"
    modality = "multi_image"
    main_metric = "muirbench_score_overall"
    lmms_eval_dir = "muirbench"
    lmms_eval_yaml = "muirbench.yaml"
    id_column = "idx"
    image_columns = ("image_list",)

    def stratum(self, doc: dict) -> str:
        return doc["task"]

    def generate_samples(self, out_dir: Path) -> None:
        multi_image_samples.muirbench(out_dir, seed=0)

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        utils = importlib.import_module("lmms_eval.tasks.muirbench.utils")
        data = results["muirbench_score_overall"]
        score = call(utils.muir_aggregation, [data])  # lmms-eval's comparison, on one sample
        parsed = str(data["pred"]).strip()
        letter = parsed.translate(str.maketrans("", "", string.punctuation)).strip().upper()
        valid = {chr(ord("A") + i) for i in range(len(doc["options"]))}
        return float(score), parsed, letter not in valid


@register
class LlavaInterleaveBench(LmmsTask):
    name = "llava_interleave_bench"
    lmms_eval_name = "llava_interleave_bench"
    modality = "multi_image"
    main_metric = "overall_score"
    lmms_eval_dir = "llava_interleave_bench"
    lmms_eval_yaml = "in_domain.yaml"  # out_of_domain.yaml names the same functions and kwargs
    image_columns = tuple(f"image_{i}" for i in range(16))

    def hub_datasets(self) -> list[HubDataset]:
        out = []
        for yaml_name in ("in_domain.yaml", "out_of_domain.yaml"):
            c = load_task_yaml(self.lmms_eval_dir, yaml_name)
            out.append(HubDataset(c["dataset_path"], c["dataset_name"], c["test_split"], self.revision))
        return out

    def prepare_rows(self, rows: list[dict], dataset: HubDataset) -> list[dict]:
        for row in rows:
            row[CONFIG_KEY] = dataset.config
        return rows

    def doc_id(self, doc: dict) -> str:
        return f"{doc[CONFIG_KEY]}:{doc['sample_id']}"

    def stratum(self, doc: dict) -> str:
        return f"{doc[CONFIG_KEY]}/{doc['sub_task']}"

    def generate_samples(self, out_dir: Path) -> None:
        multi_image_samples.llava_interleave_bench(out_dir, seed=0)

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        data = results["overall_score"]
        return float(data["score"]), data["parsed_pred"], False  # no parser: mcq_acc / ROUGE-L on the text

    def score(self, doc: dict, response: str) -> dict:
        record = super().score(doc, response)
        record["config"] = doc[CONFIG_KEY]
        return record

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        utils = importlib.import_module("lmms_eval.tasks.llava_interleave_bench.utils")
        out: dict[str, float] = {}
        groups = {
            "overall_score": records,
            "overall_score_in_domain": [r for r in records if r.get("config") == "in_domain"],
            "overall_score_out_domain": [r for r in records if r.get("config") == "out_of_domain"],
        }
        for key, group in groups.items():
            if group:
                out[key] = float(call(utils.overall_score, [r["lmms"]["overall_score"] for r in group]))
        out["parse_failure_rate"] = parse_failure_rate(records)
        return out
