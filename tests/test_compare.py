"""`ov-bench compare`: injected regressions exit 1, identical runs exit 0, unusable input exits 2.

Outputs are written by hand here (results.json in DESIGN.md's format + samples.sqlite through the
store), so each test controls exactly what changed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ov_bench.analysis.compare import CompareOptions, compare_paths
from ov_bench.cli import main
from ov_bench.outputs.store import ResultsStore, SampleRow

KEY = "reference:tiny@float32"


def _rows(
    task: str,
    scores: list[float],
    tokens: list[int],
    tau: str = "6561",
    latency: float = 100.0,
    memory: int = 100 * 2**20,
) -> list[SampleRow]:
    rows = []
    for i, (score, tok) in enumerate(zip(scores, tokens)):
        rows.append(
            SampleRow(
                task=task,
                doc_id=f"d{i}",
                model_key=KEY,
                threshold=tau,
                seq=i,
                data_source="samples",
                response="A" if score else "B",
                parsed="A" if score else "B",
                score=score,
                parse_failed=False,
                record={"score": score},
                visual_tokens_counted=tok,
                visual_tokens_measured=tok,
                text_tokens=20,
                prompt_tokens=tok + 20,
                new_tokens=2,
                latency_ms={"end_to_end": latency, "prefill": latency / 2},
                peak_memory_bytes=memory,
                memory_kind="cpu_peak_rss",
            )
        )
    return rows


def _summary(values: list[float]) -> dict:
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return {
        "mean": float(arr.mean()),
        "p50": float(np.percentile(arr, 50)),
        "p90": float(np.percentile(arr, 90)),
        "max": float(arr.max()),
    }


def write_run(
    path: Path,
    tasks: dict[str, list[SampleRow]],
    with_db: bool = True,
    tau: int | None = 6561,
    env: dict | None = None,
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    results = {
        "ov_bench_version": "0.1.0",
        "created": "2026-01-01T00:00:00Z",
        "env": env or {"device": "cpu", "cpu": "test", "gpu": None, "dtype": "float32"},
        "model": {"id": "tiny", "key": KEY, "threshold": tau},
        "data": {"source": "samples"},
        "run": {"frames": 32},
        "tasks": {},
    }
    for task, rows in tasks.items():
        ok = [r for r in rows if r.ok]
        results["tasks"][task] = {
            "n": len(rows),
            "errors": len(rows) - len(ok),
            "main_metric": "accuracy",
            "modality": "single_image",
            "metrics": {"accuracy": sum(r.score for r in ok) / len(ok), "parse_failure_rate": 0.0},
            "visual_tokens": _summary([r.visual_tokens_measured for r in ok]),
            "latency_ms": {
                s: {"p50": _summary([r.latency_ms[s] for r in ok])["p50"]} for s in ("end_to_end", "prefill")
            },
            "peak_memory_bytes": max(r.peak_memory_bytes for r in ok),
        }
    (path / "results.json").write_text(json.dumps(results))
    if with_db:
        with ResultsStore(path / "samples.sqlite") as store:
            store.write_many([r for rows in tasks.values() for r in rows])
    return path


BASE_SCORES = [1.0] * 30 + [0.0] * 10
TOKENS = [1485, 2929, 4725, 5967] * 10


@pytest.fixture
def base(tmp_path):
    return write_run(tmp_path / "base", {"ai2d": _rows("ai2d", BASE_SCORES, TOKENS)})


def _cli(capsys, *args) -> tuple[int, str, str]:
    rc = main(["compare", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_identical_runs_exit_0(base, tmp_path, capsys):
    shutil.copytree(base, tmp_path / "same")
    rc, out, err = _cli(capsys, base, tmp_path / "same")
    assert rc == 0, out
    assert out.startswith("## ov-bench compare: PASS: no regression")
    assert "| tau-6561 | ai2d | tokens/sample | ok |" in out
    assert "McNemar exact p=1" in out
    rc, _, _ = _cli(
        capsys, base / "results.json", tmp_path / "same" / "results.json", "--exact", "--no-timing"
    )
    assert rc == 0
    assert sorted(p.name for p in base.iterdir()) == [
        "results.json",
        "samples.sqlite",
    ]  # read without a trace


def test_exact_mode_checks_responses(base, tmp_path, capsys):
    rows = _rows("ai2d", BASE_SCORES, TOKENS)
    rows[7].response = "A, because"  # same parsed answer and score, different text
    new = write_run(tmp_path / "new", {"ai2d": rows})
    assert _cli(capsys, base, new, "--no-timing")[0] == 0
    rc, out, _ = _cli(capsys, base, new, "--no-timing", "--exact")
    assert rc == 1 and "1 of 40 response(s) or parsed answer(s) changed: d7" in out


def test_moved_video_frames_exit_1(tmp_path, capsys):
    rows = _rows("videomme", BASE_SCORES[:4], [785] * 4)
    for r in rows:
        r.frame_indices = [0, 10, 20, 30]
    base = write_run(tmp_path / "vb", {"videomme": rows})
    moved = _rows("videomme", BASE_SCORES[:4], [785] * 4)
    for r in moved:
        r.frame_indices = [0, 10, 20, 30] if r.doc_id != "d2" else [0, 11, 21, 30]
    new = write_run(tmp_path / "vn", {"videomme": moved})
    rc, out, _ = _cli(capsys, base, new, "--no-timing")
    assert rc == 1 and "| tau-6561 | videomme | frames/sample | **FAIL** |" in out and "changed: d2" in out


def test_changed_token_count_exits_1(base, tmp_path, capsys):
    tokens = list(TOKENS)
    tokens[3] += 1
    new = write_run(tmp_path / "new", {"ai2d": _rows("ai2d", BASE_SCORES, tokens)})
    rc, out, _ = _cli(capsys, base, new, "--no-timing")
    assert rc == 1
    assert "| tau-6561 | ai2d | visual tokens | **FAIL** |" in out
    assert "d3 (5967->5968)" in out
    # results.json alone (no per-sample rows): the summary still catches it
    new_json_only = write_run(tmp_path / "new2", {"ai2d": _rows("ai2d", BASE_SCORES, tokens)}, with_db=False)
    assert _cli(capsys, base / "results.json", new_json_only / "results.json")[0] == 1


def test_dropped_scores_exit_1_paired_and_aggregate(base, tmp_path, capsys):
    dropped = [0.0] * 12 + BASE_SCORES[12:]  # 12 right answers lost: McNemar exact p = 2/4096
    new = write_run(tmp_path / "new", {"ai2d": _rows("ai2d", dropped, TOKENS)})
    rc, out, _ = _cli(capsys, base, new, "--no-timing")
    assert rc == 1
    assert "| tau-6561 | ai2d | score (paired) | **FAIL** |" in out and "McNemar exact p=0.000488" in out
    comp = compare_paths(base, new, CompareOptions(timing=False))
    assert [c.check for c in comp.regressions] == ["score (paired)"]
    # The same drop seen through results.json only: binomial bound (0.75 -> 0.45 on n=40 each)
    agg_new = write_run(tmp_path / "agg", {"ai2d": _rows("ai2d", dropped, TOKENS)}, with_db=False)
    rc, out, _ = _cli(capsys, base / "results.json", agg_new / "results.json", "--no-timing")
    assert rc == 1 and "binomial SE bound" in out


def test_small_drop_within_noise_exits_0_but_exact_mode_catches_it(base, tmp_path, capsys):
    one_less = [0.0] + BASE_SCORES[1:]
    new = write_run(tmp_path / "new", {"ai2d": _rows("ai2d", one_less, TOKENS)})
    rc, out, _ = _cli(capsys, base, new, "--no-timing")
    assert rc == 0 and "drop within noise/tolerance" in out
    rc, out, _ = _cli(capsys, base, new, "--no-timing", "--exact")
    assert rc == 1 and "1 of 40 per-sample score(s) changed: d0" in out


def test_continuous_scores_use_the_paired_bootstrap(tmp_path):
    base_scores = [0.5 + 0.01 * i for i in range(40)]
    base = write_run(tmp_path / "b", {"docvqa": _rows("docvqa", base_scores, TOKENS)})
    worse = write_run(tmp_path / "w", {"docvqa": _rows("docvqa", [s - 0.2 for s in base_scores], TOKENS)})
    comp = compare_paths(base, worse, CompareOptions(timing=False, n_boot=2000))
    (check,) = [c for c in comp.checks if c.check == "score (paired)"]
    assert check.status == "FAIL" and "paired bootstrap" in check.detail
    # a drop smaller than --tolerance (fraction of the 0-1 scale) is allowed
    assert (
        compare_paths(base, worse, CompareOptions(timing=False, n_boot=2000, tolerance=0.25)).exit_code == 0
    )


def test_timing_and_memory_are_warnings_unless_asked(base, tmp_path, capsys):
    slow = write_run(
        tmp_path / "slow", {"ai2d": _rows("ai2d", BASE_SCORES, TOKENS, latency=150.0, memory=125 * 2**20)}
    )
    rc, out, _ = _cli(capsys, base, slow)
    assert rc == 0 and "PASS: no regression (3 timing/memory warning(s))" in out
    assert "| tau-6561 | ai2d | latency end_to_end p50 | warn | 100.0 ms | 150.0 ms | +50.0%" in out
    assert "| tau-6561 | ai2d | peak memory | warn |" in out
    assert _cli(capsys, base, slow, "--latency-tolerance", "0.6", "--memory-tolerance", "0.3")[0] == 0
    assert (
        "| warn |"
        not in _cli(capsys, base, slow, "--latency-tolerance", "0.6", "--memory-tolerance", "0.3")[1]
    )
    assert _cli(capsys, base, slow, "--fail-on-timing")[0] == 1
    rc, out, _ = _cli(capsys, base, slow, "--no-timing", "--fail-on-timing")
    assert rc == 0 and "latency" not in out.split("<details>")[1]


def test_missing_task_new_errors_and_missing_docs_exit_1(base, tmp_path, capsys):
    other = write_run(tmp_path / "other", {"chartqa": _rows("chartqa", BASE_SCORES, TOKENS)})
    rc, out, _ = _cli(capsys, base, other, "--no-timing")
    assert rc == 1 and "task missing in NEW" in out
    rows = _rows("ai2d", BASE_SCORES, TOKENS)
    rows[5] = SampleRow(
        task="ai2d",
        doc_id="d5",
        model_key=KEY,
        threshold="6561",
        seq=5,
        error="media_decode: MediaError: broken",
    )
    broken = write_run(tmp_path / "broken", {"ai2d": rows})
    rc, out, _ = _cli(capsys, base, broken, "--no-timing")
    assert rc == 1 and "new errors (media_decode): d5" in out
    fewer = write_run(tmp_path / "fewer", {"ai2d": _rows("ai2d", BASE_SCORES[:39], TOKENS[:39])})
    rc, out, _ = _cli(capsys, base, fewer, "--no-timing")
    assert rc == 1 and "1 baseline doc(s) missing in NEW: d39" in out


def test_unusable_input_exits_2_with_one_line(base, tmp_path, capsys):
    rc, out, err = _cli(capsys, base, tmp_path / "nope")
    assert rc == 2 and out == "" and err.count("\n") == 1 and "no such file or directory" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, _, err = _cli(capsys, base, bad)
    assert rc == 2 and "not valid JSON" in err and err.count("\n") == 1
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    rc, _, err = _cli(capsys, other, base)
    assert rc == 2 and "not an ov-bench results.json" in err
    empty = tmp_path / "emptydir"
    empty.mkdir()
    assert _cli(capsys, base, empty)[0] == 2
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(base), str(base), "--alpha", "2"])
    assert exc.value.code == 2


def test_sweep_directories_compare_setting_by_setting(tmp_path, capsys):
    def sweep(root: Path, taus: list[str], bump: str | None = None) -> Path:
        rows_by_tau = {}
        for tau in taus:
            tokens = [t + (1 if tau == bump else 0) for t in TOKENS]
            rows_by_tau[tau] = _rows("ai2d", BASE_SCORES, tokens, tau=tau)
        with ResultsStore(root / "samples.sqlite") as store:
            for rows in rows_by_tau.values():
                store.write_many(rows)
        settings = []
        for tau, rows in rows_by_tau.items():
            d = write_run(root / "settings" / f"tau-{tau}", {"ai2d": rows}, with_db=False, tau=int(tau))
            data = json.loads((d / "results.json").read_text())
            data["samples_db"] = "../../samples.sqlite"
            (d / "results.json").write_text(json.dumps(data))
            settings.append({"label": f"tau-{tau}", "results": f"settings/tau-{tau}/results.json"})
        (root / "sweep.json").write_text(json.dumps({"settings": settings}))
        return root

    a = sweep(tmp_path / "a", ["729", "6561"])
    b = sweep(tmp_path / "b", ["729", "6561"])
    rc, out, _ = _cli(capsys, a, b, "--no-timing")
    assert rc == 0 and "| tau-729 | ai2d | tokens/sample | ok |" in out
    c = sweep(tmp_path / "c", ["729", "6561"], bump="729")
    rc, out, _ = _cli(capsys, a, c, "--no-timing")
    assert rc == 1 and "| tau-729 | ai2d | visual tokens | **FAIL** |" in out
    assert "| tau-6561 | ai2d | visual tokens | ok |" in out
    d = sweep(tmp_path / "d", ["6561"])
    rc, out, _ = _cli(capsys, a, d, "--no-timing")
    assert rc == 1 and "setting missing in NEW" in out
