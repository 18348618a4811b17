"""The LLaVA-OneVision model: SigLIP features -> mlp2x_gelu projector -> AnyRes packing -> Qwen2.

The model turns a prompt into embeddings (encode, pack, fill placeholders); greedy decoding lives in
``generation.py``. ``generate`` / ``generate_batch`` are thin methods over it.

Module names mirror transformers' LlavaOnevisionForConditionalGeneration (``model.vision_tower``,
``model.multi_modal_projector``, ``model.image_newline``, ``model.language_model``, ``lm_head``)
so an HF-layout checkpoint loads with a plain state-dict copy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .anyres import CROP, interpolated_shape, select_best_resolution, unpadded_shape
from .batching import collate, split_counts
from .checkpoints import check_device_map, load_model, save_hf_layout
from .config import (
    PATCHES_PER_SIDE,
    VIDEO_POOL_STRIDE,
    ModelConfig,
    resolve_grid_pinpoints,
    validate_max_grid_tokens,
    validate_multi_image_layout,
    validate_video_layout,
)
from .generation import (
    Decoding,
    GenerationSettings,
    StageTimer,
    cache_kwarg,
    fill_placeholders,
    greedy_batch,
    greedy_single,
    no_timer,
    resolve_decoding,
)
from .processor import Processor


@dataclass
class ForwardOutput:
    logits: torch.Tensor


@dataclass
class EncodedVisuals:
    images: torch.Tensor | None = None  # [crops, 729, H] projected features, all images of a prompt
    videos: torch.Tensor | None = None  # [frames, 729, H]


@dataclass
class GenerationResult:
    sequences: torch.Tensor  # [1, n_new] new tokens only (per row of a batch: that row's, unpadded)
    text: str
    num_visual_positions: int
    num_prompt_tokens: int  # the prompt's own length (a batch row's, without its left padding)
    warnings: list[str] = field(default_factory=list)  # e.g. a placeholder / image count mismatch


class Projector(nn.Module):
    """mlp2x_gelu: Linear(vision, H) -> GELU (erf) -> Linear(H, H)."""

    def __init__(self, vision_hidden: int, text_hidden: int):
        super().__init__()
        self.linear_1 = nn.Linear(vision_hidden, text_hidden)
        self.act = nn.GELU()
        self.linear_2 = nn.Linear(text_hidden, text_hidden)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(features)))


class VisionTower(nn.Module):
    """SigLIP encoder up to the selected layer: no post-layernorm, no pooling head."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        from transformers import SiglipVisionConfig, SiglipVisionModel

        v = config.vision
        hf_config = SiglipVisionConfig(**v.siglip_kwargs(), num_channels=v.num_channels)
        hf_config._attn_implementation = "sdpa"
        siglip = SiglipVisionModel(hf_config)
        core = getattr(siglip, "vision_model", siglip)  # transformers < 5 wraps the tower once more
        self.embeddings = core.embeddings
        self.encoder = core.encoder
        self.post_layernorm = (
            core.post_layernorm
        )  # unused (features are pre-norm); kept so checkpoints round-trip

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs_embeds=self.embeddings(pixel_values)).last_hidden_state


