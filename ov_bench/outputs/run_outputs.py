"""results.json and sweep.json: their one writer (atomic) and reading finished outputs back: a run's
results.json (+ samples.sqlite), or a sweep's settings.

Accepted paths: a results.json file; a run directory holding results.json; a sweep directory holding
sweep.json (one setting per threshold / frame count). The per-sample rows of a setting are the rows
of its samples.sqlite with the results' model key and threshold, read without writing anything.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ov_bench.errors import OvBenchError
from ov_bench.outputs.store import LATENCY_STAGES, SAMPLES_DB, SampleRow, threshold_key, where_clause

RESULTS_JSON = "results.json"
SWEEP_JSON = "sweep.json"


def write_results_json(output_dir: Path, results: dict[str, Any]) -> Path:
    return _write_json(Path(output_dir) / RESULTS_JSON, results)


def write_sweep_json(output_dir: Path, sweep: dict[str, Any]) -> Path:
    return _write_json(Path(output_dir) / SWEEP_JSON, sweep)


def _write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write to a temporary file, then rename: a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


class OutputsError(OvBenchError):
    """A results path that cannot be used (missing, unreadable, not ov-bench output)."""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise OutputsError(f"{path}: no such file") from None
    except OSError as exc:
        raise OutputsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutputsError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise OutputsError(f"{path}: expected a JSON object")
    return data


@dataclass
class SettingResults:
    """One setting's results.json and where its per-sample rows live."""

    label: str
    results: dict[str, Any]
    results_path: Path
    db_path: Path | None
    _rows: dict[str, list[SampleRow]] | None = field(default=None, repr=False)

    @property
    def model_key(self) -> str | None:
        return (self.results.get("model") or {}).get("key")

    @property
    def threshold(self) -> str:
        return threshold_key((self.results.get("model") or {}).get("threshold"))

    @property
    def frames(self) -> int | None:
        return (self.results.get("run") or {}).get("frames")

    @property
    def tasks(self) -> dict[str, Any]:
        return self.results.get("tasks") or {}

    def rows(self, task: str) -> list[SampleRow] | None:
        """This setting's rows of ``task`` (None when there is no samples.sqlite)."""
        if self.db_path is None or self.model_key is None:
            return None
        if self._rows is None:
            self._rows = {}
            for row in read_rows(self.db_path, self.model_key, self.threshold):
                self._rows.setdefault(row.task, []).append(row)
        rows = self._rows.get(task, [])
        info = self.tasks.get(task) or {}
        if info.get("modality") == "video" and self.frames is not None:
            rows = [r for r in rows if r.frames in (None, self.frames)]
        return rows


def _connect_ro(path: Path) -> sqlite3.Connection:
    """Read-only, leaving no trace: a committed baseline must not gain -wal/-shm files.

    With no write-ahead log beside the file (a finished run), ``immutable=1`` reads it without
    creating any; a live or killed run's non-empty log is honoured through ``mode=ro``."""
    wal = Path(f"{path}-wal")
    resolved = path.resolve()
    if not wal.exists() or wal.stat().st_size == 0:
        uri = f"file:{resolved}?immutable=1"
    else:
        uri = f"file:{resolved}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    conn.execute("SELECT 1 FROM samples LIMIT 1")
    return conn


def read_rows(
    db_path: Path, model_key: str | None = None, threshold: str | None = None, task: str | None = None
) -> list[SampleRow]:
    """Rows of a samples.sqlite, read-only, as the store's SampleRow records."""
    try:
        conn = _connect_ro(Path(db_path))
    except sqlite3.Error as exc:
        raise OutputsError(f"{db_path}: not a readable ov-bench samples database ({exc})") from None
    conn.row_factory = sqlite3.Row
    where, params = where_clause(model_key, threshold, task)
    structured = (
        "record",
        "latency_ms",
        "parse_failed",
        "frame_indices",
        "frame_times",
    )  # JSON / flags / columns
    scalars = [f.name for f in fields(SampleRow) if f.name not in structured]
    try:
        records = conn.execute(f"SELECT * FROM samples{where} ORDER BY task, seq, doc_id", params).fetchall()
    except sqlite3.Error as exc:
        raise OutputsError(f"{db_path}: cannot read the samples table ({exc})") from None
    finally:
        conn.close()
    rows = []
    for rec in records:
        keys = rec.keys()
        kwargs = {name: rec[name] for name in scalars if name in keys}
        kwargs["parse_failed"] = None if rec["parse_failed"] is None else bool(rec["parse_failed"])
        kwargs["record"] = None if rec["record_json"] is None else json.loads(rec["record_json"])
        if "frame_indices_json" in keys and rec["frame_indices_json"] is not None:
            kwargs["frame_indices"] = json.loads(rec["frame_indices_json"])
        if "frame_times_json" in keys and rec["frame_times_json"] is not None:  # older stores lack the column
            kwargs["frame_times"] = json.loads(rec["frame_times_json"])
        kwargs["latency_ms"] = {
            s: rec[f"{s}_ms"] for s in LATENCY_STAGES if f"{s}_ms" in keys and rec[f"{s}_ms"] is not None
        }
        rows.append(SampleRow(**kwargs))
    return rows


def _find_db(results: dict[str, Any], results_path: Path) -> Path | None:
    hint = results.get("samples_db")
    candidates = [results_path.parent / hint] if isinstance(hint, str) else []
    candidates += [results_path.parent / SAMPLES_DB]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def setting_label(threshold: str, frames: int | None = None) -> str:
    return f"tau-{threshold}" + (f"_F-{frames}" if frames is not None else "")


def _check_results(data: dict[str, Any], path: Path) -> None:
    if not isinstance(data.get("tasks"), dict) or not isinstance(data.get("model"), dict):
        raise OutputsError(f"{path}: not an ov-bench results.json (no 'tasks'/'model' objects)")


def load_setting(path: Path, label: str | None = None) -> SettingResults:
    data = _read_json(path)
    _check_results(data, path)
    setting = SettingResults(label or "", data, path, _find_db(data, path))
    if not label:
        setting.label = setting_label(setting.threshold)
    return setting


def load_outputs(path: str | Path) -> list[SettingResults]:
    """The settings behind a results.json, a run directory or a sweep directory."""
    p = Path(path).expanduser()
    if not p.exists():
        raise OutputsError(f"{p}: no such file or directory")
    if p.is_file():
        if p.name == SWEEP_JSON:
            return _load_sweep(p)
        return [load_setting(p)]
    if (p / SWEEP_JSON).is_file():
        return _load_sweep(p / SWEEP_JSON)
    if (p / RESULTS_JSON).is_file():
        return [load_setting(p / RESULTS_JSON)]
    raise OutputsError(f"{p}: no {RESULTS_JSON} or {SWEEP_JSON} in this directory")


def _load_sweep(path: Path) -> list[SettingResults]:
    data = _read_json(path)
    settings = data.get("settings")
    if not isinstance(settings, list) or not settings:
        raise OutputsError(f"{path}: not an ov-bench sweep.json (no 'settings' list)")
    out = []
    for entry in settings:
        rel = entry.get("results") if isinstance(entry, dict) else None
        if not isinstance(rel, str):
            raise OutputsError(f"{path}: a setting without a 'results' path")
        out.append(load_setting(path.parent / rel, label=entry.get("label")))
    return out
