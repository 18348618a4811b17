"""Did a run reproduce the published numbers? ``ov-bench compare published:<checkpoint> RUN``.

One row per published number whose task the run has, with the value measured on the printed scale,
the difference, at least how many documents' answers would have to change to close the gap, and a
verdict:

- full split (no ``--limit`` and every document of the real split scored): the measured value is
  exact for those documents, so only settings or numeric drift can explain a gap. Reproduced when
  ``|measured - published| <= rounding + tolerance``: rounding is half a unit of the last printed
  digit, tolerance ``--tolerance`` percent of the metric's full scale (default 1: 1 point of a
  percentage, 20 points of MME perception's 2000, 0.05 of a judge's 5); else below or above.
- a subset: the 95% interval of the FULL split's value estimated from the subset's per-sample scores
  (samples.sqlite), by a stratified bootstrap with finite-population correction (ov_bench.outputs.
  intervals; macro averages resample within their groups). Reproduced when the published value lies
  inside; else below (the interval is under it) or above.
- not comparable, with every reason that applies: sample data, a sub-task set other than the row's, a
  model setting other than the evaluated path's, a judge model other than the published number's, a
  task whose definition changed since the paper, a number only the benchmark's server computes, or
  failures (error rows and unparseable answers) above ``--max-failure-share``.

The run is a ``results`` dict (results.json) and a function giving a task's per-sample rows (None
without samples.sqlite), so the same code serves ``compare`` and the run's own report.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ov_bench.outputs.intervals import DEFAULT_BOOT, design_replicates, docs_to_reach, percentile_interval
from ov_bench.outputs.store import SampleRow
from ov_bench.published.catalog import UNKNOWN, Family, PublishedValue, resolve_checkpoint

log = logging.getLogger(__name__)

REPRODUCED, BELOW, ABOVE, NOT_COMPARABLE = "reproduced", "below", "above", "not comparable"
ESTIMATE_AGREEMENT = 1e-4  # |estimator - results.json| allowed, as a share of the metric's full scale

RowsFor = Callable[[str], "Sequence[SampleRow] | None"]


@dataclass
class PublishedOptions:
    tolerance: float = 1.0  # percent of the metric's full scale (full-split verdicts)
    max_failure_share: float = 0.05
    confidence: float = 0.95
    n_boot: int = DEFAULT_BOOT
    seed: int = 0
    ignore_settings: tuple[str, ...] = ()  # evaluated-path settings whose difference is only noted

    def __post_init__(self) -> None:
        if self.tolerance < 0 or not math.isfinite(self.tolerance):
            raise ValueError(f"--tolerance must be a number >= 0, got {self.tolerance}")
        if not 0 <= self.max_failure_share <= 1:
            raise ValueError(f"--max-failure-share must be in [0, 1], got {self.max_failure_share}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.n_boot < 100:
            raise ValueError(f"--bootstrap must be >= 100, got {self.n_boot}")


@dataclass
class RowResult:
    row: str
    task: str
    metric: str
    tables: tuple[str, ...]
    published: str  # as printed
    table2: str | None  # Table 2's value where it prints another one
    full_scale: float
    measured: float | None = None  # on the printed scale
    n: int | None = None  # documents scored (of the row's tasks)
    split_docs: int | None = None
    mode: str | None = None  # "full" | "subset"
    interval: tuple[float, float] | None = None  # printed scale
    allowed: float | None = None  # full split: rounding + tolerance
    docs_to_close: int | None = None
    verdict: str = NOT_COMPARABLE
    reason: str = ""
    judge: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def published_value(self) -> float:
        return float(self.published)

    @property
    def difference(self) -> float | None:
        return None if self.measured is None else self.measured - self.published_value

    @property
    def comparable(self) -> bool:
        return self.verdict != NOT_COMPARABLE

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "metric": self.metric,
            "row": self.row,
            "tables": list(self.tables),
            "published": self.published_value,
            "published_printed": self.published,
            "table2": None if self.table2 is None else float(self.table2),
            "measured": self.measured,
            "difference": self.difference,
            "docs_to_close": self.docs_to_close,
            "n": self.n,
            "split_docs": self.split_docs,
            "mode": self.mode,
            "interval": None if self.interval is None else list(self.interval),
            "allowed": self.allowed,
            "verdict": self.verdict,
            "reason": self.reason,
            "judge": self.judge,
            "notes": list(self.notes),
        }


@dataclass
class PublishedComparison:
    checkpoint: str
    family: Family
    run: str
    options: PublishedOptions
    rows: list[RowResult] = field(default_factory=list)
    absent: list[PublishedValue] = field(default_factory=list)  # published rows the run has no task for
    notes: list[str] = field(default_factory=list)
    recognised: str = ""

    @property
    def failed(self) -> list[RowResult]:
        return [r for r in self.rows if r.verdict in (BELOW, ABOVE)]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.rows]


# ----------------------------------------------------------------------------- the run's facts
def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _task(name: str) -> Any:
    """The task object (None when this ov-bench does not know it)."""
    try:
        from tasks.registry import get_task

        return get_task(name)
    except (KeyError, ValueError):
        return None


def split_docs(name: str, block: dict[str, Any]) -> int | None:
    """Documents in the task's real split: results.json's record of it, else the task's ``real_docs``."""
    for key in ("real_docs", "split_docs"):
        if isinstance(block.get(key), int):
            return block[key]
    task = _task(name)
    value = getattr(task, "real_docs", None) if task is not None else None
    return value if isinstance(value, int) else None


