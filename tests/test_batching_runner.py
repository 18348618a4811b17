"""``ov-bench run --batch-size N``: the runner's batch path against its own unbatched path.

On the real tasks' sample data (single image, multi-image, video) with the tiny reference model and
with transformers' model (``hf:``): responses, scores and token counts of a --batch-size 3 run equal a
--batch-size 1 run's. Batches stay within a task, hold at most N samples, never include a sample whose
media failed, are committed whole (kill -9 then resume), and a batch that fails is rerun sample by sample.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from typing import Any

import pytest

from ov_bench.adapters.base import Generation, Prepared
from ov_bench.engine.runner import RunConfig, Runner
from ov_bench.model_spec import ModelSpec
from tests.support.fakes import InstantAdapter, fake_tasks
from tests.support.kill import kill_after_rows

TASKS = ["mmmu", "muirbench", "videomme"]  # single image, multi-image, video
LIMIT = 4  # a batch of 3 and a batch of 1 per task


def _run(tmp_path, name, adapter, batch_size, tasks=TASKS, **kw):
    cfg = RunConfig(
        tasks=list(tasks),
        data="samples",
        limit=kw.pop("limit", LIMIT),
        model=ModelSpec(model="tiny", frames=4),
        output=str(tmp_path / name),
        progress=False,
        batch_size=batch_size,
        **kw,
    )
    return Runner(cfg, adapter=adapter, task_factory=kw.pop("task_factory", None)).run()


def _outcome(rows):
    return [
        (
            r.task,
            r.doc_id,
            r.response,
            r.score,
            r.parsed,
            r.parse_failed,
            r.record,
            r.new_tokens,
            r.prompt_tokens,
            r.visual_tokens_counted,
            r.visual_tokens_measured,
            r.text_tokens,
            r.error,
        )
        for r in rows
    ]


@pytest.fixture(scope="module")
def runs(tiny_adapter, samples_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("batching")
    return {bs: _run(root, f"bs{bs}", tiny_adapter, bs) for bs in (1, 3)}


@pytest.mark.slow
def test_batched_run_equals_unbatched(runs):
    one, three = runs[1], runs[3]
    assert one.errors == three.errors == 0, [r.error for r in three.rows if r.error]
    assert len(three.rows) == LIMIT * len(TASKS)
    assert _outcome(three.rows) == _outcome(one.rows)
    assert len({r.response for r in one.rows}) > 3  # answers vary per sample: the comparison has teeth
    for name in TASKS:
        a, b = one.results["tasks"][name], three.results["tasks"][name]
        assert (a["n"], a["errors"], a["metrics"], a["visual_tokens"], a["text_tokens"]) == (
            b["n"],
            b["errors"],
            b["metrics"],
            b["visual_tokens"],
            b["text_tokens"],
        )


@pytest.mark.slow
def test_batched_rows_record_the_batch(runs):
    for name in TASKS:
        rows = [r for r in runs[3].rows if r.task == name]
        assert [r.batch_size for r in rows] == [3, 3, 3, 1]
        batch = rows[:3]
        # The model stages and the peak memory are the batch's, the same on each of its rows ...
        for stage in ("vision_encoder", "projector_packing", "prefill", "ttft", "decode"):
            assert len({r.latency_ms[stage] for r in batch}) == 1, (name, stage)
            assert batch[0].latency_ms[stage] > 0
        assert len({r.peak_memory_bytes for r in batch}) == 1 and batch[0].peak_memory_bytes > 0
        # ... the media work is each sample's own, and end to end adds it to the batch's model time.
        for r in batch:
            model_ms = r.latency_ms["end_to_end"] - r.latency_ms["media_decode"] - r.latency_ms["preprocess"]
            assert model_ms == pytest.approx(
                batch[0].latency_ms["end_to_end"]
                - batch[0].latency_ms["media_decode"]
                - batch[0].latency_ms["preprocess"],
                rel=1e-9,
            )
            assert model_ms >= r.latency_ms["ttft"] + r.latency_ms["decode"] * 0.99
    assert all(r.batch_size == 1 for r in runs[1].rows)
    with sqlite3.connect(runs[3].output_dir / "samples.sqlite") as conn:
        stored = conn.execute("SELECT batch_size, COUNT(*) FROM samples GROUP BY batch_size").fetchall()
    assert sorted(stored) == [(1, len(TASKS)), (3, 3 * len(TASKS))]


@pytest.mark.slow
def test_resume_redoes_a_lost_batch_only(tiny_adapter, runs, tmp_path):
    """A killed batch leaves none of its rows (they are committed together); the rerun redoes them."""
    import shutil

    out = tmp_path / "resumed"
    shutil.copytree(runs[3].output_dir, out)
    with sqlite3.connect(out / "samples.sqlite") as conn:
        lost = conn.execute(
            "SELECT task, doc_id FROM samples WHERE task='muirbench' AND batch_size=3"
        ).fetchall()
        conn.execute("DELETE FROM samples WHERE task='muirbench' AND batch_size=3")
    assert len(lost) == 3
    again = _run(tmp_path, "resumed", tiny_adapter, 3)
    assert again.evaluated == 3
    assert _outcome(again.rows) == _outcome(runs[1].rows)
    redone = [r for r in again.rows if r.task == "muirbench"]
    assert [r.batch_size for r in redone] == [3, 3, 3, 1]


@pytest.mark.slow
def test_kill_9_mid_batch_then_resume(runs, tmp_path):
    """The CLI with --batch-size 2: rows appear two at a time, a kill loses only the batch in flight, and
    the same command again completes to the unbatched run's answers."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = tmp_path / "killed"
    args = [
        sys.executable,
        "-m",
        "ov_bench.cli",
        "run",
        "--tasks",
        "mmmu,videomme",
        "--model",
        "tiny",
        "--data",
        "samples",
        "--limit",
        str(LIMIT),
        "--frames",
        "4",
        "--batch-size",
        "2",
        "--no-progress",
        "--output",
        str(out),
    ]

    done_before = kill_after_rows(args, env, out, 2)
    assert 2 <= done_before < 2 * LIMIT and done_before % 2 == 0, done_before  # whole batches only
    resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    with sqlite3.connect(out / "samples.sqlite") as conn:
        got = conn.execute(
            "SELECT task, doc_id, response, score, visual_tokens_measured, text_tokens, new_tokens, "
            "error FROM samples ORDER BY task, doc_id"
        ).fetchall()
    want = sorted(
        (
            r.task,
            r.doc_id,
            r.response,
            r.score,
            r.visual_tokens_measured,
            r.text_tokens,
            r.new_tokens,
            r.error,
        )
        for r in runs[1].rows
        if r.task in ("mmmu", "videomme")
    )
    assert got == want  # no sample twice (primary key), none lost, same answers


