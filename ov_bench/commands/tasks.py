"""``ov-bench tasks``: the registered benchmarks with modality and dataset."""

from __future__ import annotations

import argparse

from tasks import get_task, list_tasks

NAME = "tasks"
HELP = "list the benchmark tasks (modality, hub dataset, main metric)"
ORDER = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def task_rows() -> list[dict]:
    rows = []
    for name in list_tasks():
        task = get_task(name)
        ds = task.dataset
        dataset = ds.repo + (f" ({ds.config})" if getattr(ds, "config", None) else "") + f" [{ds.split}]"
        rows.append(
            {
                "task": name,
                "modality": task.modality,
                "dataset": dataset,
                "lmms_eval": getattr(task, "lmms_eval_name", ""),
                "main_metric": task.main_metric,
            }
        )
    return rows


def execute(args: argparse.Namespace) -> int:
    rows = task_rows()
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    cols = ("task", "modality", "dataset", "lmms_eval", "main_metric")
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    return 0
