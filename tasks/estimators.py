"""How a task's metric follows from its per-sample scores: the structure intervals and sub-scores need.

Most metrics are the mean of the per-sample scores. Others are not: MME sums per-category scores
that count an image's question pair as one unit (accuracy + both-right accuracy), MMBench's
CircularEval counts a question right only when every rotation is, BLINK, MLVU's m-avg, MMStar and
the LLaVA-Interleave bench average their groups without weighting by size. A ``MetricEstimator``
says which, in four steps over (score, record) pairs:

1. keep the records ``include`` accepts (MME: perception categories for the perception score);
2. put them in ``group``s (None: one group, a plain micro average) and, inside a group, in ``unit``s
   of docs scored together (None: every doc its own unit);
3. a unit's value: ``mean`` of its scores, ``all`` (``score_max`` when every score is, else 0), or
   ``mean_plus_all`` (mean/score_max + all-right; MME's acc + acc+ on 0/1 scores);
4. a group's value is the mean of its units' values; the metric is the ``mean`` or ``sum`` of the
   group values, times ``multiplier``.

A task returns one from ``Task.estimator(metric)``; ``design`` builds the groups and units, which is
what the bootstrap in ``ov_bench.outputs.intervals`` resamples (units within groups).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

UNIT_VALUES = ("mean", "all", "mean_plus_all")
COMBINES = ("mean", "sum")


@dataclass(frozen=True)
class MetricEstimator:
    include: Callable[[dict], bool] | None = None
    group: Callable[[dict], str] | None = None
    unit: Callable[[dict], str] | None = None
    unit_value: str = "mean"
    combine: str = "mean"
    multiplier: float = 1.0
    # Every group of the full split (in order). A subset that misses one cannot estimate the full
    # split's value; ``missing_group_value`` is what the task's own aggregation counts for an absent
    # group (MLVU: 0) where it counts one at all (None: it averages the groups present).
    groups: tuple[str, ...] | None = None
    missing_group_value: float | None = None
    complete_unit: int | None = None  # units of another size are left out (MME's aggregation needs pairs)
    score_max: float = 1.0  # the largest per-sample score (1 for right/wrong, 100 for Video-MME's)

    def __post_init__(self) -> None:
        if self.unit_value not in UNIT_VALUES:
            raise ValueError(f"unit_value must be one of {UNIT_VALUES}, got {self.unit_value!r}")
        if self.combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}, got {self.combine!r}")


def unit_value(kind: str, scores: Any, score_max: float) -> float:
    """The value of one unit from its docs' scores (a sequence)."""
    vals = [float(s) for s in scores]
    mean = sum(vals) / len(vals)
    if kind == "mean":
        return mean
    right = all(v >= score_max for v in vals)
    if kind == "all":
        return score_max if right else 0.0
    return mean / score_max + (1.0 if right else 0.0)  # mean_plus_all


@dataclass
class Design:
    """Per-sample scores arranged as an estimator reads them: group -> units -> doc scores."""

    estimator: MetricEstimator
    units: dict[str, list[list[float]]]  # group -> each unit's doc scores (groups in sorted order)
    missing: list[str] = field(default_factory=list)  # groups of the full split without any doc here
    dropped: int = 0  # docs left out as members of incomplete units

    @property
    def n_docs(self) -> int:
        return sum(len(u) for units in self.units.values() for u in units)

    @property
    def n_units(self) -> int:
        return sum(len(units) for units in self.units.values())

    def unit_values(self, group: str) -> list[float]:
        e = self.estimator
        return [unit_value(e.unit_value, u, e.score_max) for u in self.units[group]]

    def unit_max(self) -> float:
        """The largest value a unit can take."""
        e = self.estimator
        return 2.0 if e.unit_value == "mean_plus_all" else e.score_max

    def group_means(self) -> dict[str, float]:
        return {g: sum(v) / len(v) for g in self.units if (v := self.unit_values(g))}

    def constant_groups(self) -> list[float]:
        """Values the task's aggregation counts for absent groups (MLVU: 0 each)."""
        e = self.estimator
        return [e.missing_group_value] * len(self.missing) if e.missing_group_value is not None else []

    def combine(self, group_values: Iterable[float]) -> float:
        values = list(group_values) + self.constant_groups()
        if not values:
            return float("nan")
        total = sum(values)
        e = self.estimator
        return (total / len(values) if e.combine == "mean" else total) * e.multiplier

    def value(self) -> float:
        """The metric, as the task's aggregation computes it from these records."""
        return self.combine(self.group_means().values())

    def weight(self, group: str) -> float:
        """How much one unit's value moves the metric (per unit of its value)."""
        e = self.estimator
        n_groups = len(self.units) + len(self.constant_groups())
        share = 1.0 / n_groups if e.combine == "mean" else 1.0
        return share * e.multiplier / len(self.units[group])


def design(estimator: MetricEstimator, pairs: Iterable[tuple[float, dict]]) -> Design:
    """Arrange (score, record) pairs of the rows without errors as ``estimator`` reads them."""
    e = estimator
    grouped: dict[str, dict[str, list[float]]] = {}
    for i, (score, record) in enumerate(pairs):
        if score is None or (e.include is not None and not e.include(record)):
            continue
        g = e.group(record) if e.group is not None else ""
        u = e.unit(record) if e.unit is not None else f"#{i}"
        grouped.setdefault(str(g), {}).setdefault(str(u), []).append(float(score))
    dropped = 0
    units: dict[str, list[list[float]]] = {}
    for g in sorted(grouped):
        kept = []
        for scores in grouped[g].values():
            if e.complete_unit is not None and len(scores) != e.complete_unit:
                dropped += len(scores)
            else:
                kept.append(scores)
        if kept:
            units[g] = kept
    missing = [g for g in (e.groups or ()) if g not in units]
    return Design(e, units, missing, dropped)


def for_subscore(estimator: MetricEstimator) -> MetricEstimator:
    """The estimator of one sub-score's records: every record counts (a sub-score picks its own) and
    the full split's group list does not apply (MME's category score is the sum over its one group)."""
    from dataclasses import replace

    return replace(estimator, include=None, groups=None, missing_group_value=None)
