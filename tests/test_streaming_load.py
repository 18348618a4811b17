"""Streaming load (meta-device model, tensor by tensor from safetensors / .bin shards) and device maps.

Independent sources: transformers' own LlavaOnevisionForConditionalGeneration loaded from the same
save_pretrained directory (its parameters, its sharding), the raw tensors written to disk under the
lmms-lab names of REFERENCE.md section 1, and parameter-count arithmetic for memory limits.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ov_bench.model_spec import ModelSpec
from reference_model import LlavaOneVision
from tests.support.checkpoints import build_hf_checkpoint, original_name


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    return build_hf_checkpoint(tmp_path_factory.mktemp("hf"))


@pytest.fixture(scope="module")
def hf_model(hf_dir):
    from transformers import LlavaOnevisionForConditionalGeneration

    return LlavaOnevisionForConditionalGeneration.from_pretrained(str(hf_dir), dtype=torch.float32).eval()


def _hf_state(hf_model) -> dict:
    """transformers' parameters under our names (REFERENCE.md s.1; transformers < 5 keeps a
    ``vision_model`` level inside the tower)."""
    return {
        k.replace("model.vision_tower.vision_model.", "model.vision_tower.", 1): v
        for k, v in hf_model.state_dict().items()
    }


def _assert_same_as_hf(ours: LlavaOneVision, hf_model) -> None:
    theirs = _hf_state(hf_model)
    own = ours.state_dict()
    assert own, "no parameters"
    for name, value in own.items():
        other = theirs[name]
        assert value.dtype == other.dtype and torch.equal(value, other), name


def test_hf_layout_streams_bit_identical_to_transformers(hf_dir, hf_model):
    model = LlavaOneVision.from_pretrained(str(hf_dir))
    assert not any(p.is_meta for p in model.parameters())
    _assert_same_as_hf(model, hf_model)
    assert model.lm_head.weight is model.model.language_model.embed_tokens.weight  # tied stays tied


def test_sharded_safetensors_via_index(hf_dir, hf_model, tmp_path):
    hf_model.save_pretrained(tmp_path, max_shard_size="200KB")  # transformers writes the index
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(hf_dir / f, tmp_path / f)
    model = LlavaOneVision.from_pretrained(str(tmp_path))
    _assert_same_as_hf(model, hf_model)


def _original_checkpoint(hf_dir, hf_model, path):
    """The lmms-lab layout: a Qwen2 config with mm_* keys, pytorch_model-0000N-of-0000M.bin shards and
    pytorch_model.bin.index.json, as the original code's save wrote them."""
    hf_config = json.loads((hf_dir / "config.json").read_text())
    text = hf_config["text_config"]
    config = {
        "architectures": ["LlavaQwenForCausalLM"],
        "model_type": "llava",
        **{
            k: text[k]
            for k in (
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "num_key_value_heads",
                "vocab_size",
                "rms_norm_eps",
                "max_position_embeddings",
            )
        },
        "rope_theta": 1_000_000.0,
        "tie_word_embeddings": True,
        "mm_projector_type": "mlp2x_gelu",
        "mm_hidden_size": 32,
        "mm_vision_tower": "google/siglip-so400m-patch14-384",
        "mm_vision_select_layer": -2,
        "mm_patch_merge_type": "spatial_unpad",
        "image_aspect_ratio": "anyres_max_9",
        "image_grid_pinpoints": "(1x1),...,(6x6)",
        "mm_spatial_pool_stride": 2,
        "image_token_index": 259,
        "video_token_index": 260,
        "vision_config": {
            k: hf_config["vision_config"][k]
            for k in ("hidden_size", "intermediate_size", "num_attention_heads")
        },
    }
    path.mkdir(exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    state = {}
    for ours, value in _hf_state(hf_model).items():
        if ours == "lm_head.weight":
            continue
        if ours.startswith("model.vision_tower.head."):  # the original tower replaces the head by Identity
            continue
        state[original_name(ours)] = value.clone()
    names = sorted(state)
    shards = [names[: len(names) // 2], names[len(names) // 2 :]]
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        file = f"pytorch_model-{i:05d}-of-{len(shards):05d}.bin"
        torch.save({k: state[k] for k in shard}, path / file)
        weight_map.update({k: file for k in shard})
    (path / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(hf_dir / f, path / f)
    return state


def test_original_layout_bin_shards_bit_identical(hf_dir, hf_model, tmp_path):
    state = _original_checkpoint(hf_dir, hf_model, tmp_path)
    model = LlavaOneVision.from_pretrained(str(tmp_path))
    own = model.state_dict()
    loaded = {k: v for k, v in own.items() if k != "lm_head.weight"}  # tied to embed_tokens
    assert {original_name(k) for k in loaded} == set(state)
    for name, value in loaded.items():
        assert torch.equal(value, state[original_name(name)]), name


def test_dtype_cast_while_streaming(hf_dir, hf_model):
    model = LlavaOneVision.from_pretrained(str(hf_dir), dtype="bfloat16")
    theirs = _hf_state(hf_model)
    for name, value in model.state_dict().items():
        assert value.dtype == torch.bfloat16
        assert torch.equal(value, theirs[name].to(torch.bfloat16)), name


def test_dtype_auto_is_float32_on_cpu(hf_dir):
    assert LlavaOneVision.from_pretrained(str(hf_dir), dtype="auto", device="cpu").dtype == torch.float32


def test_missing_tensor_is_reported_before_reading(hf_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    shutil.copytree(hf_dir, tmp_path / "ckpt")
    state = load_file(str(tmp_path / "ckpt" / "model.safetensors"))
    victim = next(k for k in state if "multi_modal_projector.linear_2.bias" in k)
    del state[victim]
    save_file(state, str(tmp_path / "ckpt" / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"missing \['model\.multi_modal_projector\.linear_2\.bias'\]"):
        LlavaOneVision.from_pretrained(str(tmp_path / "ckpt"))


# ----------------------------------------------------------------- split models


def _batch(model):
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (500, 700, 3), dtype=np.uint8))
    prompt = model.processor.build_prompt("What is here?", num_images=1)
    return model.processor(text=prompt, images=[image])


def _split_map(n_layers_text: int) -> dict:
    mapping = {
        "model.vision_tower.embeddings": "cpu",
        "model.vision_tower.encoder.layers.0": "disk",
        "model.vision_tower.encoder.layers.1": "cpu",
        "model.vision_tower.post_layernorm": "disk",
        "model.multi_modal_projector": "disk",
        "model.image_newline": "cpu",
        "model.language_model.embed_tokens": "cpu",
        "model.language_model.norm": "disk",
        "model.language_model.rotary_emb": "cpu",
        "lm_head": "cpu",
    }
    for i in range(n_layers_text):
        mapping[f"model.language_model.layers.{i}"] = "disk" if i % 2 == 0 else "cpu"
    return mapping


def test_cpu_and_disk_offload_gives_identical_logits_and_tokens(hf_dir, tmp_path):
    whole = LlavaOneVision.from_pretrained(str(hf_dir))
    mapping = _split_map(whole.config.text.num_hidden_layers)
    split = LlavaOneVision.from_pretrained(
        str(hf_dir), device_map=mapping, offload_folder=str(tmp_path / "off")
    )
    assert any(p.is_meta for p in split.parameters())  # the disk half really is not in memory
    batch = _batch(whole)
    with torch.no_grad():
        assert torch.equal(whole(**batch).logits, split(**batch).logits)
    a = whole.generate(**batch, max_new_tokens=6)
    b = split.generate(**batch, max_new_tokens=6)
    assert a.sequences.tolist() == b.sequences.tolist()
    rows = [whole.collate([batch, batch])]
    assert [r.sequences.tolist() for r in whole.generate_batch(rows[0], max_new_tokens=4)] == [
        r.sequences.tolist() for r in split.generate_batch(split.collate([batch, batch]), max_new_tokens=4)
    ]


def test_max_memory_is_respected(hf_dir, tmp_path):
    """An inferred map keeps each device under its limit; the layers beyond it go to the next device
    (on a CPU-only machine: disk)."""
    from reference_model import LlavaOneVision
    from reference_model.checkpoints import config_for
    from reference_model.device_map import plan_device_map

    model = LlavaOneVision.empty(config_for(str(hf_dir)), None, torch.float32)
    sizes = {}  # bytes of each module, from parameter counts (4 bytes per float32)
    for name, p in model.named_parameters():
        parts = name.split(".")
        for i in range(len(parts) + 1):
            key = ".".join(parts[:i])
            sizes[key] = sizes.get(key, 0) + p.numel() * 4
    limit = sizes[""] // 3
    plan = plan_device_map(model, "sequential", {"cpu": limit}, torch.float32, offload_folder=str(tmp_path))
    on_cpu = sum(sizes[k] for k, d in plan.device_map.items() if d == "cpu")
    assert 0 < on_cpu <= limit
    assert "disk" in plan.device_map.values()
    layers = [k for k in plan.device_map if k.startswith("model.language_model.layers.")]
    # Decoder layers are never split: each is an entry of its own, whole.
    assert all(k.count(".") == 3 for k in layers)
    split = LlavaOneVision.from_pretrained(
        str(hf_dir), device_map="sequential", max_memory=f"cpu={limit}B", offload_folder=str(tmp_path / "off")
    )
    whole = LlavaOneVision.from_pretrained(str(hf_dir))
    batch = _batch(whole)
    with torch.no_grad():
        assert torch.equal(whole(**batch).logits, split(**batch).logits)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--device-map", '{"model.vision_tower.nope": "cpu"}'], "no module named 'model.vision_tower.nope'"),
        (["--device-map", '{"": 7}'], "GPU 7 does not exist"),
        (["--max-memory", "cpu=1KB"], "does not fit into the memory limits"),
        (["--device-map", '{"": "disk"}'], "give --offload-folder"),
        (["--max-memory", "cpu=lots"], "is not a size"),
    ],
)
def test_bad_maps_one_line_before_weights(hf_dir, tmp_path, capsys, args, message):
    from ov_bench.cli import main

    broken = tmp_path / "ckpt"
    shutil.copytree(hf_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")  # never read: the map fails first
    code = main(
        [
            "run",
            "--tasks",
            "mmmu",
            "--data",
            "samples",
            "--model",
            str(broken),
            "--output",
            str(tmp_path / "out"),
            *args,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_bad_map_cli_subprocess_exit_2(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ov_bench.cli",
            "run",
            "--tasks",
            "mmmu",
            "--data",
            "samples",
            "--model",
            "tiny",
            "--device-map",
            '{"lm_head": "cpu"}',
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "is on no device" in proc.stderr and "Traceback" not in proc.stderr


def test_hf_adapter_split_by_map_gives_the_same_answer(hf_dir, tmp_path):
    """hf: passes the validated map to transformers' from_pretrained(device_map=...)."""
    from ov_bench.adapters import load_adapter
    from ov_bench.profiling import NullTimer

    mapping = {
        "model.vision_tower": "cpu",
        "model.multi_modal_projector": "cpu",
        "model.image_newline": "cpu",
        "model.language_model.embed_tokens": "cpu",
        "model.language_model.layers.0": "disk",
        "model.language_model.layers.1": "cpu",
        "model.language_model.norm": "cpu",
        "model.language_model.rotary_emb": "cpu",
        "lm_head": "cpu",
    }
    whole = load_adapter(f"hf:{hf_dir}", max_grid_tokens=6561)
    split = load_adapter(
        f"hf:{hf_dir}", max_grid_tokens=6561, device_map=mapping, offload_folder=str(tmp_path / "off")
    )
    assert split.device_map is not None and split.dtype == "float32"
    rng = np.random.default_rng(4)
    image = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    a = whole.generate(whole.prepare("What is here?", [image], None), 6, NullTimer())
    b = split.generate(split.prepare("What is here?", [image], None), 6, NullTimer())
    assert (a.text, a.new_tokens, a.visual_positions) == (b.text, b.new_tokens, b.visual_positions)


def test_dtype_auto_rule():
    """REFERENCE.md / issue 12.3: float16 on CUDA (the original loader's default), float32 on CPU."""
    from reference_model.checkpoints import resolve_dtype

    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("auto", "cuda:1") == torch.float16
    assert resolve_dtype("auto", {"model": 0, "lm_head": "cpu"}) == torch.float16
    assert resolve_dtype("auto", {"": "cpu"}) == torch.float32
    assert resolve_dtype("bfloat16", "cuda") == torch.bfloat16


@pytest.mark.slow
def test_run_records_the_resolved_dtype(tmp_path):
    from ov_bench.engine.runner import RunConfig, Runner

    config = RunConfig(
        tasks=["mmmu"],
        model=ModelSpec(model="tiny", device="cpu"),
        data="samples",
        limit=1,
        workers=0,
        output=str(tmp_path / "run"),
        progress=False,
    )
    assert config.model.dtype == "auto"
    Runner(config).run()
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["model"]["dtype"] == "float32" and results["env"]["dtype"] == "float32"


def test_profiling_picks_multi_device_probes_only_for_several_gpus():
    from ov_bench.outputs.store import SampleRow
    from ov_bench.profiling import (
        MultiDeviceMemoryTracker,
        MultiDeviceStageTimer,
        StageTimer,
        attach_per_device_peaks,
        memory_tracker_for,
        stage_timer_for,
    )

    assert type(stage_timer_for(False, ["cpu"])) is StageTimer
    assert type(stage_timer_for(True, ["cuda:0", "cpu"])) is StageTimer  # one GPU (+ offload): CUDA events
    assert isinstance(stage_timer_for(True, ["cuda:0", "cuda:1"]), MultiDeviceStageTimer)
    assert isinstance(memory_tracker_for("cuda:0", ["cuda:0", "cuda:1"]), MultiDeviceMemoryTracker)
    tracker = MultiDeviceMemoryTracker(["cuda:0", "cuda:1"])
    tracker.per_device = {"cuda:0": 5, "cuda:1": 7}
    row = SampleRow(
        task="t", doc_id="1", model_key="k", threshold="6561", record={"score": 1.0}, peak_memory_bytes=12
    )
    attach_per_device_peaks(row, tracker)
    assert row.record == {"score": 1.0, "peak_memory_bytes_per_device": {"cuda:0": 5, "cuda:1": 7}}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_two_gpu_split_identical_and_peaks_per_device(hf_dir):
    from ov_bench.profiling import MultiDeviceMemoryTracker

    whole = LlavaOneVision.from_pretrained(str(hf_dir), dtype="float32", device="cuda:0")
    mapping = {
        "model.vision_tower": 0,
        "model.multi_modal_projector": 0,
        "model.image_newline": 0,
        "model.language_model.embed_tokens": 0,
        "model.language_model.layers.0": 0,
        "model.language_model.layers.1": 1,
        "model.language_model.norm": 1,
        "model.language_model.rotary_emb": 1,
        "lm_head": 0,
    }
    split = LlavaOneVision.from_pretrained(str(hf_dir), dtype="float32", device_map=mapping)
    batch = _batch(whole)
    tracker = MultiDeviceMemoryTracker(["cuda:0", "cuda:1"])
    tracker.reset()
    b = split.generate(**split.to_device(batch), max_new_tokens=6)
    assert (
        whole.generate(**whole.to_device(batch), max_new_tokens=6).sequences.tolist() == b.sequences.tolist()
    )
    assert tracker.peak_bytes() == sum(tracker.per_device.values()) and all(tracker.per_device.values())
