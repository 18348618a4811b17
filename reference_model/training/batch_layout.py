"""The global batch of one optimizer step and how it is split: processes x per-device batch x accumulation.

The paper fixes the global batch (docs/model.md section 4: 512 for 0.5B, 256 for 7B and 72B); the number
of processes is whatever the launcher started. The per-device batch and the gradient accumulation follow
from both, so the same recipe trains with the same global batch on 1 or 64 GPUs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The micro-batch a device takes when the user names none: the largest divisor of the per-process share
# up to this (a real model's activations at 32k tokens seldom fit more).
DEFAULT_PER_DEVICE_BATCH = 4
# The tiny preset (random weights, seconds per step): the quick start's 12 steps of 4 samples.
TINY_GLOBAL_BATCH = 4
MODEL_SIZES = ("tiny", "0.5b", "7b", "72b")


@dataclass(frozen=True)
class BatchLayout:
    global_batch: int
    processes: int
    per_device: int
    accumulation: int
    source: str = ""  # where the global batch came from, in words

    def describe(self) -> str:
        return (
            f"global batch {self.global_batch} = {_processes(self.processes)} x {self.per_device} per device x "
            f"{self.accumulation} accumulation step{'s' if self.accumulation != 1 else ''}"
            + (f" ({self.source})" if self.source else "")
        )


def _processes(n: int) -> str:
    return f"{n} process{'es' if n != 1 else ''}"


def split_global_batch(
    global_batch: int,
    processes: int,
    per_device: int | None = None,
    accumulation: int | None = None,
    source: str = "",
) -> BatchLayout:
    """Per-device batch and accumulation for ``global_batch`` over ``processes``; a given one is kept and
    the other derived; neither given: the largest per-device batch up to DEFAULT_PER_DEVICE_BATCH that
    divides the per-process share. A split that does not divide is a ValueError (one line)."""
    if global_batch < 1 or processes < 1:
        raise ValueError(
            f"global batch and process count must be positive, got {global_batch} and {processes}"
        )
    if global_batch % processes:
        raise ValueError(
            f"global batch {global_batch} does not divide over {_processes(processes)}; "
            f"pass --global-batch-size as a multiple of {processes}"
        )
    share = global_batch // processes
    over = f"global batch {global_batch} over {_processes(processes)} is {share} samples per process"
    if per_device is not None and accumulation is not None:
        if per_device * accumulation != share:
            raise ValueError(
                f"{over}, not --batch-size {per_device} x --grad-accum {accumulation}; drop one of them to derive it"
            )
    elif per_device is not None:
        if share % per_device:
            raise ValueError(f"{over}, which --batch-size {per_device} does not divide")
        accumulation = share // per_device
    elif accumulation is not None:
        if share % accumulation:
            raise ValueError(f"{over}, which --grad-accum {accumulation} does not divide")
        per_device = share // accumulation
    else:
        per_device = max(d for d in range(1, min(share, DEFAULT_PER_DEVICE_BATCH) + 1) if share % d == 0)
        accumulation = share // per_device
    return BatchLayout(global_batch, processes, per_device, accumulation, source)


def model_size(spec: str) -> str | None:
    """Which of the paper's models (or the tiny preset) ``spec`` is: from a preset's name, a checkpoint
    directory's config (the LLM's width), or a hub id's name; None for any other model."""
    from ..checkpoints import config_for
    from ..config import preset_config

    config = config_for(spec)
    if config is None:  # a hub id not on disk: its name says the size (llava-onevision-qwen2-7b-ov)
        found = re.search(r"(?<![\w.])(0\.5b|7b|72b)(?![\w.])", str(spec).lower().replace("-", " "))
        return found.group(1) if found else None
    width = config.text.hidden_size
    return next((name for name in MODEL_SIZES if preset_config(name).text.hidden_size == width), None)


def default_global_batch(
    paper_global_batch: dict[str, int], size: str | None, processes: int
) -> tuple[int, str]:
    """(global batch, where it comes from) when the user sets none: the paper's for the model's size."""
    if size in paper_global_batch:
        return paper_global_batch[size], f"the paper's for {size.upper()}"
    if size == "tiny":
        return TINY_GLOBAL_BATCH, "the tiny preset's"
    return (
        DEFAULT_PER_DEVICE_BATCH * processes,
        f"{DEFAULT_PER_DEVICE_BATCH} per process: the model is none of the paper's sizes",
    )
