"""Single-image adapters against lmms-eval 0.7.3 itself, on generated sample data.

The expected values are computed here by calling lmms-eval's task functions directly (loaded with
lmms-eval's own YAML loader) on the rows as `datasets` yields them; the adapters go through
tasks/lmms_task.py. Prompts and visuals must be identical, scores and aggregates equal, except for
MMMU responses where lmms-eval falls back to random.choice (checked separately).
"""

from __future__ import annotations

import json
import random

import pytest

from tasks import MediaError, get_task
from tasks.data import samples_root
from tests.support.task_parity import hf_rows, lmms_config, lmms_kwargs, pixels_equal, responses_for

SPLIT_DIRS = {
    "mmmu": ("mmmu", "mmmu_val.yaml", [None], "validation"),
    "ai2d": ("ai2d", "ai2d.yaml", [None], "test"),
    "mme": ("mme", "mme.yaml", [None], "test"),
    "chartqa": ("chartqa", "chartqa.yaml", [None], "test"),
    "docvqa": ("docvqa", "docvqa_val.yaml", ["DocVQA"], "validation"),
}


@pytest.fixture(scope="module")
def loaded(samples_cache):
    """task name -> (task, our docs, the same rows as datasets gives them to lmms-eval)."""
    out = {}
    for name, (_, _, configs, split) in SPLIT_DIRS.items():
        task = get_task(name)
        docs = task.load("samples")
        rows = hf_rows(samples_root() / name, configs, split)
        assert len(docs) == len(rows) >= 20
        out[name] = (task, docs, rows)
    return out


@pytest.mark.parametrize("name", list(SPLIT_DIRS))
def test_prompt_and_visuals_equal_lmms_eval(loaded, name):
    lmms_dir, yaml_name, _, _ = SPLIT_DIRS[name]
    config = lmms_config(lmms_dir, yaml_name)
    task, docs, rows = loaded[name]
    sizes = set()
    for doc, row in zip(docs, rows):
        assert task.doc_to_text(doc) == config["doc_to_text"](row, lmms_kwargs(config))
        expected = config["doc_to_visual"](row)
        got = task.load_visuals(doc).images
        assert len(got) == len(expected) >= 1
        assert all(pixels_equal(g, e) for g, e in zip(got, expected))
        assert task.image_sizes(doc) == [im.size for im in expected]
        sizes.update(im.size for im in expected)
    assert len(sizes) >= 6  # the samples vary image size and aspect ratio


def test_task_metadata_comes_from_lmms_eval_yaml(loaded):
    from lmms_eval.api.task import TaskConfig

    for name, (lmms_dir, yaml_name, _, split) in SPLIT_DIRS.items():
        task = loaded[name][0]
        config = lmms_config(lmms_dir, yaml_name)
        assert task.dataset.repo == config["dataset_path"]
        assert task.dataset.split == split == config["test_split"]
        assert task.dataset.config == config.get("dataset_name")
        completed = TaskConfig(
            output_type="generate_until", generation_kwargs=dict(config["generation_kwargs"])
        )
        assert task.generation_kwargs == completed.generation_kwargs  # lmms-eval adds its `until` stop list
        assert task.main_metric in [m["metric"] for m in config["metric_list"]]
    assert loaded["mmmu"][0].lmms_eval_name == "mmmu_val"
    assert loaded["docvqa"][0].lmms_eval_name == "docvqa_val"


def _records_roundtrip(records):
    return json.loads(json.dumps(records))  # records are stored as JSON; aggregates must survive it


