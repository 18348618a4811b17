"""Multi-image benchmarks: muirbench and llava_interleave_bench (lmms-eval 0.7.3).

llava_interleave_bench is lmms-eval's group of that name restricted to the members it can score:
llava_interleave_bench_in_domain (hub config in_domain) and llava_interleave_bench_out_domain
(out_of_domain). The third member, llava_interleave_bench_multi_view (multi_view_in_domain), is left
out: its hub rows have no `answer` column, so lmms-eval's own interleave_process_results raises
KeyError on every row. lmms-eval reports no group-level number (the group YAML has no
aggregate_metric_list); ov-bench reports lmms-eval's `overall_score` per member
(overall_score_in_domain, overall_score_out_domain) and, as `overall_score`, the same lmms-eval
function over the records of both members.

Its per-category numbers (the paper's Table 4 columns) are logged by lmms-eval's overall_score, never
returned: aggregate() computes each as lmms-eval's own overall_score over the records of that category's
sub-tasks only (with one category present, overall_score is that category's mean), named as the paper
names the columns (INTERLEAVE_COLUMNS). Categories the paper has no column for keep lmms-eval's name.
The multi-view columns (3D-Chat, 3D-TD, ScanQA, ALFRED, nuScenes) come from the multi_view_in_domain
config, whose rows have no answers: not scored (UNSCORABLE_COLUMNS).

mantis (TIGER-Lab/Mantis-Eval) and the 14 blink_<config> tasks (BLINK-Benchmark/BLINK, val; lmms-eval
group "blink", whose number is the unweighted mean of the members' blink_acc) are lmms-eval's standalone
tasks. Their hub layouts are inferred (layout_verified = False): Mantis-Eval as one config mantis_eval with
mantis_eval/test-*.parquet (the config Mantis' own evaluation names; lmms-eval loads the repo's only
config), BLINK as one folder per config, <config>/val-*.parquet.
"""

from __future__ import annotations

import functools
import importlib
import string
from pathlib import Path
from typing import Any, ClassVar

from tasks.base import HubDataset, parse_failure_rate
from tasks.estimators import MetricEstimator
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
    paper_row = "MuirBench"
    scoring = "local"
    real_docs = 2600

    def stratum(self, doc: dict) -> str:
        return doc["task"]

    def generate_samples(self, out_dir: Path) -> None:
        multi_image_samples.muirbench(out_dir, seed=0)

    def subscores(self, record: dict) -> dict[str, str]:
        return {"task": str(record["lmms"]["muirbench_score_overall"]["task"])}

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
    paper_row = "LLaVA-Interleave"  # and Table 4's columns as sub-scores (INTERLEAVE_COLUMNS)
    scoring = "local"

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

    # paper column (Table 4) -> the list in lmms-eval's utils naming the sub-tasks of that category
    INTERLEAVE_COLUMNS: ClassVar[dict[str, str]] = {
        "IEI": "image_edit_instruct",
        "MI-VQA": "multi_image_vqa",
        "NLVR2": "nlrv2",
        "Puzzle": "puzzle",
        "Q-Bench": "qbench",
        "Spot-Diff": "spot_the_diff",
        "TR-VQA": "text_rich_vqa",
        "VST": "visual_story_telling",
        "Visual-Cloze": "visual_cloze",  # an lmms-eval category the paper has no column for
        "BLINK-interleave": "blink",  # the bench's BLINK sub-task, not the standalone blink tasks
        "Mantis-interleave": "mantis",  # likewise for Mantis
        "MathVerse-mv": "math_verse",
        "SciVerse-mv": "sci_verse",
    }
    # Table 4 columns from multi_view_in_domain, whose hub rows have no answers: never scored
    UNSCORABLE_COLUMNS: ClassVar[tuple[str, ...]] = ("3D-Chat", "3D-TD", "ScanQA", "ALFRED", "nuScenes")

    def subscores(self, record: dict) -> dict[str, str]:
        column = interleave_columns().get(record["lmms"]["overall_score"]["sub_task"])
        return {"column": column} if column else {}

    def estimator(self, metric: str) -> MetricEstimator | None:
        """overall_score (and per config): lmms-eval's unweighted mean over its categories of the
        per-sample scores, records of a sub-task in no category not counted; a Table-4 column: the mean
        of its sub-tasks' per-sample scores (overall_score with one category present)."""
        columns = interleave_columns()

        def sub_task(r: dict) -> str:
            return r["lmms"]["overall_score"]["sub_task"]

        configs = {"overall_score": None, "overall_score_in_domain": "in_domain"}
        configs["overall_score_out_domain"] = "out_of_domain"
        if metric in configs:
            config = configs[metric]
            return MetricEstimator(
                include=lambda r: sub_task(r) in columns and config in (None, r.get("config")),
                group=lambda r: columns[sub_task(r)],
            )
        if metric in self.INTERLEAVE_COLUMNS:
            return MetricEstimator(include=lambda r: columns.get(sub_task(r)) == metric)
        return None

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        utils = importlib.import_module("lmms_eval.tasks.llava_interleave_bench.utils")
        out: dict[str, float] = {}
        groups = {
            "overall_score": records,
            "overall_score_in_domain": [r for r in records if r.get("config") == "in_domain"],
            "overall_score_out_domain": [r for r in records if r.get("config") == "out_of_domain"],
        }
        for column, list_name in self.INTERLEAVE_COLUMNS.items():
            sub_tasks = getattr(utils, list_name)
            groups[column] = [r for r in records if r["lmms"]["overall_score"]["sub_task"] in sub_tasks]
        for key, group in groups.items():
            if group:
                out[key] = float(call(utils.overall_score, [r["lmms"]["overall_score"] for r in group]))
        out["parse_failure_rate"] = parse_failure_rate(records)
        return out


