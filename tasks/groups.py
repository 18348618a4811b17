"""lmms-eval groups: their members and their group-level metric, read from lmms-eval's group YAML.

A group's YAML (`group: <name>`, `task: [...]`, optional `aggregate_metric_list`) sits in the task
folder of its members. lmms-eval computes a group metric only when the YAML has an
aggregate_metric_list: for each listed metric, the mean of the members' values of every metric whose
name contains it, weighted by each member's number of samples when `weight_by_size` is true
(lmms_eval.evaluator_utils.consolidate_group_results and lmms_eval.api.metrics.aggregate_subtask_metrics;
AggMetricConfig's default is weight_by_size false). `group_aggregates` does that for a run's results.
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


def registered_group_config(group: str) -> GroupConfig:
    """The lmms-eval config of a group some registered task names as its lmms_eval_group."""
    from tasks.registry import task_classes

    dirs = sorted({c.lmms_eval_dir for c in task_classes().values() if c.lmms_eval_group == group})
    if not dirs:
        raise TaskError(f"no registered task belongs to lmms-eval group {group!r}")
    return group_config(group, dirs[0])


def _scored(result: dict) -> int:
    return int(result.get("n", 0)) - int(result.get("errors", 0) or 0)


def group_aggregates(task_results: dict[str, dict]) -> dict[str, dict]:
    """Group metrics as lmms-eval computes them, for every registered group with an
    aggregate_metric_list all of whose members are in `task_results` (results.json's "tasks" block:
    ov-bench task name -> {"n", "errors", "metrics"}). Each member's size is its scored samples (n minus
    errors), lmms-eval's `samples`. Returns group -> {"members", "metrics", "weight_by_size", "n"}."""
    from tasks.registry import groups, lmms_eval_names

    by_lmms = lmms_eval_names()
    out: dict[str, dict] = {}
    for group in groups():
        config = registered_group_config(group)
        if not config.aggregate_metrics:
            continue  # lmms-eval reports no group number for it
        members = [by_lmms.get(m) for m in config.members]
        if not members or any(m is None or m not in task_results for m in members):
            continue
        metrics: dict[str, float] = {}
        weighted: dict[str, bool] = {}
        for metric, weight_by_size in config.aggregate_metrics:
            names = {k for m in members for k in (task_results[m].get("metrics") or {}) if metric in k}
            for key in sorted(names):
                pairs = [
                    (task_results[m]["metrics"][key], _scored(task_results[m]))
                    for m in members
                    if task_results[m]["metrics"].get(key) is not None
                ]
                if not pairs:
                    continue
                from lmms_eval.api.metrics import aggregate_subtask_metrics

                values, sizes = [v for v, _ in pairs], [s for _, s in pairs]
                if weight_by_size and sum(sizes) == 0:
                    continue
                metrics[key] = float(aggregate_subtask_metrics(values, sizes, weight_by_size))
                weighted[key] = weight_by_size
        if metrics:
            out[group] = {
                "members": members,
                "metrics": metrics,
                "weight_by_size": weighted,
                "n": sum(_scored(task_results[m]) for m in members),
            }
    return out
