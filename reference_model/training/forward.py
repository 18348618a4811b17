"""The training forward: visual features packed per sample, scattered into the placeholder runs,
Qwen2 over the batch, and a masked cross-entropy summed over target tokens.

``LlavaOneVision.embed`` packs all images of one call as one prompt (more than one image means the
multi-image rule), so a batch of several single-image samples is packed here sample by sample, with
the model's own ``pack_visuals`` and ``pack_anyres``, and scattered with the model's ``fill`` (the
helper single and batched generation use). Several images of one sample take the ``train`` layout
(729 + 1 newline each), as the original training code feeds them. Stage 1's ``base`` mode uses the
729 features of a plain 384 resize per image, no grid and no newline.
"""

from __future__ import annotations

import torch
from torch import nn

from ..image_processing import normalize
from ..modeling import EncodedVisuals, LlavaOneVision
from .conversations import IGNORE_INDEX
from .dataset import collate

TRAIN_MULTI_IMAGE_LAYOUT = "train"  # training feeds images as a list of 3-D tensors: a newline per image

# Parameter-name prefixes of each trainable part (names as in LlavaOneVision.named_parameters()).
PART_PREFIXES = {
    "vision_tower": ("model.vision_tower.",),
    "projector": ("model.multi_modal_projector.",),
    "newline": ("model.image_newline",),
    "language_model": ("model.language_model.", "lm_head."),
}


def part_of(name: str) -> str:
    for part, prefixes in PART_PREFIXES.items():
        if name.startswith(prefixes):
            return part
    raise ValueError(f"parameter {name} belongs to no known part")


class TrainingModule(nn.Module):
    """Wraps the model so DDP/FSDP see one forward: batch -> (sum of target losses, target count)."""

    def __init__(self, model: LlavaOneVision, image_mode: str = "anyres"):
        super().__init__()
        self.model = model
        self.image_mode = image_mode

    def _visual_tokens(self, batch: dict) -> tuple[torch.Tensor | None, torch.Tensor | None, set[str]]:
        model = self.model
        dtype = model.dtype
        image_tokens = video_tokens = None
        used: set[str] = set()
        if "pixel_values" in batch:
            feats = model.encode(normalize(batch["pixel_values"]).to(dtype))  # [crops, 729, H]
            used |= {"vision_tower", "projector"}
            if self.image_mode == "base":
                image_tokens = feats.reshape(-1, feats.shape[-1])
            else:
                crops_per_sample = _sum_by_sample(batch["image_num_crops"], batch["images_per_sample"])
                pieces, start_image = [], 0
                for feats_s, n_images in zip(
                    torch.split(feats, crops_per_sample), batch["images_per_sample"].tolist()
                ):
                    if n_images == 0:
                        continue
                    end_image = start_image + n_images
                    tokens, _ = model.pack_visuals(
                        EncodedVisuals(images=feats_s),
                        image_sizes=batch["image_sizes"][start_image:end_image],
                        image_num_crops=batch["image_num_crops"][start_image:end_image],
                        multi_image_layout=TRAIN_MULTI_IMAGE_LAYOUT,
                    )
                    pieces.append(tokens)
                    start_image = end_image
                image_tokens = torch.cat(pieces)
                used.add("newline")
        if "pixel_values_videos" in batch:
            feats = model.encode(normalize(batch["pixel_values_videos"]).to(dtype))
            used |= {"vision_tower", "projector", "newline"}
            # pool_video is per video (frames of one clip), so one split per video suffices.
            video_tokens = torch.cat(
                [model.pool_video(f) for f in torch.split(feats, batch["video_num_frames"].tolist())]
            )
        return image_tokens, video_tokens, used

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        model = self.model
        input_ids, labels = batch["input_ids"], batch["labels"]
        image_tokens, video_tokens, used = self._visual_tokens(batch)
        # The features of the whole batch, in row order, are one "row" for the fill: placeholders are
        # counted over the batch, and masked_scatter fills them row-major, i.e. sample by sample.
        flat = input_ids.reshape(1, -1)
        embeds, _ = model.fill(flat, [image_tokens], [video_tokens])
        embeds = embeds.view(*input_ids.shape, -1)
        hidden = model.model.language_model(
            inputs_embeds=embeds, attention_mask=batch["attention_mask"]
        ).last_hidden_state
        # Logits only where there is a target: the full [B, S, vocab] tensor would dwarf the rest at 150K vocab.
        targets = labels[:, 1:]
        selected = targets != IGNORE_INDEX
        logits = model.lm_head(hidden[:, :-1][selected]).float()
        loss_sum = nn.functional.cross_entropy(logits, targets[selected], reduction="sum")
        # Trainable parameters this batch did not touch (e.g. the newline in a text-only batch) get a zero
        # gradient, so DDP's reducer sees every parameter every step without find_unused_parameters.
        unused = [
            p
            for name, p in model.named_parameters()
            if p.requires_grad and part_of(name) not in used and part_of(name) != "language_model"
        ]
        if unused:
            loss_sum = loss_sum + sum(p.sum() for p in unused) * 0.0
        return loss_sum, selected.sum()


@torch.no_grad()
def dataset_loss(model: LlavaOneVision, dataset, image_mode: str = "anyres", batch_size: int = 4) -> float:
    """Mean loss per target token over a whole dataset (in order, no gradients): the set's loss."""
    module = TrainingModule(model, image_mode)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            batch = collate(items, model.config.token_ids.pad)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            loss_sum, n = module(batch)
            total, count = total + float(loss_sum), count + int(n)
    finally:
        model.train(was_training)
    return total / max(count, 1)


def _sum_by_sample(per_image: torch.Tensor, images_per_sample: torch.Tensor) -> list[int]:
    out, start = [], 0
    for n in images_per_sample.tolist():
        out.append(int(per_image[start : start + n].sum()))
        start += n
    return out


# Kept in the model so checkpoints round-trip, but never in the forward (features are pre-norm): it
# would get no gradient, which DDP's reducer reports as an error.
UNUSED_PREFIXES = ("model.vision_tower.post_layernorm.",)


def set_trainable(model: LlavaOneVision, parts: tuple[str, ...]) -> dict[str, int]:
    """requires_grad on exactly the parameters of ``parts`` (less the unused post-layernorm); returns
    trainable parameter counts per part."""
    counts: dict[str, int] = {}
    for name, param in model.named_parameters():
        part = part_of(name)
        trainable = part in parts and not name.startswith(UNUSED_PREFIXES)
        param.requires_grad_(trainable)
        if trainable:
            counts[part] = counts.get(part, 0) + param.numel()
    return counts


def enable_gradient_checkpointing(model: nn.Module) -> int:
    """Non-reentrant activation checkpointing on every transformers layer (SigLIP and Qwen2 blocks).

    The layers are transformers' GradientCheckpointingLayer; they checkpoint themselves in training
    mode once the flag and function are set. Returns the number of layers switched on."""
    import functools

    from torch.utils.checkpoint import checkpoint
    from transformers.modeling_layers import GradientCheckpointingLayer

    n = 0
    for module in model.modules():
        if isinstance(module, GradientCheckpointingLayer):
            module.gradient_checkpointing = True
            module._gradient_checkpointing_func = functools.partial(checkpoint, use_reentrant=False)
            n += 1
    return n
