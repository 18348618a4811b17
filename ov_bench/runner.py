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

from .adapters.base import Generation, ModelAdapter, Prepared
from .distributed import DistContext
from .errors import ResumeMismatchError, UsageError
from .prefetch import Prefetcher
from .profiling import MemoryTracker, NullTimer, StageTimer
from .store import SAMPLES_DB, OutputLock, ResultsStore, SampleRow, merge_shards, shard_path, threshold_key

log = logging.getLogger(__name__)

DEFAULT_MAX_GRID_TOKENS = 6561
DEFAULT_MAX_NEW_TOKENS = 16  # used when a task declares no max_new_tokens


@dataclass
class RunConfig:
    tasks: list[str]
    model: str = "tiny"
    data: str = "hub"
    limit: int | None = None
    max_grid_tokens: int | None = DEFAULT_MAX_GRID_TOKENS
    frames: int = 32
    dtype: str = "float32"
    device: str = "auto"
    batch_size: int = 1
    output: str | None = None  # default: runs/<timestamp>
    seed: int = 0
    strict: bool = False
    max_new_tokens: int | None = None  # override the tasks' generation_kwargs
    unpad_rounding: str = "original"
    workers: int = 2  # prefetch threads; 0 = decode inline
    lookahead: int = 4
    profile: bool = True
    warmup: bool = True
    retry_errors: bool = False
    progress: bool = True
    write_outputs: bool = True  # results.json / report.md / summary (rank 0)
    fetch: bool = True  # --data hub: fetch a video task's missing media first (--no-fetch: refuse)
    strict_media: bool = False  # a media warning (truncated image decoded with filler) is an error


@dataclass
class TaskPlan:
    name: str
    task: Any
    docs: list[dict]
    doc_ids: list[str]
    max_new_tokens: int
    frames: int | None
    todo: list[tuple[int, dict]] = field(default_factory=list)  # this rank's (seq, doc)
    missing: dict[str, str] = field(default_factory=dict)  # preflight: doc id -> why its media are missing


@dataclass
class PreparedSample:
    plan: TaskPlan
    seq: int
    doc: dict
    doc_id: str
    prepared: Prepared | None = None
    media_decode_ms: float | None = None
    preprocess_ms: float | None = None
    frame_indices: list[int] | None = None  # the video frames decoded (uniform linspace indices)
    error: str | None = None
    media_warning: str | None = None  # media decoded, but not cleanly (Visuals.media_warning)


def prepare_media(target, task, doc: dict, adapter, frames: int, strict_media: bool = False):
    """Media decode + preprocess of one doc (prefetch worker threads), timed, into ``target``'s
    media_decode_ms, frame_indices, prepared, preprocess_ms, media_warning and error fields; returns
    ``target``. strict_media: a media warning is an error."""
    t0 = time.perf_counter_ns()
    try:
        visuals = task.load_visuals(doc, frames=frames)
    except Exception as exc:  # MediaError and anything a broken file triggers
        target.error = f"media_decode: {one_line(exc)}"
        return target
    t1 = time.perf_counter_ns()
    warning = getattr(visuals, "media_warning", None)
    if warning and strict_media:
        target.error = f"media_decode: {warning} (--strict-media)"
        return target
    if hasattr(target, "media_warning"):
        target.media_warning = warning
    target.media_decode_ms = (t1 - t0) / 1e6
    if visuals.video is not None:
        target.frame_indices = list(visuals.video.indices)
    try:
        target.prepared = adapter.prepare(task.doc_to_text(doc), list(visuals.images), visuals.video)
    except Exception as exc:
        target.error = f"preprocess: {one_line(exc)}"
        return target
    target.preprocess_ms = (time.perf_counter_ns() - t1) / 1e6
    return target


