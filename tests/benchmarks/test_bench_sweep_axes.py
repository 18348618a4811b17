"""A grid-set x threshold sweep (``--grid-sets ov,next --thresholds 729,6561``) on mmmu + videomme sample
data against the 4 plain runs it replaces, in one process, tiny model. The sweep's rows are checked equal
to the runs' before the ratio is reported, with the shared-work counters (encoder passes, LLM runs,
reused rows).

Both sides: adapters loaded before timing (one per grid set for the plain runs, as `ov-bench run
--grid-pinpoints G` loads one), default prefetch workers, profiling on, no warmup call, outputs written.

Run: pytest tests/benchmarks/test_bench_sweep_axes.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import time

from ov_bench.model_spec import ModelSpec

TASKS = ["mmmu", "videomme"]
LIMIT = 2
GRID_SETS = ["ov", "next"]
THRESHOLDS = [729, 6561]
FRAMES = 8
MAX_NEW_TOKENS = 4
FIELDS = (
    "model_key",
    "response",
    "score",
    "visual_tokens_counted",
    "visual_tokens_measured",
    "text_tokens",
    "new_tokens",
    "error",
)


def _key(rows):
    return [(r.task, r.doc_id, r.threshold) + tuple(getattr(r, f) for f in FIELDS) for r in rows]


def test_bench_grid_set_sweep_vs_plain_runs(benchmark, tmp_path):
    from ov_bench.adapters import load_adapter
    from ov_bench.engine.runner import RunConfig, Runner
    from ov_bench.engine.sweep import SweepConfig, Sweeper
    from tasks import get_task

    for task in TASKS:  # the sample data is generated outside the timed regions
        get_task(task).load(data="samples", limit=LIMIT)
    plain_adapters = {g: load_adapter("tiny", max_grid_tokens=6561, grid_pinpoints=g) for g in GRID_SETS}
    sweep_adapter = load_adapter("tiny", max_grid_tokens=6561)

    def plain():
        out = {}
        for g in GRID_SETS:
            for tau in THRESHOLDS:
                adapter = plain_adapters[g]
                adapter.set_threshold(tau)
                cfg = RunConfig(
                    tasks=TASKS,
                    data="samples",
                    limit=LIMIT,
                    model=ModelSpec(
                        model="tiny", max_grid_tokens=tau, frames=FRAMES, **{"grid_pinpoints": g}
                    ),
                    progress=False,
                    output=str(tmp_path / f"run-{g}-{tau}-{time.perf_counter_ns()}"),
                    warmup=False,
                    max_new_tokens=MAX_NEW_TOKENS,
                )
                out[(g, tau)] = Runner(cfg, adapter=adapter).run().rows
        return out

    def sweep():
        cfg = SweepConfig(
            tasks=TASKS,
            thresholds=THRESHOLDS,
            frames=[FRAMES],
            grid_sets=GRID_SETS,
            data="samples",
            limit=LIMIT,
            progress=False,
            output=str(tmp_path / f"sweep-{time.perf_counter_ns()}"),
            warmup=False,
            max_new_tokens=MAX_NEW_TOKENS,
        )
        return Sweeper(cfg, adapter=sweep_adapter).run()

    t0 = time.perf_counter()
    runs = plain()
    plain_s = time.perf_counter() - t0
    outcome = benchmark.pedantic(sweep, rounds=1, iterations=1)
    sweep_s = benchmark.stats.stats.min
    for s in outcome.settings:
        assert _key(outcome.rows[s.label]) == _key(runs[(s.grid_set, s.threshold)]), s.label
    work = vars(outcome.work)
    benchmark.extra_info.update(
        {
            "plain_runs_s": plain_s,
            "sweep_s": sweep_s,
            "ratio": sweep_s / plain_s,
            "work": work,
            "shared": outcome.sweep["shared"],
        }
    )
    print(
        f"\n4 plain runs: {plain_s:.1f} s; sweep: {sweep_s:.1f} s (ratio {sweep_s / plain_s:.2f}); work {work}"
    )
    print("\n".join(outcome.sweep["shared"]))
