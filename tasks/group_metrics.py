"""Group-level metrics of a run, as lmms-eval computes them from its group YAML (tasks/groups.py)."""

from __future__ import annotations

from tasks.registry import groups, lmms_eval_names, registered_group_config


def _scored(result: dict) -> int:
    return int(result.get("n", 0)) - int(result.get("errors", 0) or 0)


def group_aggregates(task_results: dict[str, dict]) -> dict[str, dict]:
    """Group metrics as lmms-eval computes them, for every registered group with an
    aggregate_metric_list all of whose members are in `task_results` (results.json's "tasks" block:
    ov-bench task name -> {"n", "errors", "metrics"}). Each member's size is its scored samples (n minus
    errors), lmms-eval's `samples`. Returns group -> {"members", "metrics", "weight_by_size", "n"}."""
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
                # lmms_eval.api.metrics.aggregate_subtask_metrics: sizes all 1 unless weight_by_size
                sizes = [s if weight_by_size else 1 for _, s in pairs]
                if sum(sizes) == 0:
                    continue
                metrics[key] = float(sum(v * s for (v, _), s in zip(pairs, sizes)) / sum(sizes))
                weighted[key] = weight_by_size
        if metrics:
            out[group] = {
                "members": members,
                "metrics": metrics,
                "weight_by_size": weighted,
                "n": sum(_scored(task_results[m]) for m in members),
            }
    return out
