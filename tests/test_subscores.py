"""Sub-scores: results.json's per-label values with intervals (ov_bench/outputs/subscores.py), and
`ov-bench compare` naming a regression confined to one sub-score."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ov_bench.analysis.compare import CompareOptions, compare_paths
from ov_bench.outputs.results import task_summary
from ov_bench.outputs.store import SampleRow
from ov_bench.outputs.subscores import subscore_block
from tasks.registry import get_task
from tests.test_published_compare import KEY, results_of, write_run

# MMMU subjects and their disciplines (MMMU's own grouping, typed here)
SUBJECTS = {
    "Art_Theory": "Art and Design",
    "Physics": "Science",
    "Accounting": "Business",
    "Music": "Art and Design",
}


def mmmu_row(i: int, subject: str, score: float, error: str | None = None) -> SampleRow:
    return SampleRow(
        task="mmmu",
        doc_id=f"validation_{subject}_{i}",
        model_key=KEY,
        threshold="6561",
        seq=i,
        data_source="hub",
        score=None if error else score,
        parse_failed=False,
        response="A" if score else "B",
        parsed="A" if score else "B",
        record=None if error else {"score": score, "lmms": {"mmmu_acc": _mmmu_result(i, subject, score)}},
        error=error,
    )


def _mmmu_result(i: int, subject: str, score: float) -> dict:
    """lmms-eval's per-sample mmmu_acc entry (mmmu_process_results), right when score is 1."""
    return {
        "id": f"validation_{subject}_{i}",
        "subdomain": subject,
        "question_type": "multiple-choice",
        "answer": "A",
        "parsed_pred": ["A" if score else "B"],
    }


def _plain_interval(scores: list[float], n_boot: int = 2000, seed: int = 0) -> list[float]:
    """Percentile bootstrap, deviations scaled by sqrt(n/(n-1)), clipped to [0, 1] (written again)."""
    x = np.asarray(scores, dtype=float)
    n = len(x)
    rng = np.random.default_rng(seed)
    means = np.concatenate(
        [x[rng.integers(0, n, size=(min(1000, n_boot - s), n))].mean(axis=1) for s in range(0, n_boot, 1000)]
    )
    reps = np.clip(x.mean() + math.sqrt(n / (n - 1)) * (means - x.mean()), 0, 1)
    return [float(v) for v in np.percentile(reps, [2.5, 97.5])]


def test_mmmu_subscores_in_results_json():
    plan = {
        "Art_Theory": [1, 1, 0, 1, 0, 1],
        "Physics": [0, 0, 1, 0],
        "Accounting": [1, 0, 0, 0, 1],
        "Music": [1],
    }
    rows, i = [], 0
    for subject, scores in plan.items():
        for s in scores:
            rows.append(mmmu_row(i, subject, float(s)))
            i += 1
    rows.append(mmmu_row(i, "Physics", 0.0, error="generate: out of memory"))  # error rows do not count
    summary = task_summary(get_task("mmmu"), rows)
    assert summary["metrics"]["mmmu_acc"] == pytest.approx(8 / 16)  # lmms-eval's aggregation, same records
    block = summary["subscores"]
    assert block["metric"] == "mmmu_acc"
    subjects = block["groups"]["subject"]
    assert set(subjects) == set(plan)
    for subject, scores in plan.items():
        entry = subjects[subject]
        assert entry["value"] == pytest.approx(np.mean(scores)) and entry["n"] == len(scores)
        if len(scores) > 1:
            assert entry["ci95"] == pytest.approx(_plain_interval([float(s) for s in scores]))
        else:
            assert entry["ci95"] is None  # one document: nothing to resample
    disciplines = block["groups"]["discipline"]
    for discipline in set(SUBJECTS.values()):
        members = [s for subj, scores in plan.items() if SUBJECTS[subj] == discipline for s in scores]
        assert disciplines[discipline]["value"] == pytest.approx(np.mean(members))


