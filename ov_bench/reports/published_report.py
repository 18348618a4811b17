"""The published-comparison table in Markdown: for ``ov-bench compare published:KEY RUN`` (a PR comment)
and for a run's report.md (from results.json's ``published`` block). Both render the same row objects
(``RowResult.to_json()``), so the two never disagree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ov_bench.mdtable import md_table

HEADER = [
    "paper row",
    "task",
    "metric",
    "published",
    "measured",
    "diff",
    "n",
    "docs",
    "95% interval",
    "verdict",
]


def _digits(printed: str) -> int:
    return len(printed.split(".", 1)[1]) if "." in printed else 0


def _fmt(value: float | None, digits: int, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def table_cells(row: dict[str, Any]) -> list[str]:
    """One row's cells as printed (one digit past the published value's)."""
    digits = _digits(row["published_printed"]) + 1  # one digit past the printed ones
    published = row["published_printed"] + (
        f" (Table 2: {row['table2']:g})" if row.get("table2") is not None else ""
    )
    n = "-" if row.get("n") is None else str(row["n"])
    if row.get("split_docs") is not None:
        n += f"/{row['split_docs']}"
    interval = row.get("interval")
    verdict = (
        row["verdict"] if row["verdict"] in ("reproduced", "not comparable") else f"**{row['verdict']}**"
    )
    return [
        row["row"],
        row["task"],
        row["metric"],
        published,
        _fmt(row.get("measured"), digits),
        _fmt(row.get("difference"), digits, signed=True),
        n,
        "-" if row.get("docs_to_close") is None else str(row["docs_to_close"]),
        "-" if interval is None else f"[{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]",
        verdict,
    ]


def headline(rows: Sequence[dict[str, Any]]) -> str:
    comparable = [r for r in rows if r["verdict"] != "not comparable"]
    failed = [r for r in comparable if r["verdict"] in ("below", "above")]
    others = len(rows) - len(comparable)
    tail = f" ({others} not comparable)" if others else ""
    if not comparable:
        return f"PASS: nothing comparable, no published row can be judged on this run{tail}"
    if failed:
        names = ", ".join(f"{r['task']} {r['metric']} {r['verdict']}" for r in failed[:4])
        more = " ..." if len(failed) > 4 else ""
        return (
            f"FAIL: {len(failed)} of {len(comparable)} comparable row(s) not reproduced ({names}{more}){tail}"
        )
    return f"PASS: all {len(comparable)} comparable row(s) reproduced{tail}"


def reasons_and_notes(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The verdicts' reasons (rows sharing a verdict and reason listed together) and the notes (each once,
    with the tasks it concerns)."""
    by_reason: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        by_reason.setdefault((r["verdict"], r["reason"]), []).append(r["row"])
    reasons = [f"{', '.join(names)}: {verdict}: {reason}" for (verdict, reason), names in by_reason.items()]
    notes: dict[str, list[str]] = {}
    for r in rows:
        for note in r.get("notes") or []:
            notes.setdefault(note, [])
            if r["task"] not in notes[note]:
                notes[note].append(r["task"])
    return reasons, [f"{note} ({', '.join(tasks)})" for note, tasks in notes.items()]


def rows_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The table, the reasons, and the notes."""
    reasons, notes = reasons_and_notes(rows)
    out = [md_table(HEADER, [table_cells(r) for r in rows]), "", "Reasons:", ""]
    out += [f"- {line}" for line in reasons]
    if notes:
        out += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    return out


def rules_line(tolerance: float, max_failure_share: float) -> str:
    return (
        "Verdicts: on the full split, |measured - published| within the printed rounding (half a unit of its "
        f"last digit) plus {tolerance:g}% of the metric's full scale; on a subset, the published value inside "
        "the 95% interval of the full split's value (stratified bootstrap with finite-population correction). "
        f"Not comparable: sample data, other settings, splits, sub-task sets or judges, changed task "
        f"definitions, server-only scores, failures above {max_failure_share:g} of the documents. "
        "docs = at least how many documents' answers would have to change to close the gap."
    )


def comparison_markdown(comp: Any) -> str:
    """``ov-bench compare published:KEY RUN``'s summary (a PublishedComparison)."""
    rows = comp.to_json()
    fam = comp.family
    names = ", ".join(f"`{n}`" for n in fam.checkpoints[comp.checkpoint])
    out = [f"## ov-bench compare: published `{comp.checkpoint}` vs `{comp.run}`: {headline(rows)}", ""]
    out += [
        f"- published: {fam.paper} ({names})",
        f"- run: `{comp.run}`" + (f" ({comp.recognised})" if comp.recognised else ""),
        f"- {rules_line(comp.options.tolerance, comp.options.max_failure_share)}",
        "",
    ]
    out += [f"> {n}" for n in comp.notes] + ([""] if comp.notes else [])
    if rows:
        out += rows_markdown(rows)
    else:
        out.append("The run has none of the published rows' tasks.")
    if comp.absent:
        out += ["", f"<details><summary>Published rows not in this run ({len(comp.absent)})</summary>", ""]
        out += [f"- {pv.row.row}: {pv.row.task} {pv.row.metric} = {pv.printed}" for pv in comp.absent]
        out += ["", "</details>"]
    return "\n".join(out) + "\n"
