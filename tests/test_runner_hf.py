"""End to end on the real tasks' sample data, one task per modality, with both adapters:
the tiny reference model and transformers' LlavaOnevisionForConditionalGeneration (``hf:``) on a
small checkpoint built here (real 384/14 geometry). Plus the hf adapter's threshold mapping."""

from __future__ import annotations

import pytest

from ov_bench.engine.runner import RunConfig, Runner
from ov_bench.errors import UsageError
from ov_bench.model_spec import ModelSpec
from tests.support.checkpoints import build_hf_checkpoint

PER_MODALITY = ["mmmu", "muirbench", "videomme"]  # single image, multi-image, video


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    return build_hf_checkpoint(tmp_path_factory.mktemp("hf_ckpt"), lively=True)


@pytest.fixture(scope="module")
def hf_adapter(hf_dir):
    from ov_bench.adapters import load_adapter

    return load_adapter(f"hf:{hf_dir}", max_grid_tokens=6561)


def _run(tmp_path, model=None, adapter=None, **kw):
    cfg = RunConfig(
        tasks=PER_MODALITY,
        model=ModelSpec(model=model or "tiny", frames=4),
        data="samples",
        limit=2,
        output=str(tmp_path / "out"),
        progress=False,
        **kw,
    )
    return Runner(cfg, adapter=adapter).run()


def _check(out, adapter_kind: str):
    assert out.errors == 0, [r.error for r in out.rows if r.error]
    assert {r.task for r in out.rows} == set(PER_MODALITY)
    assert len(out.rows) == 6
    for r in out.rows:
        assert r.visual_tokens_counted == r.visual_tokens_measured > 0
        assert r.response is not None and r.record is not None
        for stage in ("vision_encoder", "projector_packing", "prefill", "ttft", "end_to_end"):
            assert r.latency_ms.get(stage, 0) > 0, (r.task, stage)
    video = [r for r in out.rows if r.task == "videomme"]
    assert all(r.visual_tokens_measured == 196 * 4 + 1 for r in video)
    multi = [r for r in out.rows if r.task == "muirbench"]
    per_image = 730 if adapter_kind == "hf" else 729  # transformers: train layout; reference default: eval
    assert all(r.visual_tokens_measured % per_image == 0 for r in multi)
    assert out.results["model"]["adapter"] == adapter_kind
    assert out.results["model"]["multi_image_layout"] == ("train" if adapter_kind == "hf" else "eval")
    for name in PER_MODALITY:
        task = out.results["tasks"][name]
        assert task["n"] == 2 and task["main_metric"] in task["metrics"]
        assert task["samples_data"] is True


@pytest.mark.slow
def test_reference_tiny_each_modality(tmp_path):
    _check(_run(tmp_path, model="tiny"), "reference")


@pytest.mark.slow
def test_hf_each_modality(tmp_path, hf_adapter):
    out = _run(tmp_path, adapter=hf_adapter)
    _check(out, "hf")
    assert out.results["model"]["vision_aspect_ratio"] == "anyres_max_9"
    assert out.rows[0].model_key.startswith("hf:")


def test_hf_threshold_mapping(hf_adapter):
    from ov_bench.adapters.hf import aspect_ratio_for

    assert aspect_ratio_for(2916, 36) == "anyres_max_4"
    assert aspect_ratio_for(None, 36) == "anyres_max_36"
    with pytest.raises(UsageError, match="multiple of 729.*got 1000; try 729 or 1458"):
        aspect_ratio_for(1000, 36)
    with pytest.raises(UsageError, match="multiple of 729"):
        hf_adapter.set_threshold(6000)
    assert hf_adapter.threshold == 6561  # a refused tau leaves the adapter as it was


def test_hf_threshold_changes_tokens_as_transformers_counts(hf_adapter):
    """A 1280x720 image: 5967 tokens at anyres_max_9; at anyres_max_1 the grid is interpolated.
    The analytic count (reference arithmetic, hf rounding) must equal what transformers fills."""
    import numpy as np
    from PIL import Image

    from ov_bench.profiling import StageTimer

    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8))
    counts = {}
    try:
        for tau in (6561, 729, None):
            hf_adapter.set_threshold(tau)
            prepared = hf_adapter.prepare("Describe.", [image], None)
            gen = hf_adapter.generate(prepared, 2, StageTimer())
            assert gen.visual_positions == prepared.visual_tokens_counted
            counts[tau] = gen.visual_positions
    finally:
        hf_adapter.set_threshold(6561)
    assert counts[6561] == 5967 == counts[None]  # 5967: docs/model.md's example, under the cap
    assert counts[729] < counts[6561]


def test_hf_bad_checkpoint_dirs(tmp_path):
    from ov_bench.adapters import load_adapter

    with pytest.raises(FileNotFoundError, match="no such checkpoint directory"):
        load_adapter(f"hf:{tmp_path / 'missing'}", max_grid_tokens=6561)
    (tmp_path / "config.json").write_text('{"model_type": "llava_onevision"}')
    with pytest.raises(FileNotFoundError, match="no weights"):
        load_adapter(f"hf:{tmp_path}", max_grid_tokens=6561)
