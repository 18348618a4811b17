"""Fixtures shared by the test files: the tiny reference model, the tiny reference adapter and an
isolated cache for generated sample sets. Helpers that are not fixtures live in tests/support/.

Module-scoped (one instance per test file), because tests change the model's threshold in place.
The default run skips tests marked ``slow`` (pyproject.toml's addopts); ``.ci/run`` runs them too.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tiny():
    """The tiny preset of the reference model (random weights, real tokenizer ids)."""
    from reference_model import LlavaOneVision

    return LlavaOneVision.from_pretrained("tiny")


@pytest.fixture(scope="module")
def tiny_adapter():
    """The tiny reference model behind the adapter interface, at tau = 6561 (anyres_max_9)."""
    from ov_bench.adapters import load_adapter

    return load_adapter("tiny", max_grid_tokens=6561)


@pytest.fixture(scope="module")
def samples_cache(tmp_path_factory: pytest.TempPathFactory):
    """OV_BENCH_CACHE pointed at a fresh directory for the module; hub access switched off."""
    root = tmp_path_factory.mktemp("ovb-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OV_BENCH_CACHE", str(root))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        yield root
