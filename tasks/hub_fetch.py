"""Fetching a task's data from the Hugging Face hub: what lmms-eval's task loader downloads and
unpacks, with the task's revision and only the files the split needs.

    fetch_task(get_task("videomme"))                    # into lmms-eval's places (shared copy)
    fetch_task(get_task("videomme"), dest=Path("DIR"))  # a copy that `--data DIR` reads

Steps: list the repo at the revision and the sizes of the files the allow_patterns select
(huggingface_hub's snapshot_download dry run, from the hub's file metadata); print the total; refuse
when the destination's disk lacks the room for the download plus the unpacked archives; download
(snapshot_download: resumes an interrupted file, skips finished ones; a progress bar over bytes);
unpack the video archives (tasks/archives.py: a marker per archive, unpack into a temporary folder
then rename); check that every doc of the split has its media and list what is missing.

Destinations. Default: the repo goes to the hub cache ($HF_HOME/hub, where lmms-eval's
snapshot_download puts it) and the archives are unpacked into $HF_HOME/<dataset_kwargs.cache_dir>,
where lmms-eval's task functions look (MVBench, `create_link: True`: that folder is a symlink to the
snapshot, as lmms-eval makes it). With dest: the repo goes to DEST/<task> as `hf download
--local-dir` lays it out, and the archives are unpacked in the same folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tasks.archives import find_archives, is_unpacked, unpack_all
from tasks.data import load_local_rows
from tasks.hub_layout import FetchSpec, fetch_spec, hf_home, lmms_eval_media_dir
from tasks.preflight import MissingMedia, missing_media
from tasks.records import MEDIA_ROOT_KEY, DataError, TaskSpec

log = logging.getLogger(__name__)

# Extra room asked for beyond the download and the unpacked archives (filesystem slack, temp files).
SPACE_MARGIN = 1.02


@dataclass
class FetchPlan:
    task: str
    spec: FetchSpec
    files: list[tuple[str, int]]  # (repo path, size) selected by the allow_patterns
    to_download: int  # bytes not yet in the destination
    to_unpack: int  # bytes of archives not yet unpacked (about what unpacking them writes)
    local_dir: Path | None  # DEST/<task>, or None for the hub cache
    media_dir: Path | None  # where the media end up (None: image task, media inside the parquet)

    @property
    def total(self) -> int:
        return sum(size for _, size in self.files)


@dataclass
class FetchResult:
    plan: FetchPlan
    snapshot: Path
    unpacked: list[str] = field(default_factory=list)
    missing: list[MissingMedia] = field(default_factory=list)
    docs: int = 0


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _check_dest(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise DataError(f"--dest {dest}: exists and is not a directory")
    probe = dest
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise DataError(f"--dest {dest}: {probe} is not a writable directory")


def _hub_call(what: str, spec: FetchSpec, fn: Callable):
    """Run a huggingface_hub call; its failures become one DataError line."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return fn()
    except (HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, OSError, ValueError) as e:
        rev = f"@{spec.revision}" if spec.revision else ""
        raise DataError(f"{spec.task}: cannot {what} {spec.repo}{rev} on the hub ({_one_line(e)})") from None


def _quiet(fn: Callable):
    """huggingface_hub's progress bars off for a call (the dry run's per-file bar says nothing useful)."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        return fn()
    finally:
        if not was_disabled:
            enable_progress_bars()


def plan_fetch(task: TaskSpec, dest: Path | None = None, include_extra: bool = False) -> FetchPlan:
    """What fetch_task would download and unpack, with sizes from the hub's file metadata."""
    from huggingface_hub import snapshot_download

    spec = fetch_spec(task)
    local_dir = None if dest is None else Path(dest).expanduser() / task.name
    if dest is not None:
        _check_dest(Path(dest).expanduser())
    infos = _hub_call(
        "list",
        spec,
        lambda: _quiet(
            lambda: snapshot_download(
                spec.repo,
                repo_type="dataset",
                revision=spec.revision,
                allow_patterns=spec.allow_patterns(include_extra),
                local_dir=local_dir,
                dry_run=True,
            )
        ),
    )
    files = [(i.filename, int(i.file_size or 0)) for i in infos]
    if not any(name.endswith((".parquet", ".json", ".jsonl", ".csv", ".arrow")) for name, _ in files):
        raise DataError(
            f"{task.name}: {spec.repo} at {spec.revision or 'its default branch'} has no metadata files "
            f"matching {', '.join(spec.metadata_patterns)}"
        )
    to_download = sum(int(i.file_size or 0) for i in infos if i.will_download)
    media_dir = local_dir if local_dir is not None else lmms_eval_media_dir(spec)
    to_unpack = 0
    if spec.archive_patterns and media_dir is not None:
        import fnmatch

        archives = [(n, s) for n, s in files if any(fnmatch.fnmatch(n, p) for p in spec.archive_patterns)]
        done: set[str] = set()
        if infos and Path(infos[0].local_path).exists():
            base = Path(infos[0].local_path).parents[len(Path(infos[0].filename).parts) - 1]
            done = {a.name for a in find_archives(base, spec.archive_patterns) if is_unpacked(media_dir, a)}
        to_unpack = sum(s for n, s in archives if n not in done)
    return FetchPlan(task.name, spec, files, to_download, to_unpack, local_dir, media_dir)


