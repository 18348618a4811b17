"""How the paper's single-image tasks and the judged tasks turn per-sample scores into their metrics
(``Task.estimator``, tasks/estimators.py) and their sub-scores (``Task.subscores``), against lmms-eval
0.7.3's own functions.

The reference side never goes through tasks/: lmms-eval's process_results on the same docs and
responses, then its aggregation function (mmstar_aggregate_results, seed_aggregation_result, MMBench's
static CircularEval, the ``mean`` aggregation, the judged tasks' aggregations). The ov-bench side is
the estimator's value over (row score, record) pairs, which is what intervals and ``compare
published:`` resample. Checked on the sample docs and on hand-written records whose group sizes make a
macro average, a micro average and CircularEval differ (each test asserts they do, so a wrong
structure fails).
"""

from __future__ import annotations

import importlib
import random
from types import SimpleNamespace

import pytest

from ov_bench.outputs.store import SampleRow
from ov_bench.outputs.subscores import subscore_block
from tasks import get_task
from tasks.estimators import design


def _utils(task_dir: str, module: str = "utils"):
    return importlib.import_module(f"lmms_eval.tasks.{task_dir}.{module}")


def _value(task, metric: str, pairs) -> float:
    return design(task.estimator(metric), pairs).value()


def _subscores(task, pairs) -> dict:
    rows = [SampleRow(task.name, str(i), "k", "6561", score=s, record=r) for i, (s, r) in enumerate(pairs)]
    return subscore_block(task, rows, n_boot=50)["groups"]


def _micro(pairs) -> float:
    return sum(s for s, _ in pairs) / len(pairs)


def _letter_responses(doc: dict, i: int, letters: str = "ABCD") -> str:
    """Right, wrong or unreadable, in turn (the doc's answer is a letter)."""
    wrong = next(c for c in letters if c != doc["answer"])
    return [doc["answer"], wrong, "I cannot tell.", doc["answer"]][i % 4]


# ---- MMStar: macro average over l2 categories ------------------------------------------------------


