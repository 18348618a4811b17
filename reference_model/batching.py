"""Collation of single-prompt processor outputs into one left-padded batch for ``generate_batch``.

Left padding keeps every row's last prompt token in the last column, so the first new token of each
row comes out of the same position and decoding appends in lockstep. Visual tensors are concatenated
in row order; ``images_per_sample`` / ``videos_per_sample`` say how many of them belong to each row
(the layout tensors of the images, e.g. ``image_num_crops``, are per image, not per row).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_IMAGE_KEYS = ("pixel_values", "image_sizes", "image_num_crops")
_VIDEO_KEYS = ("pixel_values_videos", "video_num_frames")


def _count(sample: dict, key: str) -> int:
    value = sample.get(key)
    return 0 if value is None else int(value.shape[0])


def collate(samples: Sequence[dict], pad_id: int) -> dict:
    """Processor outputs (each ``input_ids`` [1, S_i]) -> one batch:

    - ``input_ids`` / ``attention_mask`` [B, max S_i], left-padded with ``pad_id`` / 0;
    - ``pixel_values``, ``image_sizes``, ``image_num_crops``, ``pixel_values_videos``,
      ``video_num_frames``: concatenated in row order (absent when no row has them);
    - ``images_per_sample`` / ``videos_per_sample`` [B]: how many images / videos each row owns;
    - ``image_slots`` / ``slots_per_sample``: which image each placeholder takes, when a row's
      placeholder and image counts differ (see ``processor.placeholder_images``);
    - ``warnings``: each row's processor warnings (a list of lists of strings);
    - ``num_visual_tokens`` [B]: the processor's analytic counts, where every row carries one.
    """
    if not samples:
        raise ValueError("collate needs at least one sample")
    rows = []
    for i, sample in enumerate(samples):
        ids = sample["input_ids"]
        if ids.dim() != 2 or ids.shape[0] != 1:
            raise ValueError(
                f"sample {i}: input_ids must be [1, S] (one prompt per sample), got {list(ids.shape)}"
            )
        mask = sample.get("attention_mask")
        if mask is not None and not bool(mask.all()):
            raise ValueError(f"sample {i}: collate expects unpadded prompts (attention_mask all ones)")
        for keys in (_IMAGE_KEYS, _VIDEO_KEYS):
            present = [k for k in keys if sample.get(k) is not None]
            if present and len(present) != len(keys):
                raise ValueError(
                    f"sample {i}: {', '.join(present)} given without {', '.join(set(keys) - set(present))}"
                )
        rows.append(ids[0])
    width = max(r.shape[0] for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=rows[0].dtype)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        input_ids[i, width - r.shape[0] :] = r
        attention_mask[i, width - r.shape[0] :] = 1
    batch: dict = {"input_ids": input_ids, "attention_mask": attention_mask}
    for keys, per_sample, count_key in (
        (_IMAGE_KEYS, "images_per_sample", "image_sizes"),
        (_VIDEO_KEYS, "videos_per_sample", "video_num_frames"),
    ):
        batch[per_sample] = torch.tensor([_count(s, count_key) for s in samples], dtype=torch.long)
        owners = [s for s in samples if s.get(keys[0]) is not None]
        if owners:
            for key in keys:
                batch[key] = torch.cat([s[key] for s in owners])
    if any(s.get("image_slots") is not None for s in samples):  # a placeholder / image count mismatch
        slots = [
            s["image_slots"] if s.get("image_slots") is not None else torch.arange(_count(s, "image_sizes"))
            for s in samples
        ]
        batch["image_slots"] = torch.cat(slots)
        batch["slots_per_sample"] = torch.tensor([len(x) for x in slots], dtype=torch.long)
    batch["warnings"] = [list(s.get("warnings") or []) for s in samples]
    counts = [s.get("num_visual_tokens") for s in samples]
    if all(c is not None for c in counts):
        batch["num_visual_tokens"] = torch.tensor([int(c) for c in counts], dtype=torch.long)
    return batch


def split_counts(per_item: torch.Tensor | None, items_per_sample: torch.Tensor) -> list[torch.Tensor]:
    """Per-image (or per-video) layout values -> one slice per row, by ``items_per_sample``."""
    sizes = items_per_sample.tolist()
    if per_item is None:
        return [torch.zeros(0, dtype=torch.long) for _ in sizes]
    if sum(sizes) != per_item.shape[0]:
        raise ValueError(f"{per_item.shape[0]} visual items but the rows own {sum(sizes)}")
    return list(torch.split(per_item, sizes))
