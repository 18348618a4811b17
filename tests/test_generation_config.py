"""Decoding under a checkpoint's generation_config.json against transformers' own
``generate(inputs_embeds=..., do_sample=False)`` (how the evaluated path calls the original model):
stop on every id of ``eos_token_id``, ``repetition_penalty`` on the generated tokens only.

The peer gets its inputs_embeds from its own forward (captured at the language model's input), so
the visual part of the prompt is transformers' too, not ours.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from reference_model import LlavaOneVision
from reference_model.generation import GenerationSettings, penalize, read_generation_config
from reference_model.tokenizer import TINY_SPECIAL_IDS
from tests.support.checkpoints import build_hf_checkpoint

NEW = 12
# The real lmms-lab -chat values are 1.05 and [151645 (<|im_end|>), 151643 (<|endoftext|>)]; the tiny
# tokenizer's ids of the same two tokens:
EOS_PAIR = [TINY_SPECIAL_IDS["eos"], TINY_SPECIAL_IDS["pad"]]


def _image(width, height, seed):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from transformers import (
        AutoProcessor,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessorPil,
    )

    path = build_hf_checkpoint(tmp_path_factory.mktemp("gen"))
    hf_model = LlavaOnevisionForConditionalGeneration.from_pretrained(path, dtype=torch.float32).eval()
    hf_processor = AutoProcessor.from_pretrained(path)
    hf_processor.image_processor = LlavaOnevisionImageProcessorPil.from_pretrained(path)
    return path, hf_model, hf_processor


def _write_generation_config(path, **values) -> None:
    (path / "generation_config.json").write_text(
        json.dumps({"do_sample": False, "temperature": 0.0, **values})
    )


def _hf_embeds(hf_model, hf_batch) -> torch.Tensor:
    """inputs_embeds as transformers builds them (text embeddings with its own image features)."""
    captured = {}

    def grab(_module, _args, kwargs):
        captured["embeds"] = kwargs["inputs_embeds"].detach().clone()

    handle = hf_model.model.language_model.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            hf_model(**hf_batch)
    finally:
        handle.remove()
    return captured["embeds"]


def _hf_tokens(hf_model, embeds, penalty: float, eos: list[int], new: int = NEW) -> list[int]:
    out = hf_model.generate(
        inputs_embeds=embeds,
        attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
        max_new_tokens=new,
        do_sample=False,
        repetition_penalty=penalty,
        eos_token_id=eos,
        pad_token_id=TINY_SPECIAL_IDS["pad"],
    )
    return out[0].tolist()  # with inputs_embeds only the new tokens come back


def _prompts(ours, hf_processor):
    image = _image(640, 480, seed=3)
    text_prompt = ours.processor.build_prompt("Say something long.")
    image_prompt = ours.processor.build_prompt("Describe the picture.", num_images=1)
    return [
        (ours.processor(text=text_prompt), hf_processor(text=text_prompt, return_tensors="pt")),
        (
            ours.processor(text=image_prompt, images=[image]),
            hf_processor(text=image_prompt, images=[image], return_tensors="pt"),
        ),
    ]


def _ours(path, **file_values):
    if file_values:
        _write_generation_config(path, **file_values)
    else:
        (path / "generation_config.json").unlink(missing_ok=True)
    return LlavaOneVision.from_pretrained(str(path), unpad_rounding="hf")


@pytest.mark.parametrize("penalty", [1.05, 1.5, 3.0])
def test_repetition_penalty_matches_transformers_generate_inputs_embeds(checkpoint, penalty):
    path, hf_model, hf_processor = checkpoint
    ours = _ours(path, repetition_penalty=penalty, eos_token_id=EOS_PAIR)
    assert ours.generation_settings.repetition_penalty == penalty
    changed = 0
    for batch, hf_batch in _prompts(ours, hf_processor):
        embeds = _hf_embeds(hf_model, hf_batch)
        want = _hf_tokens(hf_model, embeds, penalty, EOS_PAIR)
        got = ours.generate(**batch, max_new_tokens=NEW).sequences[0].tolist()
        assert got == want
        plain = _hf_tokens(hf_model, embeds, 1.0, EOS_PAIR)
        changed += plain != want
    if penalty == 3.0:  # small penalties leave this random model's greedy loop as it is
        assert changed, "the penalty must change at least one answer, or this test shows nothing"


def test_batched_generation_applies_the_penalty_per_row(checkpoint):
    path, _, hf_processor = checkpoint
    ours = _ours(path, repetition_penalty=3.0, eos_token_id=EOS_PAIR)  # a penalty that changes answers
    samples = [b for b, _ in _prompts(ours, hf_processor)]
    singles = [ours.generate(**s, max_new_tokens=NEW).sequences[0].tolist() for s in samples]
    for prefill in ("per_row", "padded"):
        rows = ours.generate_batch(ours.collate(samples), max_new_tokens=NEW, prefill=prefill)
        assert [r.sequences[0].tolist() for r in rows] == singles


def test_stops_on_every_eos_id(checkpoint):
    """A second eos id taken from the unpenalised answer: both we and transformers stop right there."""
    path, hf_model, hf_processor = checkpoint
    ours = _ours(path)
    batch, hf_batch = _prompts(ours, hf_processor)[1]
    embeds = _hf_embeds(hf_model, hf_batch)
    free = ours.generate(**batch, max_new_tokens=NEW).sequences[0].tolist()
    assert free == _hf_tokens(hf_model, embeds, 1.0, [TINY_SPECIAL_IDS["eos"]])
    stop = next(t for t in free[2:] if t != TINY_SPECIAL_IDS["eos"])
    ours = _ours(path, eos_token_id=[TINY_SPECIAL_IDS["eos"], stop])
    got = ours.generate(**batch, max_new_tokens=NEW).sequences[0].tolist()
    assert got == _hf_tokens(hf_model, embeds, 1.0, [TINY_SPECIAL_IDS["eos"], stop])
    assert got[-1] == stop and len(got) == free.index(stop) + 1 < len(free)
    rows = ours.generate_batch(ours.collate([batch, batch]), max_new_tokens=NEW)
    assert [r.sequences[0].tolist() for r in rows] == [got, got]


def test_generation_config_can_be_ignored(checkpoint):
    path, _, hf_processor = checkpoint
    _write_generation_config(path, repetition_penalty=3.0, eos_token_id=EOS_PAIR)
    on = LlavaOneVision.from_pretrained(str(path), unpad_rounding="hf")
    off = LlavaOneVision.from_pretrained(str(path), unpad_rounding="hf", use_generation_config=False)
    assert on.generation_settings is not None and off.generation_settings is None
    assert off.file_generation_settings == on.file_generation_settings  # still known, just unused
    plain = _ours(path)
    batch = _prompts(plain, hf_processor)[1][0]
    assert (
        off.generate(**batch, max_new_tokens=NEW).sequences.tolist()
        == plain.generate(**batch, max_new_tokens=NEW).sequences.tolist()
    )


def test_reader_accepts_int_or_list_and_refuses_junk(tmp_path):
    assert read_generation_config(tmp_path) is None
    _write_generation_config(tmp_path, eos_token_id=151645)
    assert read_generation_config(tmp_path) == GenerationSettings(
        eos_token_ids=[151645], repetition_penalty=1.0, source="generation_config.json"
    )
    _write_generation_config(
        tmp_path, eos_token_id=[151645, 151643], repetition_penalty=1.05, max_new_tokens=64
    )
    settings = read_generation_config(tmp_path)
    assert settings.eos_token_ids == [151645, 151643] and settings.repetition_penalty == 1.05
    assert settings.max_new_tokens == 64
    _write_generation_config(tmp_path, eos_token_id="x")
    with pytest.raises(ValueError, match="eos_token_id"):
        read_generation_config(tmp_path)
    _write_generation_config(tmp_path, repetition_penalty=0)
    with pytest.raises(ValueError, match="repetition_penalty"):
        read_generation_config(tmp_path)


def test_penalty_arithmetic_is_transformers_processor():
    from transformers import RepetitionPenaltyLogitsProcessor

    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0, 0.0]])
    ids = torch.tensor([[0, 1, 1, 4]])
    want = RepetitionPenaltyLogitsProcessor(1.3)(ids, logits.clone())
    assert torch.equal(penalize(logits.clone(), [[0, 1, 1, 4]], 1.3), want)
