"""A run's outputs on disk: results.json, report.md (and a latency-breakdown PNG), and the printed summary."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ov_bench.mdtable import fmt_number, md_table
from ov_bench.outputs.results import REPORT_MD, SAMPLES_NOTE, failed_tasks
from ov_bench.outputs.run_outputs import write_results_json
from ov_bench.outputs.store import SampleRow
from ov_bench.profiling import SEQUENTIAL_STAGES, STAGES

log = logging.getLogger(__name__)

PLOT_STAGES = SEQUENTIAL_STAGES
MAX_ERRORS_LISTED = 20


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return md_table(header, rows).splitlines()


def summary_table(results: dict[str, Any]) -> str:
    """A fixed-width table: per task n, errors, main metric, mean visual tokens, p50 latency, peak memory,
    samples/s; then the run's wall time, throughput, model load and warm-up, and any task that wholly failed."""
    header = (
        "task",
        "n",
        "errors",
        "main metric",
        "vis tok (mean)",
        "p50 e2e ms",
        "peak mem MiB",
        "samples/s",
    )
    lines = [header]
    for name, t in results["tasks"].items():
        metric = t["metrics"].get(t["main_metric"])
        metric_s = (
            f"{t['main_metric']}={metric:.4g}"
            if isinstance(metric, (int, float))
            else f"{t['main_metric']}=n/a"
        )
        vis = t["visual_tokens"]["mean"]
        e2e = t["latency_ms"].get("end_to_end", {}).get("p50")
        peak = t["peak_memory_bytes"]
        lines.append(
            (
                name + (" [samples]" if t.get("samples_data") else ""),
                str(t["n"]),
                str(t["errors"]),
                metric_s,
                "-" if vis is None else f"{vis:.1f}",
                "-" if e2e is None else f"{e2e:.1f}",
                "-" if peak is None else f"{peak / 2**20:.1f}",
                fmt_number(t.get("samples_per_s"), ".3g"),
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in (0, 3) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        )

    out = [fmt(lines[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in lines[1:]]
    run = results.get("run", {})
    if "wall_s" in run:
        out.append(
            f"run: {run['samples']} sample(s) in {fmt_number(run['wall_s'], '.2f')} s "
            f"({fmt_number(run['samples_per_s'], '.3g')} samples/s, model load and warm-up excluded); "
            f"model load {fmt_number(run['model_load_s'], '.2f')} s, warm-up {fmt_number(run['warmup_s'], '.2f')} s"
        )
    for name in failed_tasks(results):
        top = results["tasks"][name].get("top_error") or {}
        out.append(
            f"FAILED: every sample of {name} ended in an error; top reason: {top.get('stage')} "
            f"({top.get('count')} of {results['tasks'][name]['n']}), e.g. {top.get('example')}"
        )
    if results["data"].get("samples"):
        out.append(f"note: {SAMPLES_NOTE}")
    return "\n".join(out)


def write_outputs(output_dir: Path, results: dict[str, Any], rows: Sequence[SampleRow]) -> None:
    """results.json (atomically) and report.md into ``output_dir``."""
    output_dir = Path(output_dir)
    write_results_json(output_dir, results)
    write_report(output_dir, results, rows)


def render_report(results: dict[str, Any], rows: Sequence[SampleRow], plot: str | None = None) -> str:
    model, env, data = results["model"], results["env"], results["data"]
    out = [f"# ov-bench run: {model.get('id')}", ""]
    if data.get("samples"):
        out += [f"> **{data.get('note')}**", ""]
    if model.get("random_weights"):
        out += [
            "> **RANDOM WEIGHTS** (`random_weights: true`): a preset architecture, not a trained checkpoint; "
            "scores mean nothing, latency, memory and token counts are real.",
            "",
        ]
    out += [
        f"- created: {results['created']} (ov-bench {results['ov_bench_version']})",
        f"- model: `{model.get('key')}`, adapter {model.get('adapter')}, threshold tau = {model.get('threshold')}, "
        f"image resize {model.get('image_resize')}, random weights {bool(model.get('random_weights'))}",
        f"- data: {data.get('source')}",
        f"- device: {env.get('device')} ({env.get('gpu') or env.get('cpu')}), dtype {env.get('dtype')}, "
        f"processes {env.get('processes', 1)}",
        f"- python {env.get('python')}, torch {env.get('torch')}, transformers {env.get('transformers')}",
        "",
        "## Summary",
        "",
        "```",
        summary_table(results),
        "```",
        "",
        "## Metrics",
        "",
    ]
    for name, t in results["tasks"].items():
        metrics = sorted(t["metrics"].items())
        out += [f"### {name} ({t['modality']}, lmms-eval `{t.get('lmms_eval_name')}`)", ""]
        out += _table(["metric", "value"], metrics) if metrics else ["no successful samples"]
        out.append("")
    out += ["## Latency per stage (ms, successful samples)", ""]
    header = ["task", "stat"] + [s for s in STAGES]
    table_rows = []
    for name, t in results["tasks"].items():
        for stat in ("p50", "p90", "mean"):
            table_rows.append([name, stat] + [t["latency_ms"].get(s, {}).get(stat) for s in STAGES])
    out += _table(header, table_rows)
    out += [
        "",
        "end_to_end = media_decode + preprocess + model call for one sample (what a lone request waits); the run "
        "overlaps decoding of the next samples with the model, so wall time per sample is lower. ttft spans the "
        "model call up to the first token (vision + projector + prefill); decode_per_token excludes the first token.",
        "",
    ]
    if plot:
        out += [f"![latency per stage]({plot})", ""]
    out += ["## Tokens and memory", ""]
    tok_rows = []
    for name, t in results["tasks"].items():
        v, x = t["visual_tokens"], t["text_tokens"]
        peak = t["peak_memory_bytes"]
        tok_rows.append(
            [
                name,
                v["mean"],
                v["p50"],
                v["p90"],
                v["max"],
                x["mean"],
                None if peak is None else f"{peak / 2**20:.1f}",
                t.get("memory_kind"),
            ]
        )
    out += _table(
        [
            "task",
            "visual mean",
            "visual p50",
            "visual p90",
            "visual max",
            "text mean",
            "peak MiB",
            "memory measured as",
        ],
        tok_rows,
    )
    errors = [r for r in rows if r.error]
    out += ["", f"## Errors ({len(errors)})", ""]
    if errors:
        out += _table(
            ["task", "doc_id", "error"], [[r.task, r.doc_id, r.error] for r in errors[:MAX_ERRORS_LISTED]]
        )
        if len(errors) > MAX_ERRORS_LISTED:
            out.append(f"\n... and {len(errors) - MAX_ERRORS_LISTED} more (see samples.sqlite)")
    else:
        out.append("none")
    out.append("")
    return "\n".join(out)


def plot_latency(results: dict[str, Any], path: Path) -> bool:
    """Stacked p50 latency per stage and task. Returns False when matplotlib is unavailable."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a declared dependency
        return False
    names = list(results["tasks"])
    if not names:
        return False
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(names) + 2), 3.5))
    bottoms = [0.0] * len(names)
    for stage in PLOT_STAGES:
        values = [results["tasks"][n]["latency_ms"].get(stage, {}).get("p50") or 0.0 for n in names]
        ax.bar(names, values, bottom=bottoms, label=stage)
        bottoms = [b + v for b, v in zip(bottoms, values)]
    ax.set_ylabel("p50 latency (ms)")
    ax.set_title("Latency per stage")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_report(output_dir: Path, results: dict[str, Any], rows: Sequence[SampleRow]) -> Path:
    output_dir = Path(output_dir)
    plot_name = "latency_stages.png"
    try:
        has_plot = plot_latency(results, output_dir / plot_name)
    except Exception as exc:  # a plot must never fail the run
        log.warning("latency plot skipped: %s", exc)
        has_plot = False
    path = output_dir / REPORT_MD
    path.write_text(render_report(results, rows, plot_name if has_plot else None))
    return path
