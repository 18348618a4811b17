"""Prompt building and input preparation: placeholders expanded to their exact visual-token counts."""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from .anyres import count_image_tokens, count_multi_image_tokens, count_video_tokens
from .config import ModelConfig
from .image_processing import anyres_crops, multi_image_crop, normalize, video_frames

IMAGE_PLACEHOLDER = "<image>"
VIDEO_PLACEHOLDER = "<video>"
SYSTEM_PROMPT = "You are a helpful assistant."
_PLACEHOLDER_RE = re.compile(f"({re.escape(IMAGE_PLACEHOLDER)}|{re.escape(VIDEO_PLACEHOLDER)})")


def chatml(question: str, system: str = SYSTEM_PROMPT) -> str:
    """The ``qwen_1_5`` conversation template with one user turn and an open assistant turn."""
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def build_prompt(
    question: str, num_images: int = 0, video: bool = False, time_instruction: str | None = None
) -> str:
    """lmms-eval's LLaVA-OneVision rule: placeholders go first, space-joined, unless already present;
    then the ChatML template. ``time_instruction`` (LLaVA-Video, ``families.time_instruction``) goes
    on its own line between the video placeholder and the question, as lmms-eval's llava_vid writes
    the user turn: ``<image>\n{time instruction}\n{question}``."""
    if time_instruction:
        question = time_instruction + "\n" + question
    if num_images and IMAGE_PLACEHOLDER not in question:
        question = " ".join([IMAGE_PLACEHOLDER] * num_images) + "\n" + question
    if video and VIDEO_PLACEHOLDER not in question:
        question = VIDEO_PLACEHOLDER + "\n" + question
    return chatml(question)


class Processor:
    """Turns a prompt with ``<image>`` / ``<video>`` placeholders plus media into model inputs."""

    def __init__(self, tokenizer, config: ModelConfig):
        self.tokenizer = tokenizer
        self.config = config

    build_prompt = staticmethod(build_prompt)

    def image_token_counts(
        self, sizes: Sequence[tuple[int, int]], multi_image_layout: str | None = None
    ) -> list[int]:
        """Visual tokens of each image given (width, height) sizes, by the single/multi-image rule
        (several images: the config's ``multi_image_layout`` unless one is given)."""
        if len(sizes) > 1 and self.config.multi_image_pad_to_square:
            return [count_multi_image_tokens(1, multi_image_layout or self.config.multi_image_layout)] * len(
                sizes
            )
        anyres = self.config.anyres
        return [
            count_image_tokens(
                w,
                h,
                max_grid_tokens=anyres.max_grid_tokens,
                unpad_rounding=anyres.unpad_rounding,
                grid_pinpoints=anyres.grid_pinpoints,
            )
            for w, h in sizes
        ]

    def __call__(self, text: str, images: Sequence | None = None, videos: Sequence | None = None) -> dict:
        """Pixels for every image / video plus the expanded input ids (see ``tokenize``)."""
        images, videos = list(images or []), list(videos or [])
        batch: dict = {}
        if images:
            multi = len(images) > 1 and self.config.multi_image_pad_to_square
            resize = self.config.image_resize
            crops = [
                multi_image_crop(im, resize)
                if multi
                else anyres_crops(im, self.config.anyres.grid_pinpoints, resize)
                for im in images
            ]
            batch["pixel_values"] = normalize(torch.cat(crops))
            batch["image_sizes"] = torch.tensor([[im.width, im.height] for im in images], dtype=torch.long)
            batch["image_num_crops"] = torch.tensor([len(c) for c in crops], dtype=torch.long)
        if videos:
            clips = [video_frames(v, self.config.image_resize) for v in videos]
            batch["pixel_values_videos"] = normalize(torch.cat(clips))
            batch["video_num_frames"] = torch.tensor([len(c) for c in clips], dtype=torch.long)
        sizes = [(im.width, im.height) for im in images]
        frames = batch["video_num_frames"].tolist() if videos else []
        return {**batch, **self.tokenize(text, sizes, frames)}

    def tokenize(
        self, text: str, image_sizes: Sequence[tuple[int, int]] = (), video_frames: Sequence[int] = ()
    ) -> dict:
        """input_ids with each placeholder expanded to its visual-token count at the current tau; needs
        only image sizes and frame counts, so a threshold sweep re-tokenizes without touching pixels."""
        parts = _PLACEHOLDER_RE.split(text)
        n_image_slots, n_video_slots = parts.count(IMAGE_PLACEHOLDER), parts.count(VIDEO_PLACEHOLDER)
        if n_video_slots != len(video_frames):
            raise ValueError(
                f"prompt has {n_video_slots} {VIDEO_PLACEHOLDER} placeholders but {len(video_frames)} videos were given"
            )
        slots, warnings = placeholder_images(n_image_slots, len(image_sizes))
        image_counts = self.image_token_counts(image_sizes) if image_sizes else []
        slot_counts = [image_counts[i] for i in slots]
        config = self.config
        video_counts = [
            count_video_tokens(
                f, newline_position=config.video_newline_position, pool_mode=config.video_pool_mode
            )
            for f in video_frames
        ]
        ids = config.token_ids
        input_ids: list[int] = []
        image_iter, video_iter = iter(slot_counts), iter(video_counts)
        for part in parts:
            if part == IMAGE_PLACEHOLDER:
                input_ids += [ids.image] * next(image_iter)
            elif part == VIDEO_PLACEHOLDER:
                input_ids += [ids.video] * next(video_iter)
            elif part:
                # Segments are tokenized apart, as the special placeholder tokens split BPE anyway.
                input_ids += self.tokenizer(part, add_special_tokens=False).input_ids
        input_ids_t = torch.tensor([input_ids], dtype=torch.long)
        out = {
            "input_ids": input_ids_t,
            "attention_mask": torch.ones_like(input_ids_t),
            "num_visual_tokens": sum(slot_counts) + sum(video_counts),
        }
        if warnings:
            out["image_slots"] = torch.tensor(slots, dtype=torch.long)
            out["warnings"] = warnings
        return out


def placeholder_images(n_placeholders: int, n_images: int) -> tuple[list[int], list[str]]:
    """Which image each ``<image>`` placeholder takes, as the evaluated path (the original code) does:
    placeholder k takes image k; placeholders past the last image reuse the last image's features
    (the original code does this for one extra placeholder and raises IndexError for more; ov-bench
    reuses the last for every extra one); images past the last placeholder are encoded and ignored.
    Returns the slots and a warning per mismatch (empty when the counts agree)."""
    if n_placeholders == n_images:
        return list(range(n_images)), []
    if n_images == 0:
        raise ValueError(
            f"prompt has {n_placeholders} {IMAGE_PLACEHOLDER} placeholders but no images were given"
        )
    slots = [min(k, n_images - 1) for k in range(n_placeholders)]
    if n_placeholders > n_images:
        note = f"the last image's features fill the {n_placeholders - n_images} extra placeholder(s)"
    else:
        note = f"the {n_images - n_placeholders} image(s) without a placeholder are ignored"
    return slots, [
        f"prompt has {n_placeholders} {IMAGE_PLACEHOLDER} placeholders but {n_images} images: {note}"
    ]
