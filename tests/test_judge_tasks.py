"""The judged tasks against lmms-eval 0.7.3: with the same judge replies (a scripted OpenAI-compatible
server on 127.0.0.1), ov-bench's per-sample results, scores and aggregates equal what lmms-eval's own
process_results and aggregations give when lmms-eval's own clients talk to that server.

The lmms-eval side is computed independently: lmms-eval's real task modules, their own clients
pointed at the server (as a user would through OPENAI_API_URL), their own process_results and
aggregation functions; nothing of ov-bench's judge routing is active there (no judge session).
"""

from __future__ import annotations

import copy
import importlib
import math
import tempfile
from types import SimpleNamespace
from typing import Any

import pytest

from tasks.judging import DEFAULT_JUDGE_MODEL, JudgeConfig, JudgeError, judge_scope, judge_session
from tests.support.judge_server import JudgeServer, Reply, no_retry_sleeps, plausible_reply

RESPONSES = [
    "The answer is B.",
    "3",
    "It shows a red circle and a blue square.",
    "2.5",
    "I am not sure.",
    "A",
]


@pytest.fixture(scope="module")
def server():
    with JudgeServer(plausible_reply) as s:
        yield s


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    no_retry_sleeps(monkeypatch)


def ov_records(task: Any, docs: list[dict], server: JudgeServer) -> tuple[list[dict], list[list]]:
    """ov-bench's records (and each sample's exchanges) with the judge at ``server``."""
    records, exchanges = [], []
    with judge_scope(JudgeConfig(url=server.url, model=DEFAULT_JUDGE_MODEL)):
        for i, doc in enumerate(docs):
            with judge_session() as session:
                records.append(task.score(doc, RESPONSES[i % len(RESPONSES)]))
            exchanges.append(session.exchanges)
    return records, exchanges


def lmms_results(process_results: Any, docs: list[dict]) -> list[dict]:
    with tempfile.TemporaryDirectory():
        return [
            process_results(copy.deepcopy(doc), [RESPONSES[i % len(RESPONSES)]]) for i, doc in enumerate(docs)
        ]


def lmms_aggregate(aggregation: Any, values: list) -> Any:
    import inspect

    values = copy.deepcopy(values)
    if "args" in inspect.signature(aggregation).parameters:
        with tempfile.TemporaryDirectory() as tmp:
            return aggregation(values, args=SimpleNamespace(output_path=tmp))
    return aggregation(values)


def jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def point_llm_judge_at(monkeypatch, provider: Any, server: JudgeServer) -> None:
    """lmms-eval's own openai client of a provider, aimed at the test server (what OPENAI_API_URL does)."""
    from openai import OpenAI

    monkeypatch.setattr(provider, "client", OpenAI(api_key="test-key", base_url=server.url, max_retries=0))
    monkeypatch.setattr(provider, "api_key", "test-key")


def point_requests_at(monkeypatch, module: Any, server: JudgeServer) -> None:
    monkeypatch.setattr(module, "API_URL", server.url + "/chat/completions")
    monkeypatch.setattr(module, "GPT_EVAL_MODEL_NAME", DEFAULT_JUDGE_MODEL)


def check_parity(task: Any, docs: list[dict], records: list[dict], results: list[dict]) -> None:
    assert [r["lmms"] for r in records] == [jsonable(r) for r in results]
    for name, _, agg, _ in task._metrics:
        values = [r[name] for r in results]
        expected = lmms_aggregate(agg, values)
        got = task.aggregate(records).get(name)
        if expected is None:
            assert got is None or name == "llm_as_judge_eval"
        else:
            assert got == pytest.approx(float(expected)), name


# ---- the openai-client path (lmms_eval.llm_judge) --------------------------------------------------------


def test_mmvet_matches_lmms_eval(samples_cache, server, monkeypatch):
    from tasks import get_task

    task = get_task("mmvet")
    docs = task.load(data="samples", limit=8)
    records, exchanges = ov_records(task, docs, server)
    utils = importlib.import_module("lmms_eval.tasks.mmvet.utils")
    point_llm_judge_at(monkeypatch, utils.server, server)
    results = lmms_results(utils.mmvet_process_results, docs)
    check_parity(task, docs, records, results)
    # the per-sample score is lmms-eval's aggregation of the one record (percent)
    for record, result in zip(records, results):
        assert record["score"] == pytest.approx(utils.mmvet_aggregate_results([result["gpt_eval_score"]]))
    # every sample made one judge call, stored with the full prompt lmms-eval built
    assert all(len(e) == 1 and e[0].ok for e in exchanges)
    assert exchanges[0][0].messages[0]["content"].startswith(utils.MM_VET_PROMPT)


