"""Regression check between two finished runs (or sweeps): ``ov-bench compare BASELINE NEW``.

Per setting (a run has one; a sweep one per threshold / frame count) and task:

- samples: every doc of the baseline must be in NEW, and NEW may not have more error rows;
- tokens: the visual-token summary (mean, p50, p90, max) must match exactly, and, where both sides
  have samples.sqlite, every sample's counted and measured visual tokens too (and, for video, the
  decoded frame indices);
- metric: the main metric may not drop beyond what sampling noise explains. With per-sample rows
  on both sides the test is paired: McNemar's test for right/wrong scores, a paired bootstrap CI of
  the mean score difference otherwise; a regression is a drop that is significant at ``alpha`` AND
  larger than ``tolerance`` (a fraction of the metric's scale). With results.json only, the drop
  may not exceed ``z * sqrt(p (1 - p) (1/n1 + 1/n2))`` (binomial standard error) plus the tolerance.
  ``exact=True`` (CI on a deterministic setup) asks for identical metrics and per-sample scores,
  responses and parsed answers;
- model settings (multi-image layout, video layout, grid set, decoding settings, image resize backend,
  dtype, unpad rounding, from results.json's model block): a difference is a SETTING difference, shown
  in the output (a note and a check); ``exact=True`` fails on it. An ``hf:`` side is noted: transformers
  always gives each image of a multi-image prompt its newline (``multi_image_layout: "train"``);
- latency (p50 per stage) and peak memory: relative increases above their tolerances are warnings
  (failures with ``fail_on_timing``); ``timing=False`` skips them.

Exit codes of the command: 0 no regression, 1 regression, 2 unusable input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ov_bench.analysis.paired import pair_rows, paired_delta
from ov_bench.analysis.stats import binomial_drop_bound
from ov_bench.mdtable import md_table
from ov_bench.outputs.run_outputs import SettingResults, load_outputs

TIMED_STAGES = ("end_to_end", "vision_encoder", "prefill", "decode_per_token")
MAX_DOCS_LISTED = 5

FAIL, WARN, OK, INFO = "FAIL", "warn", "ok", "info"


@dataclass
class CompareOptions:
    alpha: float = 0.05
    tolerance: float = 0.0  # allowed drop of the main metric, as a fraction of its scale
    latency_tolerance: float = 0.2  # relative
    memory_tolerance: float = 0.1  # relative
    timing: bool = True
    fail_on_timing: bool = False
    exact: bool = False
    n_boot: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"--alpha must be in (0, 1), got {self.alpha}")
        for name in ("tolerance", "latency_tolerance", "memory_tolerance"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")


@dataclass
class Check:
    setting: str
    task: str
    check: str
    status: str  # FAIL | warn | ok | info
    baseline: str = ""
    new: str = ""
    detail: str = ""


@dataclass
class Comparison:
    baseline: str
    new: str
    options: CompareOptions
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sides: tuple[list[str], list[str]] = field(default_factory=lambda: ([], []))

    @property
    def regressions(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == WARN]

    @property
    def exit_code(self) -> int:
        if self.regressions or (self.options.fail_on_timing and self.warnings):
            return 1
        return 0

    def markdown(self) -> str:
        n_fail, n_warn = len(self.regressions), len(self.warnings)
        if self.exit_code:
            head = f"FAIL: {n_fail} regression(s)" + (f", {n_warn} warning(s)" if n_warn else "")
            if not n_fail:
                head = f"FAIL: {n_warn} timing/memory warning(s) (--fail-on-timing)"
        else:
            head = "PASS: no regression" + (f" ({n_warn} timing/memory warning(s))" if n_warn else "")
        out = [f"## ov-bench compare: {head}", ""]
        out += [
            f"- baseline: `{self.baseline}`" + (f" ({'; '.join(self.sides[0])})" if self.sides[0] else ""),
            f"- new: `{self.new}`" + (f" ({'; '.join(self.sides[1])})" if self.sides[1] else ""),
        ]
        opts = self.options
        judged = (
            "scores must match exactly"
            if opts.exact
            else f"alpha={opts.alpha}, tolerance={opts.tolerance} of the metric's scale"
        )
        timing = (
            "timing not judged"
            if not opts.timing
            else f"latency +{opts.latency_tolerance:.0%}, memory +{opts.memory_tolerance:.0%}"
            + (" (failures)" if opts.fail_on_timing else " (warnings)")
        )
        out += [f"- checks: visual tokens exact; {judged}; {timing}", ""]
        out += [f"> {note}" for note in self.notes]
        if self.notes:
            out.append("")
        header = ["setting", "task", "check", "status", "baseline", "new", "detail"]
        flagged = [c for c in self.checks if c.status in (FAIL, WARN)]
        if flagged:
            out += [md_table(header, [_cells(c) for c in flagged]), ""]
        out += [
            f"<details><summary>All checks ({len(self.checks)})</summary>",
            "",
            md_table(header, [_cells(c) for c in self.checks]),
            "",
            "</details>",
            "",
        ]
        return "\n".join(out)


def _cells(c: Check) -> list[str]:
    status = {FAIL: "**FAIL**", WARN: "warn"}.get(c.status, c.status)
    return [c.setting, c.task, c.check, status, c.baseline, c.new, c.detail]


# --------------------------------------------------------------------------- formatting
def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan"
        return f"{value:.{digits}g}"
    return str(value)


def _docs(ids: Sequence[str]) -> str:
    ids = sorted(ids)
    more = f" (+{len(ids) - MAX_DOCS_LISTED} more)" if len(ids) > MAX_DOCS_LISTED else ""
    return ", ".join(ids[:MAX_DOCS_LISTED]) + more


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _describe(settings: Sequence[SettingResults]) -> list[str]:
    """One line per side: model key(s), data source(s) and the settings."""
    keys = list(dict.fromkeys(str((s.results.get("model") or {}).get("key")) for s in settings))
    sources = list(dict.fromkeys(str((s.results.get("data") or {}).get("source", "?")) for s in settings))
    return [
        f"model `{', '.join(keys)}`",
        f"data {', '.join(sources)}",
        f"setting{'s' if len(settings) > 1 else ''} {', '.join(s.label for s in settings)}",
    ]


# --------------------------------------------------------------------------- the checks
def _scale_of_values(values: Sequence[float]) -> float | None:
    top = max((abs(v) for v in values), default=0.0)
    if top <= 1.0:
        return 1.0
    if top <= 100.0:
        return 100.0
    return None


def _check_samples(name: str, task: str, base_rows: list, new_rows: list, checks: list[Check]) -> None:
    base_ids = {r.doc_id for r in base_rows}
    new_ids = {r.doc_id for r in new_rows}
    missing = base_ids - new_ids
    if missing:
        checks.append(
            Check(
                name,
                task,
                "samples",
                FAIL,
                str(len(base_ids)),
                str(len(base_ids & new_ids)),
                f"{len(missing)} baseline doc(s) missing in NEW: {_docs(missing)}",
            )
        )
    extra = new_ids - base_ids
    if extra:
        checks.append(
            Check(
                name,
                task,
                "samples",
                INFO,
                "",
                str(len(extra)),
                f"docs only in NEW (not judged): {_docs(extra)}",
            )
        )
    base_ok = {r.doc_id for r in base_rows if r.ok}
    broke = sorted(r.doc_id for r in new_rows if not r.ok and r.doc_id in base_ok)
    if broke:
        reasons = {r.error.split(":", 1)[0] for r in new_rows if not r.ok and r.doc_id in base_ok}
        checks.append(
            Check(
                name,
                task,
                "errors/sample",
                FAIL,
                "ok",
                f"{len(broke)} error(s)",
                f"new errors ({', '.join(sorted(reasons))}): {_docs(broke)}",
            )
        )


def _check_sample_tokens(name: str, task: str, base_rows: list, new_rows: list, checks: list[Check]) -> None:
    new_by_id = {r.doc_id: r for r in new_rows}
    changed = []
    compared = 0
    for r in base_rows:
        other = new_by_id.get(r.doc_id)
        if other is None or r.visual_tokens_measured is None or other.visual_tokens_measured is None:
            continue
        compared += 1
        if (r.visual_tokens_measured, r.visual_tokens_counted) != (
            other.visual_tokens_measured,
            other.visual_tokens_counted,
        ):
            changed.append(f"{r.doc_id} ({r.visual_tokens_measured}->{other.visual_tokens_measured})")
    if changed:
        checks.append(
            Check(
                name,
                task,
                "tokens/sample",
                FAIL,
                "",
                "",
                f"{len(changed)} of {compared} sample(s) changed: {_docs(changed)}",
            )
        )
    else:
        checks.append(
            Check(
                name,
                task,
                "tokens/sample",
                OK,
                str(compared),
                str(compared),
                "per-sample visual tokens identical",
            )
        )
    # Video: the decoded frame indices (uniform sampling) must not move either.
    framed = [
        (r, new_by_id[r.doc_id])
        for r in base_rows
        if r.doc_id in new_by_id
        and r.frame_indices is not None
        and new_by_id[r.doc_id].frame_indices is not None
    ]
    if framed:
        moved = [a.doc_id for a, b in framed if a.frame_indices != b.frame_indices]
        checks.append(
            Check(
                name,
                task,
                "frames/sample",
                FAIL if moved else OK,
                str(len(framed)),
                str(len(framed)),
                f"decoded frame indices changed: {_docs(moved)}" if moved else "frame indices identical",
            )
        )


def _metric_paired(
    name: str,
    task: str,
    metric: str,
    base_rows: list,
    new_rows: list,
    opts: CompareOptions,
    checks: list[Check],
) -> None:
    if opts.exact:
        pairs, _, _ = pair_rows(base_rows, new_rows)
        changed = [a.doc_id for a, b in pairs if a.score != b.score]
        if changed:
            checks.append(
                Check(
                    name,
                    task,
                    "score/sample",
                    FAIL,
                    "",
                    "",
                    f"{len(changed)} of {len(pairs)} per-sample score(s) changed: {_docs(changed)}",
                )
            )
        else:
            checks.append(
                Check(
                    name,
                    task,
                    "score/sample",
                    OK,
                    str(len(pairs)),
                    str(len(pairs)),
                    "per-sample scores identical",
                )
            )
        outputs = [a.doc_id for a, b in pairs if (a.response, a.parsed) != (b.response, b.parsed)]
        if outputs:
            checks.append(
                Check(
                    name,
                    task,
                    "response/sample",
                    FAIL,
                    "",
                    "",
                    f"{len(outputs)} of {len(pairs)} response(s) or parsed answer(s) changed: "
                    f"{_docs(outputs)}",
                )
            )
        else:
            checks.append(
                Check(
                    name,
                    task,
                    "response/sample",
                    OK,
                    str(len(pairs)),
                    str(len(pairs)),
                    "responses and parsed answers identical",
                )
            )
        return
    delta = paired_delta(
        task, base_rows, new_rows, confidence=1 - opts.alpha, n_boot=opts.n_boot, seed=opts.seed
    )
    if delta.n_pairs == 0:
        checks.append(
            Check(name, task, f"{metric} (paired)", INFO, "", "", "no sample finished on both sides")
        )
        return
    scores = [r.score for r in base_rows + new_rows if r.ok and r.score is not None]
    if delta.binary:
        scale = max(scores) if max(scores) > 0 else 1.0
    else:
        scale = _scale_of_values(scores) or max(abs(s) for s in scores)
    allowed = opts.tolerance * scale
    d = delta.score_delta
    ci = f"{delta.confidence:.0%} CI [{_num(delta.ci_low)}, {_num(delta.ci_high)}]"
    if delta.binary and delta.mcnemar is not None:
        test = delta.mcnemar
        significant = test.p_value < opts.alpha
        detail = (
            f"mean score delta {_num(d)} ({ci}); McNemar {test.method} p={_num(test.p_value, 3)} "
            f"(base-only right {test.base_only}, new-only right {test.new_only}); n={delta.n_pairs} pairs"
        )
    else:
        significant = delta.ci_high is not None and delta.ci_high < 0
        detail = f"mean score delta {_num(d)} ({ci}, paired bootstrap); n={delta.n_pairs} pairs"
    regressed = d is not None and d < -allowed and significant and d < 0
    status = FAIL if regressed else OK
    if not regressed and d is not None and d < 0:
        detail += " - drop within noise/tolerance"
    checks.append(
        Check(name, task, "score (paired)", status, _num(delta.score_base), _num(delta.score_new), detail)
    )


def _metric_aggregate(
    name: str,
    task: str,
    metric: str,
    base: dict,
    new: dict,
    opts: CompareOptions,
    checks: list[Check],
    judge: bool = True,
) -> None:
    vb, vn = base.get("metrics", {}).get(metric), new.get("metrics", {}).get(metric)
    if not isinstance(vb, (int, float)) or not isinstance(vn, (int, float)):
        status = FAIL if vb is not None and vn is None else INFO
        checks.append(Check(name, task, metric, status, _num(vb), _num(vn), "metric missing on one side"))
        return
    if opts.exact:
        status = OK if _same(float(vb), float(vn)) else FAIL
        checks.append(Check(name, task, metric, status, _num(vb), _num(vn), "exact"))
        return
    if not judge:
        checks.append(
            Check(
                name,
                task,
                metric,
                INFO,
                _num(vb),
                _num(vn),
                f"delta {_num(vn - vb)}; judged on the paired per-sample scores",
            )
        )
        return
    nb = int(base.get("n", 0)) - int(base.get("errors", 0))
    nn = int(new.get("n", 0)) - int(new.get("errors", 0))
    scale = _scale_of_values([vb, vn])
    d = vn - vb
    if scale is not None and nb > 0 and nn > 0:
        bound = (
            binomial_drop_bound(vb / scale, nb, vn / scale, nn, opts.alpha) * scale + opts.tolerance * scale
        )
        status = FAIL if d < -bound else OK
        detail = (
            f"delta {_num(d)}; allowed drop {_num(bound)} (binomial SE bound at alpha={opts.alpha}, "
            f"n={nb}/{nn}, scale {scale:g}; no per-sample rows)"
        )
    else:
        bound = opts.tolerance * abs(vb)
        status = FAIL if d < -bound else OK
        detail = f"delta {_num(d)}; allowed drop {_num(bound)} (relative tolerance; metric scale unknown)"
    checks.append(Check(name, task, metric, status, _num(vb), _num(vn), detail))


def _check_timing(
    name: str, task: str, base: dict, new: dict, opts: CompareOptions, checks: list[Check]
) -> None:
    lb, ln = base.get("latency_ms") or {}, new.get("latency_ms") or {}
    for stage in TIMED_STAGES:
        a = (lb.get(stage) or {}).get("p50")
        b = (ln.get(stage) or {}).get("p50")
        if not a or b is None:
            continue
        rel = (b - a) / a
        status = WARN if rel > opts.latency_tolerance else OK
        checks.append(
            Check(
                name,
                task,
                f"latency {stage} p50",
                status,
                f"{a:.1f} ms",
                f"{b:.1f} ms",
                f"{rel:+.1%} (tolerance +{opts.latency_tolerance:.0%})",
            )
        )
    a, b = base.get("peak_memory_bytes"), new.get("peak_memory_bytes")
    if a and b is not None:
        rel = (b - a) / a
        status = WARN if rel > opts.memory_tolerance else OK
        checks.append(
            Check(
                name,
                task,
                "peak memory",
                status,
                f"{a / 2**20:.1f} MiB",
                f"{b / 2**20:.1f} MiB",
                f"{rel:+.1%} (tolerance +{opts.memory_tolerance:.0%})",
            )
        )


# results.json model-block fields that change inputs or decoding (a "setting" of the model).
MODEL_SETTINGS = (
    "multi_image_layout",
    "video_layout",
    "grid_pinpoints",
    "generation",
    "image_resize",
    "dtype",
    "unpad_rounding",
)


def _setting_value(field_: str, model: dict[str, Any]) -> Any:
    value = model.get(field_)
    if field_ == "generation" and isinstance(value, dict):  # where the file lives is not a setting
        return {k: value.get(k) for k in ("eos_token_ids", "repetition_penalty")}
    return value


def _fmt_setting(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt_setting(v)}" for k, v in value.items())
    return "-" if value is None else str(value)


def model_setting_differences(base: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, baseline value, new value) for every model setting the two model blocks disagree on."""
    out = []
    for field_ in MODEL_SETTINGS:
        a, b = _setting_value(field_, base), _setting_value(field_, new)
        if a != b:
            out.append((field_, a, b))
    return out


