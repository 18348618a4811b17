"""Builds a small random-weight transformers LlavaOnevisionForConditionalGeneration checkpoint + processor.

The independent peer for parity tests: real 384/14 geometry (27x27 patches), tiny widths. Used by the
reference-model parity tests and by the runner's ``hf:`` adapter tests.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_hf_checkpoint(path: Path, anyres_max: int = 9, seed: int = 0, lively: bool = False) -> Path:
    """Save a tiny LLaVA-OneVision in the HF layout (weights, config, tokenizer, processor) to ``path``.

    lively: the tiny preset's input-dependent weights (for end-to-end score checks); the default keeps
    transformers' small init, whose O(0.1) logits make the 1e-4 parity tolerance meaningful."""
    import torch
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessorPil,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
        Qwen2Config,
        SiglipVisionConfig,
    )

    from reference_model.tiny_weights import lively_init
    from reference_model.tokenizer import TINY_SPECIAL_IDS, TINY_VOCAB_SIZE, build_tiny_tokenizer

    torch.manual_seed(seed)
    config = LlavaOnevisionConfig(
        vision_config=SiglipVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=384,
            patch_size=14,
            vision_use_head=False,
        ).to_dict(),
        text_config=Qwen2Config(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=TINY_VOCAB_SIZE,
            tie_word_embeddings=True,
            rope_theta=1_000_000.0,
            rms_norm_eps=1e-6,
            max_position_embeddings=16384,
            eos_token_id=TINY_SPECIAL_IDS["eos"],
            pad_token_id=TINY_SPECIAL_IDS["pad"],
        ).to_dict(),
        image_token_index=TINY_SPECIAL_IDS["image"],
        video_token_index=TINY_SPECIAL_IDS["video"],
        vision_aspect_ratio=f"anyres_max_{anyres_max}",
        tie_word_embeddings=True,
    )
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    tokenizer = build_tiny_tokenizer()
    if lively:
        lively_init(model, tokenizer, seed=seed)
    with torch.no_grad():  # HF initialises biases and norms to values too tame to catch layout bugs
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    half = [0.5, 0.5, 0.5]
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessorPil(image_mean=half, image_std=half),
        tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessor(image_mean=half, image_std=half),
        num_image_tokens=729,
        vision_feature_select_strategy="full",
        vision_aspect_ratio=f"anyres_max_{anyres_max}",
        chat_template=CHAT_TEMPLATE,
    )
    path = Path(path)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def original_name(key: str) -> str:
    """Our (HF-layout) weight name -> the lmms-lab original layout's (docs/model.md section 1)."""
    for ours, theirs in (
        ("model.vision_tower.", "model.vision_tower.vision_tower.vision_model."),
        ("model.multi_modal_projector.linear_1.", "model.mm_projector.0."),
        ("model.multi_modal_projector.linear_2.", "model.mm_projector.2."),
        ("model.language_model.", "model."),
    ):
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    return key
