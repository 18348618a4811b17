"""The per-sample results store (``samples.sqlite``) and the output-directory lock.

One row per (task, doc_id, model_key, threshold), committed as each sample finishes (WAL mode),
so a killed run loses at most the sample in flight and a rerun resumes. Under several processes
each rank writes its own ``shards/rank<R>.sqlite`` (no cross-process write contention, works on
any filesystem SQLite works on); rank 0 folds the shards into ``samples.sqlite`` once at the end,
and at the start of a rerun folds any shards a killed run left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ov_bench.errors import OutputInUseError
from ov_bench.profiling import STAGES as LATENCY_STAGES
from ov_bench.threshold import threshold_key as threshold_key  # re-exported: the store's threshold column

SAMPLES_DB = "samples.sqlite"
SHARDS_DIR = "shards"
LOCK_FILE = ".ov-bench.lock"


def where_clause(model_key: str | None, threshold: str | None, task: str | None) -> tuple[str, list[str]]:
    """`` WHERE ...`` selecting rows by the given keys (None: any), and its parameters."""
    clauses, params = [], []
    for name, value in (("model_key", model_key), ("threshold", threshold), ("task", task)):
        if value is not None:
            clauses.append(f"{name}=?")
            params.append(value)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


@dataclass
class SampleRow:
    """One evaluated sample (or one error) as stored."""

    task: str
    doc_id: str
    model_key: str
    threshold: str
    seq: int = 0  # position of the doc in the task's (seeded) doc list; orders reports
    data_source: str = ""  # "samples" | "hub" | "dir:<path>"
    frames: int | None = None
    max_new_tokens: int | None = None
    response: str | None = None
    parsed: str | None = None
    score: float | None = None
    parse_failed: bool | None = None
    record: dict[str, Any] | None = None  # task.score() output, fed to task.aggregate()
    visual_tokens_counted: int | None = None  # analytic, from image sizes / frames alone
    visual_tokens_measured: int | None = None  # positions the model filled with visual features
    text_tokens: int | None = None  # prompt tokens that are not visual
    prompt_tokens: int | None = None
    new_tokens: int | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None
    error: str | None = None  # "<stage>: <reason>" for error rows
    rank: int = 0
    finished_at: float = 0.0
    frame_indices: list[int] | None = None  # video samples: the decoded frame indices
    frame_times: list[float] | None = None  # their times in seconds (None: fps unknown, or an older store)
    # Samples generated together; above 1 the model stages' latencies and the peak memory are the batch's.
    batch_size: int | None = 1

    @property
    def ok(self) -> bool:
        return self.error is None


_STRUCTURED = ("record", "latency_ms", "parse_failed", "frame_indices", "frame_times")
_SCALARS = [f.name for f in fields(SampleRow) if f.name not in _STRUCTURED]
_COLUMNS = (
    _SCALARS
    + ["parse_failed", "record_json", "frame_indices_json", "frame_times_json"]
    + [f"{s}_ms" for s in LATENCY_STAGES]
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS samples (
    task TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    model_key TEXT NOT NULL,
    threshold TEXT NOT NULL,
    seq INTEGER,
    data_source TEXT,
    frames INTEGER,
    max_new_tokens INTEGER,
    response TEXT,
    parsed TEXT,
    score REAL,
    visual_tokens_counted INTEGER,
    visual_tokens_measured INTEGER,
    text_tokens INTEGER,
    prompt_tokens INTEGER,
    new_tokens INTEGER,
    peak_memory_bytes INTEGER,
    memory_kind TEXT,
    error TEXT,
    rank INTEGER,
    finished_at REAL,
    parse_failed INTEGER,
    record_json TEXT,
    frame_indices_json TEXT,
    batch_size INTEGER,
    frame_times_json TEXT,
    {", ".join(f"{s}_ms REAL" for s in LATENCY_STAGES)},
    PRIMARY KEY (task, doc_id, model_key, threshold)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a process kill
    conn.execute("PRAGMA busy_timeout=60000")
    conn.executescript(_SCHEMA)
    columns = {r[1] for r in conn.execute("PRAGMA table_info(samples)")}
    for column, kind in (("batch_size", "INTEGER"), ("frame_times_json", "TEXT")):
        if column not in columns:  # a store from before the column: readable, its rows get NULL
            conn.execute(f"ALTER TABLE samples ADD COLUMN {column} {kind}")
    return conn


def _to_params(row: SampleRow) -> tuple:
    values = [getattr(row, name) for name in _SCALARS]
    values.append(None if row.parse_failed is None else int(bool(row.parse_failed)))
    values.append(None if row.record is None else json.dumps(row.record, sort_keys=True, default=str))
    values.append(None if row.frame_indices is None else json.dumps(row.frame_indices))
    values.append(None if row.frame_times is None else json.dumps(row.frame_times))
    values += [row.latency_ms.get(s) for s in LATENCY_STAGES]
    return tuple(values)


def _from_record(rec: sqlite3.Row) -> SampleRow:
    kwargs = {name: rec[name] for name in _SCALARS}
    kwargs["parse_failed"] = None if rec["parse_failed"] is None else bool(rec["parse_failed"])
    kwargs["record"] = None if rec["record_json"] is None else json.loads(rec["record_json"])
    kwargs["frame_indices"] = (
        None if rec["frame_indices_json"] is None else json.loads(rec["frame_indices_json"])
    )
    kwargs["frame_times"] = None if rec["frame_times_json"] is None else json.loads(rec["frame_times_json"])
    kwargs["latency_ms"] = {s: rec[f"{s}_ms"] for s in LATENCY_STAGES if rec[f"{s}_ms"] is not None}
    return SampleRow(**kwargs)


class ResultsStore:
    """A samples.sqlite (or a rank's shard) opened for reading and writing."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect(self.path)
        self._conn.row_factory = sqlite3.Row
        self._insert = f"INSERT OR REPLACE INTO samples ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, row: SampleRow) -> None:
        """Insert (or replace) one row and commit it."""
        if not row.finished_at:
            row.finished_at = time.time()
        self._conn.execute(self._insert, _to_params(row))

    def write_many(self, rows: Iterable[SampleRow]) -> None:
        with self._transaction():
            for row in rows:
                self.write(row)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def finished(self, task: str, model_key: str, threshold: str, include_errors: bool = True) -> set[str]:
        """doc_ids already done for this task, model and threshold."""
        sql = "SELECT doc_id FROM samples WHERE task=? AND model_key=? AND threshold=?"
        if not include_errors:
            sql += " AND error IS NULL"
        return {r[0] for r in self._conn.execute(sql, (task, model_key, threshold))}

    def rows(
        self, model_key: str | None = None, threshold: str | None = None, task: str | None = None
    ) -> list[SampleRow]:
        where, params = where_clause(model_key, threshold, task)
        cur = self._conn.execute(f"SELECT * FROM samples{where} ORDER BY task, seq, doc_id", params)
        return [_from_record(r) for r in cur]

    def settings_in_use(self, model_key: str, threshold: str) -> list[tuple[str, int | None, int | None]]:
        """Distinct (data_source, frames, max_new_tokens) among this model's rows, per task."""
        cur = self._conn.execute(
            "SELECT DISTINCT task, data_source, frames, max_new_tokens FROM samples WHERE model_key=? AND threshold=?",
            (model_key, threshold),
        )
        return [tuple(r) for r in cur]

    def set_meta(self, key: str, value: Any) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (key, json.dumps(value, sort_keys=True, default=str)),
        )

    def merge_from(self, other: str | os.PathLike) -> int:
        """Copy every row of another store into this one (replacing same keys); returns the count."""
        with ResultsStore(other) as src:
            rows = src.rows()
        self.write_many(rows)
        return len(rows)


