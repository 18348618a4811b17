"""Stratified, seeded subsets for `limit` (lmms-eval's --limit takes the first N rows, which biases
MMMU towards its first subjects and Video-MME towards short videos).

Docs are first grouped into units that must stay together (MME's two questions per image), units are
allocated to strata in proportion to stratum size (largest remainder; every stratum gets one unit
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
    """Split n among strata in proportion to their sizes (largest remainder; ties by name); then,
    while n allows, make sure every stratum has at least one by moving units from the largest."""
    strata = sorted(sizes)
    total = sum(sizes.values())
    quotas = {s: n * sizes[s] / total for s in strata}
    alloc = {s: min(sizes[s], int(quotas[s])) for s in strata}
    for s in sorted(strata, key=lambda s: (-(quotas[s] - int(quotas[s])), s)):
        if sum(alloc.values()) >= n:
            break
        if alloc[s] < sizes[s]:
            alloc[s] += 1
    if n >= len(strata):
        for s in strata:
            if alloc[s] == 0:
                donor = max(strata, key=lambda d: (alloc[d], d))
                alloc[donor] -= 1
                alloc[s] = 1
    return alloc