# ----------------------------------------------------------------- grouping, with an instant model
class BatchingInstant(InstantAdapter):
    """Answers at once, records each model call's samples; fails any batch holding ``poison``."""

    max_batch_size = 64

    def __init__(self, poison: str | None = None) -> None:
        super().__init__()
        self.calls: list[list[str]] = []
        self.poison = poison

    def prepare(self, question: str, images: list, video: Any | None) -> Prepared:
        prepared = super().prepare(question, images, video)
        prepared.inputs = {"question": question}
        return prepared

    def generate(self, prepared: Prepared, max_new_tokens: int, timer: Any) -> Generation:
        self.calls.append([prepared.inputs["question"]])
        return super().generate(prepared, max_new_tokens, timer)

    def generate_batch(self, prepared: list[Prepared], max_new_tokens: int, timer: Any) -> list[Generation]:
        questions = [p.inputs["question"] for p in prepared]
        if self.poison and any(self.poison in q for q in questions):
            raise RuntimeError("out of memory")
        self.calls.append(questions)
        return [InstantAdapter.generate(self, p, max_new_tokens, timer) for p in prepared]


BROKEN = {"fake_image": {"corrupt": (2,)}, "fake_video": {"truncated": (1,)}}


def _fake_run(tmp_path, adapter, batch_size, name="out"):
    cfg = RunConfig(
        tasks=["fake_image", "fake_multi", "fake_video"],
        data="samples",
        model=ModelSpec(model="tiny", frames=2),
        output=str(tmp_path / name),
        progress=False,
        batch_size=batch_size,
        warmup=False,
    )
    return Runner(cfg, adapter=adapter, task_factory=fake_tasks(**BROKEN)).run()


