"""Judged tasks in runs: failures become rows awaiting the judge, reruns judge only those (the model is
not run again), another judge model re-judges stored responses, no judge means exit 2 before anything
is loaded or written, and a stray .env cannot redirect the judge. The judge is a real
OpenAI-compatible server on 127.0.0.1 (tests/support/judge_server.py); the model answers instantly."""

from __future__ import annotations

from pathlib import Path

import pytest

from ov_bench.engine.runner import RunConfig, Runner
from ov_bench.judge.awaiting import awaiting_judge_line
from ov_bench.model_spec import ModelSpec
from ov_bench.outputs.store import SAMPLES_DB, ResultsStore
from tasks.judging import JudgeConfig
from tests.support.fakes import InstantAdapter
from tests.support.judge_server import JudgeServer, Reply, down_url, last_user_text, no_retry_sleeps


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
