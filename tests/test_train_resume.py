"""Checkpoints resume exactly: a run resumed from its mid-run checkpoint reproduces the uninterrupted
run's losses and final weights bit for bit on the CPU (optimizer, scheduler and data-order state,
across epoch boundaries and a partial gradient-accumulation step), ``resume="auto"`` picks the latest
checkpoint and rewrites the log, and a resume with different batch settings (or a fresh start over a
run's checkpoints) is refused."""

from __future__ import annotations

import shutil

import pytest
import torch

from reference_model import LlavaOneVision
from reference_model.training import TrainOptions, apply_overrides, get_stage, read_log, train
from reference_model.training.synthetic import make_synthetic_set


def _run(data, out, resume=None, batch_size=2, accumulation=2):
    recipe = get_stage("2-si")
    options = TrainOptions(
        per_device_batch_size=batch_size, gradient_accumulation_steps=accumulation, progress=False
    )
    # 6 samples in steps of 2 x 2 (the last batch of an epoch wrapped around): 2 steps an epoch, 3 epochs.
    apply_overrides(recipe, options, {"lr": 1e-2, "vision_lr": 3e-3, "max_steps": 6, "save_every": 3})
    return train("tiny", data, out, recipe, options, resume=resume)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_synthetic_set(
        tmp_path_factory.mktemp("resume_set"), {"single_image": 6, "multi_image": 0, "video": 0}
    )


@pytest.fixture(scope="module")
def full(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return _run(data, out), out


def _weights(path):
    return dict(LlavaOneVision.from_pretrained(str(path)).state_dict())


@pytest.mark.slow
def test_resume_reproduces_uninterrupted_run(data, full, tmp_path):
    result, out = full
    assert [c.name for c in result.checkpoints] == ["checkpoint-3", "checkpoint-6"]
    assert len({r["epoch"] for r in read_log(out)}) == 3
    resumed = _run(data, tmp_path, resume=out / "checkpoint-3")
    assert resumed.steps == [4, 5, 6]
    assert resumed.losses == result.losses[3:]
    final, again = _weights(result.final_dir), _weights(resumed.final_dir)
    assert all(torch.equal(final[k], again[k]) for k in final)
    mid = _weights(out / "checkpoint-3")  # the checkpoint is a loadable HF-layout model too
    assert any(not torch.equal(mid[k], final[k]) for k in final)


@pytest.mark.slow
def test_resume_under_another_layout_of_the_same_global_batch(data, full, tmp_path):
    """Checkpointed with batch 2 x 2 accumulation steps, continued with batch 4 in one step: same samples
    per step, same losses up to float rounding."""
    result, out = full
    resumed = _run(data, tmp_path, resume=out / "checkpoint-3", batch_size=4, accumulation=1)
    assert resumed.losses == pytest.approx(result.losses[3:], rel=1e-5)


@pytest.mark.slow
def test_auto_resume_rewrites_the_log(data, full, tmp_path):
    result, out = full
    shutil.copytree(out / "checkpoint-3", tmp_path / "checkpoint-3")
    shutil.copy(out / "train_log.jsonl", tmp_path / "train_log.jsonl")  # holds steps 4-6 of the first run
    resumed = _run(data, tmp_path, resume="auto")
    assert resumed.steps == [4, 5, 6]
    log = read_log(tmp_path)
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in log] == result.losses
    assert read_log(tmp_path, "start")[-1]["resumed_from"].endswith("checkpoint-3")


@pytest.mark.slow
def test_resume_refuses_other_batch_settings(data, full, tmp_path):
    _, out = full
    with pytest.raises(ValueError, match="cannot resume exactly.*global_batch: checkpoint 4 vs now 6"):
        _run(data, tmp_path, resume=out / "checkpoint-3", batch_size=3)
    with pytest.raises(ValueError, match="holds checkpoints of an earlier run"):
        _run(data, out)  # never silently restarts over a run that can be continued
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        _run(data, tmp_path / "nothing-here", resume=tmp_path / "nothing-here")
