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

from ov_bench.mdtable import BYTES, SHARE, fmt
from ov_bench.outputs.store import SampleRow
from ov_bench.profiling import STAGES
from ov_bench.reports import plots
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


# Page order. Others add theirs here (e.g. a published comparison after metrics_section).
RUN_SECTIONS: list[SectionBuilder] = [
    run_section,
    summary_section,
    caveats_section,
    metrics_section,
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
