"""mantis, the 14 blink_<config> tasks and llava_interleave_bench's Table-4 sub-scores against lmms-eval 0.7.3.

The independent side: lmms-eval's YAMLs loaded by its own loader (functions as real callables), the sample
rows as `datasets` yields them (PIL images), lmms-eval's overall_score with its per-category log lines
captured, and hand-written docs and responses. The paper-column names are spelled here from the paper's
Table 4 and lmms-eval's category names, not read from tasks/.
"""

from __future__ import annotations

import importlib
import json
import re

import pytest

from tasks import get_task, list_tasks
from tasks.data import samples_root
from tests.support.task_parity import (  # noqa: F401
    LMMS_TASKS,
    hf_rows,
    lmms_config,
    lmms_kwargs,
    pixels_equal,
    responses_for,
)


def check_prompts_visuals_scores(task, docs, rows, config, metric, extra_responses=()) -> tuple[list, list]:
    records, expected = [], []
    agg = config["metric_list"][0]["aggregation"]
    for doc, row in zip(docs, rows):
        assert task.doc_to_text(doc) == config["doc_to_text"](row, lmms_kwargs(config))
        got, want = task.load_visuals(doc).images, config["doc_to_visual"](row)
        assert len(got) == len(want) >= 1 and all(pixels_equal(g, w) for g, w in zip(got, want))
        assert task.image_sizes(doc) == [im.size for im in want]
        for response in responses_for(row) + list(extra_responses):
            result = config["process_results"](row, [response.strip()])
            record = task.score(doc, response)
            assert json.loads(json.dumps(record)) == record
            assert record["lmms"] == result, response
            assert record["score"] == agg([result[metric]])
            records.append(record)
            expected.append(result[metric])
    return records, expected


# ---- Mantis ---------------------------------------------------------------------------------------------


def test_mantis_equals_lmms_eval_on_samples_and_hand_written_docs(samples_cache):
    task = get_task("mantis")
    docs = task.load("samples")
    rows = hf_rows(samples_root() / "mantis", ["mantis_eval"], "test")
    assert len(docs) == len(rows) >= 15
    config = lmms_config("mantis", "mantis.yaml")
    records, expected = check_prompts_visuals_scores(
        task, docs, rows, config, "mantis_score", ["Final Answer: 6", "(B) Image 2", "Image 1"]
    )
    agg = config["metric_list"][0]["aggregation"]
    metrics = task.aggregate(records)
    assert metrics["mantis_score"] == pytest.approx(agg(expected))
    assert 0 < metrics["mantis_score"] < 1 and 0 < metrics["parse_failure_rate"] < 1
    # hand-written: the answer as "(B)", options as "(X) text". lmms-eval takes the first letter of a
    # response as the option ("a dog" is A); only a response without letters goes to its text comparison
    own = {
        "id": "own",
        "question_type": "multi-choice",
        "question": "<image> <image> Which one?",
        "options": ["(A) a cat", "(B) a dog", "(C) a fox"],
        "answer": "(B)",
        "category": "x",
    }
    cases = (
        ("B", True, False),
        ("a dog", False, False),
        ("The answer is C", False, False),
        ("2", False, True),
    )
    for response, correct, failed in cases:
        record = task.score(own, response)
        result = config["process_results"](own, [response])
        assert record["lmms"] == result and result["mantis_score"]["correct"] == correct
        assert record["parse_failed"] == failed
    short = dict(own, question_type="short-answer", options=[], answer="7")
    assert task.score(short, "so... Final Answer: 7")["score"] == 1.0


def test_mantis_generation_settings_are_lmms_evals():
    """lmms-eval samples Mantis (temperature 0.2, do_sample): kept as the YAML says (see the report)."""
    config = lmms_config("mantis", "mantis.yaml")
    assert get_task("mantis").generation_kwargs == {**config["generation_kwargs"], "until": ["\n\n"]}


# ---- BLINK ---------------------------------------------------------------------------------------------


