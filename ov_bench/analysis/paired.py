"""Paired comparison of two settings (or runs) of one task on the same samples.

Rows are paired by doc_id; only pairs where both sides finished without an error count. The score
delta is ``new - base`` with a paired bootstrap CI; for two-valued scores (right/wrong) McNemar's
test gives the p-value. Token, latency and memory deltas are means over the same pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ov_bench.analysis.stats import DEFAULT_BOOT, McNemarResult, mcnemar, paired_bootstrap, two_valued
from ov_bench.outputs.store import SampleRow
from ov_bench.profiling import SEQUENTIAL_STAGES

LATENCY_KEYS = (*SEQUENTIAL_STAGES, "end_to_end")


@dataclass
class PairedDelta:
    task: str
    base: str  # labels
    new: str
    n_pairs: int
    base_only_docs: int  # docs finished in base only (missing or error in new)
    new_only_docs: int
    score_base: float | None  # mean per-sample score over the pairs
    score_new: float | None
    score_delta: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    binary: bool
    mcnemar: McNemarResult | None
    tokens_base: float | None  # mean measured visual tokens
    tokens_new: float | None
    latency_base_ms: dict[str, float] = field(default_factory=dict)  # mean per stage
    latency_new_ms: dict[str, float] = field(default_factory=dict)
    memory_base_bytes: float | None = None  # mean peak per sample
    memory_new_bytes: float | None = None

    @property
    def p_value(self) -> float | None:
        return None if self.mcnemar is None else self.mcnemar.p_value

    @property
    def tokens_delta(self) -> float | None:
        return (
            None
            if self.tokens_base is None or self.tokens_new is None
            else self.tokens_new - self.tokens_base
        )

    def latency_delta(self, stage: str = "end_to_end") -> float | None:
        a, b = self.latency_base_ms.get(stage), self.latency_new_ms.get(stage)
        return None if a is None or b is None else b - a

    @property
    def memory_delta(self) -> float | None:
        a, b = self.memory_base_bytes, self.memory_new_bytes
        return None if a is None or b is None else b - a


def _mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def pair_rows(
    base: Sequence[SampleRow], new: Sequence[SampleRow]
) -> tuple[list[tuple[SampleRow, SampleRow]], int, int]:
    """(pairs of rows ok on both sides in base order, docs ok only in base, docs ok only in new)."""
    ok_new = {r.doc_id: r for r in new if r.ok and r.score is not None}
    ok_base = {r.doc_id: r for r in base if r.ok and r.score is not None}
    pairs = [(r, ok_new[r.doc_id]) for r in base if r.doc_id in ok_new and r.doc_id in ok_base]
    return pairs, len(set(ok_base) - set(ok_new)), len(set(ok_new) - set(ok_base))


def paired_delta(
    task: str,
    base_rows: Sequence[SampleRow],
    new_rows: Sequence[SampleRow],
    base_label: str = "base",
    new_label: str = "new",
    confidence: float = 0.95,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
) -> PairedDelta:
    pairs, base_only, new_only = pair_rows(base_rows, new_rows)
    a = [p[0].score for p in pairs]
    b = [p[1].score for p in pairs]
    binary = bool(pairs) and two_valued(a + b)
    ci_low = ci_high = delta = None
    test = None
    if pairs:
        boot = paired_bootstrap(a, b, confidence=confidence, n_boot=n_boot, seed=seed)
        delta, ci_low, ci_high = boot.estimate, boot.low, boot.high
        if binary:
            test = mcnemar(a, b)

    def tokens(side: int) -> float | None:
        vals = [p[side].visual_tokens_measured for p in pairs if p[side].visual_tokens_measured is not None]
        return _mean(vals)

    def latency(side: int) -> dict[str, float]:
        out = {}
        for stage in LATENCY_KEYS:
            vals = [p[side].latency_ms[stage] for p in pairs if stage in p[side].latency_ms]
            if vals and len(vals) == len(pairs):
                out[stage] = float(sum(vals) / len(vals))
        return out

    def memory(side: int) -> float | None:
        vals = [p[side].peak_memory_bytes for p in pairs if p[side].peak_memory_bytes is not None]
        return _mean(vals) if len(vals) == len(pairs) else None

    return PairedDelta(
        task=task,
        base=base_label,
        new=new_label,
        n_pairs=len(pairs),
        base_only_docs=base_only,
        new_only_docs=new_only,
        score_base=_mean(a),
        score_new=_mean(b),
        score_delta=delta,
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        binary=binary,
        mcnemar=test,
        tokens_base=tokens(0),
        tokens_new=tokens(1),
        latency_base_ms=latency(0),
        latency_new_ms=latency(1),
        memory_base_bytes=memory(0),
        memory_new_bytes=memory(1),
    )
