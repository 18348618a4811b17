"""ov-bench's judge transport, sessions, client routing and storage, against a real OpenAI-compatible
server on 127.0.0.1 (tests/support/judge_server.py): replies and failures are recorded as they
happened, retries are bounded, nothing goes anywhere but the configured URL."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ov_bench.errors import UsageError
from ov_bench.judge import add_judge_arguments, judge_config_from_args
from ov_bench.outputs.store import ResultsStore, SampleRow, merge_shards, shard_path
from tasks.judging import (
    Exchange,
    JudgeAbort,
    JudgeConfig,
    RoutedRequests,
    judge_scope,
    judge_session,
)
from tasks.judging.routes import RoutedOpenAIClient
from tasks.judging.transport import Transport
from tests.support.judge_server import JudgeServer, Reply, down_url, no_retry_sleeps

REPO = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Rate this."}]


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    no_retry_sleeps(monkeypatch)


def test_config_and_flags():
    config = JudgeConfig(url="http://127.0.0.1:8000/v1/")
    assert config.chat_url == "http://127.0.0.1:8000/v1/chat/completions"
    assert (config.model, config.timeout) == ("gpt-4o-2024-11-20", 60.0)
    for bad in ("127.0.0.1:8000/v1", "ftp://host/v1", "http://host/v1/chat/completions"):
        with pytest.raises(ValueError, match="--judge-url"):
            JudgeConfig(url=bad)
    parser = argparse.ArgumentParser()
    add_judge_arguments(parser)
    assert judge_config_from_args(parser.parse_args([])) is None
    args = parser.parse_args(["--judge-url", "http://h:1/v1", "--judge-model", "m", "--judge-timeout", "5"])
    assert judge_config_from_args(args) == JudgeConfig(url="http://h:1/v1", model="m", timeout=5.0)
    with pytest.raises(UsageError, match="need --judge-url"):
        judge_config_from_args(parser.parse_args(["--judge-model", "m"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--judge-timeout", "0"])


def test_transport_records_replies_retries_and_failures(monkeypatch):
    script = iter(
        [Reply(status=503), "ok after a retry", Reply(status=400), Reply(raw="<html>"), Reply(content="")]
    )
    with JudgeServer(lambda request: next(script)) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # read when the transport is made
        transport = Transport(JudgeConfig(url=server.url, model="judge-m"))
        good = transport.send(MESSAGES, {"model": "judge-m", "temperature": 0})
        assert (good.reply, good.reply_model, good.attempts, good.error) == (
            "ok after a retry",
            "judge-m",
            2,
            None,
        )
        assert server.requests[0] == {"model": "judge-m", "temperature": 0, "messages": MESSAGES}
        assert server.headers[0]["Authorization"] == "Bearer sk-test"
        client_error = transport.send(MESSAGES, {"model": "judge-m"})  # a 4xx is not retried
        assert client_error.attempts == 1 and client_error.error.startswith("HTTP 400")
        assert transport.send(MESSAGES, {}).error.startswith("not a chat-completions reply")
        assert transport.send(MESSAGES, {}).error == "empty reply"
        assert len(server.requests) == 5
    with JudgeServer(lambda request: Reply(content="late", delay_s=2.0)) as slow:
        timed_out = Transport(JudgeConfig(url=slow.url, timeout=0.2, max_attempts=2)).send(MESSAGES, {})
        assert timed_out.error == "no reply within 0.2 s (after 2 attempts)" and len(slow.requests) == 2


def test_session_checks_replies_replays_and_stops_at_the_first_failure():
    with JudgeServer(lambda request: "7") as server:
        with judge_scope(JudgeConfig(url=server.url, model="m")):
            with judge_session() as session:
                first = session.chat({"messages": MESSAGES, "temperature": 0, "model": "lmms-default"})
            assert first.params == {"temperature": 0, "model": "m"}  # the configured model, always
            with judge_session(replay=[first]) as session:
                again = session.chat({"messages": MESSAGES, "temperature": 0})
            assert again.replayed and again.reply == "7" and len(server.requests) == 1
            with judge_session() as session, session.checking(lambda reply: "not in [0, 1]"):
                with pytest.raises(JudgeAbort, match=r"unusable reply '7': not in \[0, 1\]"):
                    session.chat({"messages": MESSAGES})
                with pytest.raises(JudgeAbort):  # a failed session sends nothing more
                    session.chat({"messages": MESSAGES})
            assert len(server.requests) == 2 and len(session.exchanges) == 1


def test_routed_clients_go_to_the_session_whatever_url_they_hold():
    with JudgeServer(lambda request: "{'score': 3}") as ours:
        requests_shim = RoutedRequests(strict=True)
        with pytest.raises(JudgeAbort, match="no LLM judge"):
            requests_shim.post("https://api.openai.com/v1/chat/completions", json={"messages": MESSAGES})
        with judge_scope(JudgeConfig(url=ours.url)), judge_session() as session:
            reply = requests_shim.post(
                "https://api.openai.com/v1/chat/completions",
                headers={},
                json={"messages": MESSAGES},
                timeout=60,
            )
            reply.raise_for_status()
            assert reply.json()["choices"][0]["message"]["content"] == "{'score': 3}"
            assert requests_shim.exceptions.HTTPError is __import__("requests").exceptions.HTTPError
            client = RoutedOpenAIClient(original=None)
            completion = client.chat.completions.create(model="x", messages=MESSAGES, temperature=0)
            assert completion.choices[0].message.content == "{'score': 3}"
        assert len(ours.requests) == 2 and len(session.exchanges) == 2
    with JudgeServer(lambda request: "direct") as other:  # outside a session a lenient shim is plain requests
        response = RoutedRequests(strict=False).post(
            other.url + "/chat/completions", json={"messages": MESSAGES}
        )
        assert response.json()["choices"][0]["message"]["content"] == "direct"


def _row(doc_id: str, **kw) -> SampleRow:
    return SampleRow(task="mmvet", doc_id=doc_id, model_key="m", threshold="6561", response="r", **kw)


def test_store_keeps_exchanges_per_judge_model_and_merges_them(tmp_path):
    ex = Exchange(messages=MESSAGES, params={"model": "a"}, reply="0.5", attempts=1).to_dict()
    bad = Exchange(messages=MESSAGES, params={"model": "a"}, error="HTTP 500", attempts=3).to_dict()
    with ResultsStore(shard_path(tmp_path, 1)) as shard:
        shard.write(_row("1", judge_model="a", judge_exchanges=[bad], error="judge: HTTP 500"))
        shard.write(_row("1", judge_model="a", judge_exchanges=[ex], score=50.0))  # the retry replaces it
        shard.write(_row("1", judge_model="b", judge_exchanges=[{**ex, "reply": "0.1"}], score=10.0))
        shard.write(_row("2", judge_model="a", judge_exchanges=[bad], error="judge: HTTP 500"))
        assert shard.finished("mmvet", "m", "6561", include_errors=False) == {"1", "2"}  # judge errors: done
    merge_shards(tmp_path)
    with ResultsStore(tmp_path / "samples.sqlite") as store:
        assert [r.judge_model for r in store.rows()] == ["b", "a"]
        stored = store.judge_exchanges("mmvet", "1", "m", "6561")
        assert [(e["judge_model"], e["reply"]) for e in stored] == [("a", "0.5"), ("b", "0.1")]
        assert store.judge_exchanges("mmvet", "2", "m", "6561", "a")[0]["error"] == "HTTP 500"


def test_a_store_from_before_the_judge_opens(tmp_path):
    path = tmp_path / "samples.sqlite"
    with ResultsStore(path) as store:
        store.write(_row("old"))
    conn = sqlite3.connect(path)  # make it look like an older store: no judge column, no judge table
    conn.execute("DROP TABLE judge_exchanges")
    conn.execute("ALTER TABLE samples DROP COLUMN judge_model")
    conn.commit()
    conn.close()
    with ResultsStore(path) as store:
        (row,) = store.rows()
        assert row.doc_id == "old" and row.judge_model is None
        assert store.judge_exchanges("mmvet", "old", "m", "6561") == []


def test_stray_dotenv_is_not_loaded_and_cannot_redirect_the_judge(tmp_path):
    """lmms_eval.llm_judge loads ./.env into os.environ at import, and its providers build their client
    from OPENAI_API_URL; imported the ov-bench way, neither happens and calls go to the session."""
    with JudgeServer(lambda request: "0.3") as ours, JudgeServer(lambda request: "1.0") as stray:
        (tmp_path / ".env").write_text(
            f"OPENAI_API_URL={stray.url}\nOPENAI_API_KEY=sk-stray\nAPI_TYPE=openai\nMODEL_VERSION=stray-model\n"
        )
        script = f"""
