"""Two processes (``accelerate launch``, DDP over gloo on the CPU) train with the same loss curve and
weights as one process at the same global batch, on single images, multi-image sets, video and text;
so does one process accumulating two half batches.

accelerate's own ``--cpu`` launcher starts one process unless MPI is set up, so the two processes come
from ``--multi_gpu`` (torchrun underneath); finding several processes and no GPU, the trainer forms a
CPU process group. The log's world_size proves two processes shared the work.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reference_model import LlavaOneVision
from reference_model.training import TrainOptions, apply_overrides, get_stage, read_log, train
from reference_model.training.synthetic import make_synthetic_set

SETTINGS = {"lr": 1e-2, "vision_lr": 3e-3, "max_steps": 4, "video_frames": 3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None,
    reason="accelerate's launcher is not installed beside this Python",
)
@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    data = make_synthetic_set(tmp_path / "set", {"single_image": 4, "multi_image": 4, "video": 4})
    # Text-only records too: their batches leave the vision tower and projector unused, which DDP's
    # reducer must still see a gradient for.
    records = json.loads(data.read_text())
    records += [
        {
            "id": f"text{i}",
            "conversations": [
                {"from": "human", "value": f"What is {i} + {i}?"},
                {"from": "gpt", "value": str(2 * i)},
            ],
        }
        for i in range(4)
    ]
    data.write_text(json.dumps(records))
    recipe, options = get_stage("2-ov"), TrainOptions(per_device_batch_size=4, progress=False)
    apply_overrides(recipe, options, SETTINGS)
    one = train("tiny", data, tmp_path / "one", recipe, options)

    bin_dir = Path(sys.executable).parent
    cmd = [
        str(bin_dir / "accelerate"),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        str(bin_dir / "ov-bench"),
        "train",
        "--stage",
        "2-ov",
        "--model",
        "tiny",
        "--data",
        str(data),
        "--output",
        str(tmp_path / "two"),
        "--batch-size",
        "2",
        "--no-progress",
        *[f"--set={k}={v}" for k, v in SETTINGS.items()],
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    assert read_log(tmp_path / "two", "start")[0]["world_size"] == 2
    two = read_log(tmp_path / "two")
    assert [r["step"] for r in two] == one.steps
    assert [r["loss"] for r in two] == pytest.approx(one.losses, rel=1e-5)
    singles = read_log(tmp_path / "one")
    assert [(r["tokens"], r["target_tokens"]) for r in two] == [
        (r["tokens"], r["target_tokens"]) for r in singles
    ]
    # Gradient accumulation is a third layout of the same global batch: 2 micro-batches of 2 in one process.
    options.per_device_batch_size, options.gradient_accumulation_steps = 2, 2
    accumulated = train("tiny", data, tmp_path / "accumulated", recipe, options)
    assert accumulated.losses == pytest.approx(one.losses, rel=1e-5)
    a = LlavaOneVision.from_pretrained(str(one.final_dir)).state_dict()
    b = LlavaOneVision.from_pretrained(str(tmp_path / "two" / "final")).state_dict()
    for key in a:
        if key.startswith("model.vision_tower.") and key.endswith("k_proj.bias"):
            # Its true gradient is zero (a constant added to every key cancels in the softmax; SigLIP has no
            # RoPE to make it position-dependent); Adam turns the rounding noise left in that gradient into
            # full-size steps, which differ between any two summation orders without changing any output.
            continue
        # atol: 1% of one Adam step at lr 1e-2; Adam rescales small gradients (e.g. of the RoPE-rotated key
        # biases) to full steps, so rounding differences in them show up larger than in the loss.
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-4, msg=key)
