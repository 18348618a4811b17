"""lmms-eval groups: their members and their group-level metric, read from lmms-eval's group YAML.

A group's YAML (`group: <name>`, `task: [...]`, optional `aggregate_metric_list`) sits in the task
folder of its members. lmms-eval computes a group metric only when the YAML has an
aggregate_metric_list: for each listed metric, the mean of the members' values of every metric whose
name contains it, weighted by each member's number of samples when `weight_by_size` is true
(lmms_eval.evaluator_utils.consolidate_group_results and lmms_eval.api.metrics.aggregate_subtask_metrics;
AggMetricConfig's default is weight_by_size false); tasks/group_metrics.py does that for a run's results.
This module reads lmms-eval's YAML only; which ov-bench tasks belong to a group is the registry's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from tasks.lmms import lmms_eval_tasks_dir, load_task_yaml
from tasks.records import TaskError


@dataclass(frozen=True)
class GroupConfig:
    name: str
    members: tuple[str, ...]  # lmms-eval task names, tags expanded, in the YAML's order
    aggregate_metrics: tuple[tuple[str, bool], ...]  # (metric, weight_by_size)


@functools.cache
def _folder_yamls(task_dir: str) -> tuple[tuple[str, dict], ...]:
    folder = lmms_eval_tasks_dir() / task_dir
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            out.append((path.name, load_task_yaml(task_dir, path.name)))
        except Exception:  # a YAML lmms-eval itself would not load: not a group definition we need
            continue
    return tuple(out)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


@functools.cache
def group_config(group: str, task_dir: str) -> GroupConfig:
    """The group `group` as defined in lmms_eval/tasks/<task_dir>/ (TaskError if it is not there)."""
    yamls = _folder_yamls(task_dir)
    found = [c for _, c in yamls if c.get("group") == group]
    if not found:
        raise TaskError(f"lmms-eval has no group {group!r} in tasks/{task_dir}")
    config = found[0]
    tasks_here = {str(c["task"]): c for _, c in yamls if isinstance(c.get("task"), str)}
    members: list[str] = []
    for entry in _as_list(config.get("task")):
        if entry in tasks_here:
            members.append(entry)
        else:  # a tag: every task of the folder carrying it
            members.extend(t for t, c in tasks_here.items() if entry in _as_list(c.get("tag")))
    aggregates = []
    for item in config.get("aggregate_metric_list") or []:
        if isinstance(item, dict) and item.get("metric"):
            aggregates.append((str(item["metric"]), bool(item.get("weight_by_size", False))))
    return GroupConfig(group, tuple(dict.fromkeys(members)), tuple(aggregates))
