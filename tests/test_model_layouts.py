"""The family's token layouts: multi-image eval|train, the original video layouts (newline position x
pool mode), the grid set knob, LLaVA-Video checkpoints and placeholder/image count mismatches.

Every count is held three ways: the analytic count == arithmetic written out here from the facts
(729-token crops, 27x27 maps, stride-2 pooling, the newline rules) == the model's measured positions.
The video packing is also held tensor for tensor against the original code's own functions
(``get_2dPool``, ``add_token_per_grid``, ``add_token_per_frame``), transcribed below.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from reference_model import LlavaOneVision, count_image_tokens, count_multi_image_tokens, count_video_tokens
from reference_model.anyres import count_for_config, count_prompt_visual_tokens
from reference_model.config import resolve_grid_pinpoints
from reference_model.families import time_instruction
from tests.support.checkpoints import build_llava_video_checkpoint

NEWLINES = ("grid", "frame", "one_token", "no_token")
POOLS = ("average", "bilinear", "max")


def _image(width, height, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _frames(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 90, 160, 3), dtype=np.uint8)


def _measured(model, images=(), video=None, question="q"):
    """(processor's count, positions the model filled) for one prompt (embedding only, no decoding)."""
    prompt = model.processor.build_prompt(question, num_images=len(images), video=video is not None)
    batch = model.processor(
        text=prompt, images=list(images) or None, videos=[video] if video is not None else None
    )
    batch.pop("warnings", None)
    with torch.no_grad():
        _, filled = model.embed(
            **{k: v for k, v in batch.items() if k not in ("attention_mask", "num_visual_tokens")}
        )
    return batch["num_visual_tokens"], filled


# ------------------------------------------------------------------ multi-image
def test_multi_image_layouts(tiny):
    images = [_image(300, 200), _image(640, 480, 1)]
    assert count_multi_image_tokens(2, "eval") == 2 * 729  # stacked 4-D tensor: no newline
    assert count_multi_image_tokens(2, "train") == 2 * (729 + 1)
    try:
        for layout, per_image in (("eval", 729), ("train", 730)):
            tiny.set_multi_image_layout(layout)
            assert _measured(tiny, images) == (2 * per_image, 2 * per_image)
            assert count_for_config(tiny.config, [im.size for im in images]) == 2 * per_image
            assert (
                count_prompt_visual_tokens([im.size for im in images], multi_image_layout=layout)
                == 2 * per_image
            )
    finally:
        tiny.set_multi_image_layout("eval")
    with pytest.raises(ValueError, match="multi_image_layout"):
        tiny.set_multi_image_layout("stacked")


# ------------------------------------------------------------------ video layouts
def _per_frame(newline, pool):
    r = 14 if pool == "bilinear" else 13  # ceil(27/2) by resize; floor((27-2)/2)+1 by a 2x2 kernel
    return {"grid": r * (r + 1), "frame": r * r + 1, "one_token": r * r, "no_token": r * r}[newline], r


@pytest.mark.parametrize("newline", NEWLINES)
@pytest.mark.parametrize("pool", POOLS)
def test_video_counts_every_layout(tiny, newline, pool):
    frames = 3
    per_frame, _ = _per_frame(newline, pool)
    expected = frames * per_frame + (newline == "one_token")
    assert count_video_tokens(frames, newline_position=newline, pool_mode=pool) == expected
    tiny.set_video_layout(newline, pool)
    try:
        assert _measured(tiny, video=_frames(frames)) == (expected, expected)
        assert count_for_config(tiny.config, [], [frames]) == expected
    finally:
        tiny.set_video_layout("one_token", "bilinear")


def test_published_video_counts():
    """The per-frame numbers the family's papers and configs give."""
    assert count_video_tokens(1, newline_position="grid", pool_mode="average") == 182
    assert count_video_tokens(64, newline_position="grid", pool_mode="average") == 11_648
    assert count_video_tokens(1, newline_position="grid", pool_mode="bilinear") == 210
    assert count_video_tokens(1, newline_position="frame", pool_mode="average") == 170
    assert count_video_tokens(32) == 6273  # OV default: one_token / bilinear, 196F + 1
    assert count_video_tokens(5, newline_position="no_token", pool_mode="bilinear") == 5 * 196


# The original code's functions (llava_arch.py), transcribed: the independent peer of pool_video.
def _original_2d_pool(feature, mode, stride=2):
    frames, _, dim = feature.shape
    feature = feature.view(frames, 27, 27, -1).permute(0, 3, 1, 2).contiguous()
    if mode == "average":
        feature = torch.nn.functional.avg_pool2d(feature, stride)
    elif mode == "max":
        feature = torch.nn.functional.max_pool2d(feature, stride)
    else:
        h, w = feature.shape[2:]
        feature = torch.nn.functional.interpolate(
            feature, size=[math.ceil(h / stride), math.ceil(w / stride)], mode="bilinear"
        )
    return feature.permute(0, 2, 3, 1).view(frames, -1, dim)


def _original_newlines(feature, position, newline):
    if position == "grid":
        resize_h = int(math.sqrt(feature.shape[1]))
        frames = feature.shape[0]
        feature = feature.view(frames, 1, resize_h, resize_h, -1).permute(4, 0, 2, 1, 3).contiguous()
        feature = feature.flatten(1, 2).flatten(2, 3)
        feature = torch.cat((feature, newline[:, None, None].expand(*feature.shape[:-1], 1)), dim=-1)
        return feature.flatten(1, 2).transpose(0, 1)
    if position == "frame":
        feature = feature.permute(2, 0, 1).contiguous()
        feature = torch.cat((feature, newline[:, None, None].expand(*feature.shape[:-1], 1)), dim=-1)
        return feature.permute(1, 2, 0).contiguous().flatten(0, 1)
    if position == "one_token":
        return torch.cat((feature.flatten(0, 1), newline[None]), dim=0)
    return feature.flatten(0, 1)


@pytest.mark.parametrize("newline", NEWLINES)
@pytest.mark.parametrize("pool", POOLS)
def test_pool_video_equals_the_original_code(tiny, newline, pool):
    features = torch.randn(3, 729, tiny.config.text.hidden_size, generator=torch.Generator().manual_seed(1))
    want = _original_newlines(_original_2d_pool(features, pool), newline, tiny.model.image_newline.detach())
    got = tiny.pool_video(features, newline, pool)
    assert torch.equal(got.detach(), want)


@pytest.mark.parametrize("newline,pool", [("spatial", "average"), ("grid", "bicubic")])
def test_unknown_video_layout_is_refused(tiny, newline, pool):
    with pytest.raises(ValueError, match="not implemented"):
        tiny.set_video_layout(newline, pool)
    with pytest.raises(ValueError, match="not implemented"):
        count_video_tokens(4, newline_position=newline, pool_mode=pool)
    assert (tiny.config.video_newline_position, tiny.config.video_pool_mode) == ("one_token", "bilinear")


# ------------------------------------------------------------------ grid sets
def test_named_grid_sets():
    ov = resolve_grid_pinpoints("ov")
    assert len(ov) == 36 and (384, 384) in ov and (2304, 2304) in ov
    assert sorted(resolve_grid_pinpoints("next")) == sorted(
        [(768, 384), (384, 768), (768, 768), (384, 1152), (1152, 384)]
    )
    assert resolve_grid_pinpoints("384x768,768x384") == [(768, 384), (384, 768)]  # WxH -> (h, w)
    for bad in ("nope", "100x384", ""):
        with pytest.raises(ValueError, match="grid pinpoint"):
            resolve_grid_pinpoints(bad)


# Hand arithmetic (select, unpad, no threshold with at most 4 crops), NeXT set read as (width, height):
# 384x384: 384x768 wins the tie -> 54x27 map, unpad rows: int(384*27/384)=27, pad 13 -> 28x27: 729+28*28
# 1024x768: 768x768 -> 54x54, new_h int(768*54/1024)=40, pad 7 -> 40x54: 729+40*55
# 2000x300: 1152x384 -> 27x81, new_h int(300*81/2000)=12, pad 7 -> 13x81: 729+13*82
# 2304x2304: 768x768 -> 54x54 unchanged: 729+54*55 = 3699, the set's maximum
NEXT_COUNTS = {
    (384, 384): 729 + 28 * 28,
    (1024, 768): 729 + 40 * 55,
    (2000, 300): 729 + 13 * 82,
    (2304, 2304): 3699,
}


@pytest.mark.parametrize("size,expected", NEXT_COUNTS.items(), ids=str)
def test_next_grid_set_counts(size, expected):
    assert count_image_tokens(*size, grid_pinpoints=resolve_grid_pinpoints("next")) == expected


def test_next_grid_set_on_the_model(tiny):
    try:
        tiny.set_grid_pinpoints("next")
        assert _measured(tiny, [_image(1024, 768)]) == (NEXT_COUNTS[(1024, 768)],) * 2
        assert count_for_config(tiny.config, [(1024, 768)]) == NEXT_COUNTS[(1024, 768)]
    finally:
        tiny.set_grid_pinpoints("ov")
    assert _measured(tiny, [_image(1024, 768)]) == (4725, 4725)  # OV's 36 sizes (REFERENCE count)


# ------------------------------------------------------------------ placeholder / image count mismatch
def test_more_placeholders_than_images_reuse_the_last_image(tiny):
    images = [_image(300, 200), _image(640, 480, 1)]
    prompt = tiny.processor.build_prompt("<image> <image> <image> which differs?", num_images=2)
    batch = tiny.processor(text=prompt, images=images)
    assert batch["num_visual_tokens"] == 3 * 729 and len(batch["warnings"]) == 1
    result = tiny.generate(**batch, max_new_tokens=3)
    assert (
        result.num_visual_positions == 3 * 729 and "3 <image> placeholders but 2 images" in result.warnings[0]
    )
    with torch.no_grad():
        inputs = {
            k: v for k, v in batch.items() if k not in ("attention_mask", "num_visual_tokens", "warnings")
        }
        embeds, _ = tiny.embed(**inputs)
    slots = (batch["input_ids"][0] == tiny.config.token_ids.image).nonzero()[:, 0]
    second, third = embeds[0, slots[729:1458]], embeds[0, slots[1458:]]
    assert torch.equal(second, third)
    # Batched with a well-formed prompt, the row decodes as alone and keeps its warning.
    plain = tiny.processor(text=tiny.processor.build_prompt("q", num_images=1), images=[_image(500, 400)])
    rows = tiny.generate_batch(tiny.collate([plain, batch]), max_new_tokens=3)
    assert rows[1].sequences.tolist() == result.sequences.tolist() and rows[1].warnings == result.warnings
    assert (
        rows[0].warnings == []
        and rows[0].sequences.tolist() == tiny.generate(**plain, max_new_tokens=3).sequences.tolist()
    )


def test_fewer_placeholders_than_images_ignore_the_extra(tiny):
    images = [_image(300, 200), _image(640, 480, 1), _image(50, 60, 2)]
    prompt = tiny.processor.build_prompt("<image> only one", num_images=3)
    batch = tiny.processor(text=prompt, images=images)
    assert batch["num_visual_tokens"] == 729  # multi-image rule (3 images), one placeholder
    result = tiny.generate(**batch, max_new_tokens=2)
    assert result.num_visual_positions == 729 and "ignored" in result.warnings[0]


# ------------------------------------------------------------------ LLaVA-Video checkpoints


def test_llava_video_checkpoint_gets_its_evaluated_layout(tiny, tmp_path):
    model = LlavaOneVision.from_pretrained(str(build_llava_video_checkpoint(tiny, tmp_path / "vid")))
    c = model.config
    assert (c.family, c.video_newline_position, c.video_pool_mode) == ("llava-video", "grid", "average")
    assert (c.video_frames, c.video_sampling, c.video_time_instruction, c.video_force_sample) == (
        64,
        "fps",
        False,
        False,
    )
    assert c.eval_model_name == "llava_vid"  # the evaluated path: no time instruction, no force_sample
    assert c.conv_template == "qwen_1_5" and "add_time_instruction" in c.family_reason
    frames = _frames(4, seed=5)
    assert _measured(model, video=frames) == (4 * 182, 4 * 182)
    prompt = model.processor.build_prompt("what happens?", video=True)
    result = model.generate(**model.processor(text=prompt, videos=[frames]), max_new_tokens=3)
    assert result.num_visual_positions == 4 * 182 and result.sequences.shape == (1, 3)
    # The same weights with the override give OV's layout, and a bare OV-style config stays OV.
    ov = LlavaOneVision.from_pretrained(
        str(tmp_path / "vid"), video_newline_position="one_token", video_pool_mode="bilinear"
    )
    assert _measured(ov, video=frames) == (4 * 196 + 1,) * 2


def test_original_config_without_llava_video_keys_is_onevision(tiny, tmp_path):
    path = build_llava_video_checkpoint(
        tiny,
        tmp_path / "ov",
        _name_or_path="lmms-lab/llava-onevision-qwen2-0.5b-ov",
        add_time_instruction=False,
        force_sample=False,
        mm_newline_position="one_token",
        mm_spatial_pool_stride=None,
    )  # a null stride must load
    model = LlavaOneVision.from_pretrained(str(path))
    c = model.config
    assert (c.family, c.video_newline_position, c.video_pool_mode, c.video_frames) == (
        "onevision",
        "one_token",
        "bilinear",
        32,
    )
    assert _measured(model, video=_frames(2)) == (2 * 196 + 1,) * 2


def test_unimplemented_layout_in_a_checkpoint_is_refused(tiny, tmp_path):
    path = build_llava_video_checkpoint(tiny, tmp_path / "bad", mm_spatial_pool_mode="conv")
    with pytest.raises(ValueError, match="mm_spatial_pool_mode 'conv' is not implemented"):
        LlavaOneVision.from_pretrained(str(path))


def test_time_instruction_text():
    """The exact text of LLaVA-Video's evaluated path: times joined by ',' and no space before 'Please';
    the user turn is placeholder, instruction, question on three lines."""
    text = time_instruction(10.0, [0.0, 5.0])
    assert text == (
        "The video lasts for 10.00 seconds, and 2 frames are uniformly sampled from it. These frames are "
        "located at 0.00s,5.00s.Please answer the following questions related to this video."
    )
    from reference_model.processor import build_prompt

    prompt = build_prompt("What happens?", video=True, time_instruction=text)
    assert f"<|im_start|>user\n<video>\n{text}\nWhat happens?<|im_end|>" in prompt


def test_checkpoint_defaults_are_shown_without_loading(tiny, tmp_path):
    from reference_model.families import checkpoint_defaults

    path = build_llava_video_checkpoint(tiny, tmp_path / "vid")
    (path / "generation_config.json").write_text(
        json.dumps({"eos_token_id": [258, 256], "repetition_penalty": 1.05})
    )
    shown = checkpoint_defaults(path)
    assert shown["family"] == "llava-video" and shown["video_layout"] == "grid + average"
    assert (
        shown["video_frames"] == 64
        and shown["video_sampling"] == "fps"
        and shown["time_instruction"] is False
    )
    assert shown["force_sample"] is False and "trained_with" in shown["reasons"]
    assert shown["generation_config"]["eos_token_ids"] == [258, 256]
