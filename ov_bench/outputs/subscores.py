"""Sub-scores of a task for results.json: its main metric per label of each dimension the task names
(``Task.subscores(record)``: MMMU per subject and discipline, Video-MME per duration, MVBench per
sub-task, MME per category, the LLaVA-Interleave bench per Table-4 column), each with a 95% percentile
bootstrap interval over its documents (the benchmark as a sample of questions; fixed seed; deviations
scaled by sqrt(n/(n-1)), see ov_bench.outputs.intervals); a label with one document has none.

The value follows the task's own metric structure (``Task.estimator``): MME's category score counts
image pairs (accuracy + both-right), an interleave column is the mean of its sub-tasks' scores, and
so on, so a sub-score equals what the task's aggregation gives on that label's records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ov_bench.outputs.intervals import DEFAULT_BOOT, bootstrap_design
from ov_bench.outputs.store import SampleRow
from tasks.estimators import design, for_subscore

CONFIDENCE = 0.95


def scored_pairs(rows: Sequence[SampleRow]) -> list[tuple[float, dict]]:
    """(score, record) of the rows that finished without an error."""
    return [(r.score, r.record) for r in rows if r.ok and r.score is not None and r.record is not None]


def labelled(
    task: Any, pairs: Sequence[tuple[float, dict]]
) -> dict[str, dict[str, list[tuple[float, dict]]]]:
    """dimension -> label -> the (score, record) pairs carrying that label."""
    out: dict[str, dict[str, list[tuple[float, dict]]]] = {}
    for score, record in pairs:
        try:
            keys = task.subscores(record)
        except (KeyError, TypeError, AttributeError):  # a record from before the task named sub-scores
            continue
        for dim, label in keys.items():
            out.setdefault(dim, {}).setdefault(str(label), []).append((score, record))
    return out


def subscore_block(
    task: Any, rows: Sequence[SampleRow], n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> dict[str, Any] | None:
    """results.json's ``subscores`` of a task, or None when it names none."""
    estimator = task.estimator(task.main_metric)
    if estimator is None:
        return None
    by_dim = labelled(task, scored_pairs(rows))
    if not by_dim:
        return None
    sub = for_subscore(estimator)
    groups: dict[str, dict[str, Any]] = {}
    for dim in sorted(by_dim):
        entries = {}
        for label in sorted(by_dim[dim]):
            d = design(sub, by_dim[dim][label])
            if not d.units:
                continue
            if d.n_units < 2:  # one document (or pair): nothing to resample
                entries[label] = {"value": d.value(), "n": d.n_docs, "ci95": None}
                continue
            iv = bootstrap_design(d, 0.0, CONFIDENCE, n_boot, seed)
            entries[label] = {"value": iv.estimate, "n": d.n_docs, "ci95": [iv.low, iv.high]}
        if entries:
            groups[dim] = entries
    if not groups:
        return None
    return {
        "metric": task.main_metric,
        "interval": f"{CONFIDENCE:.0%} percentile bootstrap over documents ({n_boot} resamples, seed {seed})",
        "groups": groups,
    }
