"""Throughput of ``ov-bench run --batch-size 4`` against ``--batch-size 1`` at the real vision and LLM
width, reduced depth: ``arch:0.5b?layers=2&vision_layers=2`` (SigLIP so400m 1152 wide, Qwen2-0.5B 896
wide with its 151936-token head), float32, CPU.

Workload: the 8 single-image mme sample docs (24x18 to 1600x300 pixels, 1317 to 4129 visual tokens),
with mme's 16 new tokens and, decode-heavier (long answers), with 64 (the random-weight model never
stops early, so every sample decodes all of them). Both sides use one loaded adapter and the same settings; they run alternately
(ROUNDS each) so drift on a shared machine hits both alike, and their rows (responses, scores, token
counts) are checked equal before the ratio of samples/s is reported. Also reported, per side: the
summed model stages (a batch's stage is counted once), to show where batching gains and loses.

Run: pytest tests/benchmarks/test_bench_batching.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import statistics
import time

import pytest

MODEL = "arch:0.5b?layers=2&vision_layers=2"
TASK = "mme"
LIMIT = 8
BATCH = 4
ROUNDS = 3
GOAL = 1.0  # batching must not lose throughput (10% slack for a shared machine); what it gains is reported
STAGES = ("vision_encoder", "projector_packing", "prefill", "decode")
FIELDS = ("response", "score", "visual_tokens_measured", "text_tokens", "new_tokens", "error")


def _key(rows):
    return [(r.doc_id,) + tuple(getattr(r, f) for f in FIELDS) for r in rows]


def _stage_totals(rows) -> dict[str, float]:
    """Seconds per model stage over a run, each batch counted once (its rows share the batch's times)."""
    totals = dict.fromkeys(STAGES, 0.0)
    for r in rows:
        for stage in STAGES:
            totals[stage] += r.latency_ms.get(stage, 0.0) / 1e3 / (r.batch_size or 1)
    return {k: round(v, 2) for k, v in totals.items()}


@pytest.mark.parametrize("max_new_tokens", [16, 64])
def test_bench_batch4_vs_batch1(benchmark, tmp_path, max_new_tokens):
    from ov_bench.adapters import load_adapter
    from ov_bench.engine.runner import RunConfig, Runner
    from tasks import get_task

    adapter = load_adapter(MODEL, max_grid_tokens=6561)
    get_task(TASK).load(data="samples", limit=LIMIT)  # generate the sample data outside the timed runs

    def run(batch_size: int):
        cfg = RunConfig(
            tasks=[TASK],
            data="samples",
            limit=LIMIT,
            batch_size=batch_size,
            progress=False,
            output=str(tmp_path / f"bs{batch_size}-{time.perf_counter_ns()}"),
            warmup=False,
            max_new_tokens=max_new_tokens,
        )
        start = time.perf_counter()
        rows = Runner(cfg, adapter=adapter).run().rows
        return time.perf_counter() - start, rows

    run(1)  # warm up both paths once (lazy init, allocator), untimed
    times: dict[int, list[float]] = {1: [], BATCH: []}
    rows = {}
    for _ in range(ROUNDS):
        for size in (1, BATCH):
            seconds, rows[size] = run(size)
            times[size].append(seconds)
    assert _key(rows[BATCH]) == _key(rows[1]), "batched rows differ from unbatched rows"
    assert all(r.ok for r in rows[1]) and {r.batch_size for r in rows[BATCH]} == {BATCH}
    per_s = {size: LIMIT / statistics.median(t) for size, t in times.items()}
    ratio = per_s[BATCH] / per_s[1]
    stages = {size: _stage_totals(rows[size]) for size in rows}
    benchmark.extra_info.update(
        max_new_tokens=max_new_tokens,
        samples_per_s_batch1=per_s[1],
        samples_per_s_batch4=per_s[BATCH],
        ratio=ratio,
        run_s_batch1=times[1],
        run_s_batch4=times[BATCH],
        stages_s_batch1=stages[1],
        stages_s_batch4=stages[BATCH],
    )
    print(
        f"\n{TASK} x{LIMIT} at {MODEL}, {max_new_tokens} new tokens: batch 1 {per_s[1]:.3f} samples/s, batch {BATCH} {per_s[BATCH]:.3f} "
        f"samples/s, ratio {ratio:.2f} (median of runs, s: batch 1 {[round(t, 1) for t in times[1]]}, batch "
        f"{BATCH} {[round(t, 1) for t in times[BATCH]]})\n  model stages (s) batch 1 {stages[1]}\n  model stages (s) batch "
        f"{BATCH} {stages[BATCH]}"
    )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert ratio >= GOAL * 0.9, f"batch {BATCH} / batch 1 throughput {ratio:.2f} below {GOAL}"