def test_blink_tasks_are_the_members_of_lmms_eval_group():
    """Every member of the blink_groups tag that lmms-eval's group blink runs, by its own name, with the
    metric the group averages (unweighted: aggregate_metric_list without weight_by_size)."""
    import yaml

    group = yaml.safe_load((LMMS_TASKS / "blink" / "blink.yaml").read_text())
    members = {}
    for path in sorted((LMMS_TASKS / "blink").glob("blink_*.yaml")):
        config = lmms_config("blink", path.name)
        if config.get("tag") == group["task"][0]:
            members[config["task"]] = config
    ours = {name for name in list_tasks() if getattr(get_task(name), "lmms_eval_group", None) == "blink"}
    assert ours == set(members) and len(ours) == 14
    (aggregate,) = group["aggregate_metric_list"]
    assert not aggregate.get("weight_by_size", False)
    for name, config in members.items():
        task = get_task(name)
        assert task.lmms_eval_name == name and task.paper_row == "BLINK" and task.scoring == "local"
        assert task.main_metric == aggregate["metric"] == config["metric_list"][0]["metric"]
        assert (task.dataset.repo, task.dataset.config, task.dataset.split) == (
            config["dataset_path"],
            config["dataset_name"],
            config["test_split"],
        )
    assert sum(get_task(n).real_docs for n in ours) == 1901  # BLINK's validation set


def _blink(configs: list[str]) -> None:
    for name in configs:
        task = get_task(name)
        docs = task.load("samples")
        rows = hf_rows(samples_root() / name, [task.dataset.config], "val")
        config = lmms_config("blink", f"{name}.yaml")
        records, expected = check_prompts_visuals_scores(
            task, docs, rows, config, "blink_acc", ["The correct answer is (B).", "(A)", "b"]
        )
        metrics = task.aggregate(records)
        assert metrics["blink_acc"] == pytest.approx(config["metric_list"][0]["aggregation"](expected))
        assert 0 < metrics["blink_acc"] < 1
        assert all(r["parse_failed"] == (r["lmms"]["blink_acc"]["pred_parsed"] == "") for r in records)


def test_blink_equals_lmms_eval_on_one_two_and_four_image_configs(samples_cache):
    _blink(["blink_counting", "blink_functional_correspondence", "blink_forensic_detection"])
    task = get_task("blink_iq_test")
    own = {
        "idx": "own",
        "sub_task": "IQ Test",
        "prompt": "Which?\n(A) x\n(B) y\n(C) z\n(D) w",
        "choices": list("xyzw"),
        "answer": "(C)",
    }
    config = lmms_config("blink", "blink_iq_test.yaml")
    assert task.doc_to_text(own) == config["doc_to_text"](own, lmms_kwargs(config))
    for response in ("C", "The answer is (C), not (D)", "(D)", "I pick c.", "no idea"):
        assert task.score(own, response)["lmms"] == config["process_results"](own, [response])


@pytest.mark.slow
def test_every_blink_config_equals_lmms_eval(samples_cache):
    _blink(sorted(n for n in list_tasks() if n.startswith("blink_")))


# ---- LLaVA-Interleave Table-4 sub-scores -------------------------------------------------------------------

# paper column (LLaVA-OneVision Table 4) -> the category lmms-eval's overall_score logs
PAPER_COLUMNS = {
    "IEI": "Image-Edit",
    "MI-VQA": "Multi-Image-VQA",
    "NLVR2": "NLVR2",
    "Puzzle": "Puzzle",
    "Q-Bench": "QBench",
    "Spot-Diff": "Spot-the-Diff",
    "TR-VQA": "Text-Rich-VQA",
    "VST": "Visual-Story-Telling",
    "MathVerse-mv": "MathVerse",
    "SciVerse-mv": "SciVerse",
    "Visual-Cloze": "Visual-Cloze",
    "BLINK-interleave": "BLINK",
    "Mantis-interleave": "Mantis",
}
MULTI_VIEW = ["ScanQA", "ALFRED", "nuscenes", "ScanNet_chat", "ScanNet_task"]  # no answers in the bench

# sub-tasks as the hub rows name them, per config, at least one for every category
IN_DOMAIN = [
    "Spot-the-Diff",
    "Birds-to-Words",
    "IEdit",
    "MagicBrush",
    "AESOP",
    "VIST",
    "COMICS_Dialogue",
    "WebQA",
    "OCR-VQA",
    "MIT-States_StateCoherence",
    "VISION",
    "RAVEN",
    "NLVR2_Mantis",
    "QBench",
]
OUT_DOMAIN = ["BLINK", "MathVerse", "SciVerse", "Mantis"]


