"""Batched generation in the reference model: ``collate`` + ``generate_batch`` against the single-prompt
``generate`` (the independent side: one prompt, no padding, no batch), float32 on CPU with the tiny
preset, whose answers depend on the input.

The batch mixes very different prompts so left padding is exercised hard: a 64x48 image (1317 visual
tokens), a 1920x1080 image (7269), text only, three images (multi-image mode, 3 x 729 in the default eval layout) and a 4-frame
video (785). Per row: new tokens exactly equal, visual positions and (unpadded) prompt lengths equal,
and the prefill logits within 1e-4. Both prefill modes: each row alone then one left-padded KV cache
(the default), and one left-padded forward with an attention mask.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from PIL import Image

from reference_model import count_prompt_visual_tokens
from reference_model.batching import collate

MAX_NEW = 6


def _image(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


CASES = {
    "small image": ("What is this? A. cat B. dog", [(64, 48, 1)], 0),
    "1920x1080": ("Describe the large image.", [(1920, 1080, 2)], 0),
    "text only": ("Text only question: which letter? A B C D", [], 0),
    "multi-image": ("Compare these images.", [(300, 200, 3), (200, 300, 4), (500, 500, 5)], 0),
    "video": ("What happens in the video?", [], 4),
}


def _inputs(model, question, sizes, frames):
    images = [_image(*s) for s in sizes]
    video = (
        np.random.default_rng(7).integers(0, 256, (frames, 120, 160, 3), dtype=np.uint8) if frames else None
    )
    prompt = model.processor.build_prompt(question, num_images=len(images), video=video is not None)
    return model.processor(text=prompt, images=images or None, videos=[video] if frames else None)


@pytest.fixture(scope="module")
def samples(tiny):
    return {name: _inputs(tiny, *case) for name, case in CASES.items()}


@pytest.fixture(scope="module")
def singles(tiny, samples):
    return {name: tiny.generate(**s, max_new_tokens=MAX_NEW) for name, s in samples.items()}


def test_collate_left_pads_and_keeps_visuals_in_row_order(tiny, samples):
    items = list(samples.values())
    batch = tiny.collate(items)
    width = max(s["input_ids"].shape[1] for s in items)
    pad = tiny.config.token_ids.pad
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (len(items), width)
    for row, s in enumerate(items):
        n = s["input_ids"].shape[1]
        assert batch["input_ids"][row, width - n :].tolist() == s["input_ids"][0].tolist()
        assert batch["input_ids"][row, : width - n].eq(pad).all()
        assert batch["attention_mask"][row].tolist() == [0] * (width - n) + [1] * n
    assert batch["images_per_sample"].tolist() == [1, 1, 0, 3, 0]
    assert batch["videos_per_sample"].tolist() == [0, 0, 0, 0, 1]
    with_images = [s for s in items if "pixel_values" in s]
    assert torch.equal(batch["pixel_values"], torch.cat([s["pixel_values"] for s in with_images]))
    assert batch["image_sizes"].tolist() == [[64, 48], [1920, 1080], [300, 200], [200, 300], [500, 500]]
    assert batch["image_num_crops"].tolist() == sum((s["image_num_crops"].tolist() for s in with_images), [])
    assert torch.equal(batch["pixel_values_videos"], samples["video"]["pixel_values_videos"])
    assert batch["video_num_frames"].tolist() == [4]
    assert batch["num_visual_tokens"].tolist() == [s["num_visual_tokens"] for s in items]


PREFILLS = ["per_row", "padded"]


@pytest.mark.parametrize("prefill", ["per_row", pytest.param("padded", marks=pytest.mark.slow)])
def test_batched_tokens_equal_single_prompt_generation(tiny, samples, singles, prefill):
    names = list(samples)
    results = tiny.generate_batch(
        tiny.collate([samples[n] for n in names]), max_new_tokens=MAX_NEW, prefill=prefill
    )
    assert len(results) == len(names)
    for name, got in zip(names, results):
        want = singles[name]
        assert got.sequences.tolist() == want.sequences.tolist(), name
        assert got.text == want.text
        assert got.num_visual_positions == want.num_visual_positions
        assert got.num_prompt_tokens == want.num_prompt_tokens == samples[name]["input_ids"].shape[1]
    # Independent arithmetic for the visual positions of every row.
    question, sizes, frames = CASES["1920x1080"]
    assert results[names.index("1920x1080")].num_visual_positions == count_prompt_visual_tokens(
        [(1920, 1080)], []
    )
    expected = [
        count_prompt_visual_tokens([(w, h) for w, h, _ in CASES[n][1]], [CASES[n][2]] if CASES[n][2] else [])
        for n in names
    ]
    assert [r.num_visual_positions for r in results] == expected
    # The answers differ between rows: a row cannot pass by copying its neighbour.
    assert len({tuple(r.sequences[0].tolist()) for r in results}) >= 4


def test_any_order_and_subset_gives_the_same_rows(tiny, samples, singles):
    names = ["video", "text only", "small image"]
    results = tiny.generate_batch(tiny.collate([samples[n] for n in names]), max_new_tokens=MAX_NEW)
    for name, got in zip(names, results):
        assert got.sequences.tolist() == singles[name].sequences.tolist(), name


# Rows short enough to compare full logits quickly (the 1920x1080 row is covered by the token test).
SHORTER = ["small image", "text only", "multi-image", "video"]


def test_prefill_logits_of_every_row_match_the_single_forward(tiny, samples):
    names = SHORTER
    batch = tiny.collate([samples[n] for n in names])
    width = batch["input_ids"].shape[1]
    with torch.inference_mode():
        batched = tiny.forward_batch(batch).logits
        for row, name in enumerate(names):
            single = tiny(**samples[name]).logits[0]
            n = single.shape[0]
            torch.testing.assert_close(batched[row, width - n :], single, atol=1e-4, rtol=1e-5, msg=name)
            assert torch.isfinite(batched[row]).all()  # padded positions too: no NaN from all-masked rows


def _row_tokens(results):
    return [r.sequences[0].tolist() for r in results]


STOPS = ((MAX_NEW, 0), (MAX_NEW, 4), (3, 3))  # (max_new_tokens, min_new_tokens)


@contextlib.contextmanager
def _eos(model, token: int):
    saved = model.config.token_ids.eos
    model.config.token_ids.eos = token
    try:
        yield
    finally:
        model.config.token_ids.eos = saved


@pytest.fixture(scope="module")
def early_eos(tiny, samples, singles):
    """The tiny model rarely emits <|im_end|>, so EOS is moved to a token one row emits mid-answer and
    the others not as early. Returns that token and each row's single-prompt answer per STOPS entry."""
    free = [singles[n].sequences[0].tolist() for n in SHORTER]
    candidates = [
        tok
        for toks in free
        for step, tok in enumerate(toks)
        if step >= 1 and tok not in toks[:step] and any(tok not in other[: step + 2] for other in free)
    ]
    assert candidates, free
    with _eos(tiny, candidates[0]):
        want = {
            stop: [
                tiny.generate(**samples[n], max_new_tokens=stop[0], min_new_tokens=stop[1])
                .sequences[0]
                .tolist()
                for n in SHORTER
            ]
            for stop in STOPS
        }
    return candidates[0], want


