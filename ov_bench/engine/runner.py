"""The evaluation runner: tasks x model -> scored, profiled rows in the results store -> results.json.

Flow per task: load docs (seeded, stratified limit) -> skip docs the store already has -> shard the
rest across processes -> prefetch (media decode + preprocess in worker threads) -> generate on the
main thread with stage timers -> score -> commit the row. Rank 0 then merges the shards and writes
results.json, report.md and the summary table.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ov_bench.adapters import load_adapter
from ov_bench.adapters.base import ModelAdapter
from ov_bench.engine.distributed import DistContext
from ov_bench.engine.judge_pass import judge_pending
from ov_bench.engine.prefetch import Prefetcher
from ov_bench.engine.sample import Measure, RowIdentity, Sample, base_row, prepare, run_model
from ov_bench.engine.steps import check_resume, progress_bar, rows_in_doc_order, warm_up
from ov_bench.errors import UsageError
from ov_bench.model_spec import ModelSpec
from ov_bench.outputs.results import build_results
from ov_bench.outputs.store import (
    SAMPLES_DB,
    OutputLock,
    ResultsStore,
    SampleRow,
    merge_shards,
    shard_path,
    threshold_key,
)
from ov_bench.profiling import environment
from ov_bench.reports.report import write_outputs
from tasks import get_task
from tasks.judging import judge_scope
from tasks.preflight import missing_media, summarize

log = logging.getLogger(__name__)

DEFAULT_MAX_NEW_TOKENS = 1024  # when a task declares no max_new_tokens: lmms-eval's llava_onevision default


@dataclass
class RunConfig:
    """One evaluation: which tasks and docs, the model's settings (one ModelSpec; a --model string is
    taken as ``ModelSpec(model=...)``), and how the samples are run and kept."""

    tasks: list[str]
    model: ModelSpec = field(default_factory=ModelSpec)
    data: str = "hub"
    limit: int | None = None
    batch_size: int = 1
    output: str | None = None  # default: runs/<timestamp>
    seed: int = 0
    strict: bool = False
    max_new_tokens: int | None = None  # override the tasks' generation_kwargs
    workers: int = 2  # prefetch threads; 0 = decode inline
    lookahead: int = 4
    profile: bool = True
    warmup: bool = True
    retry_errors: bool = False
    progress: bool = True
    write_outputs: bool = True  # results.json / report.md / summary (rank 0)
    fetch: bool = True  # --data hub: fetch a video task's missing media first (--no-fetch: refuse)
    strict_media: bool = False  # a media warning (truncated image decoded with filler) is an error
    # the published checkpoint whose numbers the run is compared with (None: recognised from the model)
    published: str | None = None
    judge: Any = None  # tasks.judging.JudgeConfig for LLM-judged tasks (None: no judge); see ov_bench/judge

    def __post_init__(self) -> None:
        if isinstance(self.model, str):
            self.model = ModelSpec(model=self.model)


@dataclass
class TaskPlan:
    name: str
    task: Any
    docs: list[dict]
    doc_ids: list[str]
    max_new_tokens: int
    frames: int | None
    todo: list[tuple[int, dict]] = field(default_factory=list)  # this rank's (seq, doc)
    remaining: int = 0  # docs all ranks evaluate in this invocation (the rest were resumed)
    missing: dict[str, str] = field(default_factory=dict)  # preflight: doc id -> why its media are missing


@dataclass
class Throughput:
    """Where a run's wall time went: model load, warm-up, and the evaluation loop per task."""

    model_load_s: float | None = None  # None: the adapter was handed in already loaded
    warmup_s: float | None = None  # None: no warm-up (--no-warmup or nothing to evaluate)
    loop_s: float = 0.0  # the evaluation loop (prefetch + model + scoring + store), no load, no warm-up
    task_s: dict[str, float] = field(default_factory=dict)  # the loop's time per task
    task_samples: dict[str, int] = field(default_factory=dict)  # samples evaluated per task (all ranks)


@dataclass
class RunOutcome:
    output_dir: Path
    results: dict[str, Any] | None  # results.json content (rank 0), None elsewhere
    rows: list[SampleRow]  # this run's rows (rank 0: all ranks, merged)
    errors: int
    evaluated: int  # samples run by this process in this invocation (not resumed ones)


def default_output_dir() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def data_source_label(data: str) -> str:
    if data in ("hub", "samples"):
        return data
    return f"dir:{Path(data).expanduser().resolve()}"