def test_batches_stay_within_a_task_and_skip_failed_media(tmp_path):
    adapter = BatchingInstant()
    out = _fake_run(tmp_path, adapter, batch_size=4)
    ids = [[q.split("(")[-1].split(")")[0] + q[:5] for q in call] for call in adapter.calls]
    # fake_image: docs 0,1,3,4,5 (2 is corrupt) -> [0,1,3,4] + [5]; fake_multi 0,1,2; fake_video 0,2 (1 truncated)
    assert [len(c) for c in ids] == [4, 1, 3, 2]
    assert all(len({q[1:] for q in c}) == 1 for c in ids)  # one task per call
    rows = {(r.task, r.doc_id): r for r in out.rows}
    assert rows[("fake_image", "img-2")].error.startswith("media_decode")
    assert rows[("fake_image", "img-2")].response is None
    assert [rows[("fake_image", f"img-{i}")].batch_size for i in (0, 1, 3, 4, 5)] == [4, 4, 4, 4, 1]
    assert out.errors == 2 and len(out.rows) == 12


def test_a_failed_batch_is_rerun_one_sample_at_a_time(tmp_path, caplog):
    adapter = BatchingInstant(poison="(4)")
    with caplog.at_level(logging.WARNING, logger="ov_bench.engine.runner"):
        out = _fake_run(tmp_path, adapter, batch_size=4)
    assert "failed (RuntimeError: out of memory); running them one at a time" in caplog.text
    rows = {(r.task, r.doc_id): r for r in out.rows}
    assert out.errors == 2  # only the two media failures
    assert [rows[("fake_image", f"img-{i}")].batch_size for i in (0, 1, 3, 4)] == [1, 1, 1, 1]
    assert all(r.response == "A" for r in out.rows if r.ok)


def test_an_adapter_without_a_batch_path_runs_one_at_a_time(tmp_path, caplog):
    adapter = InstantAdapter()
    with caplog.at_level(logging.WARNING, logger="ov_bench.engine.runner"):
        out = _fake_run(tmp_path, adapter, batch_size=3)
    assert "takes at most 1 sample(s) per call; using 1" in caplog.text
    assert all(r.batch_size == 1 for r in out.rows) and len(out.rows) == 12


# ----------------------------------------------------------------- hf:
@pytest.fixture(scope="module")
def hf_adapter(tmp_path_factory):
    from ov_bench.adapters import load_adapter
    from tests.support.checkpoints import build_hf_checkpoint

    path = build_hf_checkpoint(tmp_path_factory.mktemp("hf_ckpt"), lively=True)
    return load_adapter(f"hf:{path}", max_grid_tokens=6561)


def test_hf_collate_equals_the_processor_padding_left(hf_adapter):
    """Our collation of single-prompt outputs = transformers' processor on the prompts together."""
    import numpy as np
    import torch
    from PIL import Image

    def image(w, h, seed):
        return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))

    samples = [
        ("one", [image(64, 48, 1)]),
        ("two", [image(640, 480, 2), image(300, 200, 3)]),
        ("none", []),
        ("big", [image(1920, 1080, 4)]),
    ]
    prepared = [hf_adapter.prepare(q, ims, None) for q, ims in samples]
    ours = hf_adapter.collate([p.inputs for p in prepared])
    theirs = dict(
        hf_adapter.processor(
            text=[p.prompt for p in prepared],
            images=[ims for _, ims in samples],
            padding=True,
            padding_side="left",
            return_tensors="pt",
        )
    )
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key


@pytest.mark.slow
def test_hf_batched_run_equals_unbatched(hf_adapter, samples_cache, tmp_path):
    one = _run(tmp_path, "hf1", hf_adapter, 1, limit=3)
    three = _run(tmp_path, "hf3", hf_adapter, 3, limit=3)
    assert one.errors == three.errors == 0, [r.error for r in three.rows if r.error]
    assert _outcome(three.rows) == _outcome(one.rows)
    assert all(r.batch_size == 3 for r in three.rows)
    assert all(r.visual_tokens_counted == r.visual_tokens_measured > 0 for r in three.rows)
    results = json.loads((three.output_dir / "results.json").read_text())
    assert results["model"]["adapter"] == "hf"
