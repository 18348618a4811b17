"""Data sources for a task (`--data`): the hub, a local directory in hub layout, generated samples.

All three produce the same thing: a list of rows in the benchmark's hub schema, with image cells
left undecoded ({"bytes", "path"} structs) so decoding happens in Task.load_visuals, the timed media
stage. Each row also carries MEDIA_ROOT_KEY, the directory its relative media paths resolve against.

Local layout (what `--data DIR` expects, and what the samples cache is): DIR/<task>/ is a copy of
the task's hub repo as `hf download <repo> --repo-type dataset --local-dir DIR/<task>`
(or `ov-bench fetch --dest DIR`) leaves it: README.md whose `configs:` YAML names the parquet or
JSON files of each config and split (read by `datasets.load_dataset(DIR/<task>, config, split=...)`),
and the media: video archives (unpacked into DIR/<task>/ on first use) or folders.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.archives import unpack_all
from tasks.hub_layout import fetch_spec, write_readme
from tasks.records import MEDIA_ROOT_KEY, ROW_KEY, DataError, HubDataset, TaskSpec
from tasks.subset import stratified_subset

log = logging.getLogger(__name__)

HUB = "hub"
SAMPLES = "samples"
SAMPLES_MARKER = ".ov_bench_samples.json"
_SOURCE_KEY = "_source"  # which Source a light row came from (dropped once the row is read in full)


def cache_root() -> Path:
    """OV_BENCH_CACHE, default ~/.cache/ov-bench."""
    return Path(os.environ.get("OV_BENCH_CACHE") or Path.home() / ".cache" / "ov-bench").expanduser()


def samples_root() -> Path:
    """The samples cache in hub layout: <cache>/samples/<task>/..."""
    return cache_root() / "samples"


@dataclass
class Source:
    """One hub config/split of a task, opened by datasets (memory-mapped Arrow, nothing decoded)."""

    dataset: HubDataset
    table: Any  # datasets.Dataset
    media_root: str | None  # MEDIA_ROOT_KEY of its rows


def open_sources(task: TaskSpec, data: str) -> list[Source]:
    """The task's configs from `data` ("hub", "samples" or a local copy of the hub repos)."""
    if data == HUB:
        return open_hub(task)
    if data == SAMPLES:
        return open_local(task, ensure_samples(task).parent)
    path = Path(data).expanduser()
    if not path.is_dir():
        raise DataError(f"--data {data!r}: not 'hub', 'samples' or an existing directory")
    return open_local(task, path)


def load_rows(task: TaskSpec, data: str, limit: int | None = None, seed: int = 0) -> list[dict]:
    """Rows in the hub schema, image cells undecoded; with `limit`, the stratified subset is chosen on
    the rows without their image columns, and only the chosen rows are read in full (a --limit 20
    run over a multi-GB split never holds the split in memory)."""
    sources = open_sources(task, data)
    light = _light_rows(task, sources)
    chosen = light
    if limit is not None and limit < len(light):
        chosen = stratified_subset(
            light, limit, seed, key=task.doc_id, stratum=task.stratum, group=task.group_key
        )
    return _materialize(sources, chosen)


def load_local_rows(task: TaskSpec, repo_dir: Path) -> list[dict]:
    """All rows of a repo copy at repo_dir without their image columns (for media checks)."""
    rows = _light_rows(task, open_repo_dir(task, repo_dir, unpack=False))
    for row in rows:
        row.pop(_SOURCE_KEY, None)
    return rows


def _light_rows(task: TaskSpec, sources: list[Source]) -> list[dict]:
    """Every row of the sources without its image columns, tagged with its source and row index."""
    light: list[dict] = []
    for s_i, source in enumerate(sources):
        table = source.table
        heavy = set(_image_columns(table)) | set(getattr(task, "image_columns", ()))
        keep = [c for c in table.column_names if c not in heavy]
        part = (
            table.select_columns(keep).with_format("arrow")[:].to_pylist()
            if keep
            else [{} for _ in range(len(table))]
        )
        for i, row in enumerate(part):
            row[MEDIA_ROOT_KEY] = source.media_root
            row[ROW_KEY] = i
            row[_SOURCE_KEY] = s_i
        light.extend(task.prepare_rows(part, source.dataset))
    return light


def _image_columns(table: Any) -> list[str]:
    import datasets

    out = []
    for name, feature in table.features.items():
        inner = feature
        while isinstance(inner, (datasets.Sequence, list)) or type(inner).__name__ == "List":
            inner = inner[0] if isinstance(inner, list) else inner.feature
        if isinstance(inner, datasets.Image):
            out.append(name)
    return out


def _materialize(sources: list[Source], chosen: list[dict]) -> list[dict]:
    """The chosen light rows completed with all their columns (image cells as {bytes, path} structs)."""
    by_source: dict[int, list[int]] = {}
    for pos, row in enumerate(chosen):
        by_source.setdefault(row[_SOURCE_KEY], []).append(pos)
    out: list[dict | None] = [None] * len(chosen)
    for s_i, positions in by_source.items():
        table = sources[s_i].table
        indices = [chosen[p][ROW_KEY] for p in positions]
        full = (
            table.select(indices).with_format("arrow")[:].to_pylist()
            if table.column_names
            else [{} for _ in indices]
        )
        for p, row in zip(positions, full):
            row.update(chosen[p])
            row.pop(_SOURCE_KEY, None)
            out[p] = row
    return out  # type: ignore[return-value]