def shard_path(output_dir: str | os.PathLike, rank: int) -> Path:
    return Path(output_dir) / SHARDS_DIR / f"rank{rank}.sqlite"


def merge_shards(output_dir: str | os.PathLike) -> int:
    """Fold every shards/rank*.sqlite into samples.sqlite and delete the shards. Rank 0 only."""
    out = Path(output_dir)
    shard_dir = out / SHARDS_DIR
    if not shard_dir.is_dir():
        return 0
    merged = 0
    with ResultsStore(out / SAMPLES_DB) as store:
        for shard in sorted(shard_dir.glob("rank*.sqlite")):
            merged += store.merge_from(shard)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{shard}{suffix}").unlink(missing_ok=True)
    try:
        shard_dir.rmdir()
    except OSError:
        pass
    return merged


class OutputLock:
    """An exclusive, non-blocking ``flock`` on ``<output>/.ov-bench.lock``.

    The kernel drops the lock when the holding process dies (even by SIGKILL), so a stale lock
    file never blocks a later run; a live holder makes :meth:`acquire` raise OutputInUseError.
    """

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.path = Path(output_dir) / LOCK_FILE
        self._fh = None

    def acquire(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise OutputInUseError(
                f"output directory {self.path.parent} is in use by another ov-bench run (pid {holder}); "
                "wait for it to finish or pass a different --output"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    @staticmethod
    def holder(output_dir: str | os.PathLike) -> str | None:
        """The pid holding ``output_dir``'s lock, or None when no live process holds it (nothing is
        created or changed: a check before a run starts)."""
        path = Path(output_dir) / LOCK_FILE
        if not path.is_file():
            return None
        with open(path) as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return fh.read().strip() or "unknown"
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return None

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
