"""`ov-bench compare published:<checkpoint> RUN`: verdict rules on full splits and subsets, the reasons
a row is not comparable, exit codes, --json, and the comparison results.json / report.md carry.

Runs are written by hand (results.json + samples.sqlite through the store) so each test controls
exactly what the run measured; expected verdicts and intervals are computed here independently."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from ov_bench.analysis.published import PublishedOptions, compare_run, published_block
from ov_bench.cli import main
from ov_bench.outputs.store import ResultsStore, SampleRow

KEY = "reference:/ckpt/llava-onevision-qwen2-7b-ov@float16"
FAITHFUL_MODEL = {
    "id": "/ckpt/llava-onevision-qwen2-7b-ov",
    "adapter": "reference",
    "key": KEY,
    "threshold": 6561,
    "dtype": "float16",
    "grid_pinpoints": "ov",
    "multi_image_layout": "eval",
    "generation": {"source": "generation_config.json", "eos_token_ids": [151645], "repetition_penalty": 1.0},
    "video": {"prompts": "default", "default_frames": 32},
}


def block(metrics: dict, n: int, modality: str = "single_image", errors: int = 0, **extra) -> dict:
    return {
        "n": n,
        "errors": errors,
        "metrics": {"parse_failure_rate": 0.0, **metrics},
        "modality": modality,
        "samples_data": False,
        **extra,
    }


def results_of(tasks: dict, limit: int | None = None, **changes) -> dict:
    out = {
        "model": copy.deepcopy(FAITHFUL_MODEL),
        "data": {"source": "hub", "samples": False},
        "run": {"limit": limit, "frames": 32},
        "tasks": tasks,
    }
    for path, value in changes.items():  # "model.dtype": "float32"
        target = out
        *head, last = path.split(".")
        for key in head:
            target = target[key]
        target[last] = value
    return out


def mmmu_rows(scores: list[float]) -> list[SampleRow]:
    subjects = ["Art_Theory", "Physics", "Accounting"]
    return [
        SampleRow(
            task="mmmu",
            doc_id=f"validation_{subjects[i % 3]}_{i}",
            model_key=KEY,
            threshold="6561",
            seq=i,
            data_source="hub",
            score=s,
            parse_failed=False,
            record={"score": s, "lmms": {"mmmu_acc": {"subdomain": subjects[i % 3]}}},
        )
        for i, s in enumerate(scores)
    ]


def row_of(comp, task: str, metric: str):
    (row,) = [r for r in comp.rows if r.task == task and r.metric == metric]
    return row


def compare(results: dict, rows: dict | None = None, key: str = "7b-ov", **opts):
    rows = rows or {}
    return compare_run(key, results, lambda t: rows.get(t), PublishedOptions(**opts))


# ----------------------------------------------------------------------------- full split
@pytest.mark.parametrize(
    "measured, tolerance, verdict",
    [
        (0.4875, 1.0, "reproduced"),  # |-0.05| <= 0.05 + 1
        (0.4770, 1.0, "below"),  # 1.10 > 1.05
        (0.4990, 1.0, "above"),
        (0.4760, 1.5, "reproduced"),  # 1.20 <= 1.55
        (0.4875, 0.0, "reproduced"),  # inside the printed rounding
        (0.4870, 0.0, "below"),  # 0.10 > 0.05
    ],
)
def test_full_split_rule(measured, tolerance, verdict):
    results = results_of({"mmmu": block({"mmmu_acc": measured}, 900, real_docs=900)})
    row = row_of(compare(results, tolerance=tolerance), "mmmu", "mmmu_acc")
    assert row.mode == "full" and row.verdict == verdict
    assert row.measured == pytest.approx(measured * 100)
    assert row.difference == pytest.approx(measured * 100 - 48.8)
    assert row.allowed == pytest.approx(0.05 + tolerance)


@pytest.mark.parametrize("measured, verdict", [(1561.0, "reproduced"), (1559.0, "below"), (1601.0, "above")])
def test_full_split_tolerance_in_points(measured, verdict):
    """MME perception: 1% of its 2000-point scale (20) + half a point of rounding."""
    results = results_of(
        {"mme": block({"mme_perception_score": measured, "mme_cognition_score": 418.0}, 2374)}
    )
    row = row_of(compare(results), "mme", "mme_perception_score")
    assert row.verdict == verdict and row.allowed == pytest.approx(20.5)
    assert row_of(compare(results), "mme", "mme_cognition_score").verdict == "reproduced"


@pytest.mark.parametrize(
    "judge, measured, verdict, reason",
    [
        ("gpt-3.5-turbo-0613", 3.65, "reproduced", "full split"),  # |0.05| <= 0.005 + 0.05
        ("gpt-3.5-turbo-0613", 3.66, "above", "full split"),
        (
            "gpt-4o-2024-11-20",
            3.60,
            "not comparable",
            "judge model gpt-4o-2024-11-20, published with gpt-3.5",
        ),
        (None, 3.60, "not comparable", "judge model not recorded"),
    ],
)
def test_judged_row(judge, measured, verdict, reason):
    extra = {"judge_model": judge} if judge else {}
    results = results_of({"video_dc499": block({"gpt_eval_score": measured}, 499, "video", **extra)})
    row = row_of(compare(results, key="72b-ov"), "video_dc499", "gpt_eval_score")
    assert row.verdict == verdict and reason in row.reason
    if verdict != "not comparable":
        assert row.allowed == pytest.approx(0.055)


def test_unknown_published_judge_is_a_note():
    results = results_of({"mmvet": block({"gpt_eval_score": 57.5}, 218, judge={"model": "gpt-4-0613"})})
    results["tasks"]["llava_in_the_wild"] = block({"gpt_eval_llava_all": 90.7}, 60, judge_model="gpt-4o")
    comp = compare(results)
    assert row_of(comp, "mmvet", "gpt_eval_score").verdict == "reproduced"
    wild = row_of(comp, "llava_in_the_wild", "gpt_eval_llava_all")
    assert wild.verdict == "reproduced" and any("judge model is unknown" in n for n in wild.notes)


def test_docs_to_close_from_per_sample_scores(tmp_path):
    """900 docs, 430 right (47.78%): reaching 48.75 (the published 48.8's rounding edge) takes
    ceil((48.75 - 47.78) / (100 / 900)) = 9 more right answers; 439 right is within rounding."""
    for right, docs in ((430, 9), (439, 0), (460, 21)):  # 51.11%: down to 48.85 takes ceil(20.35)
        scores = [1.0] * right + [0.0] * (900 - right)
        results = results_of({"mmmu": block({"mmmu_acc": right / 900}, 900, real_docs=900)})
        row = row_of(compare(results, {"mmmu": mmmu_rows(scores)}), "mmmu", "mmmu_acc")
        measured = right * 100 / 900
        edge = 48.75 if measured < 48.8 else 48.85
        expected = 0 if abs(measured - 48.8) <= 0.05 else math.ceil(abs(edge - measured) / (100 / 900) - 1e-9)
        assert row.docs_to_close == expected == docs


def test_docs_to_close_without_samples_assumes_a_whole_answer_per_doc():
    results = results_of({"mmmu": block({"mmmu_acc": 0.43}, 900, real_docs=900)})
    row = row_of(compare(results), "mmmu", "mmmu_acc")
    assert row.docs_to_close == math.ceil((48.75 - 43.0) / (100 / 900))


def test_group_row_is_the_unweighted_mean_of_its_members():
    members = [
        "art_style counting forensic_detection functional_correspondence iq_test jigsaw multi_view_reasoning",
        "object_localization relative_depth relative_reflectance semantic_correspondence spatial_relation",
        "visual_correspondence visual_similarity",
    ]
    names = [f"blink_{m}" for m in " ".join(members).split()]
    values = [0.40 + 0.01 * i for i in range(14)]  # mean 0.465
    tasks = {
        n: block({"blink_acc": v}, 100 + i, "multi_image", real_docs=100 + i)
        for i, (n, v) in enumerate(zip(names, values))
    }
    row = row_of(compare(results_of(tasks), key="0.5b-ov"), "blink", "blink_acc")
    assert row.measured == pytest.approx(46.5) and row.verdict == "below"  # 52.1 - 46.5 > 1.05
    del tasks[names[3]], tasks[names[9]]
    row = row_of(compare(results_of(tasks), key="0.5b-ov"), "blink", "blink_acc")
    assert row.verdict == "not comparable" and "another sub-task set: 12 of 14" in row.reason


# ----------------------------------------------------------------------------- subset
def _interval(scores: list[float], fraction: float, n_boot: int, seed: int) -> tuple[float, float]:
    """The full split's interval from a subset, computed independently (one group)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(scores, dtype=float)
    n = len(x)
    means = np.concatenate(
        [x[rng.integers(0, n, size=(min(1000, n_boot - s), n))].mean(axis=1) for s in range(0, n_boot, 1000)]
    )
    c = math.sqrt((1 - fraction) * n / (n - 1))
    reps = np.clip(x.mean() + c * (means - x.mean()), 0, 1) * 100
    low, high = np.percentile(reps, [2.5, 97.5])
    return float(low), float(high)


@pytest.mark.parametrize("right, verdict", [(59, "reproduced"), (40, "below"), (78, "above")])
def test_subset_interval_and_verdict(right, verdict):
    scores = ([1.0] * right + [0.0] * (120 - right))[::-1]
    results = results_of({"mmmu": block({"mmmu_acc": right / 120}, 120, real_docs=900)}, limit=120)
    row = row_of(compare(results, {"mmmu": mmmu_rows(scores)}, n_boot=3000, seed=5), "mmmu", "mmmu_acc")
    low, high = _interval(scores, 120 / 900, 3000, 5)
    assert row.mode == "subset" and row.interval == pytest.approx((low, high), abs=1e-9)
    assert row.verdict == verdict
    assert (low <= 48.8 <= high) == (verdict == "reproduced")


def test_subset_needs_per_sample_scores():
    results = results_of({"mmmu": block({"mmmu_acc": 0.5}, 120, real_docs=900)}, limit=120)
    row = row_of(compare(results), "mmmu", "mmmu_acc")
    assert row.verdict == "not comparable" and "no samples.sqlite" in row.reason


def test_rows_that_disagree_with_results_are_not_trusted():
    results = results_of({"mmmu": block({"mmmu_acc": 0.7}, 120, real_docs=900)}, limit=120)
    row = row_of(compare(results, {"mmmu": mmmu_rows([1.0] * 60 + [0.0] * 60)}), "mmmu", "mmmu_acc")
    assert row.verdict == "not comparable" and "disagree" in row.reason


def test_error_rows_make_a_full_run_a_subset():
    scores = [1.0] * 434 + [0.0] * 456  # 890 scored of 900, 10 errors: 48.76%
    results = results_of({"mmmu": block({"mmmu_acc": 434 / 890}, 900, errors=10, real_docs=900)})
    row = row_of(compare(results, {"mmmu": mmmu_rows(scores)}), "mmmu", "mmmu_acc")
    assert row.mode == "subset" and row.interval is not None and row.verdict == "reproduced"


# ----------------------------------------------------------------------------- not comparable
VIDEO = {"videomme": block({"videomme_perception_score": 58.2}, 2700, "video")}
MULTI = {"muirbench": block({"muirbench_score_overall": 0.418}, 2600, "multi_image")}
SINGLE = {"mmmu": block({"mmmu_acc": 0.488}, 900)}


@pytest.mark.parametrize(
    "tasks, changes, reason",
    [
        (SINGLE, {"data.samples": True}, "sample data"),
        (SINGLE, {"model.dtype": "float32"}, "dtype float32 (evaluated path: float16)"),
        (SINGLE, {"model.threshold": 2916}, "threshold 2916"),
        (SINGLE, {"model.grid_pinpoints": "next"}, "grid_pinpoints next"),
        (
            SINGLE,
            {"model.generation": {"source": "ignored (--no-generation-config)"}},
            "generation_config False",
        ),
        (SINGLE, {"model.video": {"prompts": "llava_vid"}}, "prompts llava_vid"),
        (MULTI, {"model.multi_image_layout": "train"}, "multi_image_layout train"),
        (VIDEO, {"run.frames": 16}, "frames 16"),
    ],
)
def test_settings_and_data_make_rows_not_comparable(tasks, changes, reason):
    comp = compare(results_of(copy.deepcopy(tasks), **changes))
    (row,) = comp.rows
    assert row.verdict == "not comparable" and reason in row.reason
    assert comp.exit_code == 0


@pytest.mark.parametrize(
    "tasks, changes",
    [
        (SINGLE, {"model.multi_image_layout": "train"}),  # single images never take that path
        (SINGLE, {"run.frames": 16}),
        (VIDEO, {"model.threshold": 2916}),  # videos never take AnyRes
        (MULTI, {"model.grid_pinpoints": "next"}),
    ],
)
def test_settings_only_count_where_they_change_inputs(tasks, changes):
    (row,) = compare(results_of(copy.deepcopy(tasks), **changes)).rows
    assert row.verdict == "reproduced", row.reason


def test_ignored_setting_is_a_note():
    (row,) = compare(
        results_of(copy.deepcopy(SINGLE), **{"model.dtype": "bfloat16"}), ignore_settings=("dtype",)
    ).rows
    assert row.verdict == "reproduced" and any("dtype bfloat16" in n for n in row.notes)
    with pytest.raises(ValueError, match="not a setting"):
        compare(results_of(SINGLE), ignore_settings=("tau",))


@pytest.mark.parametrize("rate, errors, comparable", [(0.04, 0, True), (0.06, 0, False), (0.0, 50, False)])
def test_failure_share(rate, errors, comparable):
    tasks = {"mmmu": block({"mmmu_acc": 0.488, "parse_failure_rate": rate}, 900, errors=errors)}
    (row,) = compare(results_of(tasks)).rows
    assert row.comparable == comparable
    if not comparable:
        assert "documents failed" in row.reason


def test_changed_definitions_other_splits_and_server_rows():
    tasks = {
        "dc100_en": block({"llm_as_judge_eval": 0.889}, 100, judge_model="x"),
        "egoschema": block({"score": 0.6}, 500, "video"),
        "docvqa_test": block({}, 5188),
        "mathvista_testmini_cot": block({"llm_as_judge_eval": 63.2}, 1000, judge_model="x"),
    }
    comp = compare(results_of(tasks))
    reasons = {r.task: r.reason for r in comp.rows}
    assert all(r.verdict == "not comparable" for r in comp.rows)
    assert "task definition changed" in reasons["dc100_en"] and "binary judge verdict" in reasons["dc100_en"]
    assert "another split or set" in reasons["egoschema"] and "500 questions" in reasons["egoschema"]
    assert "evaluation server" in reasons["docvqa_test"]
    assert "task definition changed" in reasons["mathvista_testmini"]


# ----------------------------------------------------------------------------- the command
def write_run(path: Path, results: dict, rows: list[SampleRow] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(results))
    if rows:
        with ResultsStore(path / "samples.sqlite") as store:
            store.write_many(rows)
    return path


def _cli(capsys, *args) -> tuple[int, str, str]:
    rc = main(["compare", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_exit_codes_and_json(tmp_path, capsys):
    good = results_of({"mmmu": block({"mmmu_acc": 0.488}, 900), **copy.deepcopy(VIDEO)})
    run = write_run(tmp_path / "good", good)
    rc, out, _ = _cli(
        capsys, "published:lmms-lab/llava-onevision-qwen2-7b-ov", run, "--json", tmp_path / "v.json"
    )
    assert rc == 0 and "PASS: all 2 comparable row(s) reproduced" in out and "| MMMU (val) | mmmu |" in out
    rows = json.loads((tmp_path / "v.json").read_text())
    assert [(r["task"], r["metric"], r["published"], r["verdict"]) for r in rows] == [
        ("mmmu", "mmmu_acc", 48.8, "reproduced"),
        ("videomme", "videomme_perception_score", 58.2, "reproduced"),
    ]
    assert {"task", "metric", "published", "measured", "interval", "verdict", "reason"} <= set(rows[0])

    bad = copy.deepcopy(good)
    bad["tasks"]["videomme"]["metrics"]["videomme_perception_score"] = 52.0
    rc, out, _ = _cli(capsys, "published:7b-ov", write_run(tmp_path / "bad", bad))
    assert rc == 1 and "FAIL: 1 of 2" in out and "**below**" in out

    same_weights = _cli(capsys, "published:llava-hf/llava-onevision-qwen2-7b-ov-hf", tmp_path / "bad")
    assert same_weights[0] == 1


def test_cli_nothing_comparable_passes_with_one_line(tmp_path, capsys):
    run = write_run(
        tmp_path / "r", results_of({"mmmu": block({"mmmu_acc": 0.1}, 4)}, **{"data.samples": True})
    )
    rc, out, _ = _cli(capsys, "published:0.5b-ov", run)
    assert rc == 0 and "PASS: nothing comparable" in out


def test_cli_unusable_input(tmp_path, capsys):
    run = write_run(tmp_path / "r", results_of(SINGLE))
    rc, out, err = _cli(capsys, "published:9b-ov", run)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and "7b-ov" in err
    rc, _, err = _cli(capsys, "published:7b-ov", tmp_path / "missing")
    assert rc == 2 and "no such file" in err
    rc, _, err = _cli(capsys, "published:7b-ov", run, "--max-failure-share", "2")
    assert rc == 2


def test_cli_subset_reads_samples_sqlite(tmp_path, capsys):
    scores = [1.0] * 40 + [0.0] * 80
    results = results_of({"mmmu": block({"mmmu_acc": 40 / 120}, 120, real_docs=900)}, limit=120)
    run = write_run(tmp_path / "r", results, mmmu_rows(scores))
    rc, out, _ = _cli(capsys, "published:7b-ov", run, "--json", tmp_path / "v.json", "--bootstrap", "2000")
    (row,) = json.loads((tmp_path / "v.json").read_text())
    low, high = _interval(scores, 120 / 900, 2000, 0)
    assert rc == 1 and row["verdict"] == "below" and row["interval"] == pytest.approx([low, high])


# ----------------------------------------------------------------------------- results.json and report.md
def test_results_and_report_carry_the_table_for_a_published_checkpoint():
    from ov_bench.reports.document import render_markdown
    from ov_bench.reports.run_report import build_run_report, published_section

    results = results_of({"mmmu": block({"mmmu_acc": 0.488}, 900)})
    results.update(created="now", ov_bench_version="0", env={})
    results["published"] = published_block(results, [])
    assert results["published"]["checkpoint"] == "7b-ov"
    assert results["published"]["rows"][0]["verdict"] == "reproduced"
    json.dumps(results)  # strict JSON
    stats = dict.fromkeys(("mean", "p50", "p90", "max"))
    results["tasks"]["mmmu"].update(visual_tokens=stats, text_tokens=stats, latency_ms={})
    results["tasks"]["mmmu"].update(peak_memory_bytes=None, main_metric="mmmu_acc")
    text = render_markdown(build_run_report(results, [], builders=[published_section]))
    assert "## Published numbers" in text and "| MMMU (val) | mmmu | mmmu_acc | 48.8 | 48.80 |" in text


@pytest.mark.parametrize(
    "model, explicit, expected",
    [
        ({"id": "tiny", "random_weights": True}, None, "random weights"),
        ({"id": "/ckpt/mine"}, None, "not one of the published checkpoints"),
        ({"id": "/ckpt/mine"}, "0.5b-ov", None),
    ],
)
def test_other_models_say_why(model, explicit, expected):
    results = results_of(copy.deepcopy(SINGLE))
    results["model"] = model
    got = published_block(results, [], explicit)
    if expected is None:
        assert got["checkpoint"] == "0.5b-ov" and "given explicitly" in got["recognised"]
    else:
        assert got["checkpoint"] is None and expected in got["reason"]


def test_a_limit_above_the_split_is_the_full_split():
    results = results_of({"mmmu": block({"mmmu_acc": 0.488}, 900, real_docs=900)}, limit=5000)
    assert row_of(compare(results), "mmmu", "mmmu_acc").mode == "full"


def test_cli_sweep_compares_every_setting(tmp_path, capsys):
    low = results_of({"mmmu": block({"mmmu_acc": 0.43}, 900)}, **{"model.threshold": 2916})
    write_run(tmp_path / "sweep" / "tau-2916", low)
    write_run(tmp_path / "sweep" / "tau-6561", results_of({"mmmu": block({"mmmu_acc": 0.488}, 900)}))
    settings = [{"label": f"tau-{t}", "results": f"tau-{t}/results.json"} for t in (2916, 6561)]
    (tmp_path / "sweep" / "sweep.json").write_text(json.dumps({"settings": settings}))
    rc, out, _ = _cli(capsys, "published:7b-ov", tmp_path / "sweep", "--json", tmp_path / "v.json")
    rows = json.loads((tmp_path / "v.json").read_text())
    assert rc == 0 and [(r["setting"], r["verdict"]) for r in rows] == [
        ("tau-2916", "not comparable"),
        ("tau-6561", "reproduced"),
    ]
    assert "threshold 2916 (evaluated path: 6561)" in out
