"""Server-scored rows (docvqa_test, infovqa_test, egoschema_test = lmms-eval's egoschema) against lmms-eval.

The independent side: lmms-eval's YAMLs (its loader), rows read by `datasets` from the sample files, and
lmms-eval's own aggregation writing its submission file into a folder of the test's choosing (DocVQA,
InfoVQA: their aggregation only writes; EgoSchema's also uploads, so its file is checked against the
entries lmms-eval's process_results made, merged as that aggregation merges them).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tasks import get_task
from tasks.base import MEDIA_ROOT_KEY
from tests.support.task_parity import hf_rows, lmms_config, lmms_kwargs  # noqa: F401

RESPONSES = ["A", "B", "(C)", "The answer is D", "12345", "", "Lorillard", "garbage ###"]

CASES = {
    "docvqa_test": ("docvqa", "docvqa_test.yaml", "DocVQA"),
    "infovqa_test": ("infovqa", "infovqa_test.yaml", "InfographicVQA"),
}


def _records_and_reference(task, docs, rows, config):
    records, reference = [], []
    for doc, row in zip(docs, rows):
        assert task.doc_to_text(doc) == config["doc_to_text"](row, lmms_kwargs(config))
        for response in RESPONSES:
            record = task.score(doc, response)
            result = config["process_results"](row, [response.strip()])
            assert record["lmms"] == json.loads(json.dumps(result))
            assert record["score"] is None  # no local score: the server has the answers
            records.append(record)
            reference.append(result["submission"])
    return records, reference


@pytest.mark.parametrize("name", sorted(CASES))
def test_image_submission_file_equals_lmms_evals(name, samples_cache, tmp_path):
    from tasks.data import samples_root

    folder, yaml_name, config_dir = CASES[name]
    task = get_task(name)
    assert task.scoring == "server" and task.main_metric == "submission"
    docs = task.load("samples")
    rows = hf_rows(samples_root() / name, [config_dir], "test")
    config = lmms_config(folder, yaml_name)
    assert task.load_visuals(docs[0]).images[0].size == config["doc_to_visual"](rows[0])[0].size
    records, reference = _records_and_reference(task, docs, rows, config)
    config["metric_list"][0]["aggregation"](reference, SimpleNamespace(output_path=str(tmp_path / "lmms")))
    (expected,) = (tmp_path / "lmms" / "submissions").iterdir()

    own = {"questionId": "990001", "question": "What is written at the top?", "answers": None}
    assert task.doc_to_text(own) == config["doc_to_text"](own, lmms_kwargs(config))
    assert task.score(own, " TOTAL ")["lmms"] == config["process_results"](own, ["TOTAL"])

    task.submission_dir = tmp_path / "run"
    metrics = task.aggregate(json.loads(json.dumps(records)))
    written = Path(metrics["submission_file"])
    assert written.parent == tmp_path / "run" / "submissions" and written.name == expected.name
    assert json.loads(written.read_text()) == json.loads(expected.read_text())
    assert "server" in metrics["submission"] and isinstance(metrics["submission"], str)
    assert [k for k, v in metrics.items() if isinstance(v, float)] == ["submission_entries"]


def test_without_a_run_directory_nothing_is_written(samples_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # lmms-eval would write ./submissions/ here
    task = get_task("docvqa_test")
    docs = task.load("samples")[:3]
    metrics = task.aggregate([task.score(d, "x") for d in docs])
    assert "no submission file" in metrics["submission"] and "submission_file" not in metrics
    assert not any(tmp_path.iterdir())


def test_egoschema_full_test_writes_lmms_evals_file_and_never_uploads(samples_cache, tmp_path):
    task = get_task("egoschema_test")
    assert task.lmms_eval_name == "egoschema" and task.dataset.config == "GENERATION"
    docs = task.load("samples")
    samples = Path(docs[0][MEDIA_ROOT_KEY])
    rows = hf_rows(samples, ["GENERATION"], "test")
    subset = hf_rows(samples, ["Subset"], "test")
    assert {r["question_idx"] for r in subset} < {r["question_idx"] for r in rows}  # the subset is inside
    config = lmms_config("egoschema", "egoschema.yaml")
    records, reference = [], []
    for doc, row in zip(docs, rows):
        assert task.doc_to_text(doc) == config["doc_to_text"](row, lmms_kwargs(config))
        for response in ("A", "E", "(B)", "The answer is C."):  # parsed without lmms-eval's random fallback
            record = task.score(doc, response)
            assert record["lmms"] == config["process_results"](row, [response]) and record["score"] is None
            records.append(record)
            reference.append(record["lmms"]["submission"])
    task.submission_dir = tmp_path
    t0 = time.monotonic()
    metrics = task.aggregate(records)
    assert time.monotonic() - t0 < 5  # lmms-eval's upload retries for minutes: never tried
    written = Path(metrics["submission_file"])
    assert written.parent == tmp_path / "submissions"
    assert written.name.startswith("inference_results_egoschema_MC_") and written.suffix == ".json"
    merged = {}
    for entry in reference:
        merged.update(entry)
    assert json.loads(written.read_text()) == merged and len(merged) == len(docs)
    assert "validation-server" in metrics["submission"]
