"""The runner in-process, on small fake tasks (one per modality) with the tiny reference model.

Checks: rows and results.json in DESIGN.md's format, error rows for corrupt media, analytic vs
measured visual tokens (independent arithmetic), resume without duplicates, determinism, the
token-mismatch error, the unprofiled path, and the prefetcher.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest

from ov_bench.engine.prefetch import Prefetcher
from ov_bench.engine.runner import RunConfig, Runner
from ov_bench.errors import ResumeMismatchError
from ov_bench.model_spec import ModelSpec
from tests.support.fakes import SIZES, InstantAdapter, fake_tasks

ALL_FAKES = ["fake_image", "fake_multi", "fake_video"]
BROKEN = {"fake_image": {"corrupt": (2,)}, "fake_video": {"truncated": (1,)}}


def _run(tmp_path, adapter, name="out", tasks=ALL_FAKES, overrides=BROKEN, **kw):
    cfg = RunConfig(
        tasks=list(tasks),
        data="samples",
        output=str(tmp_path / name),
        model=ModelSpec(model="tiny", frames=kw.pop("frames", 4)),
        progress=False,
        **kw,
    )
    return Runner(cfg, adapter=adapter, task_factory=fake_tasks(**overrides)).run()


def _key(rows):
    return [
        (r.task, r.doc_id, r.response, r.score, r.parsed, r.visual_tokens_measured, r.error) for r in rows
    ]


@pytest.fixture(scope="module")
def baseline(tiny_adapter, tmp_path_factory):
    return _run(tmp_path_factory.mktemp("base"), tiny_adapter)


def test_rows_errors_and_results_format(baseline):
    out = baseline
    rows = {(r.task, r.doc_id): r for r in out.rows}
    assert len(rows) == 6 + 3 + 3
    bad_img, bad_vid = rows[("fake_image", "img-2")], rows[("fake_video", "vid-1")]
    assert bad_img.error.startswith("media_decode: MediaError: img-2: corrupt image")
    assert bad_vid.error.startswith("media_decode: MediaError: vid-1.mp4: truncated video")
    assert bad_img.response is None and bad_img.score is None
    good = [r for r in out.rows if r.ok]
    assert len(good) == 10
    for r in good:
        assert r.response is not None and r.record is not None and r.score in (0.0, 1.0)
        assert r.data_source == "samples"
        assert r.text_tokens > 0 and r.prompt_tokens == r.text_tokens + r.visual_tokens_measured
        assert 1 <= r.new_tokens <= 4
        for stage in (
            "media_decode",
            "preprocess",
            "vision_encoder",
            "projector_packing",
            "prefill",
            "ttft",
            "end_to_end",
        ):
            assert r.latency_ms[stage] > 0, stage
        assert r.latency_ms["ttft"] >= r.latency_ms["prefill"]
        assert r.peak_memory_bytes > 0 and r.memory_kind.startswith("cpu_peak_rss")

    results = json.loads((out.output_dir / "results.json").read_text())
    assert set(results) >= {"ov_bench_version", "created", "env", "model", "tasks"}
    assert set(results["env"]) >= {"python", "torch", "transformers", "device", "dtype", "cpu", "gpu"}
    assert results["model"]["id"] == "tiny" and results["model"]["threshold"] == 6561
    assert "config" in results["model"]
    assert results["data"]["samples"] is True and "SAMPLE DATA" in results["data"]["note"]
    image = results["tasks"]["fake_image"]
    assert (image["n"], image["errors"]) == (6, 1)
    assert set(image) >= {"n", "errors", "metrics", "visual_tokens", "latency_ms", "peak_memory_bytes"}
    assert set(image["visual_tokens"]) == {"mean", "p50", "p90", "max"}
    assert set(image["latency_ms"]["prefill"]) == {"p50", "p90", "mean"}
    assert image["metrics"]["accuracy"] == pytest.approx(
        sum(r.score for r in good if r.task == "fake_image") / 5
    )
    assert image["samples_data"] is True
    report = (out.output_dir / "report.md").read_text()
    assert "SAMPLE DATA" in report and "vid-1.mp4: truncated video" in report


def test_visual_tokens_match_independent_arithmetic(baseline):
    # docs/model.md: single image 729 + h*(w+1) (examples), multi-image 729 each (the evaluated path's
    # default layout), video 196*F + 1.
    published = {(640, 480): 2929, (384, 384): 1485, (1280, 720): 5967}
    rows = {(r.task, r.doc_id): r for r in baseline.rows if r.ok}
    for i, size in enumerate(SIZES[:6]):
        if size in published and ("fake_image", f"img-{i}") in rows:
            assert rows[("fake_image", f"img-{i}")].visual_tokens_measured == published[size]
    for i in range(3):
        assert rows[("fake_multi", f"multi-{i}")].visual_tokens_measured == 729 * (2 + i % 2)
    for doc in ("vid-0", "vid-2"):
        assert rows[("fake_video", doc)].visual_tokens_measured == 196 * 4 + 1
        # The decoded frame indices are recorded with the sample (fake clips have 90 frames).
        assert rows[("fake_video", doc)].frame_indices == [0, 29, 59, 89]
    assert all(r.frame_indices is None for r in rows.values() if r.task != "fake_video")
    for r in rows.values():
        assert r.visual_tokens_counted == r.visual_tokens_measured


@pytest.mark.slow
def test_deterministic(tiny_adapter, baseline, tmp_path):
    again = _run(tmp_path, tiny_adapter)
    assert _key(again.rows) == _key(baseline.rows)
    first = json.loads((baseline.output_dir / "results.json").read_text())["tasks"]
    second = json.loads((again.output_dir / "results.json").read_text())["tasks"]
    assert {t: v["metrics"] for t, v in first.items()} == {t: v["metrics"] for t, v in second.items()}


@pytest.mark.slow
def test_resume_completes_missing_rows_only(tiny_adapter, baseline, tmp_path):
    partial = _run(tmp_path, tiny_adapter)
    db = partial.output_dir / "samples.sqlite"
    with sqlite3.connect(db) as conn:  # as if the process had died after some samples
        conn.execute("DELETE FROM samples WHERE doc_id IN ('img-3', 'img-4', 'multi-2', 'vid-2')")
    resumed = _run(tmp_path, tiny_adapter)
    assert resumed.evaluated == 4
    assert _key(resumed.rows) == _key(baseline.rows)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT task || doc_id) FROM samples").fetchone() == (
            12,
            12,
        )
    # Nothing left: a third run evaluates nothing and reports the same.
    assert _run(tmp_path, tiny_adapter).evaluated == 0


@pytest.mark.slow
def test_retry_errors_reruns_error_rows(tiny_adapter, tmp_path):
    _run(tmp_path, tiny_adapter, tasks=["fake_image"])
    fixed = _run(tmp_path, tiny_adapter, tasks=["fake_image"], overrides={}, retry_errors=True)
    assert fixed.evaluated == 1 and fixed.errors == 0


def test_resume_with_other_settings_is_refused(tiny_adapter, tmp_path):
    _run(tmp_path, tiny_adapter, tasks=["fake_video"], frames=4)
    with pytest.raises(ResumeMismatchError, match="different settings"):
        _run(tmp_path, tiny_adapter, tasks=["fake_video"], frames=8)


def test_limit_takes_subset_and_results_cover_it(tiny_adapter, tmp_path):
    out = _run(tmp_path, tiny_adapter, tasks=["fake_image"], limit=3)
    assert [r.doc_id for r in out.rows] == ["img-0", "img-1", "img-2"]
    assert out.results["tasks"]["fake_image"]["n"] == 3


class _Miscounting(InstantAdapter):
    def generate(self, prepared, max_new_tokens, timer):
        gen = super().generate(prepared, max_new_tokens, timer)
        gen.visual_positions += 1
        return gen


def test_token_mismatch_is_an_error_row(tmp_path):
    out = _run(tmp_path, _Miscounting(), tasks=["fake_image"], overrides={})
    assert out.errors == 6
    for r in out.rows:
        assert r.error == (
            f"visual_tokens: analytic count {r.visual_tokens_counted} != measured "
            f"{r.visual_tokens_counted + 1}"
        )
        assert r.response == "A"  # kept for inspection, but not scored into the metrics
    assert out.results["tasks"]["fake_image"]["metrics"] == {}


class _Exploding(InstantAdapter):
    def generate(self, prepared, max_new_tokens, timer):
        if prepared.prompt.endswith("(1)\nAnswer with the option's letter from the given choices directly."):
            raise RuntimeError("CUDA out of memory\nsecond line")
        return super().generate(prepared, max_new_tokens, timer)


def test_model_exception_is_an_error_row_and_the_run_goes_on(tmp_path):
    out = _run(tmp_path, _Exploding(), tasks=["fake_image"], overrides={})
    errors = [r for r in out.rows if r.error]
    assert [(r.doc_id, r.error) for r in errors] == [("img-1", "model: RuntimeError: CUDA out of memory")]
    assert out.results["tasks"]["fake_image"]["metrics"]["accuracy"] == pytest.approx(2 / 5)


def test_unprofiled_run_records_end_to_end_only(tiny_adapter, tmp_path):
    out = _run(tmp_path, tiny_adapter, tasks=["fake_image"], overrides={}, limit=2, profile=False)
    for r in out.rows:
        assert set(r.latency_ms) == {"media_decode", "preprocess", "end_to_end"}
        assert r.peak_memory_bytes is None


def test_inline_decoding_gives_same_rows(tiny_adapter, baseline, tmp_path):
    inline = _run(tmp_path, tiny_adapter, tasks=["fake_multi", "fake_video"], workers=0)
    assert _key(inline.rows) == _key([r for r in baseline.rows if r.task != "fake_image"])


def test_prefetcher_keeps_order_and_bounds_lookahead():
    in_flight, peak, lock = [0], [0], threading.Lock()

    def work(i):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.002 * (i % 3))
        with lock:
            in_flight[0] -= 1
        return i * i

    out = []
    for value in Prefetcher(list(range(30)), work, workers=3, lookahead=4):
        out.append(value)
        time.sleep(0.001)
    assert out == [i * i for i in range(30)]
    assert peak[0] <= 4


def test_prefetcher_reraises_and_runs_inline():
    def work(i):
        if i == 2:
            raise KeyError("boom")
        return i

    with pytest.raises(KeyError):
        list(Prefetcher([0, 1, 2, 3], work, workers=2))
    assert list(Prefetcher([1, 2], lambda i: -i, workers=0)) == [-1, -2]