@pytest.mark.parametrize("prefill", PREFILLS)
def test_rows_stop_at_their_own_eos_and_min_new_tokens(tiny, samples, early_eos, prefill):
    """One row stops early, the others run on, and every row still equals its single-prompt answer."""
    eos, want = early_eos
    batch = tiny.collate([samples[n] for n in SHORTER])
    with _eos(tiny, eos):
        for max_new, min_new in STOPS:
            got = _row_tokens(
                tiny.generate_batch(batch, max_new_tokens=max_new, min_new_tokens=min_new, prefill=prefill)
            )
            assert got == want[(max_new, min_new)], (max_new, min_new)
            if min_new == 0:
                assert len({len(t) for t in got}) > 1, "some row should stop before the others"
                assert any(t[-1] == eos and len(t) < max_new for t in got)
            if min_new == max_new:
                assert all(len(t) == max_new for t in got)


def test_a_batch_of_one_equals_generate(tiny, samples, singles):
    got = tiny.generate_batch(tiny.collate([samples["multi-image"]]), max_new_tokens=MAX_NEW)
    assert _row_tokens(got) == [singles["multi-image"].sequences[0].tolist()]


def test_stage_timer_sees_each_stage_once_per_batch(tiny, samples):
    seen: list[str] = []

    @contextlib.contextmanager
    def timer(name):
        seen.append(name)
        yield

    tiny.generate_batch(
        tiny.collate([samples["small image"], samples["multi-image"], samples["video"]]),
        max_new_tokens=3,
        stage_timer=timer,
    )
    # one vision pass for all images of the batch and one for all frames, whatever the row count
    assert seen.count("vision_encoder") == 2
    assert seen.count("prefill") == 1 and seen.count("decode") == 1


def test_bad_batches_give_one_line_errors(tiny, samples):
    with pytest.raises(ValueError, match="at least one sample"):
        collate([], pad_id=0)
    padded = tiny.collate([samples["text only"], samples["small image"]])
    with pytest.raises(ValueError, match=r"input_ids must be \[1, S\]"):
        tiny.collate([padded])
    no_owner = {
        k: v
        for k, v in tiny.collate([samples["small image"], samples["text only"]]).items()
        if k != "images_per_sample"
    }
    with pytest.raises(ValueError, match="images_per_sample"):
        tiny.generate_batch(no_owner, max_new_tokens=1)
    wrong_owner = {**padded, "images_per_sample": torch.tensor([1, 0])}  # the image belongs to row 1
    with pytest.raises(ValueError, match="row 0: image placeholders"):
        tiny.generate_batch(wrong_owner, max_new_tokens=1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        tiny.generate_batch(padded, max_new_tokens=0)
    with pytest.raises(ValueError, match="prefill must be"):
        tiny.generate_batch(padded, max_new_tokens=1, prefill="dense")
