"""What a run and a sweep both do around the per-sample path: refuse to resume into results made with
other settings, warm the model up, show progress, and read a setting's rows back in doc order."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ov_bench.engine.sample import one_line
from ov_bench.errors import ResumeMismatchError
from ov_bench.outputs.store import ResultsStore, SampleRow

log = logging.getLogger(__name__)


def check_resume(
    store: ResultsStore,
    plans: Sequence[Any],
    key: str,
    tau: str,
    source: str,
    frames_of: Callable[[Any], int | None],
    where: Path,
) -> None:
    """Resuming into ``store`` is only right when its rows of this model and threshold were made from the
    same data, frame count (``frames_of(plan)``; None for tasks without video) and generation budget."""
    by_task = {p.name: p for p in plans}
    for task, data_source, frames, max_new in store.settings_in_use(key, tau):
        plan = by_task.get(task)
        if plan is None:
            continue
        if (source, frames_of(plan), plan.max_new_tokens) != (data_source, frames, max_new):
            raise ResumeMismatchError(
                f"{where} already holds {task} results for this model at tau={tau} made with different "
                f"settings (data={data_source}, frames={frames}, max_new_tokens={max_new}); use another --output"
            )


def warm_up(adapter: Any, announce: bool = True) -> float:
    """One untimed call on a tiny synthetic input (kernel and allocator warm-up); its cost in seconds."""
    t0 = time.perf_counter()
    try:
        adapter.warmup()
    except Exception as exc:  # a real failure shows on the first sample's row
        log.warning(
            "warm-up failed (%s); the first sample's latency may include start-up costs", one_line(exc)
        )
    seconds = time.perf_counter() - t0
    if announce:
        print(
            f"warm-up: one 32x32 synthetic image, 2 new tokens, untimed ({seconds:.2f} s; --no-warmup skips it)",
            file=sys.stderr,
        )
    return seconds


def progress_bar(enabled: bool, total: int, desc: str) -> Any:
    """A tqdm bar over samples, or None."""
    if not enabled or not total:
        return None
    from tqdm.auto import tqdm  # local: tqdm only when a bar is shown

    return tqdm(total=total, unit="sample", dynamic_ncols=True, desc=desc)


def rows_in_doc_order(store: ResultsStore, plans: Sequence[Any], key: str, tau: str) -> list[SampleRow]:
    """The rows of this model and threshold for the plans' docs, task by task in doc order (``seq`` set)."""
    rows = []
    for plan in plans:
        wanted = {doc_id: seq for seq, doc_id in enumerate(plan.doc_ids)}
        task_rows = [r for r in store.rows(key, tau, plan.name) if r.doc_id in wanted]
        for r in task_rows:
            r.seq = wanted[r.doc_id]
        rows += sorted(task_rows, key=lambda r: r.seq)
    return rows
