"""Stratified, seeded subsets for `limit` (lmms-eval's --limit takes the first N rows, which biases
MMMU towards its first subjects and Video-MME towards short videos).

Docs are first grouped into units that must stay together (MME's two questions per image), units are
allocated to strata in proportion to stratum size (largest remainder, every stratum gets one unit
while the budget allows), and each stratum is sampled with a local RNG seeded from (seed, stratum).
The chosen docs keep their dataset order. Only a local random.Random is used, never the global RNG.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable


def stratified_subset(
    docs: list[dict],
    limit: int,
    seed: int,
    key: Callable[[dict], str],
    stratum: Callable[[dict], str],
    group: Callable[[dict], str] | None = None,
) -> list[dict]:
    """About `limit` docs (whole groups: a group of k docs counts k; the total is rounded up to
    whole groups), chosen per stratum."""
    if limit >= len(docs):
        return list(docs)
    group = group or key
    units: dict[str, list[int]] = {}
    for i, doc in enumerate(docs):
        units.setdefault(group(doc), []).append(i)
    mean_unit = len(docs) / len(units)
    n_units = min(len(units), max(1, math.ceil(limit / mean_unit)))

    by_stratum: dict[str, list[str]] = defaultdict(list)
    for unit_key, members in units.items():
        by_stratum[stratum(docs[members[0]])].append(unit_key)
    alloc = _allocate(n_units, {s: len(u) for s, u in by_stratum.items()})

    chosen: list[int] = []
    for s in sorted(by_stratum):
        # sort by the docs' stable ids so the draw does not depend on the source's row order
        candidates = sorted(by_stratum[s], key=lambda u: key(docs[units[u][0]]))
        rng = random.Random(f"{seed}:{s}")
        for unit_key in rng.sample(candidates, alloc[s]):
            chosen.extend(units[unit_key])
    return [docs[i] for i in sorted(chosen)]


def _allocate(n: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split n among strata proportionally to sizes; each stratum gets >= 1 while n allows."""
    strata = sorted(sizes)
    alloc = dict.fromkeys(strata, 0)
    if n >= len(strata):
        for s in strata:
            alloc[s] = 1
        remaining = n - len(strata)
        capacity = {s: sizes[s] - 1 for s in strata}
    else:
        remaining = n
        capacity = dict(sizes)
    total = sum(capacity.values())
    if remaining and total:
        quotas = {s: remaining * capacity[s] / total for s in strata}
        floors = {s: min(capacity[s], int(quotas[s])) for s in strata}
        for s in strata:
            alloc[s] += floors[s]
        left = remaining - sum(floors.values())
        # largest remainder first; ties broken by stratum name for determinism
        order = sorted(strata, key=lambda s: (-(quotas[s] - floors[s]), s))
        while left > 0:
            progressed = False
            for s in order:
                if left and alloc[s] < sizes[s]:
                    alloc[s] += 1
                    left -= 1
                    progressed = True
            if not progressed:
                break
    return alloc
