"""Sweeps over thresholds, frame counts, grid sets, video layouts and multi-image layouts on the same
samples, sharing the work that does not depend on the setting.

For an adapter with the encode-once capability (``adapter.encode_once()``; the reference model), per
sample: media decode + preprocess once (per frame count for video), vision encoder + projector once
(``EncodeOnce.encode``), then per threshold tau only the re-tokenization (``at_threshold``), packing and
the LLM (``generate_encoded``), through the same ``engine.sample.run_model`` a plain run uses.

What each axis changes, hence what it shares:

- threshold tau: only the re-tokenization and packing of a single image (AnyRes interpolation);
- frame count: the decoded frames (one decode + encode per (sample, frame count));
- grid set (``grid_pinpoints``): the AnyRes crops of a single image, so its pixels and vision features
  are shared only by settings with the same grid set (the sweep runs one pass per grid set; samples
  whose pixels do not depend on it, videos and padded multi-image prompts, are done in the first pass
  for every grid set);
- video layout (newline position x pool mode) and multi-image layout: only pooling / packing, so the
  vision encoder output is shared by all of them.

When two settings give a sample the same packed layout (``EncodeOnce.layout``: a small image below both
thresholds, a video under any tau or grid set, an image under another video layout) the model input is
identical, so the greedy output is too: the generation is run once and its row is recorded under each
such setting (``reuse``; ``--no-reuse`` runs every setting). Every row is what a plain
``ov-bench run`` with that setting writes: same responses, scores and token counts; the shared
stages' times (media decode, preprocess, vision encoder, projector) are measured once and
attributed to every setting, so per-setting latencies read like a plain run's.

Adapters without it (``hf:``) fall back to one plain run per setting (the runner, same output layout).

Output directory:
    sweep.json                      settings, shared-work counters, paired comparisons
    samples.sqlite                  all settings' rows, keyed by threshold (one file per frame
                                    count under frames-<F>/ when several --frames are given)
    settings/<label>/results.json   each setting's results.json (+ report.md) as a run writes it
    report.md, report.html, *.png   the ablation report
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ov_bench import __version__
from ov_bench.adapters import load_adapter
from ov_bench.analysis.paired import paired_delta
from ov_bench.engine.distributed import DistContext
from ov_bench.engine.judge_pass import judge_pending
from ov_bench.engine.prefetch import Prefetcher
from ov_bench.engine.runner import (
    RunConfig,
    Runner,
    check_data_arg,
    check_output_arg,
    data_source_label,
    load_plans,
    seed_everything,
)
from ov_bench.engine.sample import (
    Measure,
    RowIdentity,
    Sample,
    base_row,
    encode,
    one_line,
    prepare,
    run_model,
)
from ov_bench.engine.steps import check_resume, progress_bar, rows_in_doc_order, warm_up
from ov_bench.errors import UsageError
from ov_bench.model_spec import ModelSpec
from ov_bench.outputs.results import build_results
from ov_bench.outputs.run_outputs import setting_label, write_sweep_json
from ov_bench.outputs.store import SAMPLES_DB, OutputLock, ResultsStore, SampleRow, threshold_key
from ov_bench.profiling import environment
from ov_bench.reports.report import write_outputs
from ov_bench.reports.sweep_report import write_sweep_report
from ov_bench.threshold import DEFAULT_SWEEP_THRESHOLDS, DEFAULT_THRESHOLD, parse_threshold
from tasks.judging import judge_scope

log = logging.getLogger(__name__)


@dataclass
class SweepConfig:
    """A sweep: the model's settings (one ModelSpec; a --model string is taken as ``ModelSpec(model=...)``)
    with the swept axes over them: thresholds, frame counts (None: the checkpoint's), grid sets, video
    and multi-image layouts. The spec's own threshold and frame count are replaced by the axes'."""

    tasks: list[str]
    thresholds: list[int | None] = field(default_factory=lambda: list(DEFAULT_SWEEP_THRESHOLDS))
    frames: list[int] | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    data: str = "hub"
    limit: int | None = None
    output: str | None = None  # default: runs/sweep-<timestamp>
    seed: int = 0
    max_new_tokens: int | None = None
    workers: int = 2
    lookahead: int = 4
    profile: bool = True
    warmup: bool = True
    reuse: bool = True
    retry_errors: bool = False
    progress: bool = True
    reference: str | None = None  # label of the reference setting for paired comparisons
    report: bool = True
    n_boot: int = 10_000
    # Further axes (None: not swept, the model spec's / checkpoint's value holds for every setting).
    grid_sets: list[str] | None = None  # grid_pinpoints values: "ov", "next", "WxH,..."
    video_layouts: list[tuple[str, str | None]] | None = None  # (newline, pool or None), or "newline/pool"
    multi_image_layouts: list[str] | None = None  # "eval" | "train"
    judge: Any = None  # tasks.judging.JudgeConfig for LLM-judged tasks (None: no judge), as RunConfig's

    def __post_init__(self) -> None:
        if isinstance(self.model, str):
            self.model = ModelSpec(model=self.model)
        if self.frames is None:
            self.frames = [self.model.frames or self.model.checkpoint_frames()]


AXES = ("grid_pinpoints", "multi_image_layout", "video_layout")  # the axes beside threshold and frames


@dataclass
class Setting:
    threshold: int | None
    frames: int
    label: str
    db: Path
    results_dir: Path
    options: dict[str, str] = field(
        default_factory=dict
    )  # this setting's layout options (load_adapter names)
    model_key: str = ""  # the store key a plain run with these options writes under (set by the Sweeper)

    @property
    def tau_key(self) -> str:
        return threshold_key(self.threshold)

    @property
    def grid_set(self) -> str | None:
        return self.options.get("grid_pinpoints")

    def axes(self) -> dict[str, Any]:
        """The setting's value on every axis (None: not swept), as sweep.json records it."""
        video = None
        if "video_layout" in self.options or "video_pool" in self.options:
            video = {
                "newline_position": self.options.get("video_layout"),
                "pool_mode": self.options.get("video_pool"),
            }
        return {
            "threshold": self.threshold,
            "frames": self.frames,
            "grid_pinpoints": self.grid_set,
            "multi_image_layout": self.options.get("multi_image_layout"),
            "video_layout": video,
        }


@dataclass
class SweepWork:
    """What the shared path did (for the report and the benchmark)."""

    units: int = 0  # (sample, frame count[, grid set]) decoded + preprocessed
    encoded: int = 0  # vision encoder + projector passes
    llm_runs: int = 0  # generate() calls
    reused: int = 0  # rows recorded from another setting's identical generation
    rows: int = 0
    wall_s: float = 0.0
    settings: int = 0
    grid_passes: int = 0  # passes over the samples, one per grid set (pixels differ between them)
    encoded_rows: int = 0  # rows made from a shared encoder pass (the rows the `encoded` passes served)


@dataclass
class SweepOutcome:
    output_dir: Path
    mode: str  # "shared-vision" | "separate-runs"
    settings: list[Setting]
    results: dict[str, dict[str, Any]]  # label -> results.json content
    rows: dict[str, list[SampleRow]]  # label -> rows of this sweep's docs
    work: SweepWork
    sweep: dict[str, Any]  # sweep.json content
    errors: int


def default_reference(settings: Sequence[Setting]) -> Setting:
    """6561 (anyres_max_9, the released default) at the largest frame count, else the last threshold."""
    top_frames = max(s.frames for s in settings)
    candidates = [s for s in settings if s.frames == top_frames]
    for s in candidates:
        if s.threshold == DEFAULT_THRESHOLD:
            return s
    return candidates[-1]


def _axis_values(config: SweepConfig) -> dict[str, list[dict[str, str]]]:
    """Each swept axis as the layout options of its values, in the order given (duplicates dropped)."""
    axes: dict[str, list[dict[str, str]]] = {}
    if config.grid_sets is not None:
        axes["grid_pinpoints"] = [{"grid_pinpoints": g} for g in dict.fromkeys(config.grid_sets)]
    if config.multi_image_layouts is not None:
        axes["multi_image_layout"] = [
            {"multi_image_layout": m} for m in dict.fromkeys(config.multi_image_layouts)
        ]
    if config.video_layouts is not None:
        pairs = [
            tuple(v.partition("/")[::2]) if isinstance(v, str) else tuple(v) for v in config.video_layouts
        ]
        axes["video_layout"] = [
            {"video_layout": n, **({"video_pool": p} if p else {})} for n, p in dict.fromkeys(pairs)
        ]
    for name, values in axes.items():
        if not values:
            raise UsageError(f"the {name} axis needs at least one value")
    return axes


def _axis_label(options: dict[str, str], axes: dict[str, list[dict[str, str]]]) -> list[str]:
    """Label parts of the axes with more than one value (one value names nothing)."""
    parts = []
    if len(axes.get("grid_pinpoints", ())) > 1:
        parts.append("grid-" + options["grid_pinpoints"].replace(",", "+"))
    if len(axes.get("multi_image_layout", ())) > 1:
        parts.append("mi-" + options["multi_image_layout"])
    if len(axes.get("video_layout", ())) > 1:
        parts.append(
            "video-" + "-".join(v for v in (options["video_layout"], options.get("video_pool")) if v)
        )
    return parts


def make_settings(
    output: Path,
    thresholds: Sequence[int | None],
    frames: Sequence[int],
    axes: dict[str, list[dict[str, str]]] | None = None,
) -> list[Setting]:
    """Every combination of the axes: frame count (outermost: one store per count), grid set,
    multi-image layout, video layout, threshold (innermost)."""
    import itertools

    if not thresholds:
        raise UsageError("--thresholds needs at least one value")
    if not frames:
        raise UsageError("--frames needs at least one value")
    axes = axes or {}
    thresholds = list(dict.fromkeys(thresholds))
    frames = list(dict.fromkeys(frames))
    combos = [
        dict(kv for part in combo for kv in part.items())
        for combo in itertools.product(*(axes.get(a, [{}]) for a in AXES))
    ]
    settings = []
    for f in frames:
        db = output / SAMPLES_DB if len(frames) == 1 else output / f"frames-{f}" / SAMPLES_DB
        for options in combos:
            prefix = _axis_label(options, axes)
            for t in thresholds:
                label = "_".join(prefix + [setting_label(threshold_key(t), f if len(frames) > 1 else None)])
                settings.append(Setting(t, f, label, db, output / "settings" / label, dict(options)))
    return settings


class Sweeper:
    """One ``ov-bench sweep``. Construct, then :meth:`run`. Tests may inject an adapter."""

    def __init__(self, config: SweepConfig, adapter: Any = None) -> None:
        if config.limit is not None and config.limit < 1:
            raise UsageError("--limit must be >= 1")
        if any(f < 1 for f in config.frames):
            raise UsageError("--frames values must be >= 1")
        try:
            config.thresholds = [parse_threshold(tau) for tau in config.thresholds]
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        check_data_arg(config.data)
        check_output_arg(config.output)
        self.config = config
        self.adapter = adapter
        self.output_dir = (
            Path(config.output) if config.output else Path("runs") / time.strftime("sweep-%Y%m%d-%H%M%S")
        )
        self.axes = _axis_values(config)
        self.settings = make_settings(self.output_dir, config.thresholds, config.frames, self.axes)
        if config.reference is not None and config.reference not in {s.label for s in self.settings}:
            raise UsageError(
                f"--reference {config.reference}: not one of the settings "
                f"({', '.join(s.label for s in self.settings)})"
            )
        self.work = SweepWork()

    # ----------------------------------------------------------------- setup
    def _load_plans(self) -> list[Any]:
        c = self.config
        return load_plans(c.tasks, c.data, c.limit, c.seed, c.max_new_tokens, None)

    def _run_config(self, setting: Setting, output: Path | None = None, write_outputs: bool = False) -> Any:
        """The RunConfig of a plain run with this setting (its layout options over the sweep's own)."""
        c = self.config
        return RunConfig(
            tasks=list(c.tasks),
            model=self._spec(setting),
            data=c.data,
            limit=c.limit,
            output=str(output or setting.db.parent),
            seed=c.seed,
            max_new_tokens=c.max_new_tokens,
            workers=c.workers,
            lookahead=c.lookahead,
            profile=c.profile,
            warmup=c.warmup,
            retry_errors=c.retry_errors,
            progress=c.progress,
            write_outputs=write_outputs,
            judge=c.judge,
        )

    def _spec(self, setting: Setting) -> ModelSpec:
        """The model's settings a plain run of this setting has (its axes over the sweep's own)."""
        return self.config.model.replace(
            max_grid_tokens=setting.threshold, frames=setting.frames, **setting.options
        )

    # ----------------------------------------------------------------- the sweep
    def run(self) -> SweepOutcome:
        if DistContext.from_env().distributed:
            raise UsageError("ov-bench sweep runs in one process; launch it without accelerate/torchrun")
        cfg = self.config
        seed_everything(cfg.seed)
        plans = self._load_plans()  # a bad task or --data fails before the model loads
        device = cfg.model.resolve_device()
        if self.adapter is None:
            self.adapter = load_adapter(
                cfg.model.replace(device=device, max_grid_tokens=self.settings[0].threshold)
            )
        device = getattr(self.adapter, "device", device)
        encoder = self.adapter.encode_once()
        shared = encoder is not None
        if not shared and any(s.options for s in self.settings):
            raise UsageError(
                f"the {self.adapter.kind} adapter cannot sweep grid sets, video layouts or multi-image "
                "layouts (only the reference model changes them in place); drop those axes"
            )
        state = encoder.layout_state() if shared else None
        try:
            for s in self.settings:  # a setting the adapter cannot honour fails before any work
                self.adapter.set_threshold(s.threshold)
                if shared:
                    encoder.apply_setting(s.options)
                s.model_key = self.adapter.key
        except ValueError as exc:
            raise UsageError(one_line(exc).split(": ", 1)[-1]) from None
        self.work.settings = len(self.settings)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if shared:
            mode = "shared-vision"
            try:
                with OutputLock(self.output_dir):
                    results, rows = self._run_shared(plans, device)
            finally:  # an injected adapter goes back as it came (tests share one)
                encoder.restore_layout(state)
        else:
            mode = "separate-runs"
            print(
                f"ov-bench sweep: the {self.adapter.kind} adapter cannot encode visuals once for all "
                f"thresholds; running {len(self.settings)} separate runs",
                file=sys.stderr,
            )
            results, rows = self._run_separate()
        self.work.wall_s = time.perf_counter() - t0
        sweep = self._sweep_json(mode, plans, results, rows)
        write_sweep_json(self.output_dir, sweep)
        if cfg.report:
            try:
                write_sweep_report(self.output_dir, sweep, results, rows)
            except Exception as exc:  # the data is written; a report failure must not lose it
                log.warning("sweep report failed: %s", one_line(exc))
        errors = sum(t["errors"] for r in results.values() for t in r["tasks"].values())
        return SweepOutcome(self.output_dir, mode, self.settings, results, rows, self.work, sweep, errors)

    # ----------------------------------------------------------------- fallback: plain runs
    def _run_separate(self) -> tuple[dict[str, dict], dict[str, list[SampleRow]]]:
        results, rows = {}, {}
        for s in self.settings:
            self.adapter.set_threshold(s.threshold)
            outcome = Runner(self._run_config(s), adapter=self.adapter).run()
            self.work.llm_runs += outcome.evaluated
            self.work.rows += len(outcome.rows)
            results[s.label], rows[s.label] = self._finish_setting(s, outcome.results, outcome.rows)
        return results, rows

    # ----------------------------------------------------------------- shared vision work
    def _units(self, plans: list[Any], stores: dict[int, ResultsStore]) -> list[Sample]:
        """One sample per (doc, frame count) with the settings still to do for it (``extra["targets"]``)."""
        done: dict[tuple[str, str], set[str]] = {}
        for s in self.settings:
            for plan in plans:
                done[(s.label, plan.name)] = stores[s.frames].finished(
                    plan.name, s.model_key, s.tau_key, include_errors=not self.config.retry_errors
                )
        units = []
        for plan in plans:
            video = plan.task.modality == "video"
            groups = (
                [[s for s in self.settings if s.frames == f] for f in self.config.frames]
                if video
                else [list(self.settings)]
            )
            for seq, doc in enumerate(plan.docs):
                doc_id = plan.doc_ids[seq]
                for group in groups:
                    targets = [s for s in group if doc_id not in done[(s.label, plan.name)]]
                    if targets:
                        frames = targets[0].frames if video else None
                        units.append(
                            Sample(
                                plan.name,
                                plan.task,
                                doc,
                                doc_id,
                                seq,
                                frames,
                                plan.max_new_tokens,
                                extra={"targets": targets},
                            )
                        )
        return units

    def _run_shared(
        self, plans: list[Any], device: str
    ) -> tuple[dict[str, dict], dict[str, list[SampleRow]]]:
        from contextlib import ExitStack

        cfg = self.config
        encoder = self.adapter.encode_once()
        source = data_source_label(cfg.data)
        with ExitStack() as stack:
            stores = {f: stack.enter_context(ResultsStore(self._db_for(f))) for f in cfg.frames}
            for s in self.settings:
                check_resume(
                    stores[s.frames],
                    plans,
                    s.model_key,
                    s.tau_key,
                    source,
                    frames_of=lambda plan, s=s: s.frames if plan.task.modality == "video" else None,
                    where=s.db.parent,
                )
            units = self._units(plans, stores)
            measure = Measure.for_adapter(cfg.profile, self.adapter, device)
            if cfg.warmup and units:
                self.warmup_s = warm_up(self.adapter)
            bar = progress_bar(cfg.progress, len(units), "sweep")
            saved_stdout = sys.stdout  # task code may swap sys.stdout from worker threads (see runner)
            started = time.time()
            stack.enter_context(judge_scope(cfg.judge))  # judged tasks score through the run's judge
            # One pass per grid set: the prefetch threads preprocess under the grid set of their pass,
            # which changes only between passes (when no thread is running).
            grids = list(dict.fromkeys(s.grid_set for s in self.settings))
            pending = units
            try:
                for grid in grids:
                    if grid is not None:
                        encoder.apply_setting({"grid_pinpoints": grid})
                    todo = [u for u in pending if any(s.grid_set == grid for s in u.extra["targets"])]
                    if not todo:
                        continue
                    self.work.grid_passes += 1
                    taken = {id(u) for u in todo}
                    deferred = [u for u in pending if id(u) not in taken]
                    for unit in Prefetcher(
                        todo, lambda u: prepare(u, self.adapter), workers=cfg.workers, lookahead=cfg.lookahead
                    ):
                        self.work.units += 1
                        now, later = self._split_by_grid(unit, grid)
                        unit.extra["targets"] = now
                        for setting, row in self._evaluate_unit(unit, measure, source):
                            stores[setting.frames].write(row)
                            self.work.rows += 1
                        if later:  # its pixels follow the grid set: prepared again in a later pass
                            deferred.append(
                                Sample(
                                    unit.task_name,
                                    unit.task,
                                    unit.doc,
                                    unit.doc_id,
                                    unit.seq,
                                    unit.frames,
                                    unit.max_new_tokens,
                                    extra={"targets": later},
                                )
                            )
                            if bar is not None:
                                bar.total += 1
                        if bar is not None:
                            bar.set_postfix_str(unit.task_name, refresh=False)
                            bar.update(1)
                    pending = deferred
            finally:
                sys.stdout = saved_stdout
                if bar is not None:
                    bar.close()
            if cfg.judge is not None:  # stored samples awaiting this judge, and judged groups, per setting
                for s in self.settings:
                    identity = RowIdentity(s.model_key, s.tau_key, source)
                    judge_pending(stores[s.frames], plans, identity, cfg.judge, since=started)
        results, rows = {}, {}
        for s in self.settings:
            self.adapter.set_threshold(s.threshold)
            encoder.apply_setting(s.options)  # results.json's model block is this setting's
            with ResultsStore(s.db) as store:
                setting_rows = rows_in_doc_order(store, plans, s.model_key, s.tau_key)

            env = environment(device, getattr(self.adapter, "dtype", cfg.model.dtype))  # auto resolved
            env["processes"] = 1
            for plan in plans:  # a server-scored task's submission file goes with the setting's results
                plan.task.submission_dir = s.results_dir
            built = build_results(plans, setting_rows, self.adapter, env, self._run_config(s), s.frames, 1)
            results[s.label], rows[s.label] = self._finish_setting(s, built, setting_rows)
        return results, rows

    def _db_for(self, frames: int) -> Path:
        return next(s.db for s in self.settings if s.frames == frames)

    def _finish_setting(
        self, s: Setting, results: dict[str, Any], rows: list[SampleRow]
    ) -> tuple[dict[str, Any], list[SampleRow]]:
        """Write the setting's results.json (+ report.md) the way a run does, pointing at the store."""
        results["samples_db"] = os.path.relpath(s.db, s.results_dir)
        results["sweep"] = {
            "label": s.label,
            **s.axes(),
            "sweep_dir": os.path.relpath(self.output_dir, s.results_dir),
        }
        s.results_dir.mkdir(parents=True, exist_ok=True)
        write_outputs(s.results_dir, results, rows)
        return results, rows

    # ----------------------------------------------------------------- one sample, every setting
    def _split_by_grid(self, unit: Sample, grid: str | None) -> tuple[list[Setting], list[Setting]]:
        """The unit's targets to do in this grid set's pass, and those left for later passes: all now
        when the sample's pixels do not depend on the grid set (or its media could not be read)."""
        targets: list[Setting] = unit.extra["targets"]
        if unit.error is not None and unit.error.startswith("media_decode"):
            return targets, []
        if unit.prepared is not None and not self.adapter.encode_once().pixels_depend_on_grid_set(
            unit.prepared
        ):
            return targets, []
        return [s for s in targets if s.grid_set == grid], [s for s in targets if s.grid_set != grid]

    def _evaluate_unit(self, unit: Sample, measure: Measure, source: str) -> list[tuple[Setting, SampleRow]]:
        """Encode the sample's visuals once, then one run_model per setting (or a copy of a setting with
        the same packed layout: identical model input, identical greedy output)."""
        targets: list[Setting] = unit.extra["targets"]
        identities = {s.label: RowIdentity(s.model_key, s.tau_key, source) for s in targets}
        if unit.error:
            return [(s, base_row(unit, identities[s.label])) for s in targets]
        encoder = self.adapter.encode_once()
        try:
            encoded = encode(self.adapter, unit, measure)
        except Exception as exc:
            rows = [(s, base_row(unit, identities[s.label])) for s in targets]
            for _, row in rows:
                row.error = f"model: {one_line(exc)}"
            return rows
        self.work.encoded += 1
        self.work.encoded_rows += len(targets)
        prepared = unit.prepared
        out: list[tuple[Setting, SampleRow]] = []
        done: dict[tuple, SampleRow] = {}
        for s in targets:
            # Never the grid set here: prefetch threads are preprocessing under the pass's one. A target of
            # another grid set reaches this point only when the sample's pixels do not depend on it.
            encoder.apply_setting({k: v for k, v in s.options.items() if k != "grid_pinpoints"})
            layout = encoder.layout(prepared, s.threshold)
            if self.config.reuse and layout in done:
                row = base_row(unit, identities[s.label])
                _copy_outcome(done[layout], row)
                self.work.reused += 1
                out.append((s, row))
                continue
            try:
                at_tau = Sample(**{**unit.__dict__, "prepared": encoder.at_threshold(prepared, s.threshold)})
            except Exception as exc:
                row = base_row(unit, identities[s.label])
                row.error = f"preprocess: {one_line(exc)}"
                out.append((s, row))
                continue
            (row,) = run_model(self.adapter, [at_tau], identities[s.label], measure, encoded=encoded)
            if row.error is None or not row.error.startswith("model:"):
                self.work.llm_runs += 1
            done[layout] = row
            out.append((s, row))
        return out

    # ----------------------------------------------------------------- sweep.json
    def _sweep_json(
        self, mode: str, plans: list[Any], results: dict[str, dict], rows: dict[str, list[SampleRow]]
    ) -> dict[str, Any]:
        cfg = self.config
        ref = next((s for s in self.settings if s.label == cfg.reference), None) or default_reference(
            self.settings
        )
        comparisons = []
        for plan in plans:
            ref_rows = [r for r in rows[ref.label] if r.task == plan.name]
            for s in self.settings:
                if s is ref:
                    continue
                d = paired_delta(
                    plan.name,
                    ref_rows,
                    [r for r in rows[s.label] if r.task == plan.name],
                    base_label=ref.label,
                    new_label=s.label,
                    n_boot=cfg.n_boot,
                    seed=cfg.seed,
                )
                comparisons.append(_delta_dict(d))
        first = results[self.settings[0].label]
        model = {k: v for k, v in first["model"].items() if k not in ("config", "threshold")}
        if self.axes:  # the model as loaded; each setting's own key and values are in "settings"
            model["key"] = self.adapter.key
            for name in self.axes:
                model[name] = "per setting"
        return {
            "ov_bench_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "kind": "ov-bench sweep",
            "mode": mode,
            "model": model,
            "env": first.get("env"),
            "data": first.get("data"),
            "tasks": [p.name for p in plans],
            "modalities": {p.name: p.task.modality for p in plans},
            "main_metrics": {p.name: p.task.main_metric for p in plans},
            "thresholds": [threshold_key(t) for t in dict.fromkeys(cfg.thresholds)],
            "frames": list(dict.fromkeys(cfg.frames)),
            "reference": ref.label,
            "reuse": cfg.reuse,
            "axes": self._axes_json(),
            "settings": [
                {
                    "label": s.label,
                    **s.axes(),
                    "model_key": s.model_key,
                    "results": os.path.relpath(s.results_dir / "results.json", self.output_dir),
                    "samples_db": os.path.relpath(s.db, self.output_dir),
                }
                for s in self.settings
            ],
            "work": asdict(self.work),
            "shared": shared_work_lines(mode, asdict(self.work), self._axes_json()),
            "comparisons": comparisons,
        }

    def _axes_json(self) -> dict[str, list]:
        """The swept axes and their values in order (threshold and frames always; the others when given)."""
        cfg = self.config
        axes: dict[str, list] = {
            "threshold": [threshold_key(t) for t in dict.fromkeys(cfg.thresholds)],
            "frames": list(dict.fromkeys(cfg.frames)),
        }
        for name, values in self.axes.items():
            axes[name] = [Setting(None, 0, "", Path(), Path(), v).axes()[name] for v in values]
        return axes


# What each axis leaves unchanged (so shares), for the report.
AXIS_SHARES = {
    "threshold": "changes only the re-tokenization and packing of single images",
    "frames": "changes the decoded frames (one decode + vision pass per frame count)",
    "grid_pinpoints": "changes the AnyRes crops of single images (their pixels and vision features are shared "
    "only within a grid set; videos and multi-image prompts are shared across grid sets)",
    "multi_image_layout": "changes only the packing of multi-image prompts (vision features shared)",
    "video_layout": "changes only pooling and newlines of videos (vision features shared)",
}


def shared_work_lines(mode: str, work: dict[str, Any], axes: dict[str, list]) -> list[str]:
    """What the sweep shared, in words: one line per stage and one per swept axis."""
    n = work.get("settings") or 0
    if mode != "shared-vision":
        return [f"nothing shared: {n} separate runs (the adapter cannot encode visuals once)"]
    units, encoded, rows = work.get("units", 0), work.get("encoded", 0), work.get("rows", 0)
    if rows == 0:
        return [f"{n} settings; nothing left to run: every row was already in the store (resumed)"]
    per_pass = work.get("encoded_rows", 0) / encoded if encoded else 0.0
    generated = work.get("llm_runs", 0) + work.get("reused", 0)
    lines = [
        f"{n} settings, {rows} rows",
        f"media decode + preprocess: {units} (sample, frame count"
        + (", grid set" if "grid_pinpoints" in axes else "")
        + f") units for {rows} rows"
        + (f" in {work.get('grid_passes')} grid-set passes" if "grid_pinpoints" in axes else ""),
        f"vision encoder + projector: {encoded} passes, each shared by {per_pass:.1f} settings on average",
        f"LLM: {work.get('llm_runs', 0)} generations run, {work.get('reused', 0)} of {generated} rows reused "
        "from an identical packed input under another setting",
    ]
    for name, values in axes.items():
        if len(values) > 1:
            lines.append(f"axis {name} ({len(values)} values) {AXIS_SHARES[name]}")
    return lines


def _delta_dict(d: Any) -> dict[str, Any]:
    out = asdict(d)
    out["p_value"] = d.p_value
    out["tokens_delta"] = d.tokens_delta
    out["latency_delta_ms"] = d.latency_delta("end_to_end")
    out["memory_delta_bytes"] = d.memory_delta
    return out


_OUTCOME_FIELDS = (
    "response",
    "parsed",
    "score",
    "parse_failed",
    "record",
    "visual_tokens_counted",
    "visual_tokens_measured",
    "text_tokens",
    "prompt_tokens",
    "new_tokens",
    "peak_memory_bytes",
    "memory_kind",
    "error",
    "judge_model",  # a judged sample's verdict holds for an identical response (no second judge call)
    "judge_exchanges",
)


def _copy_outcome(src: SampleRow, dst: SampleRow) -> None:
    """An identical model input ran under another setting: record its outcome (and timings) here too."""
    for name in _OUTCOME_FIELDS:
        value = getattr(src, name)
        setattr(
            dst,
            name,
            dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value,
        )
    dst.latency_ms = dict(src.latency_ms)
