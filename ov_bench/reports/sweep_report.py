"""The sweep's report: report.md + a self-contained report.html, with the PNG plots beside them.

Tables: per task and setting (metric, mean score with a bootstrap CI, visual tokens, latency, peak
memory), paired deltas against the reference setting (score delta with paired bootstrap CI, McNemar
p-value for right/wrong scores, token / latency / memory deltas), mean latency per stage, media
warnings and parse failures. Both files render one document.Report (banners: random weights, sample
data). Figures:
accuracy vs mean visual tokens (with CIs), latency by stage (stacked bars), peak memory, visual-token
histograms. A figure is checked (labels, non-empty data) before it is saved; one that cannot be
drawn (say, every sample failed) is left out with a note instead of failing the sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ov_bench.analysis.stats import bootstrap_mean
from ov_bench.mdtable import BYTES, SECONDS, SHARE, fmt, md_table
from ov_bench.outputs.store import SampleRow
from ov_bench.reports import plots
from ov_bench.reports.document import Bullets, Figure, Report, Section, Table, Text
from ov_bench.reports.html_report import write_report_files
from ov_bench.reports.notices import banners, notice_lines

log = logging.getLogger(__name__)

FIGURES = {
    "accuracy_vs_tokens.png": (
        "Accuracy against mean visual tokens (bootstrap 95% CI per setting)",
        plots.ACCURACY_X,
        plots.ACCURACY_Y,
    ),
    "latency_by_stage.png": ("Mean latency per sample by stage", plots.SETTING_X, plots.LATENCY_Y),
    "peak_memory.png": ("Peak memory per setting", plots.SETTING_X, plots.MEMORY_Y),
    "visual_token_histograms.png": ("Visual tokens per sample", plots.HIST_X, plots.HIST_Y),
}


@dataclass
class ReportData:
    settings: list[str]
    tasks: list[str]
    summary: list[dict[str, Any]] = field(default_factory=list)
    deltas: list[dict[str, Any]] = field(default_factory=list)
    latency_rows: list[dict[str, Any]] = field(default_factory=list)
    points: dict[str, list[plots.Point]] = field(default_factory=dict)
    latency: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    memory: dict[str, dict[str, float]] = field(default_factory=dict)
    tokens: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    caveats: list[dict[str, Any]] = field(default_factory=list)


# Columns whose cells carry their unit (the rest name it in the header).
UNITS = {"peak memory": BYTES, "memory delta": BYTES, "parse failure share": SHARE}


def collect(
    sweep: dict[str, Any],
    results: dict[str, dict[str, Any]],
    rows: dict[str, list[SampleRow]],
    n_boot: int = 2000,
    seed: int = 0,
) -> ReportData:
    settings = [s["label"] for s in sweep["settings"]]
    data = ReportData(settings, list(sweep["tasks"]))
    for task in data.tasks:
        data.points[task], data.latency[task], data.memory[task], data.tokens[task] = [], {}, {}, {}
        for label in settings:
            t = results[label]["tasks"].get(task)
            if t is None:
                continue
            ok = [r for r in rows[label] if r.task == task and r.ok]
            scores = [r.score for r in ok if r.score is not None]
            ci = bootstrap_mean(scores, n_boot=n_boot, seed=seed) if scores else None
            vis = t["visual_tokens"]
            metric = t.get("main_metric")
            data.summary.append(
                {
                    "task": task,
                    "setting": label,
                    "n": t["n"],
                    "errors": t["errors"],
                    "main metric": metric,
                    "value": (t.get("metrics") or {}).get(metric),
                    "mean score": None if ci is None else ci.estimate,
                    "CI low": None if ci is None else ci.low,
                    "CI high": None if ci is None else ci.high,
                    "visual mean": vis.get("mean"),
                    "visual p50": vis.get("p50"),
                    "visual p90": vis.get("p90"),
                    "visual max": vis.get("max"),
                    "e2e p50 ms": (t.get("latency_ms") or {}).get("end_to_end", {}).get("p50"),
                    "peak memory": t.get("peak_memory_bytes"),
                }
            )
            media, parse = t.get("media_warnings") or {}, t.get("parse_failures") or {}
            data.caveats.append(
                {
                    "task": task,
                    "setting": label,
                    "scored": parse.get("scored"),
                    "media warnings": media.get("count"),
                    "parse failures": parse.get("count"),
                    "parse failure share": parse.get("share"),
                }
            )
            if ci is not None and vis.get("mean") is not None:
                data.points[task].append(plots.Point(label, vis["mean"], ci.estimate, ci.low, ci.high))
            stage_means = {}
            for stage in plots.STAGES + ("ttft", "end_to_end"):
                values = [r.latency_ms[stage] for r in ok if stage in r.latency_ms]
                if values:
                    stage_means[stage] = sum(values) / len(values)
            if stage_means:
                data.latency[task][label] = stage_means
                data.latency_rows.append(
                    {
                        "task": task,
                        "setting": label,
                        **{s: stage_means.get(s) for s in plots.STAGES + ("ttft", "end_to_end")},
                    }
                )
            if t.get("peak_memory_bytes"):
                data.memory[task][label] = float(t["peak_memory_bytes"])
            toks = [r.visual_tokens_measured for r in ok if r.visual_tokens_measured is not None]
            if toks:
                data.tokens[task][label] = toks
    for d in sweep.get("comparisons", []):
        data.deltas.append(
            {
                "task": d["task"],
                "setting": d["new"],
                "vs": d["base"],
                "pairs": d["n_pairs"],
                "score delta": d["score_delta"],
                "CI low": d["ci_low"],
                "CI high": d["ci_high"],
                "McNemar p": d["p_value"],
                "test": (d.get("mcnemar") or {}).get("method")
                if d.get("mcnemar")
                else ("bootstrap" if d["score_delta"] is not None else None),
                "tokens delta": d["tokens_delta"],
                "e2e delta ms": d["latency_delta_ms"],
                "memory delta": d["memory_delta_bytes"],
            }
        )
    return data


def build_figures(data: ReportData) -> tuple[dict[str, Any], list[str]]:
    """Figures by file name, each checked; notes for the ones that could not be drawn."""
    builders = {
        "accuracy_vs_tokens.png": lambda: plots.accuracy_vs_tokens(data.points),
        "latency_by_stage.png": lambda: plots.latency_stages(data.latency, data.settings),
        "peak_memory.png": lambda: plots.peak_memory(data.memory, data.settings),
        "visual_token_histograms.png": lambda: plots.token_histograms(data.tokens, data.settings),
    }
    figures, notes = {}, []
    for name, build in builders.items():
        _, xlabel, ylabel = FIGURES[name]
        try:
            fig = build()
            plots.check_figure(fig, xlabel, ylabel)
        except ValueError as exc:
            notes.append(f"{name} left out: {exc}")
            continue
        figures[name] = fig
    return figures, notes


def records_table(records: Sequence[dict[str, Any]]) -> Table:
    """Records (one dict per row, the same keys) as a table; byte columns carry their unit."""
    header = list(records[0]) if records else []
    return Table(header, [[r.get(h) for h in header] for r in records], [UNITS.get(h) for h in header])


def _header_lines(sweep: dict[str, Any]) -> list[str]:
    model, env, work = sweep.get("model") or {}, sweep.get("env") or {}, sweep.get("work") or {}
    data = sweep.get("data") or {}
    wall = fmt(work.get("wall_s", 0), SECONDS)
    lines = [
        f"model `{model.get('key')}` ({model.get('adapter')}), data {data.get('source')}, "
        f"device {env.get('device')} ({env.get('gpu') or env.get('cpu')}), dtype {env.get('dtype')}",
        f"settings: {', '.join(s['label'] for s in sweep['settings'])}; paired comparisons against "
        f"{sweep.get('reference')}",
    ]
    if sweep.get("shared"):
        lines.append("shared work: " + "; ".join(sweep["shared"]) + f"; wall time {wall}")
    elif sweep.get("mode") == "shared-vision":
        lines.append(
            f"shared work: {fmt(work.get('units'))} sample decodes, {fmt(work.get('encoded'))} vision-encoder "
            f"passes, {fmt(work.get('llm_runs'))} LLM runs, {fmt(work.get('reused'))} rows reused from an "
            f"identical input under another setting; wall time {wall}"
        )
    else:
        lines.append(f"separate runs per setting ({model.get('adapter')} adapter); wall time {wall}")
    return lines


DELTAS_NOTE = (
    "score delta = mean(setting - reference) over samples finished in both settings, with a 95% paired "
    "bootstrap CI; McNemar p for right/wrong scores; tokens / latency (end to end, mean) / memory deltas over "
    "the same pairs."
)
CAVEATS_NOTE = (
    "Media warnings: samples whose media decoded only with a caveat (a truncated image filled with grey, as "
    "lmms-eval decodes it), scored; `--strict-media` makes them errors. Parse failures: scored samples whose "
    "response the task could not parse (the task's fallback score)."
)


def build_sweep_report(
    sweep: dict[str, Any], data: ReportData, figures: Sequence[Figure], notes: Sequence[str]
) -> Report:
    sections = [
        Section("Sweep", [Bullets(_header_lines(sweep))]),
        Section("Per setting", [records_table(data.summary)]),
        Section(
            f"Paired deltas against {sweep.get('reference')}", [Text(DELTAS_NOTE), records_table(data.deltas)]
        ),
        Section("Mean latency per stage (ms)", [records_table(data.latency_rows)]),
        Section("Media warnings and parse failures", [Text(CAVEATS_NOTE), records_table(data.caveats)]),
        Section("Figures", list(figures) + ([Bullets(list(notes))] if notes else [])),
    ]
    return Report("ov-bench sweep", banners(sweep.get("model"), sweep.get("data")), sections)


def write_sweep_report(
    output_dir: Path,
    sweep: dict[str, Any],
    results: dict[str, dict[str, Any]],
    rows: dict[str, list[SampleRow]],
) -> tuple[Path, Path]:
    """report.md, report.html and the figures' PNGs into the sweep's directory."""
    data = collect(sweep, results, rows)
    built, notes = build_figures(data)
    figures = []
    for name, fig in built.items():
        figures.append(Figure(name, plots.png_bytes(fig), FIGURES[name][0]))
        plots.close(fig)
    return write_report_files(output_dir, build_sweep_report(sweep, data, figures, notes))


def summary_text(sweep: dict[str, Any], results: dict[str, dict[str, Any]]) -> str:
    """The table printed at the end of `ov-bench sweep`."""
    table = []
    for s in sweep["settings"]:
        for task, t in results[s["label"]]["tasks"].items():
            metric = t.get("main_metric")
            e2e = (t.get("latency_ms") or {}).get("end_to_end", {}).get("p50")
            table.append(
                [
                    task,
                    s["label"],
                    t["n"],
                    t["errors"],
                    f"{metric}={fmt((t.get('metrics') or {}).get(metric))}",
                    t["visual_tokens"].get("mean"),
                    e2e,
                    t.get("peak_memory_bytes"),
                    (t.get("media_warnings") or {}).get("count"),
                    (t.get("parse_failures") or {}).get("share"),
                ]
            )
    header = ["task", "setting", "n", "errors", "main metric", "visual mean", "e2e p50 ms", "peak memory"]
    header += ["media warnings", "parse failures"]
    lines = _header_lines(sweep) + ["", md_table(header, table, units=[None] * 7 + [BYTES, None, SHARE])]
    return "\n".join(lines + notice_lines(sweep.get("model"), sweep.get("data")))
