"""The global batch of `ov-bench train`: the paper's per model size unless set, split into per-device batch
and gradient accumulation over the processes the launcher started; one line and exit 2 when it does not
divide, or when `accelerate launch` started fewer processes than it was asked for.

Expected values come from the paper's arithmetic (docs/model.md section 4: 512 samples per step for
0.5B, 256 for 7B and 72B) and global = processes x per-device x accumulation, not from the code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ov_bench.cli import main
from reference_model.training import TrainOptions, get_stage, read_log, train
from reference_model.training.batch_layout import split_global_batch
from reference_model.training.synthetic import make_synthetic_set

LAUNCH_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MASTER_ADDR")


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    """No launcher around the test process, whatever ran pytest."""
    for name in (*LAUNCH_VARS, "ACCELERATE_MIXED_PRECISION"):
        monkeypatch.delenv(name, raising=False)


def _cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _layout(capsys, *args) -> dict:
    code, out, err = _cli(capsys, "train", "--stage", "2-si", *args, "--show-recipe")
    assert code == 0, err
    resolved = json.loads(out)
    layout = resolved["batch_layout"]
    options = resolved["options"]
    # The options the trainer gets carry the same split, and it multiplies out to the global batch.
    assert (options["global_batch_size"], options["per_device_batch_size"]) == (
        layout["global_batch"],
        layout["per_device"],
    )
    assert options["gradient_accumulation_steps"] == layout["accumulation"]
    assert layout["processes"] * layout["per_device"] * layout["accumulation"] == layout["global_batch"]
    return layout


@pytest.mark.parametrize(
    "global_batch,processes,expected",
    [
        (512, 1, (4, 128)),  # 0.5B on one device: 4 per device, 128 micro-batches per step
        (512, 8, (4, 16)),
        (256, 8, (4, 8)),  # 7B / 72B on 8 GPUs
        (256, 64, (4, 1)),
        (512, 256, (2, 1)),  # 2 samples per process: the device takes both
        (48, 8, (3, 2)),  # 6 per process: 3 divides it, 4 does not
        (4, 1, (4, 1)),  # the tiny quick start
    ],
)
def test_split_by_default(global_batch, processes, expected):
    layout = split_global_batch(global_batch, processes)
    assert (layout.per_device, layout.accumulation) == expected


def test_split_keeps_what_is_given():
    assert (split_global_batch(512, 8, per_device=1).accumulation) == 64
    assert (split_global_batch(512, 8, accumulation=32).per_device) == 2
    assert split_global_batch(256, 2, per_device=8, accumulation=16).global_batch == 256


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(global_batch=512, processes=3), "global batch 512 does not divide over 3 processes"),
        (dict(global_batch=256, processes=1, per_device=3), "which --batch-size 3 does not divide"),
        (
            dict(global_batch=256, processes=2, accumulation=3),
            "128 samples per process, which --grad-accum 3",
        ),
        (
            dict(global_batch=256, processes=2, per_device=4, accumulation=4),
            "not --batch-size 4 x --grad-accum 4",
        ),
    ],
)
def test_split_that_does_not_divide(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_global_batch(**kwargs)


@pytest.mark.parametrize(
    "model,global_batch",
    [
        ("arch:0.5b", 512),
        ("arch:7b?layers=1", 256),
        ("arch:72b", 256),
        ("lmms-lab/llava-onevision-qwen2-0.5b-ov", 512),  # a hub id: its name says the size
        ("llava-hf/llava-onevision-qwen2-72b-ov-hf", 256),
        ("lmms-lab/LLaVA-Video-7B-Qwen2", 256),
        ("tiny", 4),  # the quick start stays 12 steps of 4
    ],
)
def test_default_is_the_papers_global_batch(model, global_batch, capsys):
    layout = _layout(capsys, "--model", model)
    assert layout["global_batch"] == global_batch and layout["processes"] == 1


def test_checkpoint_directory_is_sized_by_its_config(tmp_path, capsys):
    """A checkpoint directory: the LLM's width in config.json says which paper model it is."""
    import torch
    from safetensors.torch import save_file

    from reference_model.checkpoints import hf_config_dict
    from reference_model.config import preset_config

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps(hf_config_dict(preset_config("arch:7b?layers=1"))))
    save_file({"lm_head.weight": torch.zeros(1)}, str(ckpt / "model.safetensors"))
    assert _layout(capsys, "--model", str(ckpt))["global_batch"] == 256