def _check_model_settings(
    name: str, base: SettingResults, new: SettingResults, opts: CompareOptions, checks: list[Check]
) -> list[str]:
    """One check per differing model setting (FAIL under --exact, else info); the notes to print."""
    mb, mn = base.results.get("model") or {}, new.results.get("model") or {}
    diffs = model_setting_differences(mb, mn)
    notes = []
    for field_, a, b in diffs:
        recorded = a is not None and b is not None
        status = FAIL if opts.exact and recorded else INFO
        detail = "setting difference" + ("" if recorded else " (not recorded on one side)")
        checks.append(Check(name, "*", f"setting {field_}", status, _fmt_setting(a), _fmt_setting(b), detail))
    differing = [(f, a, b) for f, a, b in diffs if a is not None and b is not None]
    unrecorded = [f for f, a, b in diffs if a is None or b is None]
    if differing:
        notes.append(
            f"{name}: SETTING difference, the runs were made with different model settings: "
            + "; ".join(f"{f} {_fmt_setting(a)} vs {_fmt_setting(b)}" for f, a, b in differing)
            + (" (--exact fails on it)" if opts.exact else " (scores are not like for like)")
        )
    if unrecorded:
        notes.append(
            f"{name}: recorded on one side only (an older results.json or another adapter), not judged: "
            + ", ".join(unrecorded)
        )
    if not diffs:
        checks.append(Check(name, "*", "model settings", OK, "", "", "same " + ", ".join(MODEL_SETTINGS)))
    for side, model in (("baseline", mb), ("new", mn)):
        if model.get("adapter") == "hf":
            notes.append(
                f"{name}: the {side} is an hf: run; transformers gives every image of a multi-image prompt "
                "its newline (multi_image_layout train, 730 tokens per image; lmms-eval's evaluated path: "
                "eval, 729), whatever the flags say"
            )
    return notes


