"""The reference model against transformers' LlavaOnevisionForConditionalGeneration (the independent peer).

A random-weight HF checkpoint is saved with its processor and loaded into the reference model with
unpad_rounding="hf"; input lengths must be identical and logits agree within 1e-4 in float32.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from reference_model import LlavaOneVision
from tests.support.checkpoints import build_hf_checkpoint

SINGLE_SIZES = [(820, 369), (571, 1713), (946, 1156), (1, 1000), (1024, 768), (384, 384), (2000, 300)]
QUESTION = "Describe the picture."


def _image(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


SINGLE_CASES = [(9, size) for size in SINGLE_SIZES] + [
    (n, s) for n in (1, 4) for s in [(820, 369), (946, 1156), (1, 1000)]
]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """anyres_max N -> (transformers model, transformers processor, reference model), built on first use."""
    from transformers import (
        AutoProcessor,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessorPil,
    )

    cache = {}

    def get(anyres_max: int):
        if anyres_max not in cache:
            path = build_hf_checkpoint(tmp_path_factory.mktemp(f"hf{anyres_max}"), anyres_max=anyres_max)
            hf_model = LlavaOnevisionForConditionalGeneration.from_pretrained(
                path, dtype=torch.float32
            ).eval()
            hf_processor = AutoProcessor.from_pretrained(path)
            # The checkpoints were trained with PIL resizes; compare against transformers' PIL backend.
            hf_processor.image_processor = LlavaOnevisionImageProcessorPil.from_pretrained(path)
            # transformers' port gives every image of a multi-image prompt its newline: the train layout.
            ours = LlavaOneVision.from_pretrained(str(path), unpad_rounding="hf", multi_image_layout="train")
            cache[anyres_max] = (hf_model, hf_processor, ours)
        return cache[anyres_max]

    return get


def _hf_prompt(processor, question: str, placeholder: str, count: int) -> str:
    content = " ".join([placeholder] * count) + "\n" + question
    return processor.apply_chat_template(
        [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": content}],
        add_generation_prompt=True,
        tokenize=False,
    )


def _assert_same(ours_out, hf_out, ours_batch, hf_batch):
    assert ours_batch["input_ids"].shape == hf_batch["input_ids"].shape
    assert torch.equal(ours_batch["input_ids"], hf_batch["input_ids"])
    torch.testing.assert_close(ours_out.logits, hf_out.logits, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("anyres_max,size", SINGLE_CASES, ids=lambda c: str(c))
def test_single_image_matches_transformers(pairs, anyres_max, size):
    hf_model, hf_processor, ours = pairs(anyres_max)
    image = _image(*size, seed=size[0])
    prompt = ours.processor.build_prompt(QUESTION, num_images=1)
    assert prompt == _hf_prompt(hf_processor, QUESTION, "<image>", 1)
    batch = ours.processor(text=prompt, images=[image])
    hf_batch = hf_processor(text=prompt, images=[image], return_tensors="pt")
    n_crops = batch["pixel_values"].shape[0]
    torch.testing.assert_close(
        batch["pixel_values"], hf_batch["pixel_values"][0, :n_crops], atol=1e-6, rtol=0
    )
    with torch.no_grad():
        _assert_same(ours(**batch), hf_model(**hf_batch), batch, hf_batch)


@pytest.mark.parametrize("count", [2, 3])
def test_multi_image_matches_transformers(pairs, count):
    hf_model, hf_processor, ours = pairs(9)
    images = [_image(300 + 97 * i, 200 + 131 * i, seed=i) for i in range(count)]
    prompt = ours.processor.build_prompt(QUESTION, num_images=count)
    batch = ours.processor(text=prompt, images=images)
    hf_batch = hf_processor(text=prompt, images=[images], return_tensors="pt")  # nested: one sample
    assert batch["num_visual_tokens"] == 730 * count
    with torch.no_grad():
        _assert_same(ours(**batch), hf_model(**hf_batch), batch, hf_batch)


def test_video_matches_transformers(pairs):
    hf_model, hf_processor, ours = pairs(9)
    frames = np.random.default_rng(7).integers(0, 256, (8, 240, 320, 3), dtype=np.uint8)
    prompt = ours.processor.build_prompt(QUESTION, video=True)
    assert prompt == _hf_prompt(hf_processor, QUESTION, "<video>", 1)
    batch = ours.processor(text=prompt, videos=[frames])
    hf_batch = hf_processor(text=prompt, videos=[frames], return_tensors="pt")
    assert batch["num_visual_tokens"] == 196 * 8 + 1
    # transformers' video processor resizes with torchvision, the checkpoints' code with PIL: feed both
    # models the same (PIL) pixels so the comparison isolates the model.
    hf_batch["pixel_values_videos"] = batch["pixel_values_videos"][None]
    with torch.no_grad():
        _assert_same(ours(**batch), hf_model(**hf_batch), batch, hf_batch)


def test_greedy_generation_matches_transformers(pairs):
    hf_model, hf_processor, ours = pairs(9)
    image = _image(640, 480, seed=3)
    prompt = ours.processor.build_prompt(QUESTION, num_images=1)
    batch = ours.processor(text=prompt, images=[image])
    hf_batch = hf_processor(text=prompt, images=[image], return_tensors="pt")
    result = ours.generate(**batch, max_new_tokens=6, min_new_tokens=6)
    hf_ids = hf_model.generate(**hf_batch, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assert result.sequences.tolist() == hf_ids[:, hf_batch["input_ids"].shape[1] :].tolist()
    assert result.num_visual_positions == int((hf_batch["input_ids"] == ours.config.token_ids.image).sum())