def test_mmmu_scores_equal_lmms_eval(loaded):
    config = lmms_config("mmmu", "mmmu_val.yaml")
    (agg,) = [m["aggregation"] for m in config["metric_list"] if m["metric"] == "mmmu_acc"]
    task, docs, rows = loaded["mmmu"]
    ours, theirs, failures = [], [], 0
    for doc, row in zip(docs, rows):
        for response in responses_for(row):
            record = task.score(doc, response)
            drawn = []
            state = random.getstate()
            random.seed(0)
            real_choice = random.choice
            # spy on the global RNG lmms-eval's parser falls back to
            random.choice = lambda seq, _d=drawn, _c=real_choice: _d.append(seq) or _c(seq)
            try:
                expected = config["process_results"](row, [response.strip()])
            finally:
                random.choice = real_choice
                random.setstate(state)
            assert record["parse_failed"] == bool(drawn), response
            if drawn:
                failures += 1
                assert record["parsed"] in drawn[0]
                continue  # lmms-eval's answer here is random; ours is seeded (next test)
            exp = expected["mmmu_acc"]
            got = record["lmms"]["mmmu_acc"]
            assert got["id"] == exp["id"] and got["subdomain"] == exp["subdomain"]
            norm = lambda p: sorted(map(str, p)) if isinstance(p, list) else p  # noqa: E731
            assert [norm(p) for p in got["parsed_pred"]] == [norm(p) for p in exp["parsed_pred"]]
            _, metric = config["process_results"].__globals__["evaluate_mmmu"]([exp])
            assert record["score"] == metric["acc"]
            ours.append(record)
            theirs.append(exp)
    assert failures > 0 and len(ours) > 100
    assert {r["score"] for r in ours} == {0.0, 1.0}
    metrics = task.aggregate(_records_roundtrip(ours))
    assert metrics["mmmu_acc"] == pytest.approx(agg(theirs), abs=0)
    assert metrics["parse_failure_rate"] == 0.0


def test_mmmu_fallback_is_deterministic_and_reported(loaded):
    task, docs, _ = loaded["mmmu"]
    mc = [d for d in docs if d["question_type"] == "multiple-choice"]
    first = [task.score(d, "no idea at all") for d in mc]
    random.seed(12345)  # the global RNG must not matter
    again = [get_task("mmmu").score(d, "no idea at all") for d in mc]
    assert [r["parsed"] for r in first] == [r["parsed"] for r in again]
    assert all(r["parse_failed"] for r in first)
    assert len({r["parsed"] for r in first}) > 1  # seeded per doc, not one constant letter
    records = first + [task.score(d, d["answer"]) for d in mc]
    metrics = task.aggregate(records)
    assert metrics["parse_failure_rate"] == pytest.approx(0.5)
    assert 0.5 <= metrics["mmmu_acc"] <= 1.0


def _mean(values):
    return sum(values) / len(values)


def test_ai2d_scores_equal_lmms_eval(loaded):
    from lmms_eval.api.metrics import exact_match_hf_evaluate

    config = lmms_config("ai2d", "ai2d.yaml")
    (pipeline,) = config["filter_list"]
    (step,) = pipeline["filter"]
    filt = step["function"](**{k: v for k, v in step.items() if k != "function"})
    (metric,) = config["metric_list"]
    target_kw = config["model_specific_target_kwargs"]["default"]
    task, docs, rows = loaded["ai2d"]
    ours, expected = [], []
    for doc, row in zip(docs, rows):
        for response in responses_for(row):
            filtered = filt.apply([[response]], [row])[0].strip()
            value = exact_match_hf_evaluate(
                predictions=[filtered],
                references=[config["doc_to_target"](row, target_kw)],
                ignore_case=metric["ignore_case"],
                ignore_punctuation=metric["ignore_punctuation"],
            )["exact_match"]
            record = task.score(doc, response)
            assert record["score"] == value, response
            ours.append(record)
            expected.append(value)
    assert 0 < sum(expected) < len(expected)
    metrics = task.aggregate(_records_roundtrip(ours))
    assert metrics["exact_match"] == pytest.approx(_mean(expected), abs=1e-12)
    assert 0 < metrics["parse_failure_rate"] < 1


def test_mme_scores_equal_lmms_eval(loaded):
    config = lmms_config("mme", "mme.yaml")
    aggs = {m["metric"]: m["aggregation"] for m in config["metric_list"]}
    task, docs, rows = loaded["mme"]
    rounds = [
        lambda row, i: row["answer"],
        lambda row, i: "Yes",
        lambda row, i: "No, it is not.",
        lambda row, i: row["answer"].lower() if i % 3 else "garbage",
    ]
    for response_for in rounds:
        ours, theirs = [], {}
        for i, (doc, row) in enumerate(zip(docs, rows)):
            response = response_for(row, i)
            record = task.score(doc, response)
            ((key, value),) = config["process_results"](row, [response.strip()]).items()
            assert record["score"] == value["score"]
            ours.append(record)
            theirs.setdefault(key, []).append(value)
        metrics = task.aggregate(_records_roundtrip(ours))
        for key, values in theirs.items():
            assert metrics[key] == pytest.approx(aggs[key](values), abs=1e-9)
        assert set(theirs) == {"mme_perception_score", "mme_cognition_score"}
    assert 0 < metrics["parse_failure_rate"] < 1  # "garbage" parses to lmms-eval's "other"


