"""Judged tasks in runs: failures become rows awaiting the judge, reruns judge only those (the model is
not run again), another judge model re-judges stored responses, no judge means exit 2 before anything
is loaded or written, and a stray .env cannot redirect the judge. The judge is a real
OpenAI-compatible server on 127.0.0.1 (tests/support/judge_server.py); the model answers instantly."""

from __future__ import annotations

import functools
import importlib
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from ov_bench.adapters.base import Generation
from ov_bench.engine.runner import RunConfig, Runner
from ov_bench.judge import require_judge
from ov_bench.judge.awaiting import awaiting_judge_line
from ov_bench.model_spec import ModelSpec
from ov_bench.outputs.store import SAMPLES_DB, ResultsStore
from ov_bench.reports.summary import summary_table
from tasks import get_task
from tasks.judging import AWAITING_JUDGE_KEY, JudgeConfig
from tests.support.fakes import InstantAdapter
from tests.support.judge_server import (
    JudgeServer,
    Reply,
    down_url,
    last_user_text,
    no_retry_sleeps,
    pick,
    plausible_reply,
)
from tests.support.mmbench_judge import lmms_eval_judging_at, mmbench_reply


class CountingAdapter(InstantAdapter):
    def __init__(self) -> None:
        super().__init__(answer="red")
        self.calls = 0

    def generate(self, prepared, max_new_tokens, timer):
        self.calls += 1
        return super().generate(prepared, max_new_tokens, timer)


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    no_retry_sleeps(monkeypatch)


def run(out: Path, judge: JudgeConfig | None, adapter: InstantAdapter, tasks=("mmvet",), limit=4, **kw):
    cfg = RunConfig(
        tasks=list(tasks),
        data="samples",
        limit=limit,
        output=str(out),
        judge=judge,
        progress=False,
        warmup=False,
        workers=0,
        write_outputs=False,
        model=ModelSpec(model="tiny", frames=4),
        **kw,
    )
    return Runner(cfg, adapter=adapter).run()


def exchanges(out: Path, row, judge_model: str | None = None) -> list[dict]:
    with ResultsStore(out / SAMPLES_DB) as store:
        return store.judge_exchanges(row.task, row.doc_id, row.model_key, row.threshold, judge_model)


def test_failure_resume_and_rejudge(samples_cache, tmp_path):
    out, adapter = tmp_path / "run", CountingAdapter()
    # 1. the judge fails every call about one question (HTTP 500, retried, then given up)
    victim = {}

    def flaky(request):
        text = last_user_text(request)
        if not victim:
            victim["question"] = text.rsplit("\n", 1)[-1].split(" | ")[0]
        return Reply(status=500) if victim["question"] in text else "0.4"

    with JudgeServer(flaky) as server:
        first = run(out, JudgeConfig(url=server.url), adapter)
        sent_first = len(server.requests)
    failed = [r for r in first.rows if r.error]
    assert len(failed) == 1 and failed[0].error.startswith("judge: HTTP 500")
    assert failed[0].response is not None and failed[0].score is None  # the model's answer is kept
    assert all(r.score == pytest.approx(40.0) for r in first.rows if r.ok)
    stored = exchanges(out, failed[0])
    assert len(stored) == 1 and stored[0]["attempts"] == 3 and stored[0]["error"].startswith("HTTP 500")
    assert stored[0]["messages"][0]["content"].endswith(
        "| red |"
    )  # the full prompt, the model's answer in it
    line = awaiting_judge_line(first.rows)
    assert line.startswith("ov-bench: 1 sample(s) await the LLM judge") and "rerun the same command" in line
    assert adapter.calls == 4 and sent_first == 3 + 3  # 3 good samples, 3 attempts for the bad one

    # 2. rerun with the judge healthy: only the failed sample is judged, the model is not run
    with JudgeServer(lambda request: "0.9") as server:
        second = run(out, JudgeConfig(url=server.url), adapter)
        assert len(server.requests) == 1
    assert adapter.calls == 4
    assert not [r for r in second.rows if r.error] and awaiting_judge_line(second.rows) is None
    assert sorted(r.score for r in second.rows) == pytest.approx([40.0, 40.0, 40.0, 90.0])

    # 3. the same command again: nothing to judge
    with JudgeServer(lambda request: "0.1") as server:
        run(out, JudgeConfig(url=server.url), adapter)
        assert server.requests == []

    # 4. another judge model re-judges every stored response, still without the model
    with JudgeServer(lambda request: "0.2") as server:
        fourth = run(out, JudgeConfig(url=server.url, model="judge-b"), adapter)
        assert len(server.requests) == 4 and {r["model"] for r in server.requests} == {"judge-b"}
    assert adapter.calls == 4
    assert all(r.judge_model == "judge-b" and r.score == pytest.approx(20.0) for r in fourth.rows)
    assert len(exchanges(out, fourth.rows[0])) == 2  # the first judge's exchange is kept beside

    # 5. back to the first judge model: its stored replies answer again, no call is sent
    with JudgeServer(lambda request: "0.0") as server:
        fifth = run(out, JudgeConfig(url=server.url), adapter)
        assert server.requests == []
    assert sorted(r.score for r in fifth.rows) == pytest.approx([40.0, 40.0, 40.0, 90.0])


