"""Paired statistics for comparing two settings (or two runs) on the same samples. numpy + stdlib only.

- :func:`paired_bootstrap`: mean difference ``new - base`` with a percentile bootstrap CI, resampling
  samples (pairs kept together) with a seeded ``numpy.random.default_rng``: the same inputs give the
  same interval on every machine.
- :func:`mcnemar`: McNemar's test for paired 0/1 outcomes. Exact (two-sided binomial on the
  discordant pairs) when there are fewer than 25 of them, else the chi-square statistic with
  Edwards' continuity correction, ``(|b - c| - 1)^2 / (b + c)`` on 1 degree of freedom.
- :func:`binomial_drop_bound`: without per-sample rows, the drop of a proportion that sampling noise
  alone explains at level alpha (normal approximation, pooled proportion, two independent samples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

EXACT_BELOW = 25  # discordant pairs: exact binomial below this, chi-square with continuity from it on
DEFAULT_BOOT = 10_000


@dataclass
class BootstrapResult:
    estimate: float  # mean(new - base) (or mean(x) for bootstrap_mean)
    low: float
    high: float
    confidence: float
    n: int
    n_boot: int
    seed: int


@dataclass
class McNemarResult:
    base_only: int  # pairs right in base, wrong in new (b)
    new_only: int  # pairs wrong in base, right in new (c)
    statistic: float  # exact: min(b, c); chi-square: (|b - c| - 1)^2 / (b + c)
    p_value: float  # two-sided
    method: str  # "exact" | "chi2-continuity"


def _as_array(values: Sequence[float]):
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError("expected a one-dimensional sequence of numbers")
    return arr


def _bootstrap_means(x, n_boot: int, seed: int, chunk: int = 1000):
    """Means of ``n_boot`` resamples of ``x`` (with replacement), in chunks to bound memory."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(x)
    out = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = x[idx].mean(axis=1)
    return out


def bootstrap_mean(
    values: Sequence[float], confidence: float = 0.95, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> BootstrapResult:
    """Percentile bootstrap CI of a mean."""
    import numpy as np

    x = _as_array(values)
    if len(x) == 0:
        raise ValueError("bootstrap of an empty sample")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    means = _bootstrap_means(x, n_boot, seed)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return BootstrapResult(float(x.mean()), float(low), float(high), confidence, len(x), n_boot, seed)


def paired_bootstrap(
    base: Sequence[float],
    new: Sequence[float],
    confidence: float = 0.95,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
) -> BootstrapResult:
    """Mean of ``new - base`` over pairs with a percentile bootstrap CI (pairs resampled together)."""
    a, b = _as_array(base), _as_array(new)
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    return bootstrap_mean(b - a, confidence=confidence, n_boot=n_boot, seed=seed)


def binom_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), exactly (integer arithmetic)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return sum(math.comb(n, i) for i in range(k + 1)) / (1 << n)


def chi2_sf_1df(x: float) -> float:
    """Survival function of the chi-square distribution with one degree of freedom."""
    return math.erfc(math.sqrt(max(x, 0.0) / 2.0))


def mcnemar(base: Sequence[float], new: Sequence[float], exact: bool | None = None) -> McNemarResult:
    """McNemar's test on paired 0/1 outcomes (any two-valued scores: the larger value is "right").

    ``exact=None`` picks the exact test below 25 discordant pairs, chi-square with continuity
    correction from there on; True/False forces one."""
    a, b = _as_array(base), _as_array(new)
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    levels = sorted(set(a.tolist()) | set(b.tolist()))
    if len(levels) > 2:
        raise ValueError(f"McNemar's test needs two-valued scores, got {len(levels)} distinct values")
    top = levels[-1] if levels else 1.0
    ra, rb = a == top, b == top
    if len(levels) < 2:  # every pair agrees
        ra = rb = a != a
    base_only = int((ra & ~rb).sum())
    new_only = int((~ra & rb).sum())
    n = base_only + new_only
    use_exact = n < EXACT_BELOW if exact is None else exact
    if n == 0:
        return McNemarResult(base_only, new_only, 0.0, 1.0, "exact" if use_exact else "chi2-continuity")
    if use_exact:
        k = min(base_only, new_only)
        return McNemarResult(base_only, new_only, float(k), min(1.0, 2.0 * binom_cdf_half(k, n)), "exact")
    stat = (abs(base_only - new_only) - 1.0) ** 2 / n
    return McNemarResult(base_only, new_only, stat, chi2_sf_1df(stat), "chi2-continuity")


def two_valued(values: Sequence[float]) -> bool:
    """True when the scores take at most two values, one of them 0 (right/wrong on some scale)."""
    levels = set(float(v) for v in values)
    return len(levels) <= 2 and (not levels or 0.0 in levels or len(levels) == 1)


def z_two_sided(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return NormalDist().inv_cdf(1 - alpha / 2)


def binomial_drop_bound(p_base: float, n_base: int, p_new: float, n_new: int, alpha: float = 0.05) -> float:
    """The largest drop of a proportion (0-1 scale) that sampling noise explains at level alpha:
    ``z_{1-alpha/2} * sqrt(p (1 - p) (1/n_base + 1/n_new))`` with the pooled proportion p."""
    if n_base < 1 or n_new < 1:
        raise ValueError("both sides need at least one sample")
    pooled = (p_base * n_base + p_new * n_new) / (n_base + n_new)
    pooled = min(max(pooled, 0.0), 1.0)
    return z_two_sided(alpha) * math.sqrt(pooled * (1 - pooled) * (1 / n_base + 1 / n_new))