def score_into_row(row: SampleRow, task, doc: dict, text: str, new_tokens: int, prompt_tokens: int,
                   visual_positions: int) -> SampleRow:
    """Response, token counts, the task's score and the analytic-vs-measured visual-token check."""
    # As lmms-eval's llava_onevision model, which produced the published numbers: the response is
    # stripped and the task's `until` strings are not applied (generation stops at <|im_end|>).
    row.response = text.strip()
    row.new_tokens, row.prompt_tokens, row.visual_tokens_measured = new_tokens, prompt_tokens, visual_positions
    row.text_tokens = prompt_tokens - visual_positions
    try:
        record = task.score(doc, row.response)
    except Exception as exc:
        row.error = f"score: {one_line(exc)}"
        return row
    row.record = record
    row.score = None if record.get("score") is None else float(record["score"])
    row.parsed = None if record.get("parsed") is None else str(record["parsed"])
    row.parse_failed = bool(record.get("parse_failed", False))
    if row.visual_tokens_counted >= 0 and row.visual_tokens_counted != row.visual_tokens_measured:
        row.error = (f"visual_tokens: analytic count {row.visual_tokens_counted} != measured "
                     f"{row.visual_tokens_measured}")
    return row


@dataclass
class RunOutcome:
    output_dir: Path
    results: dict[str, Any] | None  # results.json content (rank 0), None elsewhere
    rows: list[SampleRow]  # this run's rows (rank 0: all ranks, merged)
    errors: int
    evaluated: int  # samples run by this process in this invocation (not resumed ones)


def default_output_dir() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def resolve_device(device: str, local_rank: int = 0) -> str:
    if device != "auto":
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise UsageError(f"--device {device}: CUDA is not available on this machine")
        return device
    import torch

    if torch.cuda.is_available():
        return f"cuda:{local_rank % torch.cuda.device_count()}"
    return "cpu"


def data_source_label(data: str) -> str:
    if data in ("hub", "samples"):
        return data
    return f"dir:{Path(data).expanduser().resolve()}"


