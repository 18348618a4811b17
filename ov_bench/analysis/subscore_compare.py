"""Sub-scores in ``ov-bench compare BASELINE NEW``: each label of each sub-score dimension the task
names (MMMU per subject, Video-MME per duration, ...) is judged like the main metric, so a regression
confined to one sub-score is named. With per-sample rows on both sides: the paired test (McNemar or a
paired bootstrap) on that label's docs; with results.json alone: the binomial bound on the recorded
sub-score values. A task has many labels, so each test runs at alpha / (number of labels)
(Bonferroni): 30 MMMU subjects at 0.05 each would flag one by chance in most runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def _task(name: str) -> Any:
    try:
        from tasks.registry import get_task

        return get_task(name)
    except (KeyError, ValueError):
        return None


def _labels_of_rows(task: Any, rows: list) -> dict[tuple[str, str], list]:
    """(dimension, label) -> rows (error rows included: the pairing drops them)."""
    out: dict[tuple[str, str], list] = {}
    for r in rows:
        if r.record is None:
            continue
        try:
            keys = task.subscores(r.record)
        except (KeyError, TypeError, AttributeError):  # a record from before the task named sub-scores
            continue
        for dim, label in keys.items():
            out.setdefault((dim, str(label)), []).append(r)
    return out


def subscore_checks(
    name: str,
    task: str,
    base_block: dict[str, Any],
    new_block: dict[str, Any],
    base_rows: list | None,
    new_rows: list | None,
    opts: Any,
    checks: list,
) -> None:
    """Append one check per sub-score label both sides have."""
    from ov_bench.analysis.compare import _metric_aggregate, _metric_paired

    metric = base_block.get("main_metric") or new_block.get("main_metric") or "score"
    if base_rows is not None and new_rows is not None:
        t = _task(task)
        if t is None:
            return
        base_by, new_by = _labels_of_rows(t, base_rows), _labels_of_rows(t, new_rows)
        keys = sorted(set(base_by) & set(new_by))
        if not keys:
            return
        sub_opts = dataclasses.replace(opts, alpha=opts.alpha / len(keys))
        for dim, label in keys:
            tag = f"{metric}[{dim}={label}]"
            _metric_paired(
                name, task, tag, base_by[(dim, label)], new_by[(dim, label)], sub_opts, checks, tag
            )
        return
    groups_b = (base_block.get("subscores") or {}).get("groups") or {}
    groups_n = (new_block.get("subscores") or {}).get("groups") or {}
    keys = sorted(
        (dim, label)
        for dim in set(groups_b) & set(groups_n)
        for label in set(groups_b[dim]) & set(groups_n[dim])
    )
    if not keys:
        return
    sub_opts = dataclasses.replace(opts, alpha=opts.alpha / len(keys))
    for dim, label in keys:
        a, b = groups_b[dim][label], groups_n[dim][label]
        tag = f"{metric}[{dim}={label}]"
        _metric_aggregate(
            name,
            task,
            tag,
            {"metrics": {tag: a.get("value")}, "n": a.get("n", 0), "errors": 0},
            {"metrics": {tag: b.get("value")}, "n": b.get("n", 0), "errors": 0},
            sub_opts,
            checks,
        )
