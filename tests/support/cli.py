"""The ``ov-bench`` command line as a user runs it: a subprocess with the hub switched off."""

from __future__ import annotations

import os
import subprocess
import sys

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
ENV = {**os.environ, **OFFLINE}
CLI = [sys.executable, "-m", "ov_bench.cli"]


def run_cli(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """``ov-bench ARGS...`` in a subprocess; stdout and stderr captured as text. The environment is read
    at the call, so a fixture's variables (an isolated OV_BENCH_CACHE) reach the command."""
    env = {**os.environ, **OFFLINE}
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, **kw)