def check_data_arg(data: str) -> None:
    if data in ("hub", "samples"):
        return
    path = Path(data).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"--data {data}: not a directory (use hub, samples or a local dataset directory)")
    if not os.access(path, os.R_OK | os.X_OK):
        raise PermissionError(f"--data {data}: directory is not readable")


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _as_missing(missing: dict[str, str]):
    from tasks.preflight import MissingMedia

    return (MissingMedia(doc_id, reason) for doc_id, reason in missing.items())


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Runner:
    """One `ov-bench run`. Construct, then :meth:`run`. Tests may inject an adapter."""

    def __init__(self, config: RunConfig, adapter: ModelAdapter | None = None,
                 dist: DistContext | None = None, task_factory: Callable[[str], Any] | None = None) -> None:
        if config.batch_size < 1:
            raise UsageError("--batch-size must be >= 1")
        if config.frames < 1:
            raise UsageError("--frames must be >= 1")
        if config.limit is not None and config.limit < 1:
            raise UsageError("--limit must be >= 1")
        if config.max_new_tokens is not None and config.max_new_tokens < 1:
            raise UsageError("--max-new-tokens must be >= 1")
        check_data_arg(config.data)
        self.config = config
        self.dist = dist
        self.adapter = adapter
        self.task_factory = task_factory
        self.output_dir = Path(config.output) if config.output else default_output_dir()
        self.notes: list[str] = []  # one-line findings for the summary (preflight)

    # ----------------------------------------------------------------- setup
    def _load_tasks(self) -> list[TaskPlan]:
        if self.task_factory is None:
            from tasks import get_task

            self.task_factory = get_task
        plans = []
        seen = set()
        for name in self.config.tasks:
            if name in seen:
                continue
            seen.add(name)
            task = self.task_factory(name)
            extra = {} if self.config.fetch else {"fetch": False}
            docs = task.load(data=self.config.data, limit=self.config.limit, seed=self.config.seed, **extra)
            ids = [str(task.doc_id(d)) for d in docs]
            if len(set(ids)) != len(ids):
                raise ValueError(f"task {name}: doc ids are not unique")
            gen = getattr(task, "generation_kwargs", None) or {}
            max_new = self.config.max_new_tokens or int(gen.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS)
            frames = self.config.frames if task.modality == "video" else None
            plan = TaskPlan(name, task, docs, ids, max_new, frames)
            plan.missing = self._preflight(plan)
            plans.append(plan)
        return plans

    def _preflight(self, plan: TaskPlan) -> dict[str, str]:
        """Media of every selected doc resolved before the model loads (a stat each, no decode). None
        present: a usage error naming the remedy; some missing: those docs become error rows."""
        from tasks.preflight import missing_media, summarize

        missing = {m.doc_id: m.reason for m in missing_media(plan.task, plan.docs)}
        if plan.docs and len(missing) == len(plan.docs):
            raise UsageError(f"{plan.name}: {summarize(list(_as_missing(missing)), len(plan.docs))}; fetch them with "
                             f"`ov-bench fetch --tasks {plan.name}` (or `--dest DIR` then `--data DIR`)")
        if missing:
            note = f"{plan.name}: {summarize(list(_as_missing(missing)), len(plan.docs))}; those docs are error rows"
            self.notes.append(note)
            log.warning(note)
        return missing

    def _check_resume(self, store: ResultsStore, plans: list[TaskPlan], key: str, tau: str, source: str) -> None:
        by_task = {p.name: p for p in plans}
        for task, data_source, frames, max_new in store.settings_in_use(key, tau):
            plan = by_task.get(task)
            if plan is None:
                continue
            ours = (source, plan.frames, plan.max_new_tokens)
            theirs = (data_source, frames, max_new)
            if ours != theirs:
                raise ResumeMismatchError(
                    f"{self.output_dir} already holds {task} results for this model made with different settings "
                    f"(data={data_source}, frames={frames}, max_new_tokens={max_new}); use another --output"
                )

    # ----------------------------------------------------------------- per sample
    def _prepare(self, item: tuple[TaskPlan, int, dict]) -> PreparedSample:
        plan, seq, doc = item
        sample = PreparedSample(plan, seq, doc, plan.doc_ids[seq])
        if sample.doc_id in plan.missing:  # found missing by the preflight: no decode attempt
            sample.error = f"media_missing: {plan.missing[sample.doc_id]}"
            return sample
        return prepare_media(sample, plan.task, doc, self.adapter, self.config.frames, self.config.strict_media)

    def _base_row(self, sample: PreparedSample) -> SampleRow:
        """The row's identity and the sample's own (unbatched) stages; the error if it never got ready."""
        plan = sample.plan
        row = SampleRow(
            task=plan.name, doc_id=sample.doc_id, model_key=self.adapter.key, threshold=self._tau_key,
            seq=sample.seq, data_source=self._source, frames=plan.frames, max_new_tokens=plan.max_new_tokens,
            rank=self.dist.rank, frame_indices=sample.frame_indices,
        )
        if sample.media_decode_ms is not None:
            row.latency_ms["media_decode"] = sample.media_decode_ms
        if sample.preprocess_ms is not None:
            row.latency_ms["preprocess"] = sample.preprocess_ms
        row.error = sample.error
        return row

    def _model_failed(self, row: SampleRow, exc: BaseException, cuda: bool) -> SampleRow:
        row.error = f"model: {one_line(exc)}"
        if cuda:
            import torch

            torch.cuda.empty_cache()
        return row

    def _finish_row(self, row: SampleRow, sample: PreparedSample, gen: Generation, model_ms: float,
                    stages: dict[str, float] | None, peak: int | None, memory_kind: str | None,
                    decode_steps: int) -> SampleRow:
        """Model outputs, timings and the score into ``row``. ``stages`` and ``model_ms`` are the model
        call's: one sample's, or with batching the whole batch's."""
        latency = row.latency_ms
        if stages is not None:
            latency.update(stages)
            row.peak_memory_bytes = peak
            row.memory_kind = memory_kind
            if "decode" in latency:
                latency["decode_per_token"] = latency["decode"] / max(decode_steps, 1)
        latency["end_to_end"] = latency.get("media_decode", 0.0) + latency.get("preprocess", 0.0) + model_ms
        row.visual_tokens_counted = sample.prepared.visual_tokens_counted
        row = score_into_row(row, sample.plan.task, sample.doc, gen.text, gen.new_tokens, gen.prompt_tokens,
                             gen.visual_positions)
        if sample.media_warning and row.record is not None:
            row.record["media_warning"] = sample.media_warning
        return row

    def _evaluate(self, sample: PreparedSample, memory: MemoryTracker, cuda: bool) -> SampleRow:
        row = self._base_row(sample)
        if row.error:
            return row
        row.visual_tokens_counted = sample.prepared.visual_tokens_counted
        timer = StageTimer(cuda=cuda) if self.config.profile else NullTimer()
        if self.config.profile:
            memory.reset()
        t0 = time.perf_counter_ns()
        try:
            gen: Generation = self.adapter.generate(sample.prepared, sample.plan.max_new_tokens, timer)
        except Exception as exc:
            return self._model_failed(row, exc, cuda)
        model_ms = (time.perf_counter_ns() - t0) / 1e6
        stages = self.adapter.finish_stages(timer.results_ms()) if self.config.profile else None
        peak = memory.peak_bytes() if self.config.profile else None
        return self._finish_row(row, sample, gen, model_ms, stages, peak, memory.kind, gen.new_tokens - 1)

    def _evaluate_batch(self, samples: list[PreparedSample], memory: MemoryTracker, cuda: bool) -> list[SampleRow]:
        """Samples of one task (all prepared without error) through one ``generate_batch`` call. Every row
        gets the batch's stage latencies and peak memory (``batch_size`` says so). If the batch fails
        as a whole, its samples are run one at a time, so only a sample that fails alone is an error."""
        if len(samples) == 1:
            return [self._evaluate(samples[0], memory, cuda)]
        plan = samples[0].plan
        timer = StageTimer(cuda=cuda) if self.config.profile else NullTimer()
        if self.config.profile:
            memory.reset()
        t0 = time.perf_counter_ns()
        try:
            gens = self.adapter.generate_batch([s.prepared for s in samples], plan.max_new_tokens, timer)
            if len(gens) != len(samples):
                raise RuntimeError(f"generate_batch returned {len(gens)} results for {len(samples)} samples")
        except Exception as exc:
            log.warning("a batch of %d %s samples failed (%s); running them one at a time", len(samples),
                        plan.name, one_line(exc))
            if cuda:
                import torch

                torch.cuda.empty_cache()
            return [self._evaluate(s, memory, cuda) for s in samples]
        model_ms = (time.perf_counter_ns() - t0) / 1e6
        stages = self.adapter.finish_stages(timer.results_ms()) if self.config.profile else None
        peak = memory.peak_bytes() if self.config.profile else None
        decode_steps = max(g.new_tokens for g in gens) - 1  # the batch decodes until its longest row stops
        rows = []
        for sample, gen in zip(samples, gens):
            row = self._base_row(sample)
            row.batch_size = len(samples)
            rows.append(self._finish_row(row, sample, gen, model_ms, dict(stages) if stages is not None else None,
                                         peak, memory.kind, decode_steps))
        return rows

    # ----------------------------------------------------------------- the run
    def run(self) -> RunOutcome:
        if self.dist is None:
            self.dist = DistContext.from_env()
        dist = self.dist
        out = self.output_dir
        _seed_everything(self.config.seed)
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
        device = resolve_device(cfg.device, dist.local_rank)
        if self.adapter is None:
            from .adapters import load_adapter

            self.adapter = load_adapter(cfg.model, max_grid_tokens=cfg.max_grid_tokens, dtype=cfg.dtype,
                                        device=device, unpad_rounding=cfg.unpad_rounding)
        else:
            device = getattr(self.adapter, "device", device)
        if cfg.batch_size > self.adapter.max_batch_size:
            log.warning("--batch-size %d: the %s adapter takes at most %d sample(s) per call; using %d",
                        cfg.batch_size, self.adapter.kind, self.adapter.max_batch_size, self._batch_size())
        self._tau_key = threshold_key(self.adapter.threshold)
        self._source = data_source_label(cfg.data)

        main_db = out / SAMPLES_DB
        with ResultsStore(main_db) as main_store:
            self._check_resume(main_store, plans, self.adapter.key, self._tau_key, self._source)
            for plan in plans:
                done = main_store.finished(plan.name, self.adapter.key, self._tau_key,
                                           include_errors=not cfg.retry_errors)
                remaining = [(i, d) for i, d in enumerate(plan.docs) if plan.doc_ids[i] not in done]
                plan.todo = remaining[dist.rank :: dist.world_size]
        dist.barrier()  # everyone has read the finished set before any shard is merged into it

        store_path = shard_path(out, dist.rank) if dist.distributed else main_db
        evaluated = self._evaluate_all(plans, store_path, device)

        dist.barrier()
        errors_total = 0
        results = None
        rows: list[SampleRow] = []
        if dist.is_main:
            if dist.distributed:
                merge_shards(out)
            from .results import build_results, write_outputs

            with ResultsStore(main_db) as store:
                rows = self._rows_of_this_run(store, plans)
                env = self._environment(device)
                results = build_results(plans, rows, self.adapter, env, cfg, dist.world_size)
                store.set_meta("last_run", {"config": asdict(cfg), "created": results["created"]})
            if cfg.write_outputs:
                write_outputs(out, results, rows)
            errors_total = sum(t["errors"] for t in results["tasks"].values())
        errors_total = dist.broadcast(errors_total)
        dist.barrier()
        return RunOutcome(out, results, rows, errors_total, evaluated)

    def _environment(self, device: str) -> dict[str, Any]:
        from .profiling import environment

        env = environment(device, self.config.dtype)
        env["processes"] = self.dist.world_size
        return env

    def _rows_of_this_run(self, store: ResultsStore, plans: list[TaskPlan]) -> list[SampleRow]:
        rows = []
        for plan in plans:
            wanted = {doc_id: seq for seq, doc_id in enumerate(plan.doc_ids)}
            for row in store.rows(self.adapter.key, self._tau_key, plan.name):
                if row.doc_id in wanted:
                    row.seq = wanted[row.doc_id]
                    rows.append(row)
            rows.sort(key=lambda r: (r.task, r.seq))
        order = {p.name: i for i, p in enumerate(plans)}
        rows.sort(key=lambda r: (order[r.task], r.seq))
        return rows

    def _evaluate_all(self, plans: list[TaskPlan], store_path: Path, device: str) -> int:
        cfg = self.config
        items = [(plan, seq, doc) for plan in plans for seq, doc in plan.todo]
        if not items:
            return 0
        cuda = device.startswith("cuda")
        memory = MemoryTracker(device)
        bar = None
        if cfg.progress and self.dist.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), unit="sample", dynamic_ncols=True,
                       desc=f"rank 0/{self.dist.world_size}" if self.dist.distributed else "eval")
        # Task code may swap sys.stdout (contextlib.redirect_stdout around lmms-eval calls); from
        # several threads at once that can leave a StringIO installed. Put the real one back after.
        saved_stdout = sys.stdout
        try:
            done = self._loop(items, store_path, memory, cuda, bar)
        finally:
            sys.stdout = saved_stdout
            if bar is not None:
                bar.close()
        return done

    def _batch_size(self) -> int:
        return max(1, min(self.config.batch_size, self.adapter.max_batch_size))

    def _loop(self, items: list, store_path: Path, memory: MemoryTracker, cuda: bool, bar: Any) -> int:
        """Prepared samples in order, grouped into batches of up to ``--batch-size`` consecutive samples of
        one task; each batch's rows are committed together when it finishes (a killed batch is redone)."""
        cfg = self.config
        size = self._batch_size()
        done = 0
        warmed = not cfg.warmup
        pending: list[PreparedSample] = []
        with ResultsStore(store_path) as store:

            def commit(rows: list[SampleRow]) -> None:
                nonlocal done
                store.write_many(rows)
                done += len(rows)
                if bar is not None:
                    bar.set_postfix_str(rows[-1].task, refresh=False)
                    bar.update(len(rows))

            def flush() -> None:
                if pending:
                    commit(self._evaluate_batch(pending, memory, cuda))
                    pending.clear()

            # The prefetcher keeps at least the next batch preparing while this one runs.
            prefetch = Prefetcher(items, self._prepare, workers=cfg.workers, lookahead=max(cfg.lookahead, size))
            for sample in prefetch:
                if not warmed and sample.prepared is not None:
                    try:
                        self.adapter.warmup(sample.prepared)
                    except Exception as exc:  # the real call will record the error
                        log.debug("warmup failed: %s", exc)
                    warmed = True
                if sample.error:  # never reaches the model: its row is final now
                    commit([self._base_row(sample)])
                    continue
                if pending and pending[0].plan is not sample.plan:
                    flush()
                pending.append(sample)
                if len(pending) >= size:
                    flush()
            flush()
        return done


def run_evaluation(config: RunConfig, adapter: ModelAdapter | None = None,
                   task_factory: Callable[[str], Any] | None = None) -> RunOutcome:
    """Run the evaluation described by ``config`` (see :class:`RunConfig`)."""
    return Runner(config, adapter=adapter, task_factory=task_factory).run()
