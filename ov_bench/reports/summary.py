"""The plain-text summary of a run: the table `ov-bench run` prints at the end (also at the top of
report.md), the run's timing, tasks that wholly failed, media warnings, parse failures, predictions
awaiting the judge, and notices."""

from __future__ import annotations

from typing import Any

from ov_bench.mdtable import BYTES, SECONDS, SHARE, fmt
from ov_bench.outputs.results import failed_tasks
from ov_bench.reports.notices import notice_lines

HEADER = (
    "task",
    "n",
    "errors",
    "main metric",
    "vis tok (mean)",
    "p50 e2e ms",
    "peak mem",
    "samples/s",
    "media warn",
    "parse fail",
)
LEFT = (0, 3)  # columns aligned left; the rest are numbers


def _metric(t: dict[str, Any]) -> str:
    value = t["metrics"].get(t["main_metric"])
    return f"{t['main_metric']}={fmt(value) if isinstance(value, (int, float)) else 'n/a'}"


def _parse_cell(t: dict[str, Any]) -> str:
    parse = t.get("parse_failures")
    if not parse:  # a results.json from before parse failures were counted
        return "-"
    if not parse["count"]:
        return "0"
    return f"{fmt(parse['count'])} ({fmt(parse['share'], SHARE)})"


def _row(name: str, t: dict[str, Any]) -> tuple[str, ...]:
    e2e = t["latency_ms"].get("end_to_end", {}).get("p50")
    media = t.get("media_warnings")
    return (
        name + (" [samples]" if t.get("samples_data") else ""),
        fmt(t["n"]),
        fmt(t["errors"]),
        _metric(t),
        fmt(t["visual_tokens"]["mean"]),
        fmt(e2e),
        fmt(t["peak_memory_bytes"], BYTES),
        fmt(t.get("samples_per_s"), digits=3),
        "-" if media is None else fmt(media["count"]),
        _parse_cell(t),
    )


def caveat_lines(tasks: dict[str, dict[str, Any]]) -> list[str]:
    """One line per task with media warnings, then one per task with parse failures, then one per task
    with predictions awaiting the judge."""
    lines = []
    for name, t in tasks.items():
        media = t.get("media_warnings") or {}
        if media.get("count"):
            kinds = ", ".join(f"{k.replace('_', ' ')}: {fmt(n)}" for k, n in media["kinds"].items())
            lines.append(
                f"media warnings: {name}: {fmt(media['count'])} sample(s) ({kinds}), first doc(s) "
                f"{', '.join(media['doc_ids'])}; scored as lmms-eval decodes them, --strict-media makes "
                "them errors"
            )
    for name, t in tasks.items():
        parse = t.get("parse_failures") or {}
        if parse.get("count"):
            lines.append(
                f"parse failures: {name}: {fmt(parse['count'])} of {fmt(parse['scored'])} scored "
                f"({fmt(parse['share'], SHARE)}), first doc(s) {', '.join(parse['doc_ids'])}"
            )
    for name, t in tasks.items():  # mmbench_en_dev run without --judge-url
        waiting = (t.get("metrics") or {}).get("awaiting_judge")
        if waiting:
            lines.append(
                f"awaiting judge: {name}: {fmt(int(waiting))} prediction(s) its rules cannot read, scored "
                "without the LLM judge; rerun with --judge-url to judge them (the model is not run again)"
            )
    return lines


def summary_table(results: dict[str, Any]) -> str:
    """A fixed-width table: per task n, errors, main metric, mean visual tokens, p50 latency, peak memory,
    samples/s, media warnings and parse failures; then the run's wall time, throughput, model load and
    warm-up, any task that wholly failed, the caveats and the notices (random weights, sample data)."""
    lines = [HEADER] + [_row(name, t) for name, t in results["tasks"].items()]
    widths = [max(len(row[i]) for row in lines) for i in range(len(HEADER))]

    def fmt_row(row: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i in LEFT else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        ).rstrip()

    out = [fmt_row(lines[0]), "  ".join("-" * w for w in widths)] + [fmt_row(r) for r in lines[1:]]
    run = results.get("run", {})
    if "wall_s" in run:
        out.append(
            f"run: {fmt(run['samples'])} sample(s) in {fmt(run['wall_s'], SECONDS)} "
            f"({fmt(run['samples_per_s'], digits=3)} samples/s, model load and warm-up excluded); "
            f"model load {fmt(run['model_load_s'], SECONDS)}, warm-up {fmt(run['warmup_s'], SECONDS)}"
        )
    for name in failed_tasks(results):
        top = results["tasks"][name].get("top_error") or {}
        out.append(
            f"FAILED: every sample of {name} ended in an error; top reason: {top.get('stage')} "
            f"({top.get('count')} of {results['tasks'][name]['n']}), e.g. {top.get('example')}"
        )
    out += caveat_lines(results["tasks"])
    out += notice_lines(results.get("model"), results.get("data"))
    return "\n".join(out)