def test_mmvet_reply_outside_range_fails_instead_of_looping(samples_cache, monkeypatch):
    """lmms-eval retries a reply outside [0, 1] forever; ov-bench makes it a judge failure at once."""
    from tasks import get_task

    task = get_task("mmvet")
    doc = task.load(data="samples", limit=1)[0]
    with JudgeServer(lambda request: "1.5 (very good)") as bad:
        with judge_scope(JudgeConfig(url=bad.url)), judge_session() as session:
            with pytest.raises(JudgeError, match=r"outside \[0, 1\]"):
                task.score(doc, "red")
        assert len(bad.requests) == 1
    assert session.exchanges[0].reply == "1.5 (very good)"


# ---- the requests.post path ---------------------------------------------------------------------------


def test_video_dc499_matches_lmms_eval(samples_cache, server, monkeypatch, tmp_path):
    from tasks import get_task

    monkeypatch.setenv("HF_HOME", str(tmp_path))  # the real module reads it at import
    task = get_task("video_dc499")
    docs = task.load(data="samples")
    records, exchanges = ov_records(task, docs, server)
    utils = importlib.import_module("lmms_eval.tasks.video_detail_description.utils")
    point_requests_at(monkeypatch, utils, server)
    results = lmms_results(utils.video_detail_description_process_results_generic, docs)
    check_parity(task, docs, records, results)
    assert all(len(e) == 1 for e in exchanges)
    assert [r["score"] for r in records] == [float(r["gpt_eval_score"]["score"]) for r in results]


def test_activitynetqa_unreadable_reply_is_a_judge_error(samples_cache, monkeypatch):
    """lmms-eval 0.7.3 crashes with a TypeError on a reply its parser cannot read."""
    from tasks import get_task

    task = get_task("activitynetqa")
    doc = task.load(data="samples", limit=1)[0]
    with JudgeServer(lambda request: "yes, a good answer") as bad:
        with judge_scope(JudgeConfig(url=bad.url)), judge_session():
            with pytest.raises(JudgeError, match="unusable reply"):
                task.score(doc, "red")


# ---- every other judged task (slower: one lmms-eval module import each) ----------------------------------


@pytest.mark.slow
def test_llava_in_the_wild_matches_lmms_eval(samples_cache, server, monkeypatch):
    from tasks import get_task

    task = get_task("llava_in_the_wild")
    docs = task.load(data="samples")
    records, _ = ov_records(task, docs, server)
    utils = importlib.import_module("lmms_eval.tasks.llava-in-the-wild.utils")
    point_llm_judge_at(monkeypatch, utils._get_pipeline().verifier._server, server)
    results = lmms_results(utils.llava_process_results, docs)
    check_parity(task, docs, records, results)
    assert [r["score"] for r in records] == [
        utils.llava_all_aggregation([r["gpt_eval_llava_all"]]) for r in results
    ]


@pytest.mark.slow
def test_dc100_en_matches_lmms_eval_and_reports_the_verdicts(samples_cache, server, monkeypatch):
    from tasks import get_task

    task = get_task("dc100_en")
    docs = task.load(data="samples")
    records, exchanges = ov_records(task, docs, server)
    utils = importlib.import_module("lmms_eval.tasks.internal_eval.dc100_en_utils")
    point_llm_judge_at(monkeypatch, utils.server, server)
    results = lmms_results(utils.process_results, docs)
    check_parity(task, docs, records, results)
    assert all(r["llm_as_judge_eval"] == 0 for r in results)  # lmms-eval 0.7.3 discards the verdict
    verdicts = [int(e[0].reply) for e in exchanges]
    assert [r["judge_verdict"] for r in records] == verdicts
    assert task.aggregate(records)["llm_as_judge_eval_corrected"] == pytest.approx(
        sum(verdicts) / len(verdicts)
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mathvista_testmini_format", "mathvista_testmini_cot"])
def test_mathvista_matches_lmms_eval(samples_cache, server, monkeypatch, name):
    from tasks import get_task

    task = get_task(name)
    docs = task.load(data="samples")
    records, exchanges = ov_records(task, docs, server)
    utils = importlib.import_module("lmms_eval.tasks.mathvista.utils")
    point_llm_judge_at(monkeypatch, utils.mathvista_evaluator.server, server)
    results = lmms_results(utils.mathvista_process_results, docs)
    check_parity(task, docs, records, results)
    # the judge is asked only when lmms-eval's rules cannot extract the answer
    assert any(not e for e in exchanges) and any(e for e in exchanges)
    floats = [r for r in records if r["lmms"]["llm_as_judge_eval"]["answer_type"] == "float"]
    assert floats and all(r["float_precision_bug"] for r in floats)
    assert task.aggregate(records)["float_answer_rows"] == len(floats)


@pytest.mark.slow
def test_mathverse_matches_lmms_eval(samples_cache, server, monkeypatch):
    from tasks import get_task

    task = get_task("mathverse_testmini_vision_only")
    docs = task.load(data="samples")
    records, _ = ov_records(task, docs, server)
    evals = importlib.import_module("lmms_eval.tasks.mathverse.mathverse_evals")
    utils = importlib.import_module("lmms_eval.tasks.mathverse.utils")
    point_llm_judge_at(monkeypatch, evals.MathVerseEvaluator.server, server)
    results = lmms_results(utils.mathverse_process_results, docs)
    check_parity(task, docs, records, results)


@pytest.mark.slow
def test_activitynetqa_matches_lmms_eval(samples_cache, server, monkeypatch, tmp_path):
    from tasks import get_task

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    task = get_task("activitynetqa")
    docs = task.load(data="samples")
    records, _ = ov_records(task, docs, server)
    utils = importlib.import_module("lmms_eval.tasks.activitynetqa.utils")
    point_requests_at(monkeypatch, utils, server)
    results = lmms_results(utils.activitynetqa_process_results, docs)
    check_parity(task, docs, records, results)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["videochatgpt_gen", "videochatgpt_temporal"])