def _logged_categories(results: list[dict]) -> dict[str, float]:
    from loguru import logger

    utils = importlib.import_module("lmms_eval.tasks.llava_interleave_bench.utils")
    lines: list[str] = []
    logger.enable("lmms_eval")
    handler = logger.add(lambda m: lines.append(m.record["message"]), level="INFO")
    try:
        utils.overall_score(results)
    finally:
        logger.remove(handler)
    return {m.group(1): float(m.group(2)) for m in map(re.compile(r"^([\w-]+): ([\d.]+)$").match, lines) if m}


def _interleave_records(task, docs: list[dict]) -> list[dict]:
    return [task.score(d, r) for d in docs for r in ("A", "B", "(C)", "a blue circle", "")]


# lmms-eval's logged category -> the list in its utils module naming that category's sub-tasks (as its
# overall_score builds the categories)
CATEGORY_LISTS = {
    "Spot-the-Diff": "spot_the_diff",
    "Image-Edit": "image_edit_instruct",
    "Visual-Story-Telling": "visual_story_telling",
    "Visual-Cloze": "visual_cloze",
    "Text-Rich-VQA": "text_rich_vqa",
    "Multi-Image-VQA": "multi_image_vqa",
    "Puzzle": "puzzle",
    "NLVR2": "nlrv2",
    "QBench": "qbench",
    "BLINK": "blink",
    "MathVerse": "math_verse",
    "SciVerse": "sci_verse",
    "Mantis": "mantis",
}


def _check_sub_scores(task, records: list[dict]) -> dict:
    """Each column equals the category value lmms-eval logs (3 decimals) and, in full precision, the mean
    score of the records of that category's sub-tasks."""
    utils = importlib.import_module("lmms_eval.tasks.llava_interleave_bench.utils")
    metrics = task.aggregate(records)
    results = [r["lmms"]["overall_score"] for r in records]
    logged = _logged_categories(results)
    assert logged, "lmms-eval logged no categories"
    for column, category in PAPER_COLUMNS.items():
        if category not in logged:
            assert column not in metrics
            continue
        assert metrics[column] == pytest.approx(logged[category], abs=5e-4)
        members = [r["score"] for r in results if r["sub_task"] in getattr(utils, CATEGORY_LISTS[category])]
        assert metrics[column] == pytest.approx(sum(members) / len(members))
    assert set(logged) <= set(PAPER_COLUMNS.values())  # every category lmms-eval scores has a column
    return metrics


def test_interleave_sub_scores_are_lmms_eval_categories_named_as_the_paper():
    task = get_task("llava_interleave_bench")
    docs = []
    for config, sub_tasks in (("in_domain", IN_DOMAIN), ("out_of_domain", OUT_DOMAIN)):
        for i, sub_task in enumerate(sub_tasks):
            for k in range(2):
                mc = (i + k) % 2 == 0
                docs.append(
                    {
                        "sample_id": 100 * i + k,
                        "sub_task": sub_task,
                        "question_type": "multi-choice" if mc else "open-ended",
                        "question": "Image 1: <image>\nWhich?\nA. x\nB. y\nC. z\nYour answer is:",
                        "answer": "ABC"[(i + k) % 3] if mc else "a blue circle in the corner",
                        "_config": config,
                    }
                )
    metrics = _check_sub_scores(task, _interleave_records(task, docs))
    assert set(PAPER_COLUMNS) <= set(metrics)
    assert not set(metrics) & set(task.UNSCORABLE_COLUMNS)
    assert task.UNSCORABLE_COLUMNS == ("3D-Chat", "3D-TD", "ScanQA", "ALFRED", "nuScenes")
    utils = importlib.import_module("lmms_eval.tasks.llava_interleave_bench.utils")
    scored = {s for name in task.INTERLEAVE_COLUMNS.values() for s in getattr(utils, name)}
    assert not scored & {
        s
        for name in ("scan_qa", "alfred", "nuscenes", "scannet_chat", "scannet_task")
        for s in getattr(utils, name)
    }
    assert "overall_score" in metrics and "overall_score_in_domain" in metrics


@pytest.mark.slow
def test_interleave_sub_scores_on_the_sample_set(samples_cache):
    task = get_task("llava_interleave_bench")
    _check_sub_scores(task, _interleave_records(task, task.load("samples")))