def check_output_arg(output: str | None) -> None:
    """--output must be usable before anything is loaded: a directory (new or existing, not a file) that
    can be created or written, and not in use by another live ov-bench process."""
    if output is None:
        return
    path = Path(output).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(
            f"--output {output}: is a file; give a directory (new, or an earlier run's to resume)"
        )
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--output {output}: {existing} is not a writable directory")
    holder = OutputLock.holder(path)
    if holder is not None:
        raise UsageError(
            f"--output {output}: in use by another ov-bench run (pid {holder}); wait for it or pass another --output"
        )


def check_data_arg(data: str) -> None:
    if data in ("hub", "samples"):
        return
    path = Path(data).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"--data {data}: not a directory (use hub, samples or a local dataset directory)"
        )
    if not os.access(path, os.R_OK | os.X_OK):
        raise PermissionError(f"--data {data}: directory is not readable")


def seed_everything(seed: int) -> None:
    """Python's, numpy's and torch's generators (run and sweep seed the same way)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_plans(
    names: list[str],
    data: str,
    limit: int | None,
    seed: int,
    max_new_tokens: int | None,
    frames: int | None,
    task_factory: Callable[[str], Any] | None = None,
    fetch: bool = True,
) -> list[TaskPlan]:
    """The docs of each task (seeded, stratified ``limit``), their ids and generation budget. ``fetch``:
    with ``--data hub``, a video task's missing media are fetched first (False: refused)."""
    if task_factory is None:
        task_factory = get_task
    plans = []
    for name in dict.fromkeys(names):
        task = task_factory(name)
        extra = {} if fetch else {"fetch": False}  # tasks without fetching (test fakes) keep working
        docs = task.load(data=data, limit=limit, seed=seed, **extra)
        ids = [str(task.doc_id(d)) for d in docs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"task {name}: doc ids are not unique")
        gen = getattr(task, "generation_kwargs", None) or {}
        max_new = max_new_tokens or int(gen.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS)
        plans.append(TaskPlan(name, task, docs, ids, max_new, frames if task.modality == "video" else None))
    return plans


