"""Checkpoint loading: the reference model's streaming loader against transformers'
``LlavaOnevisionForConditionalGeneration.from_pretrained`` on the same checkpoint on disk.

The checkpoint: ``arch:0.5b`` at full depth (real 26-layer SigLIP so400m, Qwen2-0.5B's 24 layers,
151936-token vocabulary; random weights) saved in bfloat16 in the HF layout (one 1.8 GB
model.safetensors), loaded in bfloat16 on the CPU. Each load runs in a fresh subprocess, the two
loaders alternating, ROUNDS each; the file is read once beforehand so both find it in the page cache.

Measured per load: wall time of the from_pretrained call, then of reading every weight once
(``touched``: memory-mapped weights are paged in there), and the peak resident memory (VmHWM after
minus VmHWM after the imports) at both points. Reported in extra_info: ``rss_ratio[_touched]`` =
reference peak / the model's own bytes (goal <= 1.1: no second copy), and ``time_ratio[_touched]``
= reference median / transformers median (goal <= 1.0). Two loads: bf16 as stored, and bf16 cast to
float32 (every tensor really read and converted; model bytes are then the fp32 bytes).

Run: pytest tests/benchmarks/test_bench_load.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest

ROUNDS = 2
RSS_GOAL = 1.1
TIME_GOAL = 1.0

_SCRIPT = r"""
import json, resource, sys, time
import torch
from transformers import LlavaOnevisionForConditionalGeneration
from reference_model import LlavaOneVision
import reference_model.checkpoints, reference_model.weights, reference_model.device_map, accelerate, safetensors.torch

def peak_rss():
    # VmHWM: this process's own high-water mark (ru_maxrss would carry the forking parent's over exec).
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmHWM:"))

which, path, dtype = sys.argv[1], sys.argv[2], getattr(torch, sys.argv[3])
base = peak_rss()
t0 = time.perf_counter()
if which == "reference":
    model = LlavaOneVision.from_pretrained(path, dtype=dtype)
else:
    model = LlavaOnevisionForConditionalGeneration.from_pretrained(path, dtype=dtype)
seconds = time.perf_counter() - t0
peak = peak_rss() - base
seen, nbytes = set(), 0
tensors = [t for t in list(model.parameters()) + list(model.buffers()) if not (id(t) in seen or seen.add(id(t)))]
nbytes = sum(t.nbytes for t in tensors)
t1 = time.perf_counter()
with torch.no_grad():  # every byte read once: lazily mapped weights are paged in here
    for t in tensors:
        t.float().sum() if t.is_floating_point() else t.sum()
touch = time.perf_counter() - t1
print(json.dumps({"seconds": seconds, "touched_seconds": seconds + touch, "peak_rss": peak,
                  "touched_peak_rss": peak_rss() - base, "model_bytes": nbytes}))
"""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from reference_model import LlavaOneVision

    path = tmp_path_factory.mktemp("load_ckpt")
    model = LlavaOneVision.from_pretrained("arch:0.5b", dtype="bfloat16")
    assert model.config.vision.num_hidden_layers == 26 and model.config.text.num_hidden_layers == 24
    model.save_pretrained(path)
    del model
    with open(path / "model.safetensors", "rb") as fh:  # into the page cache, for both loaders alike
        while fh.read(1 << 26):
            pass
    return path


def _load(which: str, path, dtype: str = "bfloat16") -> dict:
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, which, str(path), dtype],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _summary(runs: dict[str, list[dict]]) -> dict:
    ours, theirs = runs["reference"], runs["transformers"]
    model_bytes = ours[0]["model_bytes"]
    assert abs(model_bytes - theirs[0]["model_bytes"]) / model_bytes < 0.01  # the same model

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    return {
        "model_bytes": model_bytes,
        "reference_seconds": [round(r["seconds"], 3) for r in ours],
        "transformers_seconds": [round(r["seconds"], 3) for r in theirs],
        "time_ratio": round(med(ours, "seconds") / med(theirs, "seconds"), 3),
        "time_ratio_touched": round(med(ours, "touched_seconds") / med(theirs, "touched_seconds"), 3),
        "rss_ratio": round(max(r["peak_rss"] for r in ours) / model_bytes, 3),
        "rss_ratio_touched": round(max(r["touched_peak_rss"] for r in ours) / model_bytes, 3),
        "transformers_rss_ratio": round(max(r["peak_rss"] for r in theirs) / model_bytes, 3),
        "transformers_rss_ratio_touched": round(max(r["touched_peak_rss"] for r in theirs) / model_bytes, 3),
    }


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"], ids=["bf16-as-stored", "bf16-to-fp32"])
def test_load_reference_vs_transformers(benchmark, checkpoint, dtype):
    """bf16-as-stored: both map the file (no copy; pages come in on first use, the ``touched``
    figures include reading every weight once). bf16-to-fp32: every tensor is cast, so really read."""
    runs: dict[str, list[dict]] = {"reference": [], "transformers": []}

    def one_round():
        for which in ("reference", "transformers"):
            runs[which].append(_load(which, checkpoint, dtype))

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    summary = _summary(runs)
    benchmark.extra_info.update(summary)
    print(dtype, json.dumps(summary, indent=1))
    assert summary["rss_ratio_touched"] <= RSS_GOAL, (
        f"peak RSS {summary['rss_ratio_touched']:.2f}x the model's bytes"
    )
