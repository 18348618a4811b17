"""The token planner (`ov-bench tokens`): counts against the model's measured visual positions,
cost formulas against torch's FLOP counter and a real KV cache, the CLI on sample data."""

from __future__ import annotations

import json

import pytest

from ov_bench.analysis.token_planner import (
    Architecture,
    DocShape,
    count_crops,
    doc_shapes,
    image_size_of_file,
    kv_cache_bytes,
    llm_prefill_flops,
    plan_image_files,
    plan_shapes,
    vision_flops_per_crop,
)


@pytest.fixture(scope="module")
def tiny_models():
    from reference_model import LlavaOneVision

    return {r: LlavaOneVision.from_pretrained("tiny", unpad_rounding=r) for r in ("original", "hf")}


def _measured(model, task, doc, tau, frames=2) -> int:
    """Visual positions the model fills in generate(), through the plain processor path."""
    visuals = task.load_visuals(doc, frames=frames)
    model.set_max_grid_tokens(tau)
    prompt = model.processor.build_prompt(
        task.doc_to_text(doc), num_images=len(visuals.images), video=visuals.video is not None
    )
    batch = model.processor(
        text=prompt,
        images=visuals.images or None,
        videos=[visuals.video.frames] if visuals.video is not None else None,
    )
    result = model.generate(**model.to_device(batch), max_new_tokens=1)
    return int(result.num_visual_positions)


def _planned(task, doc, tau, rounding, frames=2) -> int:
    shape = doc_shapes(task, [doc], text_tokens=0)[0]
    arch = Architecture.from_preset("tiny")
    row = plan_shapes(task.name, task.modality, [shape], [tau], [frames], [arch], unpad_rounding=rounding)[0]
    return int(row.visual_tokens.max)


def test_planner_counts_equal_model_measured(samples_cache, tiny_models):
    from tasks import get_task

    ai2d = get_task("ai2d")
    docs = ai2d.load(data="samples")
    by_size = {tuple(ai2d.image_sizes(d)[0]): d for d in docs}
    # 820x369: the two unpad roundings disagree (docs/model.md s.2); 571x1713: a tall 2x5-crop grid.
    cases = [
        (by_size[(820, 369)], 729),
        (by_size[(820, 369)], None),
        (by_size[(571, 1713)], 2916),
        (by_size[(24, 18)], 6561),
    ]
    for doc, tau in cases:
        for rounding, model in tiny_models.items():
            assert _planned(ai2d, doc, tau, rounding) == _measured(model, ai2d, doc, tau), (
                ai2d.image_sizes(doc),
                tau,
            )

    mmmu = get_task("mmmu")
    multi = next(d for d in mmmu.load(data="samples") if len(mmmu.image_sizes(d)) == 2)
    assert (
        _planned(mmmu, multi, 729, "original")
        == _measured(tiny_models["original"], mmmu, multi, 729)
        == 2 * 729
    )  # eval layout

    video = get_task("videomme")
    vdoc = video.load(data="samples")[0]
    assert (
        _planned(video, vdoc, None, "original", frames=2)
        == _measured(tiny_models["original"], video, vdoc, None, frames=2)
        == 2 * 196 + 1
    )


def test_vision_flops_match_torch_flop_counter(tiny_models):
    """The vision formula against torch's FLOP counter on the tiny tower (eager attention, so the
    attention matmuls are counted) with projector."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = tiny_models["original"]
    for layer in model.model.vision_tower.encoder.layers:
        layer.self_attn.config._attn_implementation = "eager"
    try:
        with FlopCounterMode(display=False) as counter:
            model.encode(torch.zeros(2, 3, 384, 384))
    finally:
        for layer in model.model.vision_tower.encoder.layers:
            layer.self_attn.config._attn_implementation = "sdpa"
    assert counter.get_total_flops() == 2 * vision_flops_per_crop(Architecture.from_preset("tiny"))


def test_llm_prefill_flops_match_torch_flop_counter(tiny_models):
    """Linear layers exactly; eager attention computes the full s*s score matrix, of which causal
    attention needs half: formula = linear + eager attention / 2 + the lm_head row."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = tiny_models["original"]
    lm = model.model.language_model
    arch = Architecture.from_preset("tiny")
    seq = 37
    ids = torch.randint(0, 300, (1, seq))
    counts = {}
    for impl in ("sdpa", "eager"):  # CPU sdpa is not counted: that run gives the linear layers alone
        lm.config._attn_implementation = impl
        with FlopCounterMode(display=False) as counter:
            hidden = lm(input_ids=ids).last_hidden_state
            model.lm_head(hidden[:, -1])
        counts[impl] = counter.get_total_flops()
    lm.config._attn_implementation = "sdpa"
    attention_full = counts["eager"] - counts["sdpa"]
    assert attention_full > 0
    assert llm_prefill_flops(arch, seq) == counts["sdpa"] + attention_full / 2


def test_nonembedding_params_match_transformers_qwen2():
    """P for the real 0.5B / 7B / 72B shapes against transformers' Qwen2 built on the meta device."""
    import torch
    from transformers import Qwen2Config, Qwen2Model

    for name in ("0.5b", "7b", "72b"):
        arch = Architecture.from_preset(name)
        cfg = Qwen2Config(
            hidden_size=arch.hidden,
            intermediate_size=arch.intermediate,
            num_hidden_layers=arch.layers,
            num_attention_heads=arch.heads,
            num_key_value_heads=arch.kv_heads,
            vocab_size=arch.vocab,
        )
        with torch.device("meta"):
            model = Qwen2Model(cfg)
        weights = sum(p.numel() for n, p in model.layers.named_parameters() if n.endswith("proj.weight"))
        assert arch.nonembedding_params == weights, name


