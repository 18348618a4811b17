"""Small random-weight checkpoints on disk, in the layouts real checkpoints have.

build_hf_checkpoint: a transformers LlavaOnevisionForConditionalGeneration checkpoint + processor (the HF
layout), the independent peer for parity tests: real 384/14 geometry (27x27 patches), tiny widths. Used
by the reference-model parity tests and by the runner's ``hf:`` adapter tests.
build_llava_video_checkpoint: a LLaVA-Video checkpoint in the original lmms-lab layout (the family's
layout tests and LLaVA-Video through the harness).
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


def build_llava_video_checkpoint(model, path: Path, **config_changes) -> Path:
    """A LLaVA-Video checkpoint in the original (lmms-lab) layout with the weights of ``model`` (the tiny
    reference model): the config.json keys lmms-lab/LLaVA-Video-7B-Qwen2 has, ``config_changes`` over them."""
    import json

    from safetensors.torch import save_file

    t, v = model.config.text, model.config.vision
    config = {  # the keys lmms-lab/LLaVA-Video-7B-Qwen2's config.json has, at tiny widths
        "_name_or_path": "lmms-lab/LLaVA-Video-7B-Qwen2",
        "architectures": ["LlavaQwenForCausalLM"],
        "model_type": "llava",
        "hidden_size": t.hidden_size,
        "intermediate_size": t.intermediate_size,
        "num_hidden_layers": t.num_hidden_layers,
        "num_attention_heads": t.num_attention_heads,
        "num_key_value_heads": t.num_key_value_heads,
        "vocab_size": t.vocab_size,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1_000_000.0,
        "max_position_embeddings": t.max_position_embeddings,
        "tie_word_embeddings": True,
        "add_faster_video": False,
        "add_time_instruction": True,
        "force_sample": True,
        "faster_token_stride": 10,
        "image_aspect_ratio": "anyres_max_9",
        "image_crop_resolution": None,
        "image_grid_pinpoints": [[384 * i, 384 * j] for i in range(1, 7) for j in range(1, 7)],
        "image_split_resolution": None,
        "mm_hidden_size": v.hidden_size,
        "mm_newline_position": "grid",
        "mm_patch_merge_type": "spatial_unpad",
        "mm_projector_lr": None,
        "mm_projector_type": "mlp2x_gelu",
        "mm_resampler_type": None,
        "mm_spatial_pool_mode": "bilinear",
        "mm_spatial_pool_stride": 2,
        "mm_tunable_parts": "mm_vision_tower,mm_mlp_adapter,mm_language_model",
        "mm_use_im_patch_token": False,
        "mm_use_im_start_end": False,
        "mm_vision_select_feature": "patch",
        "mm_vision_select_layer": -2,
        "mm_vision_tower": "google/siglip-so400m-patch14-384",
        "mm_vision_tower_lr": 2e-06,
        "image_token_index": 259,
        "video_token_index": 260,
        "vision_config": {
            "hidden_size": v.hidden_size,
            "intermediate_size": v.intermediate_size,
            "num_attention_heads": v.num_attention_heads,
        },
        **config_changes,
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    state = {original_name(k): v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(state, str(path / "model.safetensors"))
    model.tokenizer.save_pretrained(str(path))
    return path