def _alternatives(task: TaskSpec) -> str:
    return (
        f"use `--data samples` (generated sample set) or `--data DIR` "
        f"(DIR/{task.name}, a copy made with `ov-bench fetch --tasks {task.name} --dest DIR` "
        f"or `hf download {task.dataset.repo} --repo-type dataset --local-dir DIR/{task.name}`)"
    )


def hub_unreachable_reason(timeout: float = 3.0) -> str | None:
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
    return any(
        os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def hub_revision(task: TaskSpec, dataset: HubDataset) -> str | None:
    return os.environ.get(f"OV_BENCH_HUB_REVISION_{task.name.upper()}") or dataset.revision


def _quiet_datasets():
    """datasets' progress bars off while a source opens (restored after)."""
    import contextlib

    from datasets.utils import logging as ds_logging

    @contextlib.contextmanager
    def cm():
        enabled = ds_logging.is_progress_bar_enabled()
        ds_logging.disable_progress_bar()
        try:
            yield
        finally:
            if enabled:
                ds_logging.enable_progress_bar()

    return cm()


def open_hub(task: TaskSpec) -> list[Source]:
    """The task's configs from the hub via datasets.load_dataset (or its cache when HF_*_OFFLINE is set)."""
    if not _offline_env():
        reason = hub_unreachable_reason()
        if reason:
            raise DataError(
                f"cannot reach the Hugging Face hub for {task.name}: {reason}; {_alternatives(task)}"
            )
    import datasets

    sources = []
    for ds in task.hub_datasets():
        try:
            with _quiet_datasets():
                loaded = datasets.load_dataset(
                    ds.repo, ds.config, split=ds.split, revision=hub_revision(task, ds)
                )
        except Exception as e:  # offline-and-not-cached, gated, missing: all one line for the user
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DataError(
                f"cannot load {ds.repo} ({ds.config or 'default'}/{ds.split}) for {task.name}: {msg}; {_alternatives(task)}"
            ) from None
        sources.append(Source(ds, loaded, None))
    return sources


def open_local(task: TaskSpec, root: Path) -> list[Source]:
    """The task's configs from ROOT/<task>/, a copy of the hub repo as `hf download` leaves
    it, read by datasets' own loader (the README's `configs:`); video archives in it are unpacked on
    first use, into the same folder (resumable, see tasks/archives.py)."""
    task_dir = root / task.name
    if not task_dir.is_dir():
        raise DataError(
            f"{task_dir} not found: --data DIR expects DIR/{task.name}/, a copy of {task.dataset.repo} "
            f"(`ov-bench fetch --tasks {task.name} --dest DIR`)"
        )
    return open_repo_dir(task, task_dir, root=root)


def open_repo_dir(
    task: TaskSpec, task_dir: Path, root: Path | None = None, unpack: bool = True
) -> list[Source]:
    """The task's configs from a repo copy at task_dir; its archives unpacked in place (unpack=True)."""
    import datasets

    root = root or task_dir.parent
    if not (task_dir / "README.md").is_file():
        raise DataError(
            f"{task_dir}: README.md missing, so the copy of {task.dataset.repo} lacks its metadata (configs); "
            f"download it again with `ov-bench fetch --tasks {task.name} --dest {root}`"
        )
    spec = fetch_spec(task)
    cache_dir = _local_cache_dir(task_dir, spec)
    sources = []
    for ds in task.hub_datasets():
        try:
            with _quiet_datasets():
                loaded = datasets.load_dataset(str(task_dir), ds.config, split=ds.split, cache_dir=cache_dir)
        except Exception as e:  # bad README, missing or unreadable parquet/JSON: one line
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DataError(
                f"{task_dir}: cannot load {ds.config or 'default'}/{ds.split} of {task.dataset.repo} "
                f"({type(e).__name__}: {msg})"
            ) from None
        sources.append(Source(ds, loaded, str(task_dir)))
    if unpack and spec.archive_patterns:
        unpack_all(task_dir, task_dir, spec.archive_patterns, progress=True)
    return sources


def _local_cache_dir(task_dir: Path, spec) -> str:
    """datasets' Arrow cache for one local copy. datasets keys the cache of a local folder by its
    name and the README's data-file patterns, not by its location or content, so two copies named
    DIR/<task> would share (and silently reuse) one cache; this folder is keyed by the copy's absolute
    path and the size and mtime of its metadata files."""
    import hashlib

    import datasets

    h = hashlib.sha256(str(task_dir.resolve()).encode())
    files = {task_dir / "README.md"}
    for splits in spec.configs.values():
        for pattern in splits.values():
            files.update(task_dir.glob(pattern))
    for f in sorted(files):
        try:
            st = f.stat()
        except OSError:
            continue
        h.update(f"{f.relative_to(task_dir)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return str(
        Path(datasets.config.HF_DATASETS_CACHE) / "ov-bench-local" / f"{task_dir.name}-{h.hexdigest()[:16]}"
    )


def ensure_samples(task: TaskSpec) -> Path:
    """The task's sample set directory, generated on first use (or when its version changed).

    Generation writes into a temporary sibling directory and renames it into place, so concurrent
    runs never see a half-written set."""
    final = samples_root() / task.name
    marker = {
        "task": task.name,
        "version": task.samples_version,
        "generator": "ov-bench",
        "kind": "samples",
        "layout": "hub-repo-2",
    }
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
        if not (tmp / "README.md").is_file():  # the dataset card with the `configs:` datasets reads
            write_readme(task, tmp, note="ov-bench generated sample set, not the real data")
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