import json, os
from tasks.judging import JudgeConfig, import_judge_module, judge_import_env, judge_scope, judge_session
judge = import_judge_module("lmms_eval.llm_judge")
with judge_import_env():  # as the judged tasks' modules build their providers
    server = judge.get_server("openai", judge.ServerConfig(model_name=os.getenv("MODEL_VERSION", "default")))
with judge_scope(JudgeConfig(url={ours.url!r})), judge_session():
    reply = server.evaluate(judge.Request(messages=[{{"role": "user", "content": "Rate"}}]))
print(json.dumps({{"reply": reply.content, "env": {{k: os.environ.get(k) for k in ("OPENAI_API_URL", "OPENAI_API_KEY", "MODEL_VERSION")}}}}))
"""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MODEL_VERSION", "API_TYPE"))
        }
        env["PYTHONPATH"] = str(REPO)
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result == {
            "reply": "0.3",
            "env": {"OPENAI_API_URL": None, "OPENAI_API_KEY": None, "MODEL_VERSION": None},
        }
        assert stray.requests == [] and len(ours.requests) == 1
        assert ours.headers[0]["Authorization"] == "Bearer EMPTY"  # no OPENAI_API_KEY: the placeholder


def test_down_judge_fails_fast_after_a_few_connection_failures():
    transport = Transport(JudgeConfig(url=down_url()))
    first = transport.send(MESSAGES, {})
    assert first.attempts == 3 and first.error.startswith("cannot connect")
    transport.send(MESSAGES, {})
    transport.send(MESSAGES, {})
    fourth = transport.send(MESSAGES, {})
    assert fourth.attempts == 0 and "unreachable" in fourth.error


_ = json  # (used in the subprocess script's output)
