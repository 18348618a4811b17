"""The results store: round trip, resume bookkeeping, shard merging and the output-directory lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ov_bench.errors import OutputInUseError
from ov_bench.outputs.store import (
    SAMPLES_DB,
    OutputLock,
    ResultsStore,
    SampleRow,
    merge_shards,
    shard_path,
    threshold_key,
)


def _row(doc_id: str, task: str = "t", error: str | None = None, **kw) -> SampleRow:
    return SampleRow(
        task=task,
        doc_id=doc_id,
        model_key="reference:tiny@float32",
        threshold="6561",
        response="B",
        parsed="B",
        score=1.0,
        parse_failed=False,
        record={"score": 1.0, "x": [1, 2]},
        visual_tokens_counted=1485,
        visual_tokens_measured=1485,
        text_tokens=40,
        latency_ms={"prefill": 1.5, "end_to_end": 9.0},
        error=error,
        **kw,
    )


def test_threshold_key():
    assert threshold_key(6561) == "6561"
    assert threshold_key(None) == "none"


def test_round_trip_and_finished(tmp_path):
    with ResultsStore(tmp_path / SAMPLES_DB) as store:
        store.write(_row("a"))
        store.write(_row("b", error="media_decode: MediaError: bad"))
        store.write(_row("a"))  # same key: replaced, not duplicated
        rows = store.rows()
        assert [r.doc_id for r in rows] == ["a", "b"]
        a = rows[0]
        assert a.record == {"score": 1.0, "x": [1, 2]}
        assert a.latency_ms == {"prefill": 1.5, "end_to_end": 9.0}
        assert a.parse_failed is False and a.ok and not rows[1].ok
        assert store.finished("t", "reference:tiny@float32", "6561") == {"a", "b"}
        assert store.finished("t", "reference:tiny@float32", "6561", include_errors=False) == {"a"}
        assert store.finished("t", "reference:tiny@float32", "none") == set()
        assert store.finished("other", "reference:tiny@float32", "6561") == set()


def test_wal_mode(tmp_path):
    with ResultsStore(tmp_path / SAMPLES_DB) as store:
        mode = store._conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode.lower() == "wal"


def test_merge_shards(tmp_path):
    for rank, ids in enumerate([["a", "c"], ["b"]]):
        with ResultsStore(shard_path(tmp_path, rank)) as shard:
            for i in ids:
                shard.write(_row(i, rank=rank))
    assert merge_shards(tmp_path) == 3
    assert not (tmp_path / "shards").exists()
    with ResultsStore(tmp_path / SAMPLES_DB) as store:
        rows = store.rows()
    assert sorted((r.doc_id, r.rank) for r in rows) == [("a", 0), ("b", 1), ("c", 0)]
    assert merge_shards(tmp_path) == 0


def test_lock_refuses_second_holder_in_another_process(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        from ov_bench.outputs.store import OutputLock
        lock = OutputLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(OutputInUseError, match=f"in use by another ov-bench run \\(pid {proc.pid}\\)"):
            OutputLock(tmp_path).acquire()
        # A holder killed with SIGKILL leaves the file behind but not the lock.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert (tmp_path / ".ov-bench.lock").exists()
        lock = OutputLock(tmp_path).acquire()
        lock.release()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_lock_released_after_use(tmp_path):
    with OutputLock(tmp_path):
        pass
    start = time.monotonic()
    with OutputLock(tmp_path):
        pass
    assert time.monotonic() - start < 5