def test_mmstar_on_sample_docs(samples_cache):
    task, utils = get_task("mmstar"), _utils("mmstar")
    docs = task.load("samples")
    pairs, refs = [], []
    for i, doc in enumerate(docs):
        response = _letter_responses(doc, i * 7 // 3)
        record = task.score(doc, response)
        pairs.append((record["score"], record))
        refs.append(utils.mmstar_process_results(doc, [response]))
    for metric in ["average", *utils.eval_type_dict]:
        expected = utils.mmstar_aggregate_results([r[metric] for r in refs if metric in r])
        assert _value(task, metric, pairs) == pytest.approx(expected, abs=1e-12), metric
    # the sample set covers 13 of the 18 l2 categories: the design names the absent ones
    assert len(design(task.estimator("average"), pairs).missing) == 18 - len({d["l2_category"] for d in docs})
    for (_, record), doc in zip(pairs, docs):
        assert task.subscores(record) == {"category": doc["category"], "l2_category": doc["l2_category"]}


def test_mmstar_on_hand_written_records():
    task, utils = get_task("mmstar"), _utils("mmstar")
    # (category, l2 category, questions, right): l2 groups of unequal size and accuracy
    plan = [
        ("math", "geometry", 8, 7),
        ("math", "statistical reasoning", 2, 0),
        ("math", "numeric commonsense and calculation", 3, 1),
        ("coarse perception", "image emotion", 5, 5),
        ("coarse perception", "image scene and topic", 1, 0),
        ("logical reasoning", "diagram reasoning", 4, 1),
    ]
    pairs, refs, index = [], [], 0
    for category, l2, n, right in plan:
        for k in range(n):
            doc = {"index": index, "answer": "B", "category": category, "l2_category": l2}
            ref = utils.mmstar_process_results(doc, ["B" if k < right else "C"])
            refs.append(ref)
            pairs.append((ref["average"]["score"], {"lmms": ref}))
            index += 1
    for metric in ("average", "math", "coarse perception", "logical reasoning"):
        expected = utils.mmstar_aggregate_results([r[metric] for r in refs if metric in r])
        assert _value(task, metric, pairs) == pytest.approx(expected, abs=1e-12), metric
    assert abs(_value(task, "average", pairs) - _micro(pairs)) > 0.05  # macro, not micro
    assert task.estimator("fine-grained perception") is not None and task.estimator("acc") is None
    # sub-scores: a category's value is lmms-eval's metric of that category, an l2 category's its accuracy
    groups = _subscores(task, pairs)
    assert set(groups) == {"category", "l2_category"}
    assert set(groups["category"]) == {c for c, *_ in plan}
    math = utils.mmstar_aggregate_results([r["math"] for r in refs if "math" in r])
    assert groups["category"]["math"]["value"] == pytest.approx(math)
    assert groups["l2_category"]["geometry"]["value"] == pytest.approx(7 / 8)


# ---- SEED-Bench: a data type's share right; seed_all a micro average -----------------------------


def _seed_pairs(task, docs, responses):
    utils = _utils("seedbench")
    pairs, refs = [], []
    for doc, response in zip(docs, responses):
        record = task.score(doc, response)
        pairs.append((record["score"], record))
        refs.append(utils.seed_process_result(doc, [response]))
    return pairs, refs


def _seed_expected(refs, metric):
    return _utils("seedbench").seed_aggregation_result([r[metric] for r in refs if metric in r])


def test_seedbench_on_sample_docs(samples_cache):
    task = get_task("seedbench")
    docs = task.load("samples")
    pairs, refs = _seed_pairs(task, docs, [_letter_responses(d, i * 5 // 2) for i, d in enumerate(docs)])
    for metric in ("seed_image", "seed_video", "seed_all"):
        assert _value(task, metric, pairs) == pytest.approx(_seed_expected(refs, metric), abs=1e-12), metric
    for (_, record), doc in zip(pairs, docs):
        expected = {"data_type": doc["data_type"], "question_type": str(doc["question_type_id"])}
        assert task.subscores(record) == expected


def test_seedbench_on_hand_written_records():
    task = get_task("seedbench")
    docs, responses = [], []
    for i in range(26):  # 20 image rows (15 right), 6 video rows (1 right)
        video = i >= 20
        docs.append(
            {
                "question_id": str(i),
                "answer": "A",
                "data_type": "video" if video else "image",
                "question_type_id": 10 + i % 3 if video else 1 + i % 9,
            }
        )
        responses.append("A" if (i < 15 or i == 20) else "B. no")
    pairs, refs = _seed_pairs(task, docs, responses)
    for metric in ("seed_image", "seed_video", "seed_all"):
        assert _value(task, metric, pairs) == pytest.approx(_seed_expected(refs, metric), abs=1e-12), metric
    mean_of_types = (_seed_expected(refs, "seed_image") + _seed_expected(refs, "seed_video")) / 2
    assert abs(_value(task, "seed_all", pairs) - mean_of_types) > 0.05  # micro, not the types' mean
    groups = _subscores(task, pairs)
    assert groups["data_type"]["video"]["value"] == pytest.approx(_seed_expected(refs, "seed_video"))
    assert groups["data_type"]["image"]["value"] == pytest.approx(_seed_expected(refs, "seed_image"))
    assert set(groups["question_type"]) == {str(d["question_type_id"]) for d in docs}


# ---- MMBench: CircularEval over a question's rotations ----------------------------------------------


def _mmbench_static(results, tmp_path):
    """lmms-eval's mmbench_en_dev_static aggregation (percent), and its per-category hit rates."""
    en_utils = _utils("mmbench", "en_utils")
    state = random.getstate()  # eval_result reseeds the global RNG
    try:
        overall = en_utils.mmbench_aggregate_dev_results_static(
            results, SimpleNamespace(output_path=str(tmp_path))
        )
        _, category, l2 = en_utils.mmbench_evaluator.eval_result(results, eval_method="static")
    finally:
        random.setstate(state)
    return overall, category, l2


def _mmbench_pairs(task, docs, pick):
    en_utils = _utils("mmbench", "en_utils")
    pairs, refs = [], []
    for doc in docs:
        response = pick(doc)
        record = task.score(doc, response)
        pairs.append((record["score"], record))
        refs.append(en_utils.mmbench_process_results(doc, [response])["gpt_eval_score"])
    return pairs, refs


@pytest.mark.parametrize("name", ["mmbench_en_dev_static", "mmbench_en_dev"])
def test_mmbench_on_sample_docs(samples_cache, name, tmp_path):
    task = get_task(name)
    docs = task.load("samples")

    def pick(doc):  # question q: all rotations right (q % 3 == 0), the first rotation wrong, or by text
        q, r = doc["index"] % 1_000_000, doc["index"] // 1_000_000
        wrong = next(c for c in "AB" if c != doc["answer"])
        if q % 3 == 1 and r == 1:
            return wrong
        return doc[doc["answer"]] if q % 3 == 2 else f"({doc['answer']})"

    pairs, refs = _mmbench_pairs(task, docs, pick)
    overall, category, l2 = _mmbench_static(refs, tmp_path)
    assert _value(task, task.main_metric, pairs) == pytest.approx(overall, abs=1e-9)
    assert 0 < overall < 100 and abs(overall - 100 * _micro(pairs)) > 1  # rotations decide, not rows
    groups = _subscores(task, pairs)
    assert {k: v["value"] for k, v in groups["category"].items()} == pytest.approx(
        {k: 100 * v for k, v in category.items()}
    )
    assert {k: v["value"] for k, v in groups["l2_category"].items()} == pytest.approx(
        {k: 100 * v for k, v in l2.items()}
    )


def test_mmbench_on_hand_written_records(tmp_path):
    task = get_task("mmbench_en_dev_static")
    # (category, L2-category, options, rotations answered right): a question counts when all are
    plan = [
        ("image_scene", "Coarse Perception", 4, 4),
        ("image_scene", "Coarse Perception", 4, 3),
        ("image_scene", "Coarse Perception", 2, 2),
        ("ocr", "Fine-grained Perception (cross-instance)", 3, 3),
        ("ocr", "Fine-grained Perception (cross-instance)", 3, 0),
        ("ocr", "Fine-grained Perception (cross-instance)", 2, 1),
        ("ocr", "Fine-grained Perception (cross-instance)", 4, 3),
    ]
    docs, answers = [], {}
    for q, (category, l2, k, right) in enumerate(plan):
        for r in range(k):
            index = q + r * 1_000_000
            options = {c: (f"option {c}" if j < k else None) for j, c in enumerate("ABCD")}
            doc = {
                "index": index,
                "question": "Which?",
                "hint": None,
                "answer": "ABCD"[(q + r) % k],
                "source": "x",
                "split": "dev",
                "category": category,
                "L2-category": l2,
                **options,
            }
            docs.append(doc)
            wrong = "ABCD"[(q + r + 1) % k]
            answers[index] = doc["answer"] if r < right else wrong

    pairs, refs = _mmbench_pairs(task, docs, lambda d: answers[d["index"]])
    overall, category, _ = _mmbench_static(refs, tmp_path)
    assert _value(task, task.main_metric, pairs) == pytest.approx(overall, abs=1e-9)
    assert overall == pytest.approx(100 * 3 / 7) and _micro(pairs) > 0.7  # CircularEval, not rows
    groups = _subscores(task, pairs)
    assert groups["category"]["ocr"]["value"] == pytest.approx(100 * category["ocr"])
    assert set(groups["l2_category"]) == {p[1] for p in plan}


# ---- plain means: ScienceQA, RealWorldQA, InfoVQA ---------------------------------------------------


def test_plain_mean_tasks_on_sample_docs(samples_cache):
    from lmms_eval.api.metrics import anls
    from lmms_eval.api.registry import get_aggregation

    mean = get_aggregation("mean")
    sqa, rwqa = _utils("scienceqa"), _utils("realworldqa")
    references = {
        "scienceqa_img": lambda doc, resp: sqa.sqa_process_results(doc, [resp])["exact_match"],
        "realworldqa": lambda doc, resp: rwqa.realworldqa_process_results(doc, [resp])["exact_match"],
        "infovqa_val": lambda doc, resp: anls(doc["answers"], [resp])["anls"],
    }
    for name, reference in references.items():
        task = get_task(name)
        docs = task.load("samples")
        pairs, expected = [], []
        for i, doc in enumerate(docs):
            if name == "scienceqa_img":
                response = ["A", "B", "C.", "no"][i % 4]
            elif name == "realworldqa":
                response = [doc["answer"], "B", "Downhill."][i % 3]
            else:
                response = [doc["answers"][0], doc["answers"][0][:-1] + "x", "nothing"][i % 3]
            record = task.score(doc, response)
            pairs.append((record["score"], record))
            expected.append(reference(doc, response))
        assert task.score_max == 1.0
        assert _value(task, task.main_metric, pairs) == pytest.approx(mean(expected), abs=1e-12), name
        assert 0 < mean(expected) < 1, name
        if name == "scienceqa_img":  # ScienceQA's subject and grade-band breakdown
            groups = _subscores(task, pairs)
            for doc, (_, record) in zip(docs, pairs):
                grade = int(doc["grade"].removeprefix("grade"))
                band = "1-6" if grade <= 6 else "7-12"
                assert task.subscores(record) == {"subject": doc["subject"], "grade": band}
            subject = docs[0]["subject"]
            only = [e for e, d in zip(expected, docs) if d["subject"] == subject]
            assert groups["subject"][subject]["value"] == pytest.approx(mean(only))
        else:
            assert task.subscores(pairs[0][1]) == {}


# ---- judged tasks: the scale of a row's score, and metrics that are not a mean of it ---------------


def test_judged_image_tasks_scales_and_estimators():
    # lmms-eval's modules as the tasks import them (they build judge clients at import; the functions
    # called here are lmms-eval's own). MMVet: a row's score is mmvet_aggregate_results of that row
    mmvet = get_task("mmvet")
    utils = mmvet._module()
    samples = [{"score": s, "capabilities": "rec,ocr"} for s in (1.0, 0.4, 0.0, 0.7, 1.0)]
    per_row = [utils.mmvet_aggregate_results([s]) for s in samples]
    assert max(per_row) == mmvet.score_max == 100.0
    pairs = [(v, {"lmms": {"gpt_eval_score": s}}) for v, s in zip(per_row, samples)]
    assert _value(mmvet, "gpt_eval_score", pairs) == pytest.approx(utils.mmvet_aggregate_results(samples))

    # MathVista: 100 or 0 a row; the metric round(100 x right / n, 2) is their mean
    mathvista = get_task("mathvista_testmini_format")
    mv = mathvista._module()
    keys = ("question_type", "answer_type", "language", "source", "category", "task", "context", "grade")

    def rows(right: list[bool]) -> list[dict]:  # fresh each call: the aggregation pops "metadata"
        meta = {"split": "testmini", "skills": ["x"], **{k: "x" for k in keys}}
        return [{"question_id": str(i), "true_false": t, "metadata": dict(meta)} for i, t in enumerate(right)]

    right = [i % 3 == 0 for i in range(7)]
    assert mv.mathvista_aggregate_results(rows([True]), None) == mathvista.score_max == 100.0
    pairs = [(100.0 * t, {}) for t in right]
    expected = mv.mathvista_aggregate_results(rows(right), None)
    assert _value(mathvista, "llm_as_judge_eval", pairs) == pytest.approx(expected, abs=0.005)

    # LLaVA-W: a ratio of means; the mean of per-row ratios differs, so no estimator at all
    llava = get_task("llava_in_the_wild")
    lw = llava._module()
    reviews = [{"scores": s} for s in ([8, 4], [2, 6], [10, 9])]
    per_row = [lw.llava_all_aggregation([r]) for r in reviews]
    assert abs(sum(per_row) / len(per_row) - lw.llava_all_aggregation(reviews)) > 10
    assert llava.estimator(llava.main_metric) is None and subscore_block(llava, []) is None

    for name in ("dc100_en", "mathverse_testmini_vision_only"):  # 0/1 verdicts, lmms-eval's plain mean
        assert get_task(name).score_max == 1.0 and get_task(name).estimator(get_task(name).main_metric)


def test_judged_video_tasks_scales_and_estimators():
    args = SimpleNamespace(output_path=None)
    # ActivityNet-QA: gpt_eval_accuracy counts only yes/no verdicts; a row's score is 100 or 0
    anet = get_task("activitynetqa")
    utils = anet.utils()  # ov-bench's private copy of lmms-eval's module
    verdicts = [{"Correctness": c, "score": s} for c, s in (("yes", 4), ("no", 1), ("yes", 5), ("maybe", 3))]
    per_row = [anet._aggregate_one({"gpt_eval_accuracy": v}) for v in verdicts]
    assert per_row[:3] == [100.0, 0.0, 100.0] and anet.score_max == 100.0
    pairs = [(s, {"lmms": {"gpt_eval_accuracy": v}}) for s, v in zip(per_row, verdicts)]
    expected = utils.activitynetqa_aggregate_accuracy(verdicts, args)
    assert _value(anet, "gpt_eval_accuracy", pairs) == pytest.approx(expected) == pytest.approx(200 / 3)
    assert anet.estimator("gpt_eval_score") is None  # the 0-5 mean is not the rows' score

    # VideoChatGPT and VideoDC: judge scores 0-5, the metric their mean
    for name in ("videochatgpt_gen", "videochatgpt_temporal", "video_dc499"):
        task = get_task(name)
        agg = next(a for m, _, a, _ in task._metrics if m == task.main_metric)
        values = [{"score": s} for s in (5, 3, 0, 4)]
        per_row = [task._aggregate_one({task.main_metric: v}) for v in values]
        assert max(per_row) == task.score_max == 5.0, name
        pairs = [(s, {}) for s in per_row]
        assert _value(task, task.main_metric, pairs) == pytest.approx(agg(values, args)), name
    assert get_task("videochatgpt_gen").estimator("gpt_eval_score_context") is None

    # consistency: one score per judged pair (on both rows); the metric is lmms-eval's mean over pairs
    cons = get_task("videochatgpt_consistency")
    pair_scores = {("v1/0", "v1/1"): 4.0, ("v2/2", "v2/3"): 1.0, ("v3/4", "v3/5"): 5.0}
    pairs = [(s, {"judge_group": list(g)}) for g, s in pair_scores.items() for _ in g]
    pairs.append((None, {}))  # a row whose pair is not judged yet
    expected = cons.utils().videochatgpt_aggregate_score([{"score": s} for s in pair_scores.values()], args)
    d = design(cons.estimator(cons.main_metric), pairs)
    assert d.value() == pytest.approx(expected) and d.n_units == 3 and cons.score_max == 5.0
