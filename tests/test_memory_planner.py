"""Weights per GPU and GPUs needed (ov_bench.analysis.memory_planner), held against accelerate's own module sizes
of the model built on the meta device and against REFERENCE.md's sizes (72B bf16 ~ 146 GB)."""

from __future__ import annotations

import json

import pytest
import torch

from ov_bench.analysis.memory_planner import (
    gpus_needed,
    map_weights_per_device,
    model_units,
    place,
    plan_gpus,
    weight_params,
)
from reference_model import preset_config


def _meta_bytes(spec: str, dtype=torch.bfloat16) -> int:
    from accelerate.utils import compute_module_sizes

    from reference_model import LlavaOneVision

    model = LlavaOneVision.empty(preset_config(spec), None, dtype)
    params = {id(p): p for p in model.parameters()}  # tied weights once
    assert compute_module_sizes(model, dtype=dtype)[""] >= sum(p.numel() for p in params.values()) * 2
    return sum(p.numel() for p in params.values()) * 2


@pytest.mark.parametrize("spec", ["arch:0.5b", "arch:7b?layers=2"])
def test_weight_count_equals_the_model(spec):
    assert weight_params(preset_config(spec)) * 2 == _meta_bytes(spec)


def test_72b_weights_are_146_gb():
    nbytes = weight_params(preset_config("arch:72b")) * 2
    assert 145.5e9 < nbytes < 147.0e9  # ~146 GB in bfloat16


def test_balanced_placement_keeps_layers_whole_and_sums_to_the_model():
    cfg = preset_config("arch:72b")
    per_gpu = place(cfg, 4)
    assert [u for gpu in per_gpu for u in gpu] == model_units(cfg)  # every unit once, in order
    sizes = [sum(u.params for u in gpu) * 2 for gpu in per_gpu]
    assert all(sizes) and max(sizes) - min(sizes) < 0.1 * max(sizes)


def test_gpus_needed_for_72b():
    cfg = preset_config("arch:72b")
    seq, crops = 8765 + 100, 10  # the largest single image (REFERENCE.md s.2) + a prompt
    total = weight_params(cfg) * 2
    # 136.3 GiB of weights: not on one 80 GiB GPU; on two, 68 GiB each plus KV and activations.
    plan = gpus_needed(cfg, "72b", seq, crops, 80 * 2**30)
    assert total > 80 * 2**30 and plan.gpus == 2 and plan.fits
    assert sum(g.weights for g in plan.loads) == total
    # KV: 2 * 80 layers * 8 kv heads * 128 * s * 2 bytes, split by where the layers are.
    assert sum(g.kv_cache for g in plan.loads) == 2 * 80 * 8 * 128 * seq * 2
    assert gpus_needed(cfg, "72b", seq, crops, 40 * 2**30).gpus == 4
    assert not plan_gpus(cfg, "72b", 1, seq, crops, 80 * 2**30).fits


def test_weights_per_device_of_an_explicit_map(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(
        json.dumps(
            {
                "model.vision_tower": 0,
                "model.multi_modal_projector": 0,
                "model.image_newline": 0,
                "model.language_model.embed_tokens": 0,
                "model.language_model.layers": 1,
                "model.language_model.norm": 1,
                "model.language_model.rotary_emb": 1,
                "lm_head": 1,
            }
        )
    )
    per_device = map_weights_per_device("0.5b", str(path))
    cfg = preset_config("arch:0.5b")
    v, t = cfg.vision, cfg.text
    d, h = v.hidden_size, t.hidden_size
    vision = sum(u.params for u in model_units(cfg) if u.vision)
    projector_newline_embed = d * h + h + h * h + h + h + t.vocab_size * h
    position_ids = 729 * 8  # SigLIP's int64 position_ids buffer, which accelerate counts with the weights
    assert per_device["cuda:0"] == (vision + projector_newline_embed) * 2 + position_ids  # tied lm_head: once
    layers = sum(u.params for u in model_units(cfg) if u.decoder_layer) + h  # + the final norm
    assert (
        per_device["cuda:1"] >= layers * 2 and per_device["cuda:1"] - layers * 2 < 2**20
    )  # + rotary buffers


def test_tokens_bad_gpu_memory_is_one_line(capsys):
    from ov_bench.cli import main

    code = main(["tokens", "--tasks", "mmmu", "--data", "samples", "--limit", "1", "--gpu-memory", "lots"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--gpu-memory" in err