class Runner:
    """One `ov-bench run`. Construct, then :meth:`run`. Tests may inject an adapter."""

    def __init__(
        self,
        config: RunConfig,
        adapter: ModelAdapter | None = None,
        dist: DistContext | None = None,
        task_factory: Callable[[str], Any] | None = None,
    ) -> None:
        if config.batch_size < 1:
            raise UsageError("--batch-size must be >= 1")
        # None: the checkpoint's frame count (read from its config.json now; set again from the loaded
        # adapter, which also knows a hub id's, before any sample is made)
        spec = config.model
        self._frames_from_model = spec.frames is None
        if spec.frames is None:
            self.frames = adapter.default_frames if adapter is not None else spec.checkpoint_frames()
        else:
            self.frames = spec.frames
        if config.limit is not None and config.limit < 1:
            raise UsageError("--limit must be >= 1")
        if config.max_new_tokens is not None and config.max_new_tokens < 1:
            raise UsageError("--max-new-tokens must be >= 1")
        check_data_arg(config.data)
        check_output_arg(config.output)
        self.config = config
        self.dist = dist
        self.adapter = adapter
        self.task_factory = task_factory
        self.output_dir = Path(config.output) if config.output else default_output_dir()
        self.notes: list[str] = []  # one-line findings for the summary (preflight)

    # ----------------------------------------------------------------- setup
    def _load_tasks(self) -> list[TaskPlan]:
        cfg = self.config
        plans = load_plans(
            cfg.tasks,
            cfg.data,
            cfg.limit,
            cfg.seed,
            cfg.max_new_tokens,
            self.frames,
            self.task_factory,
            fetch=cfg.fetch,
        )
        for plan in plans:
            plan.missing = self._preflight(plan)
        return plans

    def _preflight(self, plan: TaskPlan) -> dict[str, str]:
        """Media of every selected doc resolved before the model loads (a stat each, no decode). None
        present: a usage error naming the remedy; some missing: those docs become error rows."""
        found = missing_media(plan.task, plan.docs)
        missing = {m.doc_id: m.reason for m in found}
        if plan.docs and len(missing) == len(plan.docs):
            raise UsageError(
                f"{plan.name}: {summarize(found, len(plan.docs))}; fetch them with "
                f"`ov-bench fetch --tasks {plan.name}` (or `--dest DIR` then `--data DIR`)"
            )
        if missing:
            note = f"{plan.name}: {summarize(found, len(plan.docs))}; those docs are error rows"
            self.notes.append(note)
            log.warning(note)
        return missing

    # ----------------------------------------------------------------- per sample
    def _sample(self, plan: TaskPlan, seq: int, doc: dict) -> Sample:
        return Sample(plan.name, plan.task, doc, plan.doc_ids[seq], seq, plan.frames, plan.max_new_tokens)

    def _prepare(self, item: tuple[TaskPlan, int, dict]) -> Sample:
        plan, seq, doc = item
        sample = self._sample(plan, seq, doc)
        if sample.doc_id in plan.missing:  # found missing by the preflight: no decode attempt
            sample.error = f"media_missing: {plan.missing[sample.doc_id]}"
            return sample
        return prepare(sample, self.adapter, strict_media=self.config.strict_media)

    # ----------------------------------------------------------------- the run
    def run(self) -> RunOutcome:
        if self.dist is None:
            self.dist = DistContext.from_env()
        dist = self.dist
        out = self.output_dir
        seed_everything(self.config.seed)
        # Docs first: a bad task or unreachable data fails before anything is written.
        self._plans = self._load_tasks()
        lock = None
        if dist.is_main:
            try:
                out.mkdir(parents=True, exist_ok=True)
                lock = OutputLock(out).acquire()
                # Create samples.sqlite (schema, WAL) here, alone: switching a new database to WAL
                # needs an exclusive lock, which concurrent first opens from several ranks can miss.
                ResultsStore(out / SAMPLES_DB).close()
                merge_shards(out)  # rows a killed multi-process run left in its shards
                failure = None
            except Exception as exc:
                failure = exc
            status = dist.broadcast(None if failure is None else str(failure))
            if failure is not None:
                raise failure
        else:
            status = dist.broadcast(None)
            if status is not None:
                raise UsageError(status)
        try:
            return self._run_locked()
        finally:
            if lock is not None:
                lock.release()

    def _run_locked(self) -> RunOutcome:
        cfg, dist, out = self.config, self.dist, self.output_dir
        plans = self._plans
        device = cfg.model.resolve_device(dist.local_rank)
        self.throughput = Throughput()
        if self.adapter is None:
            t0 = time.perf_counter()
            self.adapter = load_adapter(cfg.model.replace(device=device))
            self.throughput.model_load_s = time.perf_counter() - t0
        device = getattr(self.adapter, "device", device)
        if self._frames_from_model and getattr(self.adapter, "default_frames", self.frames) != self.frames:
            self.frames = self.adapter.default_frames
            for plan in plans:
                plan.frames = self.frames if plan.frames is not None else None
        if cfg.batch_size > self.adapter.max_batch_size:
            log.warning(
                "--batch-size %d: the %s adapter takes at most %d sample(s) per call; using %d",
                cfg.batch_size,
                self.adapter.kind,
                self.adapter.max_batch_size,
                self._batch_size(),
            )
        self._identity = RowIdentity(
            self.adapter.key, threshold_key(self.adapter.threshold), data_source_label(cfg.data), dist.rank
        )

        main_db = out / SAMPLES_DB
        with ResultsStore(main_db) as main_store:
            check_resume(
                main_store,
                plans,
                self._identity.model_key,
                self._identity.threshold,
                self._identity.data_source,
                frames_of=lambda plan: plan.frames,
                where=self.output_dir,
            )
            for plan in plans:
                done = main_store.finished(
                    plan.name,
                    self._identity.model_key,
                    self._identity.threshold,
                    include_errors=not cfg.retry_errors,
                )
                remaining = [(i, d) for i, d in enumerate(plan.docs) if plan.doc_ids[i] not in done]
                plan.remaining = len(remaining)
                plan.todo = remaining[dist.rank :: dist.world_size]
        dist.barrier()  # everyone has read the finished set before any shard is merged into it

        store_path = shard_path(out, dist.rank) if dist.distributed else main_db
        if cfg.warmup and any(p.todo for p in plans):
            self.throughput.warmup_s = warm_up(self.adapter, announce=dist.is_main)
        started = time.time()
        with judge_scope(cfg.judge):  # judged tasks score through the run's judge
            evaluated = self._evaluate_all(plans, store_path, device)
        self.throughput.task_samples = {p.name: p.remaining for p in plans}

        dist.barrier()
        errors_total = 0
        results = None
        rows: list[SampleRow] = []
        if dist.is_main:
            if dist.distributed:
                merge_shards(out)

            for plan in plans:  # a server-scored task's aggregation writes its submission file here
                plan.task.submission_dir = out
            with ResultsStore(main_db) as store:
                if cfg.judge is not None:  # stored samples awaiting this judge, and judged groups
                    judge_pending(store, plans, self._identity, cfg.judge, since=started)
                rows = rows_in_doc_order(store, plans, self._identity.model_key, self._identity.threshold)
                env = self._environment(device)
                results = build_results(
                    plans, rows, self.adapter, env, cfg, self.frames, dist.world_size, self.throughput
                )
                store.set_meta("last_run", {"config": asdict(cfg), "created": results["created"]})
            if cfg.write_outputs:
                write_outputs(out, results, rows)
            errors_total = sum(t["errors"] for t in results["tasks"].values())
        errors_total = dist.broadcast(errors_total)
        dist.barrier()
        return RunOutcome(out, results, rows, errors_total, evaluated)

    def _environment(self, device: str) -> dict[str, Any]:
        env = environment(device, getattr(self.adapter, "dtype", self.config.model.dtype))  # auto resolved
        devices = getattr(self.adapter, "devices", None)
        if devices and len(devices) > 1:
            env["devices"] = list(devices)
        env["processes"] = self.dist.world_size
        return env

    def _evaluate_all(self, plans: list[TaskPlan], store_path: Path, device: str) -> int:
        cfg = self.config
        items = [(plan, seq, doc) for plan in plans for seq, doc in plan.todo]
        if not items:
            return 0
        measure = Measure.for_adapter(cfg.profile, self.adapter, device)
        bar = progress_bar(
            cfg.progress and self.dist.is_main,
            len(items),
            f"rank 0/{self.dist.world_size}" if self.dist.distributed else "eval",
        )
        # Task code may swap sys.stdout (contextlib.redirect_stdout around lmms-eval calls); from
        # several threads at once that can leave a StringIO installed. Put the real one back after.
        saved_stdout = sys.stdout
        t0 = time.perf_counter()
        try:
            done = self._loop(items, store_path, measure, bar)
        finally:
            self.throughput.loop_s = time.perf_counter() - t0
            sys.stdout = saved_stdout
            if bar is not None:
                bar.close()
        return done

    def _batch_size(self) -> int:
        return max(1, min(self.config.batch_size, self.adapter.max_batch_size))

    def _loop(self, items: list, store_path: Path, measure: Measure, bar: Any) -> int:
        """Prepared samples in order, grouped into batches of up to ``--batch-size`` consecutive samples of
        one task; each batch's rows are committed together when it finishes (a killed batch is redone)."""
        size = self._batch_size()
        done = 0
        pending: list[Sample] = []
        task_s = self.throughput.task_s
        last = time.perf_counter()
        with ResultsStore(store_path) as store:

            def commit(rows: list[SampleRow]) -> None:
                nonlocal done, last
                store.write_many(rows)
                done += len(rows)
                now = time.perf_counter()  # the time since the last commit went to this task
                task_s[rows[-1].task] = task_s.get(rows[-1].task, 0.0) + now - last
                last = now
                if bar is not None:
                    bar.set_postfix_str(rows[-1].task, refresh=False)
                    bar.update(len(rows))

            def flush() -> None:
                if pending:
                    commit(run_model(self.adapter, pending, self._identity, measure))
                    pending.clear()

            # The prefetcher keeps at least the next batch preparing while this one runs.
            prefetch = Prefetcher(
                items, self._prepare, workers=self.config.workers, lookahead=max(self.config.lookahead, size)
            )
            for sample in prefetch:
                if sample.error:  # never reaches the model: its row is final now
                    commit([base_row(sample, self._identity)])
                    continue
                if pending and pending[0].task_name != sample.task_name:
                    flush()
                pending.append(sample)
                if len(pending) >= size:
                    flush()
            flush()
        return done


def run_evaluation(
    config: RunConfig, adapter: ModelAdapter | None = None, task_factory: Callable[[str], Any] | None = None
) -> RunOutcome:
    """Run the evaluation described by ``config`` (see :class:`RunConfig`)."""
    return Runner(config, adapter=adapter, task_factory=task_factory).run()
