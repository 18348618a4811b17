"""Checkpoint loading: the reference model's streaming loader against transformers'
``LlavaOnevisionForConditionalGeneration.from_pretrained`` on the same checkpoint on disk.

The checkpoint: ``arch:0.5b`` at full depth (real 26-layer SigLIP so400m, Qwen2-0.5B's 24 layers,
151936-token vocabulary; random weights) saved in bfloat16 in the HF layout (one 1.8 GB
model.safetensors), loaded in bfloat16 on the CPU. Each load runs in a fresh subprocess, the two
loaders alternating, ROUNDS each; the file is read once beforehand so both find it in the page cache.

Measured per load: wall time of the from_pretrained call, and peak resident memory during it
(``ru_maxrss`` after the call minus ``ru_maxrss`` after the imports). Reported in extra_info:
``rss_ratio`` = reference peak / the model's own bytes (goal <= 1.1: no second copy), and
``time_ratio`` = reference median time / transformers median time (goal <= 1.0).

Run: pytest tests/benchmarks/test_bench_load.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest

ROUNDS = 3
RSS_GOAL = 1.1
TIME_GOAL = 1.0

_SCRIPT = r"""
import json, resource, sys, time
import torch
from transformers import LlavaOnevisionForConditionalGeneration
from reference_model import LlavaOneVision
import reference_model.checkpoints, reference_model.weights, reference_model.device_map, accelerate, safetensors.torch

def maxrss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

which, path = sys.argv[1], sys.argv[2]
base = maxrss()
t0 = time.perf_counter()
if which == "reference":
    model = LlavaOneVision.from_pretrained(path, dtype="bfloat16")
else:
    model = LlavaOnevisionForConditionalGeneration.from_pretrained(path, dtype=torch.bfloat16)
seconds = time.perf_counter() - t0
peak = maxrss() - base
seen, nbytes = set(), 0
for t in list(model.parameters()) + list(model.buffers()):
    if id(t) not in seen:
        seen.add(id(t)); nbytes += t.nbytes
print(json.dumps({"seconds": seconds, "peak_rss": peak, "model_bytes": nbytes}))
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


def _load(which: str, path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, which, str(path)], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_load_reference_vs_transformers(benchmark, checkpoint):
    runs: dict[str, list[dict]] = {"reference": [], "transformers": []}

    def one_round():
        for which in ("reference", "transformers"):
            runs[which].append(_load(which, checkpoint))

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    ours, theirs = runs["reference"], runs["transformers"]
    model_bytes = ours[0]["model_bytes"]
    assert abs(model_bytes - theirs[0]["model_bytes"]) / model_bytes < 0.01  # the same model
    rss_ratio = max(r["peak_rss"] for r in ours) / model_bytes
    time_ratio = statistics.median(r["seconds"] for r in ours) / statistics.median(r["seconds"] for r in theirs)
    benchmark.extra_info.update({
        "model_bytes": model_bytes,
        "reference_seconds": [round(r["seconds"], 3) for r in ours],
        "transformers_seconds": [round(r["seconds"], 3) for r in theirs],
        "reference_peak_rss": [r["peak_rss"] for r in ours],
        "transformers_peak_rss": [r["peak_rss"] for r in theirs],
        "rss_ratio": round(rss_ratio, 3),
        "transformers_rss_ratio": round(max(r["peak_rss"] for r in theirs) / model_bytes, 3),
        "time_ratio": round(time_ratio, 3),
    })
    print(json.dumps(benchmark.extra_info, indent=1))
    assert rss_ratio <= RSS_GOAL, f"peak RSS {rss_ratio:.2f}x the model's bytes"