class _Backbone(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        from transformers import Qwen2Config, Qwen2Model

        t = config.text
        self.vision_tower = VisionTower(config)
        self.multi_modal_projector = Projector(config.vision.hidden_size, t.hidden_size)
        self.image_newline = nn.Parameter(torch.randn(t.hidden_size) / math.sqrt(t.hidden_size))
        qwen = Qwen2Config(**t.qwen2_kwargs(), hidden_act=t.hidden_act, use_sliding_window=False)
        qwen._attn_implementation = "sdpa"
        self.language_model = Qwen2Model(qwen)


class LlavaOneVision(nn.Module):
    def __init__(self, config: ModelConfig, tokenizer=None):
        super().__init__()
        self.config = config
        self.model = _Backbone(config)
        self.lm_head = nn.Linear(config.text.hidden_size, config.text.vocab_size, bias=False)
        if config.text.tie_word_embeddings:
            self.lm_head.weight = self.model.language_model.embed_tokens.weight
        self.tokenizer = tokenizer
        self.processor = None
        if tokenizer is not None:
            self.processor = Processor(tokenizer, config)
        self._cache_kwarg = cache_kwarg(self.model.language_model)
        self.file_generation_settings: GenerationSettings | None = (
            None  # the checkpoint's generation_config.json
        )
        self.use_generation_config = True

    # ----------------------------------------------------------------- loading and saving
    @classmethod
    def from_pretrained(
        cls,
        path_or_preset: str,
        *,
        multi_image_layout: str | None = None,
        video_newline_position: str | None = None,
        video_pool_mode: str | None = None,
        grid_pinpoints=None,
        use_generation_config: bool = True,
        **overrides,
    ) -> LlavaOneVision:
        """A preset (``tiny``, ``0.5b``, ``arch:7b?layers=2``) or a checkpoint directory (HF or original
        layout). Overrides: ``max_grid_tokens`` (tau, None = no cap), ``unpad_rounding``, ``dtype``, ``device``;
        the layout knobs ``multi_image_layout`` (eval | train), ``video_newline_position`` /
        ``video_pool_mode`` (None = the checkpoint's), ``grid_pinpoints`` (ov | next | WxH,...); and
        ``use_generation_config=False`` to ignore the checkpoint's generation_config.json."""
        # Validate the knobs before paying for the weights.
        if multi_image_layout is not None:
            validate_multi_image_layout(multi_image_layout)
        if grid_pinpoints is not None:
            grid_pinpoints = resolve_grid_pinpoints(grid_pinpoints)
        validate_video_layout(video_newline_position or "one_token", video_pool_mode or "bilinear")
        model = load_model(cls, path_or_preset, **overrides)
        model.use_generation_config = bool(use_generation_config)
        if multi_image_layout is not None:
            model.set_multi_image_layout(multi_image_layout)
        model.set_video_layout(video_newline_position, video_pool_mode)
        if grid_pinpoints is not None:
            model.set_grid_pinpoints(grid_pinpoints)
        return model

    @classmethod
    def empty(cls, config: ModelConfig, tokenizer=None, dtype: torch.dtype = torch.float32) -> LlavaOneVision:
        """The model with its parameters on the meta device (no memory, no init); buffers are real."""
        from accelerate import init_empty_weights

        try:  # no random init of weights that are about to be overwritten (transformers 5, then 4)
            from transformers.initialization import no_init_weights
        except ImportError:
            from transformers.modeling_utils import no_init_weights
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            with init_empty_weights(include_buffers=False), no_init_weights():
                model = cls(config, tokenizer)
        finally:
            torch.set_default_dtype(previous)
        if config.text.tie_word_embeddings:  # init_empty_weights re-wraps every assigned parameter: tie again
            model.lm_head.weight = model.model.language_model.embed_tokens.weight
        return model

    @classmethod
    def check_device_map(cls, spec: str, device_map, max_memory, offload_folder=None, dtype="auto"):
        """Validate a device map for a preset or local checkpoint before any weight is read (one-line
        ValueError); returns its device plan (None for a hub id not downloaded yet)."""
        return check_device_map(cls, spec, device_map, max_memory, offload_folder, dtype)

    def save_pretrained(self, path) -> None:
        """Write the HF layout (config.json, model.safetensors, tokenizer), loadable by transformers."""
        save_hf_layout(self, path)

    @property
    def device(self) -> torch.device:
        return self.model.image_newline.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.image_newline.dtype

    def set_max_grid_tokens(self, tau: int | None) -> None:
        self.config.anyres.max_grid_tokens = validate_max_grid_tokens(tau)

    def to_device(self, batch: dict) -> dict:
        """Move a processor batch to the model's device, floats in the model's dtype."""
        moved = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device, self.dtype if value.is_floating_point() else None)
            moved[key] = value
        return moved

    # ----------------------------------------------------------------- visual features
    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Vision tower + projector: [N, 3, 384, 384] -> [N, 729, H]."""
        return self.model.multi_modal_projector(self.model.vision_tower(pixel_values))

    def pack_anyres(self, features: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """Base + crop features of one image -> [tokens, H]: unpad, threshold, newline per row, base first."""
        anyres = self.config.anyres
        side = PATCHES_PER_SIDE
        best_w, best_h = select_best_resolution(width, height, anyres.grid_pinpoints)
        gh, gw = best_h // CROP, best_w // CROP
        base, crops = features[0], features[1:]
        if crops.shape[0] != gh * gw:
            raise ValueError(f"expected {gh * gw} crops for a {width}x{height} image, got {crops.shape[0]}")
        hidden = crops.shape[-1]
        grid = (
            crops.view(gh, gw, side, side, hidden)
            .permute(4, 0, 2, 1, 3)
            .reshape(hidden, gh * side, gw * side)
        )
        rows, cols = unpadded_shape(width, height, gh * side, gw * side, anyres.unpad_rounding)
        top, left = (gh * side - rows) // 2, (gw * side - cols) // 2
        grid = grid[:, top : top + rows, left : left + cols]
        target = interpolated_shape(rows, cols, anyres.max_grid_tokens)
        if target != (rows, cols):
            grid = nn.functional.interpolate(grid[None], size=target, mode="bilinear", align_corners=False)[0]
        newline = self.model.image_newline.to(grid.dtype)[:, None, None].expand(hidden, grid.shape[1], 1)
        grid = torch.cat([grid, newline], dim=-1).flatten(1).transpose(0, 1)
        return torch.cat([base, grid], dim=0)

    def pool_video(
        self, features: torch.Tensor, newline_position: str | None = None, pool_mode: str | None = None
    ) -> torch.Tensor:
        """One video's frames [F, 729, H] -> its tokens: each frame's 27x27 map pooled with stride 2
        (``mm_spatial_pool_mode``: bilinear -> 14x14, average / max -> 13x13), then newlines by
        ``mm_newline_position``: grid (after every row of every frame), frame (after each frame),
        one_token (once after all frames, OV's default) or no_token."""
        newline_position = newline_position or self.config.video_newline_position
        pool_mode = pool_mode or self.config.video_pool_mode
        validate_video_layout(newline_position, pool_mode)
        frames, _, hidden = features.shape
        side = PATCHES_PER_SIDE
        maps = features.view(frames, side, side, hidden).permute(0, 3, 1, 2)
        if pool_mode == "bilinear":
            target = math.ceil(side / VIDEO_POOL_STRIDE)
            maps = nn.functional.interpolate(
                maps, size=(target, target), mode="bilinear", align_corners=False
            )
        elif pool_mode == "average":
            maps = nn.functional.avg_pool2d(maps, VIDEO_POOL_STRIDE)
        else:
            maps = nn.functional.max_pool2d(maps, VIDEO_POOL_STRIDE)
        r = maps.shape[-1]
        grid = maps.permute(0, 2, 3, 1)  # [F, r, r, H]
        newline = self.model.image_newline.to(grid.dtype)
        if newline_position == "grid":
            grid = torch.cat([grid, newline.expand(frames, r, 1, hidden)], dim=2)
        elif newline_position == "frame":
            grid = torch.cat([grid.reshape(frames, r * r, hidden), newline.expand(frames, 1, hidden)], dim=1)
        tokens = grid.reshape(-1, hidden)
        if newline_position == "one_token":
            tokens = torch.cat([tokens, newline[None]], dim=0)
        return tokens

    def set_multi_image_layout(self, layout: str) -> None:
        self.config.multi_image_layout = validate_multi_image_layout(layout)

    def set_video_layout(self, newline_position: str | None = None, pool_mode: str | None = None) -> None:
        """Override the checkpoint's ``mm_newline_position`` / ``mm_spatial_pool_mode`` (None keeps it)."""
        newline_position, pool_mode = validate_video_layout(
            newline_position or self.config.video_newline_position, pool_mode or self.config.video_pool_mode
        )
        self.config.video_newline_position, self.config.video_pool_mode = newline_position, pool_mode

    def set_grid_pinpoints(self, spec) -> None:
        """``ov`` (36 sizes), ``next`` (LLaVA-NeXT's five shapes of 384), ``WxH,...`` or (h, w) pairs."""
        self.config.anyres.grid_pinpoints = resolve_grid_pinpoints(spec)

    @property
    def generation_settings(self) -> GenerationSettings | None:
        """The checkpoint's generation_config.json settings in use (None: none, or switched off)."""
        return self.file_generation_settings if self.use_generation_config else None

    def encode_visuals(
        self,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        stage_timer: StageTimer = no_timer,
    ) -> EncodedVisuals:
        """Vision tower + projector per crop / frame. Independent of tau, so a sweep encodes once."""
        encoded = EncodedVisuals()
        for name, pixels in (("images", pixel_values), ("videos", pixel_values_videos)):
            if pixels is None:
                continue
            with stage_timer("vision_encoder"):
                patches = self.model.vision_tower(pixels)
            with stage_timer("projector_packing"):
                setattr(encoded, name, self.model.multi_modal_projector(patches))
        return encoded

    def pack_visuals(
        self,
        encoded: EncodedVisuals,
        image_sizes: torch.Tensor | None = None,
        image_num_crops: torch.Tensor | None = None,
        video_num_frames: torch.Tensor | None = None,
        image_slots: torch.Tensor | None = None,
        multi_image_layout: str | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Packed image tokens [n, H] and video tokens [m, H] of one prompt at the current settings.

        More than one image: each is one crop, 729 tokens (``eval``) or 729 + newline (``train``).
        ``image_slots`` (processor, on a placeholder/image count mismatch): the image each placeholder
        takes, in order; the default is one placeholder per image."""
        image_tokens = video_tokens = None
        if encoded.images is not None:
            per_image = torch.split(encoded.images, image_num_crops.tolist())
            multi = len(per_image) > 1 and self.config.multi_image_pad_to_square
            layout = validate_multi_image_layout(multi_image_layout or self.config.multi_image_layout)
            newline = self.model.image_newline.to(encoded.images.dtype)[None]
            packed = [
                (torch.cat([feats[0], newline]) if layout == "train" else feats[0])
                if multi
                else self.pack_anyres(feats, w, h)
                for feats, (w, h) in zip(per_image, image_sizes.tolist())
            ]
            if image_slots is not None:
                packed = [packed[i] for i in image_slots.tolist()]
            image_tokens = torch.cat(packed) if packed else None
        if encoded.videos is not None:
            video_tokens = torch.cat(
                [self.pool_video(f) for f in torch.split(encoded.videos, video_num_frames.tolist())]
            )
        return image_tokens, video_tokens

    def fill(self, input_ids: torch.Tensor, image_rows, video_rows) -> tuple[torch.Tensor, list[int]]:
        """Prompt embeddings with each row's packed image / video tokens in its placeholders."""
        ids = self.config.token_ids
        return fill_placeholders(
            self.model.language_model.embed_tokens,
            input_ids,
            ((ids.image, image_rows, "image"), (ids.video, video_rows, "video")),
        )

    def embed(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        encoded: EncodedVisuals | None = None,
        stage_timer: StageTimer = no_timer,
        **layout,
    ) -> tuple[torch.Tensor, int]:
        """Token embeddings with visual features scattered into the placeholder positions.
        ``encoded`` (from encode_visuals) skips the vision tower; ``layout`` holds image_sizes,
        image_num_crops, video_num_frames (and image_slots) from the processor."""
        if encoded is None:
            encoded = self.encode_visuals(pixel_values, pixel_values_videos, stage_timer)
        with stage_timer("projector_packing"):
            image_tokens, video_tokens = self.pack_visuals(encoded, **layout)
            embeds, filled = self.fill(input_ids, [image_tokens], [video_tokens])
        return embeds, sum(filled)

    # ----------------------------------------------------------------- forward and generation
    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **visual
    ) -> ForwardOutput:
        for key in _BOOKKEEPING:  # processor bookkeeping, not model inputs
            visual.pop(key, None)
        embeds, _ = self.embed(input_ids, **visual)
        hidden = self.model.language_model(
            inputs_embeds=embeds, attention_mask=attention_mask
        ).last_hidden_state
        return ForwardOutput(logits=self.lm_head(hidden))

    def decoding(self, max_new_tokens: int, min_new_tokens: int) -> Decoding:
        return resolve_decoding(
            self.generation_settings, self.config.token_ids.eos, max_new_tokens, min_new_tokens
        )

    def _decode_text(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True) if self.tokenizer is not None else ""

    @torch.inference_mode()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        max_new_tokens: int = 16,
        min_new_tokens: int = 0,
        stage_timer: StageTimer | None = None,
        **visual,
    ) -> GenerationResult:
        """Greedy decoding with a KV cache (``generation.greedy_single``). Stops at any EOS id of the
        checkpoint's generation_config (and <|im_end|>) once ``min_new_tokens`` are out."""
        if input_ids.shape[0] != 1:
            raise ValueError("generate takes one prompt at a time")
        timer = stage_timer or no_timer
        visual.pop("num_visual_tokens", None)
        warnings = list(visual.pop("warnings", None) or [])
        decoding = self.decoding(max_new_tokens, min_new_tokens)
        embeds, filled = self.embed(input_ids, stage_timer=timer, **visual)
        tokens = greedy_single(self.model.language_model, self.lm_head, embeds, decoding, timer)
        return GenerationResult(
            torch.tensor([tokens], dtype=torch.long),
            self._decode_text(tokens),
            filled,
            int(input_ids.shape[1]),
            warnings,
        )

    # ----------------------------------------------------------------- batched generation
    def collate(self, samples: Sequence[dict]) -> dict:
        """Processor outputs of several prompts -> one left-padded batch (see ``batching.collate``)."""
        return collate(samples, self.config.token_ids.pad)

    def embed_batch(self, batch: dict, stage_timer: StageTimer = no_timer) -> tuple[torch.Tensor, list[int]]:
        """Embeddings of a collated batch: one vision pass over every crop / frame of the batch, then
        packing row by row (each row's images follow the single- or multi-image rule on their own).
        Returns the embeddings and the visual positions filled in each row."""
        input_ids = batch["input_ids"]
        n_rows = input_ids.shape[0]
        per_sample = {}
        for key, count_key in (
            ("images_per_sample", "image_sizes"),
            ("videos_per_sample", "video_num_frames"),
            ("slots_per_sample", "image_slots"),
        ):
            counts = batch.get(key)
            if counts is None:
                if n_rows > 1 and batch.get(count_key) is not None:
                    raise ValueError(
                        f"a batch of {n_rows} prompts with visuals needs {key} (use model.collate)"
                    )
                n = 0 if batch.get(count_key) is None else int(batch[count_key].shape[0])
                counts = torch.tensor([n] * n_rows, dtype=torch.long)
            per_sample[key] = counts.cpu()
        encoded = self.encode_visuals(
            batch.get("pixel_values"), batch.get("pixel_values_videos"), stage_timer
        )
        with stage_timer("projector_packing"):
            sizes = split_counts(_cpu(batch.get("image_sizes")), per_sample["images_per_sample"])
            crops = split_counts(_cpu(batch.get("image_num_crops")), per_sample["images_per_sample"])
            frames = split_counts(_cpu(batch.get("video_num_frames")), per_sample["videos_per_sample"])
            slots = (
                split_counts(_cpu(batch["image_slots"]), per_sample["slots_per_sample"])
                if batch.get("image_slots") is not None
                else [None] * n_rows
            )
            crop_feats = _split_rows(encoded.images, [int(c.sum()) for c in crops])
            frame_feats = _split_rows(encoded.videos, [int(f.sum()) for f in frames])
            image_rows, video_rows = [], []
            for row in range(n_rows):
                image_tokens, video_tokens = self.pack_visuals(
                    EncodedVisuals(images=crop_feats[row], videos=frame_feats[row]),
                    image_sizes=sizes[row],
                    image_num_crops=crops[row],
                    video_num_frames=frames[row],
                    image_slots=slots[row],
                )
                image_rows.append(image_tokens)
                video_rows.append(video_tokens)
            embeds, filled = self.fill(input_ids, image_rows, video_rows)
        return embeds, filled

    def _batch_inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
        input_ids = batch["input_ids"].to(self.device)
        mask = batch.get("attention_mask")
        mask = torch.ones_like(input_ids) if mask is None else mask.to(self.device, torch.long)
        visual = {
            k: (v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device))
            for k, v in batch.items()
            if isinstance(v, torch.Tensor) and k not in ("input_ids", "attention_mask")
        }
        return input_ids, mask, {**visual, "input_ids": input_ids}

    def forward_batch(self, batch: dict) -> ForwardOutput:
        """Logits [B, S, vocab] of a collated (left-padded) batch; padded positions hold no meaning."""
        _, mask, inputs = self._batch_inputs(batch)
        embeds, _ = self.embed_batch(inputs)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        hidden = self.model.language_model(
            inputs_embeds=embeds, attention_mask=mask, position_ids=positions
        ).last_hidden_state
        return ForwardOutput(logits=self.lm_head(hidden))

    @torch.inference_mode()
    def generate_batch(
        self,
        batch: dict,
        max_new_tokens: int = 16,
        min_new_tokens: int = 0,
        stage_timer: StageTimer | None = None,
        prefill: str = "per_row",
    ) -> list[GenerationResult]:
        """Greedy decoding of a collated batch (``model.collate``), one result per row, each equal to
        what ``generate`` gives for that prompt alone (``generation.greedy_batch``). The vision encoder
        runs once over the batch.

        prefill: ``"per_row"`` (default) prefills each row alone, unpadded, and left-pads the rows' KV
        caches into one for the batched decode: no compute on padding, and on CPU with prompts of
        thousands of visual tokens no slower than one big matmul (tests/benchmarks/test_bench_batching.py).
        ``"padded"`` runs the LLM once over the left-padded batch, which pays for the padding and, on
        CPU, for the explicit mask."""
        decoding = self.decoding(max_new_tokens, min_new_tokens)
        if prefill not in ("padded", "per_row"):
            raise ValueError(f"prefill must be 'padded' or 'per_row', got {prefill!r}")
        timer = stage_timer or no_timer
        input_ids, mask, inputs = self._batch_inputs(batch)
        embeds, filled = self.embed_batch(inputs, stage_timer=timer)
        rows = greedy_batch(
            self.model.language_model,
            self.lm_head,
            embeds,
            mask,
            decoding,
            self.config.token_ids.pad,
            timer,
            prefill,
        )
        lengths = mask.sum(-1).tolist()
        warnings = batch.get("warnings") or [[] for _ in rows]
        return [
            GenerationResult(
                torch.tensor([tokens], dtype=torch.long),
                self._decode_text(tokens),
                filled[row],
                int(lengths[row]),
                list(warnings[row]),
            )
            for row, tokens in enumerate(rows)
        ]


_BOOKKEEPING = ("num_visual_tokens", "warnings")


def _cpu(value: torch.Tensor | None) -> torch.Tensor | None:
    return None if value is None else value.cpu()


def _split_rows(features: torch.Tensor | None, sizes: list[int]) -> list[torch.Tensor | None]:
    """[sum(sizes), ...] -> one tensor per row (None for a row with no items)."""
    if features is None:
        if any(sizes):
            raise ValueError("the batch lists visual items but carries no pixels for them")
        return [None] * len(sizes)
    if sum(sizes) != features.shape[0]:
        raise ValueError(
            f"{features.shape[0]} crops / frames encoded but the rows' layout needs {sum(sizes)}"
        )
    return [chunk if n else None for chunk, n in zip(torch.split(features, sizes), sizes)]
