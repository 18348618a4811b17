"""Intervals of a metric from per-sample scores (ov_bench.outputs.intervals) and the metric structures
tasks declare (tasks/estimators.py), against independent computations: a numpy re-implementation of
the documented draws, analytic limits, coverage on simulated finite populations, and lmms-eval's own
aggregations for MME and the LLaVA-Interleave bench."""

from __future__ import annotations

import importlib
import math
import random

import numpy as np
import pytest

from ov_bench.outputs.intervals import bootstrap_design, design_replicates, docs_to_reach
from tasks.estimators import MetricEstimator, design


def _pairs(scores, groups=None):
    groups = groups or [""] * len(scores)
    return [(float(s), {"g": g}) for s, g in zip(scores, groups)]


MACRO = MetricEstimator(group=lambda r: r["g"])


def _numpy_interval(groups: dict[str, list[float]], fraction: float, n_boot: int, seed: int, combine="mean"):
    """The documented procedure, written again: per group in sorted order, unit indices drawn as
    rng.integers(0, n, size=(k, n)) in chunks of 1000, deviations scaled by sqrt((1-f) n/(n-1)),
    group means clipped to [0, 1], groups averaged, 2.5/97.5 percentiles."""
    rng = np.random.default_rng(seed)
    reps = []
    for g in sorted(groups):
        x = np.asarray(groups[g], dtype=float)
        n = len(x)
        means = []
        left = n_boot
        while left:
            k = min(1000, left)
            means.append(x[rng.integers(0, n, size=(k, n))].mean(axis=1))
            left -= k
        m = np.concatenate(means)
        c = math.sqrt((1 - fraction) * n / (n - 1)) if n > 1 else 0.0
        reps.append(np.clip(x.mean() + c * (m - x.mean()), 0.0, 1.0))
    reps = np.vstack(reps)
    combined = reps.mean(axis=0) if combine == "mean" else reps.sum(axis=0)
    return np.percentile(combined, [2.5, 97.5])


def test_bootstrap_matches_a_numpy_reimplementation():
    rnd = random.Random(3)
    groups = {
        g: [float(rnd.random() < p) for _ in range(n)]
        for g, p, n in (("a", 0.3, 40), ("b", 0.8, 25), ("c", 0.5, 1300))
    }
    pairs = [(s, {"g": g}) for g, scores in groups.items() for s in scores]
    d = design(MACRO, pairs)
    for fraction in (0.0, 0.4):
        iv = bootstrap_design(d, fraction, 0.95, n_boot=2500, seed=7)
        low, high = _numpy_interval(groups, fraction, 2500, 7)
        assert (iv.low, iv.high) == pytest.approx((low, high), abs=1e-12)
    assert iv.estimate == pytest.approx(np.mean([np.mean(v) for v in groups.values()]))


def test_full_population_gives_a_point():
    d = design(MetricEstimator(), _pairs([1, 0, 1, 1, 0, 1, 0, 0, 1, 1]))
    iv = bootstrap_design(d, fraction=1.0)
    assert iv.low == iv.high == pytest.approx(0.6)


def test_half_width_matches_the_finite_population_standard_error():
    """Large subset of a micro mean: 1.96 * sqrt((1 - f) s^2 / n) (s^2 with n - 1)."""
    rnd = random.Random(11)
    scores = [float(rnd.random() < 0.62) for _ in range(2000)]
    d = design(MetricEstimator(), _pairs(scores))
    f = 2000 / 5000
    iv = bootstrap_design(d, fraction=f, n_boot=4000, seed=1)
    s2 = np.var(scores, ddof=1)
    expected = 1.959964 * math.sqrt((1 - f) * s2 / len(scores))
    assert (iv.high - iv.low) / 2 == pytest.approx(expected, rel=0.06)