def test_kv_cache_bytes_match_a_real_cache(tiny_models):
    import torch
    from transformers import DynamicCache

    model = tiny_models["original"]
    arch = Architecture.from_preset("tiny")
    cache = DynamicCache()
    seq = 23
    with torch.inference_mode():
        model.model.language_model(
            input_ids=torch.randint(0, 300, (1, seq)), use_cache=True, **{model._cache_kwarg: cache}
        )
    total = 0
    for layer in cache.layers:
        total += (
            layer.keys.numel() * layer.keys.element_size()
            + layer.values.numel() * layer.values.element_size()
        )
    assert kv_cache_bytes(arch, seq, bytes_per_elem=4) == total
    # The 7B at 6273 tokens (32 video frames), bf16: 28 layers * 4 KV heads * 128 * 2 bytes * 2.
    assert kv_cache_bytes(Architecture.from_preset("7b"), 6273) == 2 * 28 * 4 * 128 * 6273 * 2


def test_crops_and_files(tmp_path):
    from PIL import Image

    sizes = [(640, 480), (384, 384), (1600, 300), (24, 18)]
    paths = []
    for i, (w, h) in enumerate(sizes):
        path = tmp_path / f"im{i}.{'png' if i % 2 else 'jpg'}"
        Image.new("RGB", (w, h), (i * 40, 0, 0)).save(path)
        paths.append(path)
    assert [image_size_of_file(p) for p in paths] == sizes
    from reference_model import count_image_tokens

    counts = plan_image_files(paths, [729, None])
    assert counts[729] == [count_image_tokens(w, h, max_grid_tokens=729) for w, h in sizes]
    assert counts[None] == [count_image_tokens(w, h, max_grid_tokens=None) for w, h in sizes]
    # 640x480 picks the 768x768 grid (2x2 crops) + base; several images are one crop each; video = frames.
    assert count_crops([(640, 480)]) == 5
    assert count_crops([(640, 480), (10, 10)]) == 2
    assert count_crops([], [8]) == 8


def test_plan_rows_stats_and_errors():
    shapes = [
        DocShape("a", [(384, 384)], False, 10),
        DocShape("b", [(640, 480)], False, 20),
        DocShape("c", [], False, 0, error="MediaError: bad header"),
    ]
    arch = Architecture.from_preset("0.5b")
    rows = plan_shapes("t", "single_image", shapes, [6561, 729], [32], [arch])
    assert [r.setting for r in rows] == ["tau=6561", "tau=729"]
    full = rows[0]
    assert (full.n, full.errors) == (2, 1)
    assert (full.visual_tokens.mean, full.visual_tokens.max) == ((1485 + 2929) / 2, 2929)
    assert full.costs[0].kv_cache_bytes_max == kv_cache_bytes(arch, 2929 + 20)
    assert full.costs[0].prefill_flops_mean == pytest.approx(
        (llm_prefill_flops(arch, 1495) + llm_prefill_flops(arch, 2949)) / 2
    )
    assert rows[1].visual_tokens.max < full.visual_tokens.max


@pytest.mark.slow
def test_tokens_cli_on_samples(samples_cache, tmp_path, capsys):
    from ov_bench.cli import main

    out = tmp_path / "plan.json"
    rc = main(
        [
            "tokens",
            "--tasks",
            "ai2d,videomme",
            "--data",
            "samples",
            "--thresholds",
            "729,none",
            "--frames",
            "8,32",
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert "SAMPLE DATA" in text and "| ai2d | tau=729 |" in text and "| videomme | F=32 |" in text
    plan = json.loads(out.read_text())
    settings = [(r["task"], r["setting"]) for r in plan["rows"]]
    assert settings == [("ai2d", "tau=729"), ("ai2d", "tau=none"), ("videomme", "F=8"), ("videomme", "F=32")]
    video32 = plan["rows"][3]["visual_tokens"]
    assert video32["mean"] == video32["max"] == 32 * 196 + 1
    assert [c["arch"] for c in plan["rows"][0]["costs"]] == ["0.5b", "7b", "72b"]


def test_tokens_cli_bad_input(capsys):
    from ov_bench.cli import main

    assert main(["tokens", "--tasks", "nope", "--data", "samples"]) == 2
    assert "unknown task" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["tokens", "--tasks", "ai2d", "--thresholds", "0"])
    assert exc.value.code == 2


def test_corrupt_header_is_counted_not_fatal():
    from tests.support.fakes import FakeImageTask

    task = FakeImageTask(n=3, corrupt=(1,))
    shapes = doc_shapes(task, task.load())
    assert [s.error is not None for s in shapes] == [False, True, False]
    (row,) = plan_shapes(task.name, task.modality, shapes, [6561], [32], [Architecture.from_preset("0.5b")])
    assert (row.n, row.errors) == (2, 1)
    # Named with its reason, as a run's error rows are (issue 15.5).
    assert row.error_docs == [{"doc_id": shapes[1].doc_id, "error": shapes[1].error}]
    from ov_bench.analysis.token_planner import render_plan

    assert f"| {task.name} | {shapes[1].doc_id} |" in render_plan([row])


@pytest.mark.slow
def test_header_sizes_equal_decoded_sizes_for_every_image_task(samples_cache):
    """The planner trusts task.image_sizes (headers); it must list exactly the images a run decodes."""
    from tasks import get_task, list_tasks

    for name in list_tasks():
        task = get_task(name)
        if task.modality == "video":
            continue
        for doc in task.load(data="samples", limit=3):
            decoded = [im.size for im in task.load_visuals(doc).images]
            assert [tuple(s) for s in task.image_sizes(doc)] == decoded, (name, task.doc_id(doc))