def compare_settings(
    name: str, base: SettingResults, new: SettingResults, opts: CompareOptions, notes: list[str] | None = None
) -> list[Check]:
    checks: list[Check] = []
    setting_notes = _check_model_settings(name, base, new, opts, checks)
    if notes is not None:
        notes += setting_notes
    for task, tb in base.tasks.items():
        tn = new.tasks.get(task)
        if tn is None:
            checks.append(Check(name, task, "task", FAIL, "present", "missing", "task missing in NEW"))
            continue
        base_rows, new_rows = base.rows(task), new.rows(task)
        paired = base_rows is not None and new_rows is not None
        # samples and errors
        if paired:
            _check_samples(name, task, base_rows, new_rows, checks)
        if tb.get("n") != tn.get("n"):
            checks.append(
                Check(name, task, "n", FAIL, str(tb.get("n")), str(tn.get("n")), "sample count changed")
            )
        eb, en = int(tb.get("errors") or 0), int(tn.get("errors") or 0)
        checks.append(
            Check(
                name,
                task,
                "errors",
                FAIL if en > eb else OK,
                str(eb),
                str(en),
                "more error rows in NEW" if en > eb else "",
            )
        )
        # visual tokens
        vb, vn = tb.get("visual_tokens") or {}, tn.get("visual_tokens") or {}
        same = all(_same(vb.get(k), vn.get(k)) for k in set(vb) | set(vn))
        checks.append(
            Check(
                name,
                task,
                "visual tokens",
                OK if same else FAIL,
                f"mean {_num(vb.get('mean'))}, max {_num(vb.get('max'))}",
                f"mean {_num(vn.get('mean'))}, max {_num(vn.get('max'))}",
                "" if same else "visual-token summary changed (must match exactly)",
            )
        )
        if paired:
            _check_sample_tokens(name, task, base_rows, new_rows, checks)
        # main metric
        metric = tb.get("main_metric") or tn.get("main_metric")
        if metric is None and tb.get("metrics"):
            metric = sorted(k for k in tb["metrics"] if k != "parse_failure_rate")[0]
        if metric is not None:
            _metric_aggregate(name, task, metric, tb, tn, opts, checks, judge=opts.exact or not paired)
            if paired:
                _metric_paired(name, task, metric, base_rows, new_rows, opts, checks)
        for key in sorted(set(tb.get("metrics") or {}) - {metric}):
            a, b = (tb.get("metrics") or {}).get(key), (tn.get("metrics") or {}).get(key)
            status = FAIL if opts.exact and not _same(a, b) else INFO
            checks.append(
                Check(name, task, key, status, _num(a), _num(b), "exact" if opts.exact else "not judged")
            )
        if opts.timing:
            _check_timing(name, task, tb, tn, opts, checks)
    for task in sorted(set(new.tasks) - set(base.tasks)):
        checks.append(Check(name, task, "task", INFO, "missing", "present", "task only in NEW (not judged)"))
    return checks


