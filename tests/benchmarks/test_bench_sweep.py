"""A 4-threshold sweep against 4 separate runs of the same samples, in one process (issue 5 goal:
wall-time ratio <= 0.5), at the real vision and LLM width: ``arch:0.5b?layers=1&vision_layers=1``.

Both sides use one loaded adapter, the default prefetch workers, profiling on, no warmup call, and
write their outputs (results.json + report.md per setting; the sweep also its report.html + plots).
The sweep's rows are checked equal to the runs' before the ratio is reported. Also reported: the
ratio without identical-input reuse (--no-reuse: every setting runs its LLM).

Run: pytest tests/benchmarks/test_bench_sweep.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import time

from ov_bench.model_spec import ModelSpec

MODEL = "arch:0.5b?layers=1&vision_layers=1"
TASKS = ["ai2d", "chartqa"]
LIMIT = 3
THRESHOLDS = [729, 2916, 6561, None]
MAX_NEW_TOKENS = 8
GOAL = 0.5
FIELDS = (
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


def test_bench_sweep_vs_separate_runs(benchmark, tmp_path):
    from ov_bench.adapters import load_adapter
    from ov_bench.engine.runner import RunConfig, Runner
    from ov_bench.engine.sweep import SweepConfig, Sweeper

    adapter = load_adapter(MODEL, max_grid_tokens=6561)
    for task in TASKS:  # generate the sample data outside the timed regions
        from tasks import get_task

        get_task(task).load(data="samples", limit=LIMIT)

    def separate():
        out = {}
        for tau in THRESHOLDS:
            adapter.set_threshold(tau)
            cfg = RunConfig(
                tasks=TASKS,
                data="samples",
                limit=LIMIT,
                model=ModelSpec(model="tiny", max_grid_tokens=tau),
                progress=False,
                output=str(tmp_path / f"run-{tau}-{time.perf_counter_ns()}"),
                warmup=False,
                max_new_tokens=MAX_NEW_TOKENS,
            )
            out[tau] = Runner(cfg, adapter=adapter).run().rows
        return out

    def sweep(reuse: bool = True):
        cfg = SweepConfig(
            tasks=TASKS,
            thresholds=THRESHOLDS,
            data="samples",
            limit=LIMIT,
            progress=False,
            output=str(tmp_path / f"sweep-{reuse}-{time.perf_counter_ns()}"),
            warmup=False,
            max_new_tokens=MAX_NEW_TOKENS,
            reuse=reuse,
        )
        return Sweeper(cfg, adapter=adapter).run()

    t0 = time.perf_counter()
    runs = separate()
    separate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    no_reuse = sweep(reuse=False)
    no_reuse_s = time.perf_counter() - t0

    outcome = benchmark.pedantic(sweep, rounds=1, iterations=1)
    sweep_s = benchmark.stats.stats.min
    for s in outcome.settings:
        assert _key(outcome.rows[s.label]) == _key(runs[s.threshold]), s.label
        assert _key(no_reuse.rows[s.label]) == _key(runs[s.threshold]), s.label
    ratio = sweep_s / separate_s
    benchmark.extra_info.update(
        {
            "separate_runs_s": separate_s,
            "sweep_s": sweep_s,
            "ratio": ratio,
            "sweep_no_reuse_s": no_reuse_s,
            "ratio_no_reuse": no_reuse_s / separate_s,
            "work": vars(outcome.work),
        }
    )
    print(
        f"\n4 separate runs: {separate_s:.1f} s; sweep: {sweep_s:.1f} s (ratio {ratio:.2f}); "
        f"sweep --no-reuse: {no_reuse_s:.1f} s (ratio {no_reuse_s / separate_s:.2f}); work {vars(outcome.work)}"
    )
    assert ratio <= GOAL
