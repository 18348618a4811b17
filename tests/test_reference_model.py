"""Reference model: token arithmetic against docs/model.md, counts against the model's own positions,
checkpoint layouts, dtypes, generation controls and bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from reference_model import LlavaOneVision, count_image_tokens, count_multi_image_tokens, count_video_tokens
from tests.support.checkpoints import build_hf_checkpoint, original_name

# docs/model.md section 2, original rounding; the two HF-rounding values are quoted there too.
REFERENCE_COUNTS = {
    (384, 384): 1485,
    (640, 480): 2929,
    (1024, 768): 4725,
    (1280, 720): 5967,
    (1920, 1080): 7269,
    (2304, 2304): 7371,
    (946, 1156): 8765,
    (820, 369): 2349,
    (571, 1713): 6804,
}
HF_ROUNDING_COUNTS = {(820, 369): 2403, (571, 1713): 7074}


def _image(width, height, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _measured(model, images=(), video=None):
    prompt = model.processor.build_prompt("q", num_images=len(images), video=video is not None)
    batch = model.processor(text=prompt, images=list(images), videos=[video] if video is not None else None)
    result = model.generate(**batch, max_new_tokens=1)
    return batch["num_visual_tokens"], result.num_visual_positions


@pytest.mark.parametrize("size,expected", REFERENCE_COUNTS.items(), ids=str)
def test_counts_match_reference(size, expected):
    assert count_image_tokens(*size) == expected


@pytest.mark.parametrize("size,expected", HF_ROUNDING_COUNTS.items(), ids=str)
def test_hf_rounding_counts(size, expected):
    assert count_image_tokens(*size, unpad_rounding="hf") == expected


def test_multi_image_and_video_arithmetic():
    # REFERENCE s.3: 729 per image on the evaluated path (stacked 4-D tensor, no newline), 730 in training.
    assert count_multi_image_tokens(3) == 3 * 729
    assert count_multi_image_tokens(3, "train") == 3 * 730
    assert count_video_tokens(32) == 6273  # 196 * 32 + 1
    assert count_video_tokens(8) == 196 * 8 + 1


def test_anyres_max_n_is_tau_n_times_729():
    # anyres_max_9 is the default tau = 6561; an uncapped map of 2304x2304 has 85*84 = 7140 grid tokens.
    assert count_image_tokens(2304, 2304, max_grid_tokens=None) == 729 + 162 * 163
    assert count_image_tokens(2304, 2304, max_grid_tokens=6561) == 7371


@pytest.mark.parametrize("size", [(820, 369), (571, 1713), (946, 1156), (1024, 768)], ids=str)
def test_model_produces_reference_counts(tiny, size):
    counted, measured = _measured(tiny, [_image(*size)])
    assert counted == measured == REFERENCE_COUNTS[size]


@pytest.mark.parametrize("tau", [1000, 3000, 20000, None])
@pytest.mark.parametrize("size", [(1920, 1080), (300, 1200), (1, 1000)], ids=str)
def test_any_tau_agrees_with_model(tau, size):
    model = LlavaOneVision.from_pretrained("tiny", max_grid_tokens=tau)
    counted, measured = _measured(model, [_image(*size)])
    assert counted == measured == count_image_tokens(*size, max_grid_tokens=tau)


def test_set_max_grid_tokens_changes_counts(tiny):
    image = _image(1920, 1080)
    try:
        tiny.set_max_grid_tokens(729)
        assert _measured(tiny, [image]) == (count_image_tokens(1920, 1080, max_grid_tokens=729),) * 2
    finally:
        tiny.set_max_grid_tokens(6561)


def test_multi_image_and_video_positions(tiny):
    images = [_image(200, 300), _image(640, 480, 1), _image(50, 50, 2)]
    assert _measured(tiny, images) == (3 * 729,) * 2
    tiny.set_multi_image_layout("train")
    try:
        assert _measured(tiny, images) == (3 * 730,) * 2
    finally:
        tiny.set_multi_image_layout("eval")
    frames = np.random.default_rng(0).integers(0, 256, (4, 90, 160, 3), dtype=np.uint8)
    assert _measured(tiny, video=frames) == (4 * 196 + 1,) * 2


sides = st.integers(min_value=1, max_value=8000)
extreme = st.sampled_from([(1, 5000), (5000, 1), (1, 1), (8000, 3), (3, 8000), (7999, 8000)])


@settings(max_examples=300, deadline=None)
@given(
    size=st.one_of(st.tuples(sides, sides), extreme),
    tau=st.sampled_from([729, 2916, 6561, 20000, None]),
    rounding=st.sampled_from(["original", "hf"]),
)
def test_count_equals_packed_positions(tiny, size, tau, rounding):
    """The analytic count equals the rows the model's packing produces, for any size, tau and rounding.
    Feature values do not change shapes, so zeros stand in for the encoder output."""
    from reference_model.anyres import select_best_resolution

    width, height = size
    best_w, best_h = select_best_resolution(width, height, tiny.config.anyres.grid_pinpoints)
    features = torch.zeros(1 + (best_w // 384) * (best_h // 384), 729, tiny.config.text.hidden_size)
    anyres = tiny.config.anyres
    saved = anyres.max_grid_tokens, anyres.unpad_rounding
    anyres.max_grid_tokens, anyres.unpad_rounding = tau, rounding
    try:
        packed = tiny.pack_anyres(features, width, height)
    finally:
        anyres.max_grid_tokens, anyres.unpad_rounding = saved
    assert packed.shape[0] == count_image_tokens(width, height, max_grid_tokens=tau, unpad_rounding=rounding)


@pytest.mark.parametrize("size", [(1, 5000), (5000, 1), (2, 3), (7000, 5000)], ids=str)
def test_extreme_sizes_end_to_end(tiny, size):
    counted, measured = _measured(tiny, [_image(*size)])
    assert counted == measured == count_image_tokens(*size)


# ---------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    return build_hf_checkpoint(tmp_path_factory.mktemp("hf"))


def _logits(model, size=(700, 500)):
    prompt = model.processor.build_prompt("What is here?", num_images=1)
    batch = model.processor(text=prompt, images=[_image(*size, seed=5)])
    with torch.no_grad():
        return model(**batch).logits


def test_original_layout_loads_to_same_logits(hf_dir, tmp_path):
    from safetensors.torch import save_file

    reference = LlavaOneVision.from_pretrained(str(hf_dir))
    hf_config = json.loads((hf_dir / "config.json").read_text())
    text = hf_config["text_config"]
    original = {
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
        "image_grid_pinpoints": [[384 * i, 384 * j] for i in range(1, 7) for j in range(1, 7)],
        "mm_spatial_pool_stride": 2,
        "image_token_index": 259,
        "video_token_index": 260,
        "vision_config": {
            k: hf_config["vision_config"][k]
            for k in ("hidden_size", "intermediate_size", "num_attention_heads")
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(original))
    state = {
        original_name(k): v.contiguous() for k, v in reference.state_dict().items() if k != "lm_head.weight"
    }
    save_file(state, str(tmp_path / "model.safetensors"))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(hf_dir / f, tmp_path / f)
    loaded = LlavaOneVision.from_pretrained(str(tmp_path))
    assert loaded.config.vision.num_hidden_layers == 2
    assert torch.equal(_logits(loaded), _logits(reference))


def test_save_pretrained_loads_in_transformers(tiny, tmp_path):
    from transformers import LlavaOnevisionForConditionalGeneration

    tiny.save_pretrained(tmp_path)
    hf_model = LlavaOnevisionForConditionalGeneration.from_pretrained(tmp_path, dtype=torch.float32).eval()
    again = LlavaOneVision.from_pretrained(str(tmp_path))
    assert torch.equal(_logits(again), _logits(tiny))
    for name, value in tiny.state_dict().items():
        hf_name = name if name != "lm_head.weight" else "lm_head.weight"
        torch.testing.assert_close(hf_model.state_dict()[hf_name], value, atol=0, rtol=0)


def test_overrides_from_checkpoint(hf_dir):
    model = LlavaOneVision.from_pretrained(str(hf_dir), max_grid_tokens=2916, unpad_rounding="hf")
    assert model.config.anyres.max_grid_tokens == 2916 and model.config.anyres.unpad_rounding == "hf"
    assert LlavaOneVision.from_pretrained(str(hf_dir)).config.anyres.max_grid_tokens == 6561  # anyres_max_9


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_runs(dtype):
    model = LlavaOneVision.from_pretrained("tiny", dtype=dtype)
    assert model.dtype == dtype
    batch = model.to_device(
        model.processor(text=model.processor.build_prompt("q", num_images=1), images=[_image(500, 400)])
    )
    assert batch["pixel_values"].dtype == dtype
    result = model.generate(**batch, max_new_tokens=2)
    assert result.num_visual_positions == count_image_tokens(500, 400)


def test_min_new_tokens_forces_length(tiny):
    batch = tiny.processor(text=tiny.processor.build_prompt("hello"))
    assert tiny.generate(**batch, max_new_tokens=5, min_new_tokens=5).sequences.shape == (1, 5)


def test_generation_stops_at_eos(tiny):
    eos = tiny.config.token_ids.eos

    class AlwaysEos(torch.nn.Module):
        def forward(self, hidden):
            logits = torch.zeros(*hidden.shape[:-1], tiny.config.text.vocab_size)
            logits[..., eos] = 1.0
            return logits

    batch = tiny.processor(text=tiny.processor.build_prompt("hello"))
    head, tiny.lm_head = tiny.lm_head, AlwaysEos()
    try:
        assert tiny.generate(**batch, max_new_tokens=5).sequences.tolist() == [[eos]]
        assert tiny.generate(**batch, max_new_tokens=5, min_new_tokens=3).sequences.tolist() == [[eos] * 3]
    finally:
        tiny.lm_head = head


def test_tiny_answers_depend_on_the_input(tiny):
    """The tiny preset must not answer every prompt alike, or score parity tests compare 0 with 0."""
    answers = set()
    for seed in range(4):
        prompt = tiny.processor.build_prompt(f"Question {seed}? A. x B. y C. z D. w", num_images=1)
        batch = tiny.processor(text=prompt, images=[_image(300 + 40 * seed, 200, seed=seed)])
        answers.add(tiny.generate(**batch, max_new_tokens=6).text)
    assert len(answers) >= 3, answers


@pytest.mark.slow
def test_presets_reduce_depth():
    model = LlavaOneVision.from_pretrained("arch:0.5b?layers=1&vision_layers=1")
    assert model.config.text.hidden_size == 896 and model.config.text.num_hidden_layers == 1
    assert model.config.vision.hidden_size == 1152 and len(model.model.vision_tower.encoder.layers) == 1
    assert model.lm_head.weight.shape == (151936, 896)


# ---------------------------------------------------------------- bad input


def test_missing_path():
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        LlavaOneVision.from_pretrained("/nonexistent/checkpoint")


def test_other_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="not LLaVA-OneVision"):
        LlavaOneVision.from_pretrained(str(tmp_path))


def test_directory_without_weights(hf_dir, tmp_path):
    shutil.copy(hf_dir / "config.json", tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="no weights"):
        LlavaOneVision.from_pretrained(str(tmp_path))


@pytest.mark.parametrize("tau", [0, -5, 1.5])
def test_bad_tau(tau):
    with pytest.raises(ValueError, match="max_grid_tokens"):
        LlavaOneVision.from_pretrained("tiny", max_grid_tokens=tau)


def test_zero_side_image(tiny):
    with pytest.raises(ValueError, match="zero"):
        count_image_tokens(0, 100)
    with pytest.raises(ValueError, match="zero"):
        tiny.processor(
            text=tiny.processor.build_prompt("q", num_images=1), images=[Image.new("RGB", (0, 10))]
        )


def test_placeholder_count_mismatch(tiny):
    """A mismatch is a warning (see test_model_layouts.py); placeholders with no image at all, or a
    video count mismatch, have nothing to reuse and stay errors."""
    with pytest.raises(ValueError, match="placeholders"):
        tiny.processor(text=tiny.processor.build_prompt("q", num_images=2))
    with pytest.raises(ValueError, match="placeholders"):
        tiny.processor(text=tiny.processor.build_prompt("q", video=True))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_cuda_matches_cpu(dtype):
    cpu = LlavaOneVision.from_pretrained("tiny")
    gpu = LlavaOneVision.from_pretrained("tiny", device="cuda", dtype=dtype)
    batch = cpu.processor(text=cpu.processor.build_prompt("q", num_images=1), images=[_image(1024, 768)])
    with torch.no_grad():
        expected = cpu(**batch).logits
        got = gpu(**gpu.to_device(batch)).logits.float().cpu()
    tol = 1e-4 if dtype == torch.float32 else 5e-2
    torch.testing.assert_close(got, expected, atol=tol, rtol=tol)
    assert gpu.generate(**gpu.to_device(batch), max_new_tokens=2).num_visual_positions == 4725


def test_encoded_visuals_reused_across_thresholds():
    """A sweep encodes once and re-packs per tau: the logits equal a fresh run at each tau."""
    model = LlavaOneVision.from_pretrained("tiny")
    image = _image(1600, 900, seed=11)
    prompt = model.processor.build_prompt("q", num_images=1)
    pixels = model.processor(text=prompt, images=[image])
    with torch.no_grad():
        encoded = model.encode_visuals(pixels["pixel_values"])
        layout = {k: pixels[k] for k in ("image_sizes", "image_num_crops")}
        for tau in (729, 2916, None):
            model.set_max_grid_tokens(tau)
            ids = model.processor.tokenize(prompt, [image.size])
            reused = model(**ids, encoded=encoded, **layout).logits
            fresh = model(**model.processor(text=prompt, images=[image])).logits
            assert ids["num_visual_tokens"] == count_image_tokens(1600, 900, max_grid_tokens=tau)
            assert torch.equal(reused, fresh)