def _setting_key(s: SettingResults) -> tuple:
    """What pairs a sweep's setting with the other side's: threshold, frames and the other swept axes."""
    sweep = s.results.get("sweep") or {}
    axes = tuple(str(sweep.get(a)) for a in ("grid_pinpoints", "multi_image_layout", "video_layout"))
    return (s.threshold, s.frames) + axes


def compare_paths(baseline: str | Path, new: str | Path, options: CompareOptions | None = None) -> Comparison:
    """Compare two outputs (results.json, run dir or sweep dir). Unusable input raises OutputsError."""
    opts = options or CompareOptions()
    base_settings = load_outputs(baseline)
    new_settings = load_outputs(new)
    comp = Comparison(
        str(baseline), str(new), opts, sides=(_describe(base_settings), _describe(new_settings))
    )
    if len(base_settings) == 1 and len(new_settings) == 1:
        matched = [(base_settings[0], new_settings[0])]
        if _setting_key(base_settings[0]) != _setting_key(new_settings[0]):
            comp.notes.append(
                f"comparing different settings: {base_settings[0].label} vs {new_settings[0].label}"
            )
    else:
        by_key = {_setting_key(s): s for s in new_settings}
        matched = []
        for s in base_settings:
            other = by_key.get(_setting_key(s))
            if other is None:
                comp.checks.append(
                    Check(s.label, "*", "setting", FAIL, "present", "missing", "setting missing in NEW")
                )
            else:
                matched.append((s, other))
    for b, n in matched:
        if b.db_path is None or n.db_path is None:
            comp.notes.append(
                f"{b.label}: no samples.sqlite on {'both sides' if b.db_path is n.db_path else 'one side'}; "
                "scores judged on aggregates (binomial bound), tokens on summaries"
            )
        if opts.timing:
            eb, en = b.results.get("env") or {}, n.results.get("env") or {}
            fields_ = ("device", "gpu", "cpu", "dtype")
            if any(eb.get(k) != en.get(k) for k in fields_):
                comp.notes.append(
                    f"{b.label}: the runs come from different environments "
                    f"({', '.join(f'{k} {eb.get(k)} vs {en.get(k)}' for k in fields_ if eb.get(k) != en.get(k))}); "
                    "timing deltas are not like for like"
                )
        comp.checks += compare_settings(b.label, b, n, opts, comp.notes)
    return comp