@register
class Mantis(LmmsTask):
    name = "mantis"
    lmms_eval_name = "mantis"
    modality = "multi_image"
    main_metric = "mantis_score"
    lmms_eval_dir = "mantis"
    lmms_eval_yaml = "mantis.yaml"
    id_column = "id"
    image_columns = ("images",)
    paper_row = "Mantis"
    scoring = "local"
    real_docs = 217
    layout_verified = False  # inferred (module doc)
    metadata_files = "mantis_eval/{split}-*"
    readme_config = "mantis_eval"

    def stratum(self, doc: dict) -> str:
        return str(doc["category"])

    def generate_samples(self, out_dir: Path) -> None:
        multi_image_samples.mantis(out_dir, seed=0)

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        utils = importlib.import_module("lmms_eval.tasks.mantis.utils")
        data = results["mantis_score"]
        score = call(utils.mantis_aggregation, [data])  # lmms-eval's comparison, on one sample
        failed = False
        if doc["question_type"] == "multi-choice":
            # lmms-eval reads an option letter, else compares the raw text with the right option's text
            option = call(utils.get_option, call(utils.parse_answer, str(filtered)))
            failed = not (option and ord(option) - ord("A") < len(doc["options"]))
        return float(score), data["pred_answer"], failed


class Blink(LmmsTask):
    """One BLINK sub-task (hub config); the 14 are registered below, members of lmms-eval's group blink."""

    modality = "multi_image"
    main_metric = "blink_acc"
    lmms_eval_dir = "blink"
    lmms_eval_group = "blink"
    paper_row = "BLINK"  # the unweighted mean of the 14 members' blink_acc, as lmms-eval's group
    scoring = "local"
    layout_verified = False  # inferred (module doc)
    id_column = "idx"
    image_columns = ("image_1", "image_2", "image_3", "image_4")

    def generate_samples(self, out_dir: Path) -> None:
        multi_image_samples.blink(out_dir, self.dataset.config, seed=0)

    def summarize(self, doc: dict, response: str, filtered: Any, results: dict) -> tuple[float, Any, bool]:
        utils = importlib.import_module("lmms_eval.tasks.blink.utils")
        data = results["blink_acc"]
        score = call(utils.blink_aggregate_results, [data])  # lmms-eval's accuracy, on one sample
        parsed = data["pred_parsed"]
        return float(score), parsed or None, not parsed


# lmms-eval task (the members of the blink_groups tag that group blink runs) -> docs in its hub val split
# (1,901 in all, the BLINK paper's validation size)
BLINK_TASKS: dict[str, int] = {
    "blink_art_style": 117,
    "blink_counting": 120,
    "blink_forensic_detection": 132,
    "blink_functional_correspondence": 130,
    "blink_iq_test": 150,
    "blink_jigsaw": 150,
    "blink_multi_view_reasoning": 133,
    "blink_object_localization": 122,
    "blink_relative_depth": 124,
    "blink_relative_reflectance": 134,
    "blink_semantic_correspondence": 139,
    "blink_spatial_relation": 143,
    "blink_visual_correspondence": 172,
    "blink_visual_similarity": 135,
}

for _task, _docs in BLINK_TASKS.items():
    _cls_name = "Blink" + "".join(p.title() for p in _task.split("_")[1:])
    register(
        type(
            _cls_name,
            (Blink,),
            {
                "name": _task,
                "lmms_eval_name": _task,
                "lmms_eval_yaml": f"{_task}.yaml",
                "real_docs": _docs,
                "__module__": __name__,
                "__qualname__": _cls_name,
            },
        )
    )


@functools.cache
def interleave_columns() -> dict[str, str]:
    """sub_task -> its LLaVA-Interleave category, named as the paper's Table 4 names the column
    (LlavaInterleaveBench.INTERLEAVE_COLUMNS over lmms-eval's own sub-task lists)."""
    utils = importlib.import_module("lmms_eval.tasks.llava_interleave_bench.utils")
    return {
        sub_task: column
        for column, list_name in LlavaInterleaveBench.INTERLEAVE_COLUMNS.items()
        for sub_task in getattr(utils, list_name)
    }
