"""report.md (and a latency-breakdown PNG) for one run's output directory."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ov_bench.outputs.store import SampleRow

log = logging.getLogger(__name__)

STAGE_ORDER = ("media_decode", "preprocess", "vision_encoder", "projector_packing", "prefill", "ttft",
               "decode", "decode_per_token", "end_to_end")
PLOT_STAGES = ("media_decode", "preprocess", "vision_encoder", "projector_packing", "prefill", "decode")
MAX_ERRORS_LISTED = 20


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines


def render_report(results: dict[str, Any], rows: Sequence[SampleRow], plot: str | None = None) -> str:
    from ov_bench.outputs.results import summary_table

    model, env, data = results["model"], results["env"], results["data"]
    out = [f"# ov-bench run: {model.get('id')}", ""]
    if data.get("samples"):
        out += [f"> **{data.get('note')}**", ""]
    out += [
        f"- created: {results['created']} (ov-bench {results['ov_bench_version']})",
        f"- model: `{model.get('key')}`, adapter {model.get('adapter')}, threshold tau = {model.get('threshold')}",
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
    header = ["task", "stat"] + [s for s in STAGE_ORDER]
    table_rows = []
    for name, t in results["tasks"].items():
        for stat in ("p50", "p90", "mean"):
            table_rows.append([name, stat] + [t["latency_ms"].get(s, {}).get(stat) for s in STAGE_ORDER])
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
        tok_rows.append([name, v["mean"], v["p50"], v["p90"], v["max"], x["mean"],
                         None if peak is None else f"{peak / 2**20:.1f}", t.get("memory_kind")])
    out += _table(["task", "visual mean", "visual p50", "visual p90", "visual max", "text mean",
                   "peak MiB", "memory measured as"], tok_rows)
    errors = [r for r in rows if r.error]
    out += ["", f"## Errors ({len(errors)})", ""]
    if errors:
        out += _table(["task", "doc_id", "error"],
                      [[r.task, r.doc_id, r.error.replace("|", "\\|")] for r in errors[:MAX_ERRORS_LISTED]])
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
    from ov_bench.outputs.results import REPORT_MD

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