def test_flags_set_the_global_batch_and_the_split(capsys):
    layout = _layout(capsys, "--model", "arch:0.5b", "--global-batch-size", "64", "--batch-size", "2")
    assert (layout["global_batch"], layout["per_device"], layout["accumulation"]) == (64, 2, 32)
    layout = _layout(capsys, "--model", "arch:0.5b", "--grad-accum", "16")
    assert (layout["global_batch"], layout["per_device"], layout["accumulation"]) == (512, 32, 16)
    # Both halves of the split given: the global batch follows from them (the former behaviour).
    layout = _layout(capsys, "--model", "arch:0.5b", "--batch-size", "1", "--grad-accum", "64")
    assert layout["global_batch"] == 64


def test_the_split_follows_the_process_count(capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "8")
    layout = _layout(capsys, "--model", "arch:0.5b")
    assert (layout["processes"], layout["per_device"], layout["accumulation"]) == (8, 4, 16)
    monkeypatch.setenv("WORLD_SIZE", "3")
    code, _, err = _cli(capsys, "train", "--stage", "2-si", "--model", "arch:0.5b", "--show-recipe")
    assert code == 2 and err.count("\n") == 1
    assert "global batch 512 does not divide over 3 processes" in err


def test_lost_processes_stop_before_anything(capsys, monkeypatch, tmp_path):
    """What `accelerate launch --cpu --num_processes 2` leaves in the one process it starts."""
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    out = tmp_path / "out"
    code, _, err = _cli(capsys, "train", "--stage", "1", "--model", "tiny", "--output", str(out))
    assert code == 2 and err.count("\n") == 1
    assert "started one process where --num_processes asked for more" in err and "--multi_gpu" in err
    assert not out.exists()


def test_trainer_derives_the_accumulation_from_its_process_count():
    from reference_model.training.trainer import _with_global_batch

    options = TrainOptions(global_batch_size=256, per_device_batch_size=2)
    assert _with_global_batch(options, 8).gradient_accumulation_steps == 16
    assert _with_global_batch(TrainOptions(), 8).gradient_accumulation_steps == 1  # unset: as given
    with pytest.raises(ValueError, match="does not divide over 3 processes"):
        _with_global_batch(options, 3)


@pytest.mark.slow
def test_global_batch_in_python_derives_the_accumulation(tmp_path):
    """train(): with global_batch_size set, the accumulation follows from the processes it runs on."""
    data = make_synthetic_set(tmp_path / "set", {"single_image": 8, "multi_image": 0, "video": 0})
    options = TrainOptions(global_batch_size=8, per_device_batch_size=2, max_steps=1, progress=False)
    train("tiny", data, tmp_path / "out", get_stage("1"), options)
    run = read_log(tmp_path / "out", "start")[0]["run"]
    assert (run["global_batch"], run["world_size"], run["per_device_batch_size"]) == (8, 1, 2)
    assert run["gradient_accumulation_steps"] == 4
    with pytest.raises(ValueError, match="which --batch-size 3 does not divide"):
        train(
            "tiny",
            data,
            tmp_path / "bad",
            get_stage("1"),
            TrainOptions(global_batch_size=8, per_device_batch_size=3),
        )


@pytest.mark.skipif(
    shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None,
    reason="accelerate's launcher is not installed beside this Python",
)
@pytest.mark.slow
def test_accelerate_cpu_launch_of_two_processes_stops(tmp_path):
    """The real launcher: `accelerate launch --cpu --num_processes 2` starts one process; it stops at once
    with our line (accelerate then adds its own report of the failed child), writing nothing."""
    bin_dir = Path(sys.executable).parent
    out = tmp_path / "out"
    cmd = [str(bin_dir / "accelerate"), "launch", "--cpu", "--num_processes", "2", "--num_machines", "1"]
    cmd += ["--mixed_precision", "no", "--dynamo_backend", "no", str(bin_dir / "ov-bench"), "train"]
    cmd += ["--stage", "1", "--model", "tiny", "--output", str(out)]
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode != 0 and time.perf_counter() - start < 60
    ours = [line for line in proc.stderr.splitlines() if line.startswith("ov-bench: error:")]
    assert len(ours) == 1 and "asked for more" in ours[0], proc.stderr[-2000:]
    assert not out.exists()