def generation_setting(model: dict[str, Any]) -> tuple[Any, str | None]:
    """(whether the checkpoint's generation_config.json applied, a note) from the model block."""
    source = (model.get("generation") or {}).get("source")
    if source is None:
        return None, None
    if str(source).startswith("ignored"):
        return False, None
    if source == "none":
        return True, "the checkpoint has no generation_config.json (the released repos have one)"
    return True, None


def run_settings(results: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The evaluated-path settings as the run recorded them (None: not recorded), and notes."""
    model, run = results.get("model") or {}, results.get("run") or {}
    generation, note = generation_setting(model)
    frames = run.get("frames") or (model.get("video") or {}).get("default_frames")
    settings = {
        "frames": frames,
        "multi_image_layout": model.get("multi_image_layout"),
        "dtype": model.get("dtype"),
        "generation_config": generation,
        "grid_pinpoints": model.get("grid_pinpoints"),
        "threshold": model.get("threshold"),
        "prompts": (model.get("video") or {}).get(
            "prompts", "default" if model.get("adapter") == "hf" else None
        ),
    }
    return settings, [note] if note else []


# Which settings can change a task's inputs: AnyRes only touches single images, the multi-image
# layout only multi-image prompts, frames only videos; dtype, decoding and prompts touch everything.
SETTING_MODALITIES = {
    "frames": ("video",),
    "multi_image_layout": ("multi_image",),
    "grid_pinpoints": ("single_image",),
    "threshold": ("single_image",),
}


def setting_differences(
    settings: dict[str, Any], evaluated: dict[str, Any], modalities: set[str]
) -> tuple[list[str], list[str]]:
    """(differences, unrecorded settings) that touch a task of these modalities."""
    diffs, unrecorded = [], []
    for name, expected in evaluated.items():
        applies = SETTING_MODALITIES.get(name)
        if applies is not None and not (modalities & set(applies)):
            continue
        value = settings.get(name)
        if value is None:
            unrecorded.append(name)
        elif str(value).lower() != str(expected).lower():
            diffs.append(f"{name} {value} (evaluated path: {expected})")
    return diffs, unrecorded


def judge_of(results: dict[str, Any], block: dict[str, Any]) -> str | None:
    """The judge model a judged task of the run used, wherever the run recorded it."""
    for source in (block, results):
        judge = source.get("judge")
        if isinstance(judge, dict) and judge.get("model"):
            return str(judge["model"])
        if isinstance(source.get("judge_model"), str):
            return source["judge_model"]
    return None


def failure_share(block: dict[str, Any]) -> tuple[float, int, int]:
    """(share of the task's documents that errored or could not be parsed, errors, unparseable)."""
    n = int(block.get("n") or 0)
    errors = int(block.get("errors") or 0)
    rate = _num((block.get("metrics") or {}).get("parse_failure_rate")) or 0.0
    unparsed = round(rate * (n - errors))
    return ((errors + unparsed) / n if n else 0.0), errors, unparsed


# ----------------------------------------------------------------------------- one row
@dataclass
class _Part:
    """One task (and metric) a row reads, with its per-sample design when there is one."""

    task: str
    metric: str
    block: dict[str, Any]
    value: float | None  # results.json scale
    design: Any = None
    why_no_design: str = ""


def _part_design(part: _Part, rows: Sequence[SampleRow] | None, full: float) -> None:
    """Attach the per-sample design of a part, or say why there is none."""
    from ov_bench.outputs.subscores import scored_pairs
    from tasks.estimators import design

    if rows is None:
        part.why_no_design = f"{part.task}: no samples.sqlite (per-sample scores) beside results.json"
        return
    if not rows:
        part.why_no_design = f"{part.task}: samples.sqlite holds no rows of this task and model"
        return
    task = _task(part.task)
    if task is None:
        part.why_no_design = f"{part.task}: not a task this ov-bench knows"
        return
    estimator = task.estimator(part.metric)
    d = None if estimator is None else design(estimator, scored_pairs(rows))
    if d is None:
        part.why_no_design = f"{part.task}: {part.metric} is not a function of the per-sample scores"
        return
    if not d.units:
        part.why_no_design = f"{part.task}: no scored documents for {part.metric}"
        return
    if part.value is None:
        part.value = d.value()
    elif abs(d.value() - part.value) > ESTIMATE_AGREEMENT * full:
        part.why_no_design = (
            f"{part.task}: the per-sample scores give {d.value():.6g}, results.json {part.value:.6g} "
            "(rows and results disagree)"
        )
        return
    part.design = d


def _docs_to_close(pv: PublishedValue, measured: float, parts: list[_Part], n: int) -> int | None:
    """At least how many answers must change for the measured value to reach the published one's
    rounding interval: from the per-sample scores where there are some; else, for a plain mean on a
    percent scale, assuming each answer can move it by the whole range (n docs: range / n each)."""
    row = pv.row
    if abs(measured - pv.value) <= pv.rounding:
        return 0
    target = pv.value - math.copysign(pv.rounding, pv.value - measured)
    gap = (target - measured) / row.factor  # on the results.json scale
    designs = [(p.design, 1.0 / len(parts)) for p in parts if p.design is not None]
    if len(designs) == len(parts):
        return docs_to_reach(designs, gap)
    if row.members or row.scale == "points" or not n:
        return None
    docs = math.ceil(abs(gap) / (row.full_scale / row.factor / n) - 1e-9)
    return docs if docs <= n else None


def _reasons(
    pv: PublishedValue,
    results: dict[str, Any],
    blocks: dict[str, dict],
    family: Family,
    options: PublishedOptions,
    out: RowResult,
) -> list[str]:
    """Why the row is not comparable (empty: it is); notes that do not block it go to ``out.notes``."""
    row = pv.row
    reasons: list[str] = []
    if row.not_scorable:
        reasons.append(f"not scorable: {row.not_scorable}")
    if row.definition_changed:
        reasons.append(f"task definition changed: {row.definition_changed}")
    missing = [t for t in row.tasks if t not in blocks]
    if row.members and missing:
        reasons.append(
            f"another sub-task set: {len(blocks)} of {len(row.tasks)} member tasks in the run "
            f"(missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''})"
        )
    if (results.get("data") or {}).get("samples") or any(b.get("samples_data") for b in blocks.values()):
        reasons.append("sample data: ov-bench's generated sample sets, not the benchmark's documents")
    settings, notes = run_settings(results)
    out.notes += notes
    modalities = {str(b.get("modality")) for b in blocks.values()}
    diffs, unrecorded = setting_differences(settings, family.evaluated_path, modalities)
    ignored = [d for d in diffs if d.split(" ", 1)[0] in options.ignore_settings]
    if len(ignored) < len(diffs):
        kept = [d for d in diffs if d not in ignored]
        reasons.append("model setting other than the evaluated path's: " + "; ".join(kept))
    if ignored:
        out.notes.append("setting difference ignored on request: " + "; ".join(ignored))
    if unrecorded:
        out.notes.append("not recorded by the run: " + ", ".join(unrecorded))
    if row.judged:
        used = {judge_of(results, b) for b in blocks.values()}
        used_s = ", ".join(sorted(str(u) for u in used))
        if row.judge == UNKNOWN:
            out.notes.append(f"the published number's judge model is unknown (this run: {used_s})")
        elif used == {None}:
            reasons.append(f"judge model not recorded by the run (published with {row.judge})")
        elif used != {row.judge}:
            reasons.append(f"judge model {used_s}, published with {row.judge}")
    for name, b in blocks.items():
        share, errors, unparsed = failure_share(b)
        if share > options.max_failure_share:
            reasons.append(
                f"{name}: {errors + unparsed} of {b.get('n')} documents failed ({errors} errors, {unparsed} "
                f"unparseable), above the {options.max_failure_share:g} share allowed"
            )
    return reasons


def _coverage(parts: list[_Part], limit: Any, out: RowResult) -> tuple[bool, list[int], list[int | None]]:
    """(full split or not, documents scored and real split size per part); sets out.n and split_docs."""
    scored = [int(p.block.get("n") or 0) - int(p.block.get("errors") or 0) for p in parts]
    splits = [split_docs(p.task, p.block) for p in parts]
    out.n = sum(scored)
    if all(s is not None for s in splits):  # full: every document of the real split scored
        out.split_docs = sum(splits)
        full = all(k >= s for k, s in zip(scored, splits))
        if limit is None and not full:
            out.notes.append(
                "no --limit, but not every document was scored (error rows): treated as a subset"
            )
    else:
        full = limit is None
        if full:
            out.notes.append("the real split's size is unknown: no --limit, so taken as the full split")
    out.mode = "full" if full else "subset"
    return full, scored, splits


def _full_verdict(pv: PublishedValue, out: RowResult, options: PublishedOptions) -> None:
    out.allowed = pv.rounding + options.tolerance / 100.0 * pv.row.full_scale
    diff = out.measured - pv.value
    within = abs(diff) <= out.allowed + 1e-9
    out.verdict = REPRODUCED if within else (BELOW if diff < 0 else ABOVE)
    sign = "<=" if within else ">"
    out.reason = f"full split: |difference| {abs(diff):.4g} {sign} {out.allowed:.4g} (rounding + tolerance)"


def _subset_verdict(
    pv: PublishedValue,
    out: RowResult,
    parts: list[_Part],
    scored: list[int],
    splits: list,
    options: PublishedOptions,
) -> None:
    import numpy as np

    lacking = [p.why_no_design for p in parts if p.design is None]
    if lacking:
        out.reason = "subset without an interval: " + "; ".join(lacking)
        return
    missing = [f"{p.task}: {', '.join(p.design.missing)}" for p in parts if p.design.missing]
    if missing:
        out.reason = "the subset has no documents of group(s) " + "; ".join(missing)
        return
    rng = np.random.default_rng(options.seed)  # per row; a group row's members draw in order from it
    reps = sum(
        design_replicates(p.design, min(1.0, k / s) if s else 0.0, options.n_boot, rng=rng)
        for p, k, s in zip(parts, scored, splits)
    )
    reps = reps / len(parts) * pv.row.factor
    iv = percentile_interval(reps, out.measured, options.confidence, options.n_boot, options.seed, 0.0)
    out.interval = (iv.low, iv.high)
    fpc = "with" if all(splits) else "split size unknown: no"
    where = (
        f"{options.confidence:.0%} interval of the full split [{iv.low:.4g}, {iv.high:.4g}] "
        f"({fpc} finite-population correction)"
    )
    inside = iv.low <= pv.value <= iv.high
    out.verdict = REPRODUCED if inside else (BELOW if iv.high < pv.value else ABOVE)
    out.reason = f"subset: published value {'inside' if inside else 'outside'} the {where}"


def compare_value(
    pv: PublishedValue,
    results: dict[str, Any],
    rows_for: RowsFor,
    family: Family,
    options: PublishedOptions,
) -> RowResult | None:
    """The comparison of one published number with the run (None: the run has none of its tasks)."""
    row = pv.row
    tasks = results.get("tasks") or {}
    out = RowResult(
        row=row.row,
        task=row.task,
        metric=row.metric,
        tables=row.tables,
        published=pv.printed,
        table2=pv.table2,
        full_scale=row.full_scale,
        judge=row.judge,
    )
    blocks = {t: tasks[t] for t in row.tasks if t in tasks}
    if not blocks:
        lookalike = [t for t in row.other_splits if t in tasks]
        if not lookalike:
            return None
        out.task = lookalike[0]
        out.reason = f"another split or set: {row.other_splits[lookalike[0]]}"
        return out
    reasons = _reasons(pv, results, blocks, family, options, out)
    specs = [(m.task, m.metric) for m in row.members if m.task in tasks] or [(row.task, row.metric)]
    parts = [
        _Part(t, metric, tasks[t], _num((tasks[t].get("metrics") or {}).get(metric))) for t, metric in specs
    ]
    if row.scored_by == "server" and any(p.value is None for p in parts):
        reasons.append("scored by the benchmark's evaluation server: submit the run's submission file there")
    for p in parts:
        _part_design(p, rows_for(p.task), row.full_scale / row.factor)
    full, scored, splits = _coverage(parts, (results.get("run") or {}).get("limit"), out)
    values = [p.value for p in parts]
    if all(v is not None for v in values):
        out.measured = sum(values) / len(values) * row.factor
        out.docs_to_close = _docs_to_close(pv, out.measured, parts, out.n)
    elif not reasons:
        reasons.append("the run has no value for " + row.metric)
    if reasons:
        out.reason = "; ".join(reasons)
    elif full:
        _full_verdict(pv, out, options)
    else:
        _subset_verdict(pv, out, parts, scored, splits, options)
    return out


def compare_run(
    checkpoint: str,
    results: dict[str, Any],
    rows_for: RowsFor,
    options: PublishedOptions | None = None,
    run_label: str = "",
    recognised: str = "",
) -> PublishedComparison:
    """Every published number of ``checkpoint`` (any accepted spelling) against one run."""
    opts = options or PublishedOptions()
    family, key = resolve_checkpoint(checkpoint)
    unknown = [s for s in opts.ignore_settings if s not in family.evaluated_path]
    if unknown:
        raise ValueError(
            f"--ignore-setting {', '.join(unknown)}: not a setting of the evaluated path "
            f"(known: {', '.join(family.evaluated_path)})"
        )
    comp = PublishedComparison(key, family, run_label, opts, recognised=recognised)
    for pv in family.values(key):
        result = compare_value(pv, results, rows_for, family, opts)
        if result is None:
            comp.absent.append(pv)
        else:
            comp.rows.append(result)
    return comp


def published_block(
    results: dict[str, Any],
    rows: Sequence[SampleRow],
    explicit: str | None = None,
    options: PublishedOptions | None = None,
) -> dict[str, Any]:
    """results.json's ``published`` block: the comparison when the run's checkpoint is a published one
    (recognised from the model block, or ``explicit``), else the reason there is none."""
    from ov_bench.published.catalog import recognise

    rec = recognise(results.get("model") or {}, explicit)
    if rec.key is None:
        return {"checkpoint": None, "reason": rec.why}
    by_task: dict[str, list[SampleRow]] = {}
    for r in rows:
        by_task.setdefault(r.task, []).append(r)
    opts = options or PublishedOptions()
    try:
        comp = compare_run(rec.key, results, lambda t: by_task.get(t, []), opts, recognised=rec.why)
    except Exception as exc:  # the run's outputs must be written whatever happens here
        log.warning("published comparison skipped: %s", exc)
        return {
            "checkpoint": rec.key,
            "recognised": rec.why,
            "error": f"{type(exc).__name__}: {exc}",
            "rows": [],
        }
    return {
        "checkpoint": comp.checkpoint,
        "family": comp.family.name,
        "paper": comp.family.paper,
        "recognised": rec.why,
        "tolerance": opts.tolerance,
        "max_failure_share": opts.max_failure_share,
        "reproduced": sum(r.verdict == REPRODUCED for r in comp.rows),
        "not_reproduced": len(comp.failed),
        "not_comparable": sum(not r.comparable for r in comp.rows),
        "rows": comp.to_json(),
    }
