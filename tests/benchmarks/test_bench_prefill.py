"""Prefill of the reference model against transformers' LlavaOnevision on the same checkpoint and input.

Real widths, reduced depth: SigLIP so400m (1152 wide) with 2 layers, Qwen2-0.5B (896 wide) with 2 layers;
one 1024x768 image (7 crops, 4725 visual tokens), float32, CPU. Prefill = vision tower + projector +
packing + LLM forward + the first token's logits. Both sides run alternately in one process; the ratio
of medians (reference / transformers) is reported in extra_info. Goal: <= 1.0.

Run: pytest tests/benchmarks/test_bench_prefill.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
import torch
from PIL import Image

ROUNDS = 5
GOAL = 1.0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        Qwen2Config,
        SiglipVisionConfig,
    )

    from reference_model.tokenizer import TINY_SPECIAL_IDS, build_tiny_tokenizer

    torch.manual_seed(0)
    config = LlavaOnevisionConfig(
        vision_config=SiglipVisionConfig(
            hidden_size=1152,
            intermediate_size=4304,
            num_hidden_layers=2,
            num_attention_heads=16,
            image_size=384,
            patch_size=14,
            vision_use_head=False,
        ).to_dict(),
        text_config=Qwen2Config(
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=2,
            num_attention_heads=14,
            num_key_value_heads=2,
            vocab_size=151936,
            tie_word_embeddings=True,
            rope_theta=1_000_000.0,
            rms_norm_eps=1e-6,
            eos_token_id=TINY_SPECIAL_IDS["eos"],
        ).to_dict(),
        image_token_index=TINY_SPECIAL_IDS["image"],
        video_token_index=TINY_SPECIAL_IDS["video"],
        tie_word_embeddings=True,
    )
    path = tmp_path_factory.mktemp("prefill_ckpt")
    LlavaOnevisionForConditionalGeneration(config).save_pretrained(path)
    build_tiny_tokenizer().save_pretrained(path)
    return path


def test_prefill_reference_vs_transformers(benchmark, checkpoint):
    from transformers import LlavaOnevisionForConditionalGeneration

    from reference_model import LlavaOneVision

    torch.set_num_threads(max(1, torch.get_num_threads()))
    ours = LlavaOneVision.from_pretrained(str(checkpoint), unpad_rounding="hf")
    theirs = LlavaOnevisionForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.float32).eval()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8))
    batch = ours.processor(
        text=ours.processor.build_prompt("Describe the image.", num_images=1), images=[image]
    )
    assert batch["num_visual_tokens"] == 4725
    # The same pixels and ids for transformers: [1, crops, 3, 384, 384], image_sizes as (height, width).
    hf_batch = {
        "input_ids": batch["input_ids"],
        "attention_mask": batch["attention_mask"],
        "pixel_values": batch["pixel_values"][None],
        "image_sizes": torch.tensor([[768, 1024]]),
    }

    def ours_prefill():
        with torch.inference_mode():
            return ours.generate(**batch, max_new_tokens=1).sequences

    def theirs_prefill():
        with torch.inference_mode():
            return theirs(**hf_batch, logits_to_keep=1).logits[:, -1].argmax(-1)

    assert ours_prefill().tolist()[0] == theirs_prefill().tolist()  # same first token: same computation
    ours_times, theirs_times = [], []
    for _ in range(ROUNDS):  # alternate so drift on a noisy machine hits both sides alike
        for fn, sink in ((ours_prefill, ours_times), (theirs_prefill, theirs_times)):
            start = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - start)
    ratio = statistics.median(ours_times) / statistics.median(theirs_times)
    benchmark.extra_info.update(
        reference_s=statistics.median(ours_times), transformers_s=statistics.median(theirs_times), ratio=ratio
    )
    print(
        f"\nprefill reference {statistics.median(ours_times):.3f}s  transformers "
        f"{statistics.median(theirs_times):.3f}s  ratio {ratio:.3f} (goal <= {GOAL})"
    )
    benchmark.pedantic(ours_prefill, rounds=1, iterations=1)
    assert ratio <= GOAL * 1.05, f"reference/transformers prefill ratio {ratio:.3f} above goal {GOAL}"