def test_videomme_subscores_are_on_its_percent_scale():
    task = get_task("videomme")
    rows = []
    for i, (duration, score) in enumerate([("short", 100.0), ("short", 0.0), ("long", 0.0), ("long", 0.0)]):
        record = {"score": score, "lmms": {"videomme_perception_score": {"duration": duration}}}
        rows.append(SampleRow("videomme", f"q{i}", KEY, "6561", score=score, record=record))
    groups = subscore_block(task, rows)["groups"]["duration"]
    assert groups["short"]["value"] == 50.0 and groups["long"]["value"] == 0.0
    assert 0.0 <= groups["short"]["ci95"][0] <= groups["short"]["ci95"][1] <= 100.0


def test_tasks_without_subscores_carry_none():
    rows = [SampleRow("ai2d", "0", KEY, "6561", score=1.0, record={"score": 1.0})]
    assert "subscores" not in task_summary(get_task("ai2d"), rows)


# ----------------------------------------------------------------------------- compare
def _run(path, rows_by_subject: dict[str, list[float]]):
    rows, i = [], 0
    for subject, scores in rows_by_subject.items():
        for s in scores:
            rows.append(mmmu_row(i, subject, s))
            i += 1
    block = task_summary(get_task("mmmu"), rows)
    return write_run(path, results_of({"mmmu": block}), rows)


def test_compare_names_a_regression_in_one_subscore(tmp_path):
    base = {s: [1.0] * 24 + [0.0] * 16 for s in ("Art_Theory", "Physics", "Accounting", "Music")}
    new = {s: list(v) for s, v in base.items()}
    new["Physics"] = [1.0] * 4 + [0.0] * 36  # 20 answers lost in one subject
    new["Music"] = [1.0] * 22 + [0.0] * 18  # 2 lost: noise
    comp = compare_paths(_run(tmp_path / "a", base), _run(tmp_path / "b", new), CompareOptions(timing=False))
    by_check = {c.check: c for c in comp.checks if c.task == "mmmu"}
    assert by_check["mmmu_acc[subject=Physics] (paired)"].status == "FAIL"
    assert by_check["mmmu_acc[discipline=Science] (paired)"].status == "FAIL"
    assert by_check["mmmu_acc[subject=Music] (paired)"].status == "ok"
    assert by_check["mmmu_acc[subject=Art_Theory] (paired)"].status == "ok"
    assert comp.exit_code == 1


def test_subscore_tests_are_corrected_for_their_number(tmp_path):
    """Each of the 7 labels (4 subjects, 3 disciplines) is tested at alpha / 7: a drop
    McNemar puts at p = 0.008 on its own is flagged at 0.05 but not at 0.05 / 7 = 0.0071."""
    base = {s: [1.0] * 24 + [0.0] * 16 for s in ("Art_Theory", "Physics", "Accounting", "Music")}
    new = {s: list(v) for s, v in base.items()}
    new["Accounting"] = [1.0] * 16 + [0.0] * 24  # 8 discordant, all one way: exact p = 2 / 2^8 = 0.0078
    comp = compare_paths(_run(tmp_path / "a", base), _run(tmp_path / "b", new), CompareOptions(timing=False))
    check = next(c for c in comp.checks if c.check == "mmmu_acc[subject=Accounting] (paired)")
    assert "p=0.00781" in check.detail and check.status == "ok"


def test_compare_without_samples_uses_the_recorded_subscores(tmp_path):
    base = {s: [1.0] * 30 + [0.0] * 10 for s in ("Art_Theory", "Physics")}
    new = {"Art_Theory": base["Art_Theory"], "Physics": [0.0] * 40}
    a, b = _run(tmp_path / "a", base), _run(tmp_path / "b", new)
    for path in (a, b):
        (path / "samples.sqlite").unlink()
    comp = compare_paths(a, b, CompareOptions(timing=False))
    check = next(c for c in comp.checks if c.check == "mmmu_acc[subject=Physics]")
    assert check.status == "FAIL" and "binomial" in check.detail