def test_videochatgpt_matches_lmms_eval(samples_cache, server, monkeypatch, tmp_path, name):
    from tasks import get_task

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    task = get_task(name)
    docs = task.load(data="samples")
    records, exchanges = ov_records(task, docs, server)
    utils = importlib.import_module("lmms_eval.tasks.videochatgpt.utils")
    point_requests_at(monkeypatch, utils, server)
    fn = (
        utils.videochatgpt_process_results_generic
        if name.endswith("gen")
        else utils.videochatgpt_process_results_temporal
    )
    results = lmms_results(fn, docs)
    check_parity(task, docs, records, results)
    assert {len(e) for e in exchanges} == {3 if name.endswith("gen") else 1}


@pytest.mark.slow
def test_videochatgpt_consistency_pairs_match_lmms_eval(samples_cache, server, monkeypatch, tmp_path):
    """lmms-eval judges the consistency pairs inside its aggregation; ov-bench judges each pair on its
    own (the same aggregation on two records) and averages: the same number with the same replies."""
    from tasks import get_task

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    task = get_task("videochatgpt_consistency")
    docs = task.load(data="samples")
    records = [
        task.score(doc, RESPONSES[i % len(RESPONSES)]) for i, doc in enumerate(docs)
    ]  # no judge needed
    pairs = task.judge_groups(records)
    assert len(pairs) == len(docs) // 2 and all(len(p) == 2 for p in pairs)
    with judge_scope(JudgeConfig(url=server.url)):
        for pair in pairs:
            with judge_session() as session:
                score = task.judge_group([records[k] for k in pair])
            assert len(session.exchanges) == 1
            for k in pair:
                records[k].update(judge_group=pair, group_score=score)
    utils = importlib.import_module("lmms_eval.tasks.videochatgpt.utils")
    point_requests_at(monkeypatch, utils, server)
    results = lmms_results(utils.videochatgpt_process_results_consistency, docs)
    assert [r["lmms"] for r in records] == [jsonable(r) for r in results]
    expected = lmms_aggregate(
        utils.videochatgpt_aggregate_consistency, [r["gpt_eval_score_consistency"] for r in results]
    )
    assert task.aggregate(records)["gpt_eval_score_consistency"] == pytest.approx(expected)
    assert not math.isnan(expected)


def test_no_judge_configured_is_a_judge_error(samples_cache):
    from tasks import get_task

    task = get_task("mmvet")
    doc = task.load(data="samples", limit=1)[0]
    with pytest.raises(JudgeError, match="--judge-url"):
        task.score(doc, "red")


def test_judged_tasks_declare_the_suite_attributes():
    from tasks import get_task, list_tasks

    judged = [get_task(n) for n in list_tasks() if getattr(get_task(n), "scoring", "local") == "judge"]
    assert {t.name for t in judged} >= {
        "mmvet", "llava_in_the_wild", "dc100_en", "mathverse_testmini_vision_only", "activitynetqa",
        "video_dc499", "videochatgpt_gen", "videochatgpt_temporal", "videochatgpt_consistency",
        "mathvista_testmini_cot", "mathvista_testmini_solution", "mathvista_testmini_format",
    }  # fmt: skip
    for t in judged:
        assert t.paper_row and t.real_docs and t.lmms_eval_name == t.name
    mathvista = [t for t in judged if t.name.startswith("mathvista")]
    assert [t.name for t in mathvista if t.in_paper_suite] == ["mathvista_testmini_format"]
    assert {t.lmms_eval_group for t in mathvista} == {"mathvista_testmini"}


_ = Reply  # re-exported helper used by other judge tests