def test_coverage_of_the_full_split_value_on_simulated_subsets():
    """Draw many stratified subsets (half of each stratum, without replacement) of a fixed finite
    population: the interval must cover the population's macro average about 95% of the time; without
    the finite-population correction it over-covers."""
    rnd = random.Random(5)
    population = {
        g: [float(rnd.random() < p) for _ in range(n)] for g, p, n in (("x", 0.35, 160), ("y", 0.7, 240))
    }
    truth = np.mean([np.mean(v) for v in population.values()])
    hits_fpc = hits_plain = 0
    trials = 150
    for t in range(trials):
        sub = {g: rnd.sample(v, len(v) // 2) for g, v in population.items()}
        d = design(MACRO, [(s, {"g": g}) for g, v in sub.items() for s in v])
        hits_fpc += bootstrap_design(d, 0.5, n_boot=400, seed=t).contains(truth)
        hits_plain += bootstrap_design(d, 0.0, n_boot=400, seed=t).contains(truth)
    assert 0.88 <= hits_fpc / trials <= 0.995
    assert hits_plain >= hits_fpc


def test_a_lone_unit_adds_no_variance():
    d = design(MACRO, _pairs([1, 0, 1, 1], ["a", "a", "a", "b"]))
    reps = design_replicates(d, 0.0, n_boot=500, seed=0)
    # group b (one unit) stays at 1.0: every replicate is (mean_a* + 1) / 2
    assert np.all(reps >= 0.5) and np.all(reps <= 1.0)


@pytest.mark.parametrize(
    "scores, delta, expected",
    [
        ([1.0] * 40 + [0.0] * 60, 0.10, 10),  # 100 docs, +10 points: 10 answers
        ([1.0] * 40 + [0.0] * 60, -0.105, 11),
        ([1.0] * 40 + [0.0] * 60, 0.61, None),  # only 60 can still change
        ([0.9, 0.2, 0.5, 0.0], 0.45, 2),  # ANLS-like: the largest gains first (1.0 + 0.8 of 4)
        ([0.0] * 10, 0.0, 0),
    ],
)
def test_docs_to_reach_a_mean(scores, delta, expected):
    d = design(MetricEstimator(), _pairs(scores))
    assert docs_to_reach([(d, 1.0)], delta) == expected


def test_docs_to_reach_an_mme_category():
    """10 image pairs, all wrong (0 points). A flipped question in an otherwise wrong pair is worth
    100 * 0.5 / 10 = 5 points, a whole pair 200 / 10 = 20 (10 a question): +30 takes 4 answers."""
    est = MetricEstimator(unit=lambda r: r["q"], unit_value="mean_plus_all", combine="sum", multiplier=100.0)
    pairs = [(0.0, {"q": i // 2}) for i in range(20)]
    d = design(est, pairs)
    assert d.value() == 0.0
    assert docs_to_reach([(d, 1.0)], 30.0) == 4
    assert docs_to_reach([(d, 1.0)], 20.0) == 2


# ----------------------------------------------------------------------------- parity with lmms-eval
def _mme_records(seed: int, per_category: int = 6):
    """Records as lmms-eval's mme_process_results writes them, for every MME category."""
    utils = importlib.import_module("lmms_eval.tasks.mme.utils")
    rnd = random.Random(seed)
    out = []
    for category in utils.eval_type_dict["Perception"] + utils.eval_type_dict["Cognition"]:
        for q in range(per_category):
            for answer in ("Yes", "No"):
                doc = {"question_id": f"{category}/{q}.png", "category": category, "answer": answer}
                response = rnd.choice(["Yes", "No", "Yes.", "no", "maybe"])
                out.append(utils.mme_process_results(doc, [response]))
    return out


@pytest.mark.parametrize("metric", ["mme_perception_score", "mme_cognition_score"])
def test_mme_estimator_equals_lmms_eval(metric):
    from tasks.registry import get_task

    utils = importlib.import_module("lmms_eval.tasks.mme.utils")
    task = get_task("mme")
    results = _mme_records(seed=2)
    records = [{"lmms": r} for r in results]
    pairs = [(next(iter(r.values()))["score"], rec) for r, rec in zip(results, records)]
    expected = utils.mme_aggregate_results([r[metric] for r in results if metric in r])
    d = design(task.estimator(metric), pairs)
    assert d.value() == pytest.approx(expected) and not d.missing
    assert task.aggregate(records)[metric] == pytest.approx(expected)
    # a sub-score: each category's score in results.json, as lmms-eval computes it on that category alone
    from ov_bench.outputs.store import SampleRow
    from ov_bench.outputs.subscores import subscore_block

    rows = [
        SampleRow("mme", str(i), "k", "6561", score=score, record=rec) for i, (score, rec) in enumerate(pairs)
    ]
    groups = subscore_block(task, rows, n_boot=200)["groups"]["category"]
    category = "count" if metric == "mme_perception_score" else "code_reasoning"
    only = [r[metric] for r in results if metric in r and r[metric]["category"] == category]
    assert groups[category]["value"] == pytest.approx(utils.mme_aggregate_results(only))


def test_interleave_estimator_equals_lmms_eval():
    from tasks.registry import get_task

    utils = importlib.import_module("lmms_eval.tasks.llava_interleave_bench.utils")
    task = get_task("llava_interleave_bench")
    rnd = random.Random(4)
    sub_tasks = [
        "Spot-the-Diff",
        "WebQA",
        "TQA",
        "NLVR2_Mantis",
        "QBench",
        "MathVerse",
        "SciVerse",
        "BLINK",
        "RAVEN",
    ]
    pairs, by_config = [], {"in_domain": [], "out_of_domain": []}
    for i in range(120):
        sub = rnd.choice(sub_tasks)
        config = "out_of_domain" if sub in ("MathVerse", "SciVerse", "BLINK") else "in_domain"
        doc = {"sample_id": i, "sub_task": sub, "question_type": "multi-choice", "answer": rnd.choice("ABCD")}
        result = utils.interleave_process_results(doc, [rnd.choice("ABCD")])
        record = {"lmms": result, "config": config}
        pairs.append((result["overall_score"]["score"], record))
        by_config[config].append(result["overall_score"])
    all_results = by_config["in_domain"] + by_config["out_of_domain"]
    for metric, expected in (
        ("overall_score", utils.overall_score(all_results)),
        ("overall_score_in_domain", utils.overall_score(by_config["in_domain"])),
        ("overall_score_out_domain", utils.overall_score(by_config["out_of_domain"])),
    ):
        assert design(task.estimator(metric), pairs).value() == pytest.approx(expected), metric
    # the Table-4 columns aggregate() reports (lmms-eval's overall_score on one category's records) and
    # the column sub-scores
    records = [r for _, r in pairs]
    aggregate = task.aggregate(records)
    for column in ("TR-VQA", "NLVR2", "MathVerse-mv", "Puzzle"):
        assert design(task.estimator(column), pairs).value() == pytest.approx(aggregate[column]), column
    assert {task.subscores(r)["column"] for r in records} <= set(task.INTERLEAVE_COLUMNS)


def test_mlvu_estimator_equals_lmms_eval_with_a_missing_type():
    from tasks.registry import get_task

    task = get_task("mlvu_dev")
    utils = task.utils()  # ov-bench's private copy of lmms-eval's module (it reads HF_HOME at import)
    rnd = random.Random(9)
    pairs, results = [], []
    for i in range(70):
        task_type = rnd.choice([t for t in task.TASK_TYPES if t != "ego"])  # "ego" absent: counts 0
        doc = {"question": f"q{i}", "task_type": task_type, "answer": rnd.choice("ABCD")}
        result = utils.mlvu_process_results(doc, [f"({rnd.choice('ABCD')})"])
        value = result["mlvu_percetion_score"]
        results.append(value)
        pairs.append((100.0 * (value["pred_answer"] == value["answer"]), {"lmms": result}))
    d = design(task.estimator(task.main_metric), pairs)
    assert d.value() == pytest.approx(utils.mlvu_aggregate_results_dev(results))
    assert d.missing == ["ego"]