def check_space(plan: FetchPlan) -> None:
    """Refuse (one line) when the destination's filesystem lacks room for download + unpacking."""
    target = plan.local_dir or Path(os.environ.get("HF_HUB_CACHE") or hf_home() / "hub")
    probe = target
    while not probe.exists():
        probe = probe.parent
    need = int((plan.to_download + plan.to_unpack) * SPACE_MARGIN)
    free = shutil.disk_usage(probe).free
    if need > free:
        raise DataError(
            f"{plan.task}: needs {human(need)} free in {probe} ({human(plan.to_download)} to download, "
            f"{human(plan.to_unpack)} to unpack), only {human(free)} available; free space or use --dest"
        )


def describe(plan: FetchPlan) -> str:
    rev = f"@{plan.spec.revision}" if plan.spec.revision else ""
    where = plan.local_dir or "the hub cache"
    parts = [
        f"{plan.task}: {plan.spec.repo}{rev}, {len(plan.files)} files, {human(plan.total)}",
        f"{human(plan.to_download)} to download into {where}",
    ]
    if plan.to_unpack:
        parts.append(f"{human(plan.to_unpack)} of archives to unpack into {plan.media_dir}")
    return "; ".join(parts)


def fetch_task(
    task: TaskSpec,
    dest: Path | None = None,
    include_extra: bool = False,
    echo: Callable[[str], None] | None = None,
) -> FetchResult:
    """Download (and unpack) what the task needs; see the module docstring."""
    from huggingface_hub import snapshot_download

    echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    plan = plan_fetch(task, dest, include_extra)
    echo(describe(plan))
    check_space(plan)
    spec = plan.spec
    snapshot = Path(
        _hub_call(
            "download",
            spec,
            lambda: snapshot_download(
                spec.repo,
                repo_type="dataset",
                revision=spec.revision,
                allow_patterns=spec.allow_patterns(include_extra),
                local_dir=plan.local_dir,
            ),
        )
    )
    result = FetchResult(plan, snapshot)
    media_dir = plan.media_dir
    if media_dir is not None and plan.local_dir is None and spec.create_link:
        _link(media_dir, snapshot)
    elif media_dir is not None and spec.archive_patterns:
        result.unpacked = unpack_all(snapshot, media_dir, spec.archive_patterns, progress=True)
    if task.modality == "video":
        result.missing, result.docs = check_fetched(task, snapshot, media_dir or snapshot)
        if result.missing:
            echo(f"{task.name}: {len(result.missing)}/{result.docs} docs have no media after the fetch:")
            for m in result.missing[:20]:
                echo(f"  {m.doc_id}: {m.reason}")
            if len(result.missing) > 20:
                echo(f"  ... and {len(result.missing) - 20} more")
        else:
            echo(f"{task.name}: all {result.docs} docs have their media in {media_dir}")
    return result


def _link(media_dir: Path, snapshot: Path) -> None:
    """lmms-eval's create_link: $HF_HOME/<cache_dir> -> the snapshot folder."""
    if media_dir.is_symlink():
        if Path(os.readlink(media_dir)) == snapshot:
            return
        media_dir.unlink()
    elif media_dir.exists():
        return  # a real folder (e.g. unpacked by lmms-eval): leave it alone
    media_dir.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(snapshot, media_dir, target_is_directory=True)


def check_fetched(task: TaskSpec, metadata_dir: Path, media_root: Path) -> tuple[list[MissingMedia], int]:
    """(docs of the split whose media are missing, number of docs), reading the metadata from the
    downloaded copy and resolving media against media_root."""
    rows = load_local_rows(task, metadata_dir)
    for row in rows:
        row[MEDIA_ROOT_KEY] = str(media_root)
    return missing_media(task, rows), len(rows)


def ensure_hub_media(task: TaskSpec, rows: list[dict], fetch: bool = True) -> None:
    """Hub rows of a video task read their media from lmms-eval's cache folder: fetch them there first
    when any selected doc's media are missing (as lmms-eval's loader does), or refuse (fetch=False)."""
    missing = missing_media(task, rows)
    if not missing:
        return
    if not fetch:
        where = lmms_eval_media_dir(fetch_spec(task))
        raise DataError(
            f"{task.name}: the media of {len(missing)}/{len(rows)} docs are not in {where} (--no-fetch); "
            f"run `ov-bench fetch --tasks {task.name}` first"
        )
    fetch_task(task)