def test_mme_unpaired_question_is_dropped_not_fatal(loaded):
    task, docs, _ = loaded["mme"]
    records = [task.score(d, d["answer"]) for d in docs]
    metrics = task.aggregate(records[1:])  # the first image lost one of its two questions
    assert metrics["mme_unpaired_dropped"] == 1.0
    assert metrics["mme_perception_score"] > 0


def _near_misses(answer: str) -> list[str]:
    """Numbers within and outside ChartQA's 5% relaxed tolerance, and the bare number of a percent."""
    try:
        value = float(answer.rstrip("%"))
    except ValueError:
        return [answer.upper(), answer + "s"]
    return [answer.rstrip("%"), f"{value * 1.04:.4g}", f"{value * 1.2:.4g}", f"{value / 100:.4g}"]


def test_chartqa_scores_equal_lmms_eval(loaded):
    config = lmms_config("chartqa", "chartqa.yaml")
    task, docs, rows = loaded["chartqa"]
    ours, theirs = [], {}
    for doc, row in zip(docs, rows):
        for response in responses_for(row) + _near_misses(row["answer"]):
            record = task.score(doc, response)
            expected = config["process_results"](row, [response.strip()])
            assert record["score"] == expected["relaxed_overall"]
            assert record["lmms"] == expected
            ours.append(record)
            for key, value in expected.items():
                theirs.setdefault(key, []).append(value)
    metrics = task.aggregate(_records_roundtrip(ours))
    for key, values in theirs.items():
        assert metrics[key] == pytest.approx(_mean(values), abs=1e-12)
    assert 0 < metrics["relaxed_overall"] < 1


def test_docvqa_scores_equal_lmms_eval(loaded):
    from lmms_eval.api.metrics import anls

    task, docs, rows = loaded["docvqa"]
    ours, expected = [], []
    for doc, row in zip(docs, rows):
        for response in responses_for(row) + [row["answers"][0][:-1], row["answers"][0].upper() + "x"]:
            value = anls(references=row["answers"], predictions=[response.strip()])["anls"]
            record = task.score(doc, response)
            assert record["score"] == pytest.approx(value, abs=0), response
            ours.append(record)
            expected.append(value)
    assert len({round(v, 6) for v in expected}) > 3  # partial credit happens
    metrics = task.aggregate(_records_roundtrip(ours))
    assert metrics["anls"] == pytest.approx(_mean(expected), abs=1e-12)


def test_corrupt_image_cell_is_a_media_error_for_that_doc(loaded):
    task, docs, _ = loaded["ai2d"]
    good = docs[0]
    data = good["image"]["bytes"]
    garbage = dict(good, image={"bytes": b"this is not an image", "path": "x.png"})
    truncated = dict(good, image={"bytes": data[: len(data) // 2], "path": "x.png"})
    missing = dict(good, image={"bytes": None, "path": "does/not/exist.png"})
    for bad in (garbage, missing):
        with pytest.raises(MediaError) as info:
            task.load_visuals(bad)
        assert "ai2d doc 0 image" in str(info.value) and "\n" not in str(info.value)
    # a truncated image decodes as lmms-eval decodes it (grey filler) and says so (issue 12.6)
    visuals = task.load_visuals(truncated)
    assert (
        visuals.images
        and "truncated" in visuals.media_warning
        and "ai2d doc 0 image" in visuals.media_warning
    )
    assert task.load_visuals(good).media_warning is None
    with pytest.raises(MediaError):
        task.image_sizes(garbage)
    assert task.image_sizes(truncated) == task.image_sizes(good)  # header intact, pixels not
    assert task.load_visuals(docs[1]).images  # the other docs are unaffected


def test_no_visual_is_decoded_for_unreferenced_mmmu_images(loaded):
    task, docs, rows = loaded["mmmu"]
    doc = next(d for d in docs if d["image_2"] is not None and "<image 2>" not in task.doc_to_text(d))
    broken = dict(doc, image_2={"bytes": b"corrupt", "path": "x.png"})
    assert len(task.load_visuals(broken).images) == 1  # lmms-eval ignores image_2 here; so do we
    assert task.image_sizes(broken) == task.image_sizes(doc) and len(task.image_sizes(doc)) == 1