def test_judge_down_is_an_error_row_per_sample(samples_cache, tmp_path):
    outcome = run(tmp_path / "down", JudgeConfig(url=down_url()), CountingAdapter())
    assert len(outcome.rows) == 4
    assert all(r.error.startswith("judge: cannot connect") for r in outcome.rows[:3])
    # after 3 samples could not connect the judge counts as down: the 4th is not tried
    assert outcome.rows[3].error.startswith("judge: judge at") and "unreachable" in outcome.rows[3].error
    assert awaiting_judge_line(outcome.rows).startswith("ov-bench: 4 sample(s) await the LLM judge")


def test_no_judge_exits_2_before_loading_anything(tmp_path, capsys):
    from ov_bench.cli import main

    out = tmp_path / "never"
    rc = main(["run", "--tasks", "ai2d,mmvet", "--model", "tiny", "--data", "samples", "--output", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and not out.exists()
    assert len(err) == 1 and "mmvet is scored by an LLM judge: pass --judge-url" in err[0]
    rc = main(["run", "--tasks", "ai2d", "--judge-model", "x", "--data", "samples", "--output", str(out)])
    assert rc == 2 and "--judge-model and --judge-timeout need --judge-url" in capsys.readouterr().err
    rc = main(
        ["run", "--tasks", "mmvet", "--judge-url", "http://h:1/v1/chat/completions", "--output", str(out)]
    )
    assert rc == 2 and "not the /chat/completions endpoint" in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_consistency_pairs_are_judged_and_stored_together(samples_cache, tmp_path):
    out, adapter = tmp_path / "pairs", CountingAdapter()
    with JudgeServer(lambda request: "{'score': 4}") as server:
        outcome = run(out, JudgeConfig(url=server.url), adapter, tasks=("videochatgpt_consistency",), limit=5)
        assert len(server.requests) == len(outcome.rows) // 2
    names = [r.doc_id.split("/")[0] for r in outcome.rows]
    assert len(outcome.rows) % 2 == 0 and all(names.count(n) == 2 for n in names)  # --limit kept pairs
    assert all(r.ok and r.score == 4.0 and r.record["group_score"] == 4 for r in outcome.rows)
    first, second = outcome.rows[0], outcome.rows[1]
    assert first.record["judge_group"] == [first.doc_id, second.doc_id]
    assert exchanges(out, first) == exchanges(out, second) and len(exchanges(out, first)) == 1
    assert "Question 1:" in exchanges(out, first)[0]["messages"][1]["content"]
    with JudgeServer(lambda request: "{'score': 2}") as server:
        again = run(out, JudgeConfig(url=server.url), adapter, tasks=("videochatgpt_consistency",), limit=5)
        assert server.requests == []  # judged pairs are not judged again
    assert [r.score for r in again.rows] == [4.0] * len(again.rows)


# ---- MMBench: runs without a judge, its CircularEval groups judged when one is configured --------------


class MMBenchAdapter(CountingAdapter):
    """Answers an MMBench prompt, a function of the prompt: the right letter, the right option's text, or
    two option texts meaning the right or another option (the rule-based matcher reads neither: the
    judge is asked)."""

    def __init__(self) -> None:
        super().__init__()
        self.truth = {get_task("mmbench_en_dev").doc_to_text(d): d for d in self.docs()}

    @staticmethod
    @functools.cache
    def docs() -> list[dict]:
        return get_task("mmbench_en_dev").load(data="samples")

    def generate(self, prepared, max_new_tokens, timer):
        self.calls += 1
        doc, k = self.truth[prepared.prompt], pick(prepared.prompt, 1000)
        right = doc[doc["answer"]]
        other = next(doc[c] for c in "ABCD" if doc[c] is not None and c != doc["answer"])
        meant = (right, other)[k // 4 % 2]
        kinds = [doc["answer"], right, f"either {right} or {other}, rather {meant}", f"{other} or {right}"]
        text = kinds[k % 4]
        return Generation(text, 1, prepared.visual_tokens_counted, prepared.visual_tokens_counted + 20)


def _lmms_eval_mmbench(rows, aggregation: str) -> float:
    """lmms-eval's own process_results and gpt_eval_score aggregation over stored responses."""
    en = importlib.import_module("lmms_eval.tasks.mmbench.en_utils")
    docs = {d["index"]: d for d in MMBenchAdapter.docs()}
    values = [en.mmbench_process_results(docs[int(r.doc_id)], [r.response])["gpt_eval_score"] for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        return getattr(en, aggregation)(values, args=SimpleNamespace(output_path=tmp))


def test_mmbench_runs_without_a_judge_then_judges_its_awaiting_groups(samples_cache, tmp_path, monkeypatch):
    out, adapter, tasks = tmp_path / "mmb", MMBenchAdapter(), ("mmbench_en_dev",)
    require_judge(tasks, None)  # not scored by a judge: runs without --judge-url (no exit 2)
    # 1. no judge: every sample scored (as mmbench_en_dev_static scores it), unreadable ones flagged
    first = run(out, None, adapter, tasks=tasks, limit=None)
    metrics = first.results["tasks"]["mmbench_en_dev"]["metrics"]
    flagged = [r for r in first.rows if r.record.get(AWAITING_JUDGE_KEY)]
    assert all(r.ok for r in first.rows) and 0 < len(flagged) < len(first.rows) == adapter.calls
    assert metrics["awaiting_judge"] == len(flagged) and metrics["judge_answers"] == 0
    assert awaiting_judge_line(first.rows) is None  # not a failure: the run ends normally
    assert metrics["gpt_eval_score"] == _lmms_eval_mmbench(first.rows, "mmbench_aggregate_dev_results_static")
    assert f"awaiting judge: mmbench_en_dev: {len(flagged)} prediction(s)" in summary_table(first.results)

    # 2. with a judge that fails every call about one question: its group awaits, the others are judged
    victim = {}

    def flaky(request):
        victim.setdefault("prompt", last_user_text(request))
        return Reply(status=500) if last_user_text(request) == victim["prompt"] else mmbench_reply(request)

    with JudgeServer(flaky) as server:
        second = run(out, JudgeConfig(url=server.url), adapter, tasks=tasks, limit=None)
    assert adapter.calls == len(first.rows)  # the model is not run again
    failed = [r for r in second.rows if r.error]
    assert failed and all(r.error.startswith("judge: HTTP 500") for r in failed)
    (question,) = {int(r.doc_id) % 1_000_000 for r in failed}  # one question: all of its rows
    assert len(failed) == sum(int(r.doc_id) % 1_000_000 == question for r in second.rows)
    line = awaiting_judge_line(second.rows)
    assert line.startswith(f"ov-bench: {len(failed)} sample(s) await the LLM judge")

    # 3. the judge healthy: only that group is judged; the score is lmms-eval's with the same replies
    with JudgeServer(mmbench_reply) as server:
        third = run(out, JudgeConfig(url=server.url), adapter, tasks=tasks, limit=None)
        assert 0 < len(server.requests) <= len(failed)
        metrics = third.results["tasks"]["mmbench_en_dev"]["metrics"]
        assert all(r.ok for r in third.rows) and adapter.calls == len(first.rows)
        assert metrics["awaiting_judge"] == 0 and metrics["judge_answers"] > 0
        assert not any(AWAITING_JUDGE_KEY in r.record for r in third.rows)
        en = importlib.import_module("lmms_eval.tasks.mmbench.en_utils")
        with lmms_eval_judging_at(en.mmbench_evaluator, server, monkeypatch):
            expected = _lmms_eval_mmbench(third.rows, "mmbench_aggregate_dev_results_eval")
        assert metrics["gpt_eval_score"] == pytest.approx(expected, abs=1e-12)
        assert expected != _lmms_eval_mmbench(third.rows, "mmbench_aggregate_dev_results_static")
    judged = [r for r in third.rows if "judge_answer" in r.record]
    for row in judged:  # the group's exchanges and result are stored with each of its rows
        group = [r for r in third.rows if r.doc_id in row.record["judge_group"]]
        assert all(exchanges(out, r) == exchanges(out, row) != [] for r in group)
        assert all(r.record["group_score"] == row.record["group_score"] in (0.0, 1.0) for r in group)
        answer = row.record["lmms"]["gpt_eval_score"]["answer"]
        assert row.score == float(row.record["judge_answer"] == answer)  # the row's own answer, as read

    # 4. the same judge again: nothing is sent
    with JudgeServer(mmbench_reply) as server:
        run(out, JudgeConfig(url=server.url), adapter, tasks=tasks, limit=None)
        assert server.requests == []
    # 5. another judge model (answering "E": lmms-eval stops at a group's first judged row) re-judges
    # every group, without the model; no reading of the first judge is left behind
    with JudgeServer(lambda request: "E") as server:
        fifth = run(out, JudgeConfig(url=server.url, model="judge-b"), adapter, tasks=tasks, limit=None)
        sent = len(server.requests)
        assert sent and {r["model"] for r in server.requests} == {"judge-b"}
        with lmms_eval_judging_at(en.mmbench_evaluator, server, monkeypatch):
            expected = _lmms_eval_mmbench(fifth.rows, "mmbench_aggregate_dev_results_eval")
    assert fifth.results["tasks"]["mmbench_en_dev"]["metrics"]["gpt_eval_score"] == pytest.approx(expected)
    assert adapter.calls == len(first.rows) and all(r.ok for r in fifth.rows)
    judged = [r for r in fifth.rows if "judge_group" in r.record]
    assert {r.record["group_judge_model"] for r in judged} == {"judge-b"}
    read = [r.record["judge_group"][0] for r in fifth.rows if "judge_answer" in r.record]
    assert read and len(read) == len(set(read)) == sent  # one read per judged group
    assert all(
        r.record["judge_answer"] == "E" and r.score == 0.0 for r in fifth.rows if "judge_answer" in r.record
    )


# ---- end to end through the CLI, every judged task, scores held against lmms-eval's own functions ----------

# task -> (lmms-eval module, process_results, how its own client reaches the judge)
LMMS = {
    "mmvet": ("lmms_eval.tasks.mmvet.utils", "mmvet_process_results", "server"),
    "llava_in_the_wild": ("lmms_eval.tasks.llava-in-the-wild.utils", "llava_process_results", "pipeline"),
    "dc100_en": ("lmms_eval.tasks.internal_eval.dc100_en_utils", "process_results", "server"),
    "mathvista_testmini_format": ("lmms_eval.tasks.mathvista.utils", "mathvista_process_results", "mathvista"),
    "mathverse_testmini_vision_only": ("lmms_eval.tasks.mathverse.utils", "mathverse_process_results", "mathverse"),
    "activitynetqa": ("lmms_eval.tasks.activitynetqa.utils", "activitynetqa_process_results", "requests"),
    "videochatgpt_gen": ("lmms_eval.tasks.videochatgpt.utils", "videochatgpt_process_results_generic", "requests"),
    "videochatgpt_temporal": ("lmms_eval.tasks.videochatgpt.utils", "videochatgpt_process_results_temporal", "requests"),
    "video_dc499": ("lmms_eval.tasks.video_detail_description.utils", "video_detail_description_process_results_generic", "requests"),
}  # fmt: skip


def _point_lmms_eval_at(monkeypatch, module, how: str, server: JudgeServer) -> None:
    import importlib

    from tests.test_judge_tasks import point_llm_judge_at, point_requests_at

    if how == "requests":
        point_requests_at(monkeypatch, module, server)
    elif how == "server":
        point_llm_judge_at(monkeypatch, module.server, server)
    elif how == "pipeline":
        point_llm_judge_at(monkeypatch, module._get_pipeline().verifier._server, server)
    elif how == "mathvista":
        point_llm_judge_at(monkeypatch, module.mathvista_evaluator.server, server)
    else:
        evals = importlib.import_module("lmms_eval.tasks.mathverse.mathverse_evals")
        point_llm_judge_at(monkeypatch, evals.MathVerseEvaluator.server, server)


@pytest.mark.slow
def test_cli_runs_every_judged_task_with_lmms_eval_scores(samples_cache, tmp_path, monkeypatch):
    import copy
    import importlib
    import json

    from ov_bench.cli import main
    from tasks import get_task
    from tests.support.judge_server import plausible_reply

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    names = [*LMMS, "videochatgpt_consistency"]
    out = tmp_path / "cli"
    args = ["run", "--tasks", ",".join(names), "--model", "tiny", "--data", "samples", "--limit", "4"]
    args += ["--frames", "4", "--max-new-tokens", "12", "--output", str(out), "--no-progress", "--no-warmup"]
    with JudgeServer(plausible_reply) as server:
        assert main([*args, "--judge-url", server.url]) == 0
        results = json.loads((out / "results.json").read_text())
        assert results["run"]["judge"] == {"url": server.url, "model": "gpt-4o-2024-11-20", "timeout_s": 60.0}
        with ResultsStore(out / SAMPLES_DB) as store:
            rows = store.rows()
        for name, (module_name, fn, how) in LMMS.items():
            task, module = get_task(name), importlib.import_module(module_name)
            _point_lmms_eval_at(monkeypatch, module, how, server)
            docs = {task.doc_id(d): d for d in task.load(data="samples", limit=4)}
            mine = [r for r in rows if r.task == name]
            assert mine and all(r.ok for r in mine), name
            for row in mine:
                expected = getattr(module, fn)(copy.deepcopy(docs[row.doc_id]), [row.response])
                assert row.record["lmms"] == json.loads(json.dumps(expected, default=str)), (name, row.doc_id)
            assert results["tasks"][name]["judge_models"] == ["gpt-4o-2024-11-20"]
        pairs = [r for r in rows if r.task == "videochatgpt_consistency"]
        assert pairs and all(r.ok and r.record["group_score"] is not None for r in pairs)
        sent = len(server.requests)
        assert (
            main([*args, "--judge-url", server.url]) == 0 and len(server.requests) == sent
        )  # resumed: no calls


def test_sweep_judges_once_per_response_and_resumes_the_rest(samples_cache, tiny_adapter, tmp_path):
    """A sweep (the tiny reference model, which shares work across settings) over two thresholds of a judged
    task: mmvet's sample images sit below both taus, so each sample's response is generated once and judged once (the verdict is recorded under both settings, with its
    exchanges); with the judge down every sample awaits it and the command exits 1 naming the rerun."""
    from ov_bench.engine.sweep import SweepConfig, Sweeper

    def sweep(out: Path, judge: JudgeConfig | None) -> object:
        cfg = SweepConfig(
            tasks=["mmvet"],
            thresholds=[6561, None],
            frames=[4],
            data="samples",
            limit=2,
            output=str(out),
            judge=judge,
            progress=False,
            warmup=False,
            workers=0,
            report=False,
        )
        return Sweeper(cfg, adapter=tiny_adapter).run()

    with JudgeServer(lambda request: "0.5") as server:
        outcome = sweep(tmp_path / "ok", JudgeConfig(url=server.url))
        sent = len(server.requests)
    rows = [r for setting_rows in outcome.rows.values() for r in setting_rows]
    assert len(rows) == 4 and all(r.ok and r.score == pytest.approx(50.0) for r in rows)
    assert sent == 2  # one judge call per distinct response, not per setting
    assert all(len(exchanges(tmp_path / "ok", r)) == 1 for r in rows)
    assert awaiting_judge_line(rows) is None

    down = sweep(tmp_path / "down", JudgeConfig(url=down_url()))
    waiting = [r for setting_rows in down.rows.values() for r in setting_rows]
    assert all(r.error.startswith("judge:") for r in waiting)
    line = awaiting_judge_line(waiting)
    assert line is not None and "4" in line


@pytest.mark.slow
def test_cli_mmbench_without_then_with_a_judge(samples_cache, tmp_path, monkeypatch, capsys):
    import json
    import socket

    from ov_bench.cli import main

    out = tmp_path / "mmb"
    args = ["run", "--tasks", "mmbench_en_dev", "--model", "tiny", "--data", "samples", "--limit", "8"]
    args += ["--max-new-tokens", "8", "--output", str(out), "--no-progress", "--no-warmup"]

    def refuse(*a, **k):
        raise AssertionError("network access attempted")

    with monkeypatch.context() as m:  # no judge: no connection is ever attempted, the run ends normally
        m.setattr(socket.socket, "connect", refuse)
        m.setattr(socket, "create_connection", refuse)
        assert main(args) == 0

    def metrics() -> dict:
        return json.loads((out / "results.json").read_text())["tasks"]["mmbench_en_dev"]["metrics"]

    waiting = int(metrics()["awaiting_judge"])
    assert (
        waiting > 0 and f"awaiting judge: mmbench_en_dev: {waiting} prediction(s)" in capsys.readouterr().out
    )
    with JudgeServer(plausible_reply) as server:
        assert main([*args, "--judge-url", server.url]) == 0 and server.requests
        assert metrics()["awaiting_judge"] == 0 and metrics()["judge_answers"] > 0
        sent = len(server.requests)
        assert main([*args, "--judge-url", server.url]) == 0 and len(server.requests) == sent
