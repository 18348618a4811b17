"""Data sources for a task (`--data`): the hub, a local directory in hub layout, generated samples.

All three produce the same thing: a list of rows in the benchmark's hub schema, with image cells
left undecoded ({"bytes", "path"} structs) so decoding happens in Task.load_visuals, the timed media
stage. Each row also carries MEDIA_ROOT_KEY, the directory its relative media paths resolve against.

Local layout (what `--data DIR` expects, and what the samples cache is):

    DIR/<task>/[<config>/][data/]<split>-00000-of-00001.parquet   (or DIR/<task>/.../<split>/*.parquet)
    DIR/<task>/<media...>                                         (videos, images referenced by path)

Hub revisions: HubDataset.revision is passed to `datasets.load_dataset`. The adapters leave it None
(the repo's default branch, as lmms-eval 0.7.3 does) because this project cannot reach the hub to
read commit ids; set OV_BENCH_HUB_REVISION_<TASK> (e.g. OV_BENCH_HUB_REVISION_MMMU=<sha>) to pin one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.base import MEDIA_ROOT_KEY, ROW_KEY, DataError, HubDataset

if TYPE_CHECKING:
    from tasks.base import Task

log = logging.getLogger(__name__)

HUB = "hub"
SAMPLES = "samples"
SAMPLES_MARKER = ".ov_bench_samples.json"


def cache_root() -> Path:
    """OV_BENCH_CACHE, default ~/.cache/ov-bench."""
    return Path(os.environ.get("OV_BENCH_CACHE") or Path.home() / ".cache" / "ov-bench").expanduser()


def samples_root() -> Path:
    """The samples cache in hub layout: <cache>/samples/<task>/..."""
    return cache_root() / "samples"


def load_rows(task: Task, data: str) -> list[dict]:
    if data == HUB:
        return load_hub(task)
    if data == SAMPLES:
        return load_local(task, ensure_samples(task).parent)
    path = Path(data).expanduser()
    if not path.is_dir():
        raise DataError(f"--data {data!r}: not 'hub', 'samples' or an existing directory")
    return load_local(task, path)


def _alternatives(task: Task) -> str:
    return (
        f"use `--data samples` (generated sample set) or `--data DIR` "
        f"(a local copy of {task.dataset.repo} laid out as DIR/{task.name}/...parquet)"
    )


def _hub_reachable(timeout: float = 3.0) -> str | None:
    """None if the hub answers a TCP connect within timeout, else the reason. DNS can block past
    socket timeouts, so the probe runs in a daemon thread that is abandoned after the timeout."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urllib.parse.urlparse(endpoint)
    host, port = parsed.hostname or "huggingface.co", parsed.port or (80 if parsed.scheme == "http" else 443)
    result: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(None)
        except OSError as e:
            result.append(f"{host}:{port} unreachable ({e.__class__.__name__})")

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return result[0] if result else f"{host}:{port} did not answer within {timeout:.0f}s"


def _offline_env() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_revision(task: Task, dataset: HubDataset) -> str | None:
    return os.environ.get(f"OV_BENCH_HUB_REVISION_{task.name.upper()}") or dataset.revision


def load_hub(task: Task) -> list[dict]:
    """Rows from the hub via datasets.load_dataset (or its local cache when HF_*_OFFLINE is set)."""
    if not _offline_env():
        reason = _hub_reachable()
        if reason:
            raise DataError(f"cannot reach the Hugging Face hub for {task.name}: {reason}; {_alternatives(task)}")
    import datasets

    rows: list[dict] = []
    for ds in task.hub_datasets():
        try:
            loaded = datasets.load_dataset(ds.repo, ds.config, split=ds.split, revision=hub_revision(task, ds))
        except Exception as e:  # offline-and-not-cached, gated, missing: all one line for the user
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DataError(f"cannot load {ds.repo} ({ds.config or 'default'}/{ds.split}) for {task.name}: {msg}; {_alternatives(task)}") from None
        part = loaded.with_format("arrow")[:].to_pylist()  # image cells stay undecoded structs
        for i, row in enumerate(part):
            row[MEDIA_ROOT_KEY] = None
            row[ROW_KEY] = i
        rows.extend(task.prepare_rows(part, ds))
    return rows


def _split_files(directory: Path, split: str) -> list[Path]:
    files = []
    for f in sorted(directory.rglob("*.parquet")):
        stem = f.name[: -len(".parquet")]
        if stem == split or stem.startswith(f"{split}-") or stem.startswith(f"{split}_") or f.parent.name == split:
            files.append(f)
    return files


def load_local(task: Task, root: Path) -> list[dict]:
    """Rows from ROOT/<task>/ laid out like the hub repo (works with HF_*_OFFLINE=1: no hub access)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    task_dir = root / task.name
    if not task_dir.is_dir():
        raise DataError(f"{task_dir} not found: --data DIR expects DIR/{task.name}/ laid out like {task.dataset.repo}")
    datasets_ = task.hub_datasets()
    rows: list[dict] = []
    for ds in datasets_:
        base = task_dir
        if ds.config and (task_dir / ds.config).is_dir():
            base = task_dir / ds.config
        elif len(datasets_) > 1:
            raise DataError(f"{task_dir}: config {ds.config!r} of {task.name} needs its own folder {task_dir / ds.config}")
        files = _split_files(base, ds.split)
        if not files:
            raise DataError(f"{base}: no parquet files for split {ds.split!r} ({ds.split}-*.parquet or {ds.split}/*.parquet)")
        try:
            table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
        except (OSError, pa.ArrowInvalid) as e:
            raise DataError(f"{base}: cannot read parquet ({e})".splitlines()[0]) from None
        part = table.to_pylist()
        for i, row in enumerate(part):
            row[MEDIA_ROOT_KEY] = str(task_dir)
            row[ROW_KEY] = i
        rows.extend(task.prepare_rows(part, ds))
    return rows


def ensure_samples(task: Task) -> Path:
    """The task's sample set directory, generated on first use (or when its version changed).

    Generation writes into a temporary sibling directory and renames it into place, so concurrent
    runs never see a half-written set."""
    final = samples_root() / task.name
    marker = {"task": task.name, "version": task.samples_version, "generator": "ov-bench", "kind": "samples"}
    marker_path = final / SAMPLES_MARKER
    if marker_path.is_file():
        try:
            if json.loads(marker_path.read_text()) == marker:
                return final
        except (OSError, ValueError):
            pass
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{task.name}.tmp-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        log.info("generating sample data for %s in %s", task.name, final)
        task.generate_samples(tmp)
        (tmp / SAMPLES_MARKER).write_text(json.dumps(marker))
        if final.exists():  # stale version: move aside, then replace
            stale = final.parent / f".{task.name}.stale-{os.getpid()}-{threading.get_ident()}"
            try:
                final.rename(stale)
                shutil.rmtree(stale, ignore_errors=True)
            except OSError:
                pass
        try:
            tmp.rename(final)
        except OSError:
            if not marker_path.is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
