"""ov_bench.analysis.stats against independent computations: scipy's binomial test and chi-square, a plain
Python bootstrap loop, and hand-worked values."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ov_bench.analysis.stats import (
    binom_cdf_half,
    binomial_drop_bound,
    bootstrap_mean,
    mcnemar,
    paired_bootstrap,
    two_valued,
)

scipy_stats = pytest.importorskip("scipy.stats")


def _pairs(b: int, c: int, agree_right: int = 3, agree_wrong: int = 2) -> tuple[list[int], list[int]]:
    base = [1] * b + [0] * c + [1] * agree_right + [0] * agree_wrong
    new = [0] * b + [1] * c + [1] * agree_right + [0] * agree_wrong
    return base, new


@pytest.mark.parametrize("b,c", [(0, 0), (1, 0), (5, 1), (10, 3), (12, 12), (0, 24)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    base, new = _pairs(b, c)
    res = mcnemar(base, new)
    assert res.method == "exact" and (res.base_only, res.new_only) == (b, c)
    expected = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5).pvalue
    assert res.p_value == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("b,c", [(20, 5), (30, 30), (40, 12), (100, 77)])
def test_mcnemar_chi2_with_continuity_matches_scipy(b, c):
    base, new = _pairs(b, c)
    res = mcnemar(base, new)
    assert res.method == "chi2-continuity"
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    assert res.statistic == pytest.approx(stat)
    assert res.p_value == pytest.approx(scipy_stats.chi2.sf(stat, 1), rel=1e-10)
    forced = mcnemar(base, new, exact=True)
    assert forced.p_value == pytest.approx(scipy_stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-10)


def test_mcnemar_scores_on_other_scales_and_bad_input():
    base, new = _pairs(6, 1)
    scaled = mcnemar([100.0 * x for x in base], [100.0 * x for x in new])
    assert scaled.p_value == mcnemar(base, new).p_value
    with pytest.raises(ValueError, match="two-valued"):
        mcnemar([0, 0.5, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar([0, 1], [1])
    assert mcnemar([1, 1], [1, 1]).p_value == 1.0


@given(st.integers(0, 60), st.integers(0, 60))
@settings(max_examples=60, deadline=None)
def test_binom_cdf_half_matches_scipy(k, n):
    expected = scipy_stats.binom.cdf(k, n, 0.5)
    assert binom_cdf_half(k, n) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_paired_bootstrap_matches_a_plain_loop_with_the_same_generator():
    rng = np.random.default_rng(7)
    base = rng.random(40)
    new = base + rng.normal(0.05, 0.1, 40)
    res = paired_bootstrap(base, new, n_boot=2000, seed=3)
    # Independent computation: the same resampling scheme, one resample at a time.
    gen = np.random.default_rng(3)
    diffs = new - base
    means = [diffs[gen.integers(0, 40, size=40)].mean() for _ in range(2000)]
    assert res.estimate == pytest.approx(float(np.mean(diffs)))
    assert res.low == pytest.approx(float(np.percentile(means, 2.5)))
    assert res.high == pytest.approx(float(np.percentile(means, 97.5)))
    assert res.low < res.estimate < res.high
    again = paired_bootstrap(base, new, n_boot=2000, seed=3)
    assert (again.low, again.high) == (res.low, res.high)  # seeded: deterministic


def test_bootstrap_ci_covers_the_truth_at_about_the_nominal_rate():
    """Coverage of the 90% interval for a Bernoulli(0.3) mean over 200 seeded experiments."""
    py = random.Random(11)
    hits = 0
    for i in range(200):
        x = [1.0 if py.random() < 0.3 else 0.0 for _ in range(60)]
        res = bootstrap_mean(x, confidence=0.9, n_boot=500, seed=i)
        hits += res.low <= 0.3 <= res.high
    assert 0.8 <= hits / 200 <= 0.97


def test_binomial_drop_bound_and_helpers():
    bound = binomial_drop_bound(0.6, 100, 0.5, 100, alpha=0.05)
    pooled = 0.55
    assert bound == pytest.approx(1.959963984540054 * math.sqrt(pooled * 0.45 * (2 / 100)))
    assert binomial_drop_bound(0.5, 1000, 0.5, 1000) < binomial_drop_bound(0.5, 10, 0.5, 10)
    assert two_valued([0, 1, 1]) and two_valued([0.0, 100.0]) and two_valued([1, 1])
    assert not two_valued([0, 0.5, 1]) and not two_valued([0.2, 0.7])
    with pytest.raises(ValueError):
        bootstrap_mean([])
