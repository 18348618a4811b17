"""report.md's sub-score tables (results.json's ``subscores`` block of a task)."""

from __future__ import annotations

from typing import Any

from ov_bench.mdtable import md_table


def subscores_markdown(task_block: dict[str, Any]) -> list[str]:
    """One table per sub-score dimension: label, value, documents, 95% interval."""
    block = task_block.get("subscores")
    if not block:
        return []
    out = []
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
        out += [f"{block['metric']} per {dim} ({block.get('interval')}):", ""]
        out += md_table([dim, block["metric"], "n", "95% interval"], rows).splitlines() + [""]
    return out
