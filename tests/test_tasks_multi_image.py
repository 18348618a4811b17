"""Multi-image adapters (muirbench, llava_interleave_bench) against lmms-eval 0.7.3 itself."""

from __future__ import annotations

import json

import pytest

from tasks import MediaError, get_task
from tasks.data import samples_root
from tests.support.task_parity import hf_rows, lmms_config, lmms_kwargs, pixels_equal, responses_for


@pytest.fixture(scope="module")
def muir(samples_cache):
    task = get_task("muirbench")
    docs = task.load("samples")
    rows = hf_rows(samples_root() / "muirbench", [None], "test")
    assert len(docs) == len(rows) >= 20
    return task, docs, rows


@pytest.fixture(scope="module")
def interleave(samples_cache):
    task = get_task("llava_interleave_bench")
    docs = task.load("samples")
    rows = hf_rows(samples_root() / "llava_interleave_bench", ["in_domain", "out_of_domain"], "test")
    assert len(docs) == len(rows) >= 30
    configs = {
        "in_domain": lmms_config("llava_interleave_bench", "in_domain.yaml"),
        "out_of_domain": lmms_config("llava_interleave_bench", "out_of_domain.yaml"),
    }
    return task, docs, rows, configs


def _check_visuals(task, doc, expected) -> None:
    got = task.load_visuals(doc).images
    assert len(got) == len(expected) >= 2
    assert all(pixels_equal(g, e) for g, e in zip(got, expected))
    assert task.image_sizes(doc) == [im.size for im in expected]


def test_muirbench_prompt_visuals_scores_equal_lmms_eval(muir):
    task, docs, rows = muir
    config = lmms_config("muirbench", "muirbench.yaml")
    (pipeline,) = config["filter_list"]
    (step,) = pipeline["filter"]
    filt = step["function"](**{k: v for k, v in step.items() if k != "function"})
    records, expected = [], []
    for doc, row in zip(docs, rows):
        assert task.doc_to_text(doc) == config["doc_to_text"](row, lmms_kwargs(config))
        _check_visuals(task, doc, config["doc_to_visual"](row))
        for response in responses_for(row) + [f"{row['answer']}. yes", f" {row['answer'].lower()} "]:
            filtered = filt.apply([[response]], [row])[0].strip()
            result = config["process_results"](row, [filtered])
            record = task.score(doc, response)
            assert record["lmms"] == result
            assert record["score"] == config["metric_list"][0]["aggregation"](
                [result["muirbench_score_overall"]]
            )
            records.append(record)
            expected.append(result["muirbench_score_overall"])
    agg = config["metric_list"][0]["aggregation"]
    metrics = task.aggregate(json.loads(json.dumps(records)))
    assert metrics["muirbench_score_overall"] == pytest.approx(agg(expected), abs=1e-12)
    assert 0 < metrics["muirbench_score_overall"] < 1
    assert 0 < metrics["parse_failure_rate"] < 1


def test_interleave_prompt_visuals_scores_equal_lmms_eval(interleave):
    task, docs, rows, configs = interleave
    records, expected = [], {"in_domain": [], "out_of_domain": []}
    for doc, row in zip(docs, rows):
        config = configs[doc["_config"]]
        assert task.doc_to_text(doc) == config["doc_to_text"](row, lmms_kwargs(config))
        _check_visuals(task, doc, config["doc_to_visual"](row))
        for response in responses_for(row):
            result = config["process_results"](row, [response.strip()])
            record = task.score(doc, response)
            assert record["lmms"] == result
            assert record["score"] == result["overall_score"]["score"]
            records.append(record)
            expected[doc["_config"]].append(result["overall_score"])
    agg = configs["in_domain"]["metric_list"][0]["aggregation"]
    metrics = task.aggregate(json.loads(json.dumps(records)))
    assert metrics["overall_score_in_domain"] == pytest.approx(agg(expected["in_domain"]), abs=1e-12)
    assert metrics["overall_score_out_domain"] == pytest.approx(agg(expected["out_of_domain"]), abs=1e-12)
    assert metrics["overall_score"] == pytest.approx(
        agg(expected["in_domain"] + expected["out_of_domain"]), abs=1e-12
    )
    scores = {r["score"] for r in records}
    assert 0.0 in scores and 1.0 in scores and any(0 < s < 1 for s in scores)  # ROUGE-L partial credit


def test_interleave_ids_and_configs(interleave):
    task, docs, _, _ = interleave
    ids = [task.doc_id(d) for d in docs]
    assert len(set(ids)) == len(ids)
    assert {d["_config"] for d in docs} == {"in_domain", "out_of_domain"}
    assert [ds.config for ds in task.hub_datasets()] == ["in_domain", "out_of_domain"]


def test_multi_image_corrupt_cell_names_the_image(muir, interleave):
    task, docs, _ = muir
    doc = dict(docs[0])
    doc["image_list"] = list(doc["image_list"])
    doc["image_list"][1] = {"bytes": b"\x89PNG\r\n\x1a\n broken", "path": "x.png"}
    with pytest.raises(MediaError, match=r"muirbench doc 0 image_list\[1\]"):
        task.load_visuals(doc)
    # lmms-eval's interleave doc_to_visual would print and silently drop such an image; we raise
    task, docs, _, _ = interleave
    doc = dict(docs[0], image_1={"bytes": b"corrupt", "path": "x.png"})
    with pytest.raises(MediaError, match="image_1"):
        task.load_visuals(doc)
