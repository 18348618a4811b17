"""``ov-bench tasks``: every registered benchmark with its ov-bench and lmms-eval names, the paper row it
reproduces and how it is scored; then the lmms-eval groups and the `paper*` suites that `--tasks` takes."""

from __future__ import annotations

import argparse

from tasks.registry import task_classes

NAME = "tasks"
HELP = "list the benchmark tasks (names, paper row, scoring, data), groups and suites"
ORDER = 20

COLUMNS = (
    ("task", "task"),
    ("lmms_eval", "lmms-eval"),
    ("group", "group"),
    ("modality", "modality"),
    ("paper_row", "paper row"),
    ("scoring", "scoring"),
    ("real_docs", "docs"),
    ("layout", "layout"),
    ("dataset", "dataset"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the listing as JSON (elsewhere --json FILE writes a file)"
    )


def task_rows() -> list[dict]:
    rows = []
    for name, cls in task_classes().items():
        task = cls()
        ds = task.dataset
        scoring = cls.scoring
        # e.g. mmbench_en_dev: a configured judge reads the predictions its rules cannot
        if scoring == "local" and getattr(cls, "group_judged", False):
            scoring = "local (judge if configured)"
        rows.append(
            {
                "task": name,
                "lmms_eval": cls.lmms_eval_name,
                "group": cls.lmms_eval_group,
                "modality": cls.modality,
                "paper_row": cls.paper_row,
                "in_paper_suite": bool(cls.paper_row and cls.scoring != "server" and cls.in_paper_suite),
                "scoring": scoring,
                "real_docs": cls.real_docs,
                "layout": "verified" if cls.layout_verified else "inferred",
                "dataset": ds.repo + (f" ({ds.config})" if ds.config else "") + f" [{ds.split}]",
                "main_metric": task.main_metric,
            }
        )
    return rows


def listing() -> dict:
    from tasks import TaskError
    from tasks.registry import SUITES, groups, resolve_task_names, suite_members

    members = {}
    for group, registered in groups().items():
        try:  # what the group name runs, in lmms-eval's order
            members[group] = resolve_task_names([group])
        except TaskError:  # ov-bench lacks a member: the name is refused; list what is registered
            members[group] = registered
    return {
        "tasks": task_rows(),
        "groups": members,
        "suites": {suite: suite_members(suite) for suite in SUITES},
    }


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def execute(args: argparse.Namespace) -> int:
    data = listing()
    if args.json:
        import json

        print(json.dumps(data, indent=2))
        return 0
    rows = data["tasks"]
    widths = {k: max([len(h)] + [len(_cell(r[k])) for r in rows]) for k, h in COLUMNS}
    print("  ".join(h.ljust(widths[k]) for k, h in COLUMNS).rstrip())
    for r in rows:
        print("  ".join(_cell(r[k]).ljust(widths[k]) for k, _ in COLUMNS).rstrip())
    print()
    print("Names: --tasks takes the task or lmms-eval name, a group (every member) or a suite.")
    for group, members in sorted(data["groups"].items()):
        print(f"group {group}: {', '.join(members)}")
    for suite, members in data["suites"].items():
        print(f"suite {suite}: {', '.join(members)}")
    return 0
