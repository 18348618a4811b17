"""Intervals for a metric computed from per-sample scores, and how many answers separate two values.

:func:`bootstrap_design` resamples the units of a ``tasks.estimators.Design`` within their groups
(a stratified bootstrap: a macro average keeps every group) and recombines them as the task's metric
does. With ``fraction`` (the share of the full split the subset covers, docs/split docs) it estimates
the FULL SPLIT's value from a subset: each group's replicate deviation is rescaled by
``sqrt((1 - f) * n / (n - 1))`` (the rescaling bootstrap for sampling without replacement, n the
group's units), so the interval narrows as the subset approaches the split and is a point at the
full split. ``fraction=0`` gives the interval of an infinite population (the benchmark as a sample
of questions), with the same n/(n-1) correction.

The draws are reproducible and documented so a test can redo them: ``rng =
numpy.random.default_rng(seed)``; for each group in sorted order, replicate unit indices
``rng.integers(0, n, size=(k, n))`` in chunks of ``CHUNK`` replicates (k = min(CHUNK, left)); each
replicate group mean is clipped to the range a group mean can take ([0, the largest unit value]);
the interval is numpy's linear-interpolation percentile of the recombined replicates. A group with
one unit adds no variance (nothing to resample).

:func:`docs_to_reach` counts how many documents' answers (scores flipped to right, or to wrong)
it takes at least to move the metric by a given amount, choosing the answers that move it most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tasks.estimators import Design, unit_value

CHUNK = 1000
DEFAULT_BOOT = 2000


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    confidence: float
    n_boot: int
    seed: int
    fraction: float  # share of the population covered (0: infinite population)

    def contains(self, value: float, slack: float = 0.0) -> bool:
        return self.low - slack <= value <= self.high + slack


def _group_replicates(values: Sequence[float], n_boot: int, rng, c: float, top: float):
    """Replicates of one group's mean, deviations rescaled by c about the group's mean, kept inside
    the range a mean of unit values can take ([0, top], widened to what was observed)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    mean = float(x.mean())
    out = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, CHUNK):
        k = min(CHUNK, n_boot - start)
        idx = rng.integers(0, n, size=(k, n))
        out[start : start + k] = x[idx].mean(axis=1)
    return np.clip(mean + c * (out - mean), min(0.0, float(x.min())), max(top, float(x.max())))


def rescale_factor(n_units: int, fraction: float) -> float:
    """sqrt((1 - f) * n / (n - 1)): 0 for a lone unit (no variance to estimate) or the full population."""
    if n_units < 2:
        return 0.0
    return math.sqrt(max(0.0, 1.0 - fraction) * n_units / (n_units - 1))


def design_replicates(d: Design, fraction: float = 0.0, n_boot: int = DEFAULT_BOOT, rng=None, seed: int = 0):
    """``n_boot`` bootstrap replicates of the design's metric (numpy array)."""
    import numpy as np

    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    if not d.units:
        raise ValueError("no scored documents to resample")
    rng = rng if rng is not None else np.random.default_rng(seed)
    top = d.unit_max()
    groups = [
        _group_replicates(d.unit_values(g), n_boot, rng, rescale_factor(len(d.units[g]), fraction), top)
        for g in d.units
    ]
    stacked = np.vstack(groups)  # (groups, n_boot)
    constants = d.constant_groups()
    total = stacked.sum(axis=0) + sum(constants)
    e = d.estimator
    count = stacked.shape[0] + len(constants)
    return (total / count if e.combine == "mean" else total) * e.multiplier


def percentile_interval(
    replicates, estimate: float, confidence: float, n_boot: int, seed: int, fraction: float
):
    import numpy as np

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), confidence, n_boot, seed, fraction)


def bootstrap_design(
    d: Design, fraction: float = 0.0, confidence: float = 0.95, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> Interval:
    """Percentile interval of the metric (of the full split when ``fraction`` > 0)."""
    reps = design_replicates(d, fraction, n_boot, seed=seed)
    return percentile_interval(reps, d.value(), confidence, n_boot, seed, fraction)


def _moves(d: Design, up: bool, scale: float) -> list[tuple[float, float, int]]:
    """Each unit's best flips, as (gain per doc, gain, docs), the gain in ``scale`` x the metric."""
    e = d.estimator
    moves = []
    for g, units in d.units.items():
        w = d.weight(g) * scale
        for scores in units:
            current = unit_value(e.unit_value, scores, e.score_max)
            order = sorted(scores, reverse=not up)  # the lowest first when raising, the highest when lowering
            best = None
            for k in range(1, len(order) + 1):
                if (up and order[k - 1] >= e.score_max) or (not up and order[k - 1] <= 0):
                    break
                changed = [e.score_max if up else 0.0] * k + order[k:]
                gain = abs(unit_value(e.unit_value, changed, e.score_max) - current) * w
                if gain > 0 and (best is None or gain / k > best[0]):
                    best = (gain / k, gain, k)
            if best is not None:
                moves.append(best)
    return moves


def docs_to_reach(parts: Sequence[tuple[Design, float]], delta: float) -> int | None:
    """At least how many documents' answers must change to move ``sum(weight * metric)`` by ``delta``
    (> 0 up, < 0 down): greedy over units, each offering its best flips (wrong -> right to raise,
    right -> wrong to lower) by gain per flipped document. One design: ``[(design, 1.0)]``. None when
    even every flip falls short."""
    if delta == 0:
        return 0
    up = delta > 0
    moves = sorted((m for d, w in parts for m in _moves(d, up, w)), key=lambda m: -m[0])
    need, docs = abs(delta), 0
    for _, gain, k in moves:
        if need <= 1e-12:
            break
        need -= gain
        docs += k
    return docs if need <= 1e-9 else None
