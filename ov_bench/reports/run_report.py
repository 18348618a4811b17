"""A run's report: report.md and a self-contained report.html (plots embedded), with the PNGs beside them.

Both files render one :class:`~ov_bench.reports.document.Report` built from results.json's content and
the run's rows. Its sections come from :data:`RUN_SECTIONS`, a list of builders
``(RunData) -> Section | None`` (None: nothing to say), in page order. To add a section, write a builder
and put it in the list where it belongs (or pass ``extra`` sections to :func:`write_run_report`); a
section is a title and blocks (``document.Text``, ``Table``, ``Figure``, ... or
``Section.from_html(title, html, markdown)``), written once for both formats.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ov_bench.analysis.published import run_settings, setting_differences
from ov_bench.mdtable import BYTES, SHARE, fmt
from ov_bench.outputs.store import SampleRow
from ov_bench.profiling import STAGES
from ov_bench.published import catalog
from ov_bench.reports import plots, published_report
from ov_bench.reports.document import (
    Bullets,
    Figure,
    Heading,
    Preformatted,
    Report,
    Section,
    Table,
    Text,
)
from ov_bench.reports.examples import PER_KIND, example_blocks
from ov_bench.reports.html_report import write_report_files
from ov_bench.reports.notices import banners
from ov_bench.reports.summary import summary_table

log = logging.getLogger(__name__)

LATENCY_PNG = "latency_stages.png"
TOKENS_PNG = "visual_tokens.png"
MAX_ERRORS_LISTED = 20
RUN_LABEL = "this run"  # the one "setting" of a run's histogram


@dataclass
class RunData:
    """What a section builder reads: results.json's content and the run's rows (samples.sqlite)."""

    results: dict[str, Any]
    rows: Sequence[SampleRow]

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        return self.results["tasks"]

    def task_rows(self, task: str) -> list[SampleRow]:
        return [r for r in self.rows if r.task == task]


SectionBuilder = Callable[[RunData], "Section | None"]


def _figure(name: str, caption: str, build: Callable[[], Any], xlabel: str, ylabel: str) -> Figure | None:
    """A checked figure as PNG, or None (logged) when it cannot be drawn: a plot never fails a run."""
    try:
        fig = build()
        try:
            plots.check_figure(fig, xlabel, ylabel)
            return Figure(name, plots.png_bytes(fig), caption)
        finally:
            plots.close(fig)
    except Exception as exc:
        log.warning("%s left out: %s", name, exc)
        return None


# ----------------------------------------------------------------------------- sections
def run_section(d: RunData) -> Section:
    r = d.results
    model, env, data = r["model"], r["env"], r["data"]
    return Section(
        "Run",
        [
            Bullets(
                [
                    f"created: {r['created']} (ov-bench {r['ov_bench_version']})",
                    f"model: `{model.get('key')}`, adapter {model.get('adapter')}, threshold tau = "
                    f"{fmt(model.get('threshold'))}, image resize {model.get('image_resize')}, random weights "
                    f"{fmt(bool(model.get('random_weights')))}",
                    f"data: {data.get('source')}",
                    f"device: {env.get('device')} ({env.get('gpu') or env.get('cpu')}), dtype {env.get('dtype')}, "
                    f"processes {env.get('processes', 1)}",
                    f"python {env.get('python')}, torch {env.get('torch')}, transformers {env.get('transformers')}",
                ]
            )
        ],
    )


def summary_section(d: RunData) -> Section:
    return Section("Summary", [Preformatted(summary_table(d.results))])


def caveats_section(d: RunData) -> Section:
    rows = []
    for name, t in d.tasks.items():
        media, parse = t.get("media_warnings") or {}, t.get("parse_failures") or {}
        kinds = ", ".join(f"{k.replace('_', ' ')}: {fmt(n)}" for k, n in (media.get("kinds") or {}).items())
        rows.append(
            [
                name,
                parse.get("scored"),
                media.get("count"),
                kinds or "-",
                ", ".join(media.get("doc_ids") or []) or "-",
                parse.get("count"),
                parse.get("share"),
                ", ".join(parse.get("doc_ids") or []) or "-",
            ]
        )
    header = [
        "task",
        "scored",
        "media warnings",
        "kinds",
        "first docs",
        "parse failures",
        "share of scored",
        "first docs",
    ]
    return Section(
        "Media warnings and parse failures",
        [
            Text(
                "Media warnings: media that decoded only with a caveat (a truncated image filled with grey, "
                "as lmms-eval decodes it); those samples are scored, and `--strict-media` makes them error "
                "rows. Parse failures: responses the task could not parse; their score is the task's "
                "fallback (for MMMU a seeded random choice, as lmms-eval), so partly chance."
            ),
            Table(header, rows, units=[None, None, None, None, None, None, SHARE]),
        ],
    )


def metrics_section(d: RunData) -> Section:
    blocks: list[Any] = []
    for name, t in d.tasks.items():
        blocks.append(Heading(f"{name} ({t['modality']}, lmms-eval `{t.get('lmms_eval_name')}`)"))
        metrics = sorted(t["metrics"].items())
        blocks.append(Table(["metric", "value"], metrics, empty="no successful samples"))
    for name, g in (d.results.get("groups") or {}).items():  # lmms-eval's group numbers
        blocks.append(Heading(f"{name} (group of {len(g['members'])} tasks, as lmms-eval aggregates it)"))
        blocks.append(Table(["metric", "value"], sorted(g["metrics"].items())))
    return Section("Metrics", blocks)


def latency_section(d: RunData) -> Section:
    rows = [
        [name, stat] + [t["latency_ms"].get(s, {}).get(stat) for s in STAGES]
        for name, t in d.tasks.items()
        for stat in ("p50", "p90", "mean")
    ]
    blocks: list[Any] = [
        Table(["task", "stat"] + list(STAGES), rows),
        Text(
            "end_to_end = media_decode + preprocess + model call for one sample (what a lone request waits); "
            "the run overlaps decoding of the next samples with the model, so wall time per sample is lower. "
            "ttft spans the model call up to the first token (vision + projector + prefill); decode_per_token "
            "excludes the first token."
        ),
    ]
    means = {n: {s: v["mean"] for s, v in t["latency_ms"].items()} for n, t in d.tasks.items()}
    figure = _figure(
        LATENCY_PNG,
        "Mean latency per sample by stage (ms)",
        lambda: plots.latency_by_task(means),
        plots.TASK_X,
        plots.LATENCY_Y,
    )
    return Section("Latency per stage (ms, successful samples)", blocks + ([figure] if figure else []))


def tokens_section(d: RunData) -> Section:
    rows = []
    for name, t in d.tasks.items():
        v, x = t["visual_tokens"], t["text_tokens"]
        rows.append(
            [
                name,
                v["mean"],
                v["p50"],
                v["p90"],
                v["max"],
                x["mean"],
                t["peak_memory_bytes"],
                t.get("memory_kind"),
            ]
        )
    header = [
        "task",
        "visual mean",
        "visual p50",
        "visual p90",
        "visual max",
        "text mean",
        "peak memory",
        "memory measured as",
    ]
    blocks: list[Any] = [Table(header, rows, units=[None] * 6 + [BYTES])]
    tokens = {
        name: {
            RUN_LABEL: [
                r.visual_tokens_measured for r in d.task_rows(name) if r.ok and r.visual_tokens_measured
            ]
        }
        for name in d.tasks
    }
    figure = _figure(
        TOKENS_PNG,
        "Visual tokens per sample (measured)",
        lambda: plots.token_histograms(tokens, [RUN_LABEL]),
        plots.HIST_X,
        plots.HIST_Y,
    )
    return Section("Tokens and memory", blocks + ([figure] if figure else []))


def examples_section(d: RunData) -> Section | None:
    blocks: list[Any] = []
    for name in d.tasks:
        examples = example_blocks(d.task_rows(name))
        if examples:
            blocks += [Heading(name), *examples]
    if not blocks:
        return None
    intro = Text(
        f"Up to {PER_KIND} right (full credit), wrong and unparseable samples per task, in the task's "
        "seeded order; the prompt is the text the model got (media as placeholders)."
    )
    return Section("Example prompts and responses", [intro, *blocks])


def errors_section(d: RunData) -> Section:
    errors = [r for r in d.rows if r.error]
    blocks: list[Any] = [
        Table(["task", "doc_id", "error"], [[r.task, r.doc_id, r.error] for r in errors[:MAX_ERRORS_LISTED]])
    ]
    if len(errors) > MAX_ERRORS_LISTED:
        blocks.append(Text(f"... and {fmt(len(errors) - MAX_ERRORS_LISTED)} more (see samples.sqlite)"))
    return Section(f"Errors ({fmt(len(errors))})", blocks)


def published_section(d: RunData) -> Section | None:
    """The paper's numbers beside this run's (results.json's ``published`` block), or why there are none."""
    block = d.results.get("published")
    if not block:
        return None
    if not block.get("checkpoint"):
        return Section("Published numbers", [Text(f"No comparison: {block.get('reason')}.")])
    rows = block.get("rows") or []
    blocks: list[Any] = [
        Text(f"Checkpoint `{block['checkpoint']}` ({block.get('recognised')}); {block.get('paper')}."),
        Text(f"**{published_report.headline(rows)}**"),
        Text(published_report.rules_line(block.get("tolerance", 1.0), block.get("max_failure_share", 0.05))),
    ]
    if not rows:
        return Section(
            "Published numbers", [*blocks, Text("This run has none of the published rows' tasks.")]
        )
    reasons, notes = published_report.reasons_and_notes(rows)
    blocks += [Table(published_report.HEADER, [published_report.table_cells(r) for r in rows])]
    blocks += [Text("Reasons:"), Bullets(reasons)] + ([Text("Notes:"), Bullets(notes)] if notes else [])
    return Section("Published numbers", blocks)


def subscores_section(d: RunData) -> Section | None:
    """Each task's sub-scores (per subject, duration, sub-task ...) with their 95% intervals."""
    blocks: list[Any] = []
    for name, t in d.tasks.items():
        block = t.get("subscores")
        if not block:
            continue
        blocks.append(Heading(name))
        for dim, entries in (block.get("groups") or {}).items():
            rows = [
                [
                    label,
                    e["value"],
                    e["n"],
                    "-" if not e.get("ci95") else f"[{e['ci95'][0]:.4g}, {e['ci95'][1]:.4g}]",
                ]
                for label, e in entries.items()
            ]
            caption = f"{block['metric']} per {dim} ({block.get('interval')})"
            blocks.append(Table([dim, block["metric"], "n", "95% interval"], rows, caption=caption))
    return Section("Sub-scores", blocks) if blocks else None


def settings_section(d: RunData) -> Section:
    """Per task, the model settings this run used that differ from the path behind the published numbers
    (lmms-eval's llava_onevision over the original code): the first thing to check when a score differs."""
    block = d.results.get("published") or {}
    family = next((f for f in catalog.families() if f.name == block.get("family")), catalog.families()[0])
    settings, notes = run_settings(d.results)
    rows = []
    for name, t in d.tasks.items():
        diffs, unrecorded = setting_differences(settings, family.evaluated_path, {t["modality"]})
        rows.append([name, "; ".join(diffs) or "none", ", ".join(unrecorded) or "-"])
    evaluated = ", ".join(f"{k} {v}" for k, v in family.evaluated_path.items())
    blocks: list[Any] = [
        Text(
            f"The evaluated path of {family.name} ({evaluated}); only settings that can change a task's inputs "
            "are listed for it."
        ),
        Table(["task", "differs from the evaluated path", "not recorded"], rows),
    ]
    return Section(
        "Settings that differ from the evaluated path", blocks + ([Bullets(notes)] if notes else [])
    )


# Page order. A new section: a builder here.
RUN_SECTIONS: list[SectionBuilder] = [
    run_section,
    summary_section,
    published_section,
    caveats_section,
    metrics_section,
    subscores_section,
    settings_section,
    latency_section,
    tokens_section,
    examples_section,
    errors_section,
]


def build_run_report(
    results: dict[str, Any],
    rows: Sequence[SampleRow],
    builders: Sequence[SectionBuilder] = (),
    extra: Sequence[Section] = (),
) -> Report:
    """The run's report: the sections of ``builders`` (default :data:`RUN_SECTIONS`), then ``extra``."""
    data = RunData(results, rows)
    sections = [s for s in (build(data) for build in (builders or RUN_SECTIONS)) if s is not None]
    return Report(
        f"ov-bench run: {results['model'].get('id')}",
        banners(results.get("model"), results.get("data")),
        sections + list(extra),
    )


def write_run_report(
    output_dir: Path, results: dict[str, Any], rows: Sequence[SampleRow], extra: Sequence[Section] = ()
) -> tuple[Path, Path]:
    return write_report_files(output_dir, build_run_report(results, rows, extra=extra))
