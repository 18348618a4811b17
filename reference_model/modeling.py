"""The LLaVA-OneVision model: SigLIP features -> mlp2x_gelu projector -> AnyRes packing -> Qwen2.

Module names mirror transformers' LlavaOnevisionForConditionalGeneration (``model.vision_tower``,
``model.multi_modal_projector``, ``model.image_newline``, ``model.language_model``, ``lm_head``)
so an HF-layout checkpoint loads with a plain state-dict copy.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .anyres import CROP, interpolated_shape, select_best_resolution, unpadded_shape
from .config import PATCHES_PER_SIDE, ModelConfig, validate_max_grid_tokens

StageTimer = Callable[[str], contextlib.AbstractContextManager]


def _no_timer(_name: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


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
        hf_config = SiglipVisionConfig(
            hidden_size=v.hidden_size,
            intermediate_size=v.intermediate_size,
            num_hidden_layers=v.num_hidden_layers,
            num_attention_heads=v.num_attention_heads,
            image_size=v.image_size,
            patch_size=v.patch_size,
            num_channels=v.num_channels,
            layer_norm_eps=v.layer_norm_eps,
            hidden_act=v.hidden_act,
            vision_use_head=False,
        )
        hf_config._attn_implementation = "sdpa"
        siglip = SiglipVisionModel(hf_config)
        core = getattr(siglip, "vision_model", siglip)  # transformers < 5 wraps the tower once more
        self.embeddings = core.embeddings
        self.encoder = core.encoder
        self.post_layernorm = core.post_layernorm  # unused (features are pre-norm); kept so checkpoints round-trip

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
        qwen = Qwen2Config(
            hidden_size=t.hidden_size,
            intermediate_size=t.intermediate_size,
            num_hidden_layers=t.num_hidden_layers,
            num_attention_heads=t.num_attention_heads,
            num_key_value_heads=t.num_key_value_heads,
            vocab_size=t.vocab_size,
            rms_norm_eps=t.rms_norm_eps,
            rope_theta=t.rope_theta,
            max_position_embeddings=t.max_position_embeddings,
            tie_word_embeddings=t.tie_word_embeddings,
            hidden_act=t.hidden_act,
            use_sliding_window=False,
        )
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
            from .processor import Processor

            self.processor = Processor(tokenizer, config)
        params = inspect.signature(self.model.language_model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"

    # ----------------------------------------------------------------- loading and saving
    @classmethod
    def from_pretrained(cls, path_or_preset: str, **overrides) -> LlavaOneVision:
        """A preset (``tiny``, ``0.5b``, ``arch:7b?layers=2``) or a checkpoint directory (HF or original
        layout). Overrides: ``max_grid_tokens`` (tau, None = no cap), ``unpad_rounding``, ``dtype``, ``device``."""
        from .checkpoints import load_model

        return load_model(path_or_preset, **overrides)

    def save_pretrained(self, path) -> None:
        """Write the HF layout (config.json, model.safetensors, tokenizer), loadable by transformers."""
        from .checkpoints import save_hf_layout

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
        grid = crops.view(gh, gw, side, side, hidden).permute(4, 0, 2, 1, 3).reshape(hidden, gh * side, gw * side)
        rows, cols = unpadded_shape(width, height, gh * side, gw * side, anyres.unpad_rounding)
        top, left = (gh * side - rows) // 2, (gw * side - cols) // 2
        grid = grid[:, top : top + rows, left : left + cols]
        target = interpolated_shape(rows, cols, anyres.max_grid_tokens)
        if target != (rows, cols):
            grid = nn.functional.interpolate(grid[None], size=target, mode="bilinear", align_corners=False)[0]
        newline = self.model.image_newline.to(grid.dtype)[:, None, None].expand(hidden, grid.shape[1], 1)
        grid = torch.cat([grid, newline], dim=-1).flatten(1).transpose(0, 1)
        return torch.cat([base, grid], dim=0)

    def pool_video(self, features: torch.Tensor) -> torch.Tensor:
        """[F, 729, H] -> [F * ceil(27/s)^2 + 1, H]: bilinear pooling per frame, one newline at the end."""
        frames, _, hidden = features.shape
        side = PATCHES_PER_SIDE
        pooled_side = math.ceil(side / self.config.video_pool_stride)
        maps = features.view(frames, side, side, hidden).permute(0, 3, 1, 2)
        maps = nn.functional.interpolate(maps, size=(pooled_side, pooled_side), mode="bilinear", align_corners=False)
        tokens = maps.permute(0, 2, 3, 1).reshape(-1, hidden)
        return torch.cat([tokens, self.model.image_newline.to(tokens.dtype)[None]], dim=0)

    def encode_visuals(
        self,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        stage_timer: StageTimer = _no_timer,
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
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Packed image tokens [n, H] and video tokens [m, H] of one prompt at the current tau."""
        image_tokens = video_tokens = None
        if encoded.images is not None:
            per_image = torch.split(encoded.images, image_num_crops.tolist())
            multi = len(per_image) > 1 and self.config.multi_image_pad_to_square
            newline = self.model.image_newline.to(encoded.images.dtype)[None]
            image_tokens = torch.cat([
                torch.cat([feats[0], newline]) if multi else self.pack_anyres(feats, w, h)
                for feats, (w, h) in zip(per_image, image_sizes.tolist())
            ])
        if encoded.videos is not None:
            video_tokens = torch.cat([self.pool_video(f) for f in torch.split(encoded.videos, video_num_frames.tolist())])
        return image_tokens, video_tokens

    def embed(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        encoded: EncodedVisuals | None = None,
        stage_timer: StageTimer = _no_timer,
        **layout,
    ) -> tuple[torch.Tensor, int]:
        """Token embeddings with visual features scattered into the placeholder positions.
        ``encoded`` (from encode_visuals) skips the vision tower; ``layout`` holds image_sizes,
        image_num_crops and video_num_frames from the processor."""
        if encoded is None:
            encoded = self.encode_visuals(pixel_values, pixel_values_videos, stage_timer)
        ids = self.config.token_ids
        with stage_timer("projector_packing"):
            image_tokens, video_tokens = self.pack_visuals(encoded, **layout)
            image_mask, video_mask = input_ids == ids.image, input_ids == ids.video
            safe_ids = input_ids.masked_fill(image_mask | video_mask, 0)
            embeds = self.model.language_model.embed_tokens(safe_ids)
            filled = 0
            for mask, tokens, kind in ((image_mask, image_tokens, "image"), (video_mask, video_tokens, "video")):
                n_slots = int(mask.sum())
                n_tokens = 0 if tokens is None else tokens.shape[0]
                if n_slots != n_tokens:
                    raise ValueError(f"{kind} placeholders ({n_slots}) and {kind} features ({n_tokens}) differ")
                if n_tokens:
                    embeds = embeds.masked_scatter(mask[..., None], tokens.to(embeds.dtype))
                    filled += n_tokens
        return embeds, filled

    # ----------------------------------------------------------------- forward and generation
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **visual) -> ForwardOutput:
        visual.pop("num_visual_tokens", None)  # processor bookkeeping, not a model input
        embeds, _ = self.embed(input_ids, **visual)
        hidden = self.model.language_model(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        return ForwardOutput(logits=self.lm_head(hidden))

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
        """Greedy decoding with a KV cache. Stops at EOS once ``min_new_tokens`` are out."""
        from transformers import DynamicCache

        if input_ids.shape[0] != 1:
            raise ValueError("generate takes one prompt at a time")
        timer = stage_timer or _no_timer
        visual.pop("num_visual_tokens", None)
        embeds, filled = self.embed(input_ids, stage_timer=timer, **visual)
        lm = self.model.language_model
        cache = DynamicCache()
        eos = self.config.token_ids.eos
        new_tokens: list[int] = []
        with timer("prefill"):
            hidden = lm(inputs_embeds=embeds, use_cache=True, **{self._cache_kwarg: cache}).last_hidden_state
            token = self.lm_head(hidden[:, -1]).argmax(-1)
            new_tokens.append(int(token))
        with timer("decode"):
            position = embeds.shape[1]
            while len(new_tokens) < max_new_tokens and (new_tokens[-1] != eos or len(new_tokens) < min_new_tokens):
                hidden = lm(
                    input_ids=token[:, None],
                    position_ids=torch.tensor([[position]], device=self.device),
                    use_cache=True,
                    **{self._cache_kwarg: cache},
                ).last_hidden_state
                token = self.lm_head(hidden[:, -1]).argmax(-1)
                new_tokens.append(int(token))
                position += 1
        sequences = torch.tensor([new_tokens], dtype=torch.long)
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True) if self.tokenizer is not None else ""
        return GenerationResult(sequences, text, filled, int(input_ids.shape[1]))

    # ----------------------------------------------------------------- batched generation
    def collate(self, samples: Sequence[dict]) -> dict:
        """Processor outputs of several prompts -> one left-padded batch (see ``batching.collate``)."""
        from .batching import collate

        return collate(samples, self.config.token_ids.pad)

    def embed_batch(self, batch: dict, stage_timer: StageTimer = _no_timer) -> tuple[torch.Tensor, list[int]]:
        """Embeddings of a collated batch: one vision pass over every crop / frame of the batch, then
        packing row by row (each row's images follow the single- or multi-image rule on their own).
        Returns the embeddings and the visual positions filled in each row."""
        from .batching import split_counts

        input_ids = batch["input_ids"]
        n_rows = input_ids.shape[0]
        per_sample = {}
        for key, count_key in (("images_per_sample", "image_sizes"), ("videos_per_sample", "video_num_frames")):
            counts = batch.get(key)
            if counts is None:
                if n_rows > 1 and batch.get(count_key) is not None:
                    raise ValueError(f"a batch of {n_rows} prompts with visuals needs {key} (use model.collate)")
                n = 0 if batch.get(count_key) is None else int(batch[count_key].shape[0])
                counts = torch.tensor([n] * n_rows, dtype=torch.long)
            per_sample[key] = counts.cpu()
        encoded = self.encode_visuals(batch.get("pixel_values"), batch.get("pixel_values_videos"), stage_timer)
        ids = self.config.token_ids
        with stage_timer("projector_packing"):
            sizes = split_counts(_cpu(batch.get("image_sizes")), per_sample["images_per_sample"])
            crops = split_counts(_cpu(batch.get("image_num_crops")), per_sample["images_per_sample"])
            frames = split_counts(_cpu(batch.get("video_num_frames")), per_sample["videos_per_sample"])
            crop_feats = _split_rows(encoded.images, [int(c.sum()) for c in crops])
            frame_feats = _split_rows(encoded.videos, [int(f.sum()) for f in frames])
            image_mask, video_mask = input_ids == ids.image, input_ids == ids.video
            image_pieces, video_pieces, filled = [], [], []
            for row in range(n_rows):
                image_tokens, video_tokens = self.pack_visuals(
                    EncodedVisuals(images=crop_feats[row], videos=frame_feats[row]),
                    image_sizes=sizes[row], image_num_crops=crops[row], video_num_frames=frames[row],
                )
                n_row = 0
                for mask, tokens, kind, pieces in ((image_mask, image_tokens, "image", image_pieces),
                                                   (video_mask, video_tokens, "video", video_pieces)):
                    n_slots = int(mask[row].sum())
                    n_tokens = 0 if tokens is None else tokens.shape[0]
                    if n_slots != n_tokens:
                        raise ValueError(f"row {row}: {kind} placeholders ({n_slots}) and {kind} features ({n_tokens}) differ")
                    if n_tokens:
                        pieces.append(tokens)
                    n_row += n_tokens
                filled.append(n_row)
            embeds = self.model.language_model.embed_tokens(input_ids.masked_fill(image_mask | video_mask, 0))
            # masked_scatter fills the True positions in row-major order: row 0's placeholders first, so
            # features concatenated in row order land in their own rows.
            for mask, pieces in ((image_mask, image_pieces), (video_mask, video_pieces)):
                if pieces:
                    embeds = embeds.masked_scatter(mask[..., None], torch.cat(pieces).to(embeds.dtype))
        return embeds, filled

    def _batch_inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
        input_ids = batch["input_ids"].to(self.device)
        mask = batch.get("attention_mask")
        mask = torch.ones_like(input_ids) if mask is None else mask.to(self.device, torch.long)
        visual = {k: (v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device))
                  for k, v in batch.items() if isinstance(v, torch.Tensor) and k not in ("input_ids", "attention_mask")}
        return input_ids, mask, {**visual, "input_ids": input_ids}

    def forward_batch(self, batch: dict) -> ForwardOutput:
        """Logits [B, S, vocab] of a collated (left-padded) batch; padded positions hold no meaning."""
        _, mask, inputs = self._batch_inputs(batch)
        embeds, _ = self.embed_batch(inputs)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        hidden = self.model.language_model(inputs_embeds=embeds, attention_mask=mask,
                                           position_ids=positions).last_hidden_state
        return ForwardOutput(logits=self.lm_head(hidden))

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        """lm_head on a few rows [B, H] -> [B, vocab], computed as weight @ hidden^T: with the vocabulary as
        the long side, BLAS packs only the small operand (F.linear's layout made MKL repack the whole
        151936 x 896 weight every call once B reached 4, doubling the decode step on CPU)."""
        if hasattr(self.lm_head, "_hf_hook"):  # split by accelerate: its hook brings the weight and the input
            return self.lm_head(hidden).to(self.device)
        logits = (self.lm_head.weight @ hidden.transpose(0, 1)).transpose(0, 1)
        return logits if self.lm_head.bias is None else logits + self.lm_head.bias

    def _prefill_rows(self, embeds: torch.Tensor, lengths: torch.Tensor):
        """Each row's prompt (its unpadded tail) through the LLM alone, as ``generate`` does; the caches
        are then left-padded with zeros (masked in decoding) into one batch cache."""
        from transformers import DynamicCache

        lm = self.model.language_model
        width = embeds.shape[1]
        rows, lasts = [], []
        for row, n in enumerate(lengths.tolist()):
            cache = DynamicCache()
            hidden = lm(inputs_embeds=embeds[row : row + 1, width - n :], use_cache=True,
                        **{self._cache_kwarg: cache}).last_hidden_state
            lasts.append(hidden[:, -1])
            rows.append(_cache_layers(cache))
        def left_padded(parts: list[torch.Tensor]) -> torch.Tensor:  # [1, kv, n_row, D] each -> [B, kv, width, D]
            out = parts[0].new_zeros(len(parts), parts[0].shape[1], width, parts[0].shape[3])
            for row, part in enumerate(parts):
                out[row, :, width - part.shape[2] :] = part[0]
            return out

        merged = DynamicCache()
        for layer in range(len(rows[0])):
            keys, values = (left_padded([r[layer][kv] for r in rows]) for kv in (0, 1))
            merged.update(keys, values, layer)
        return merged, torch.cat(lasts)

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
        what ``generate`` gives for that prompt alone. The vision encoder runs once over the batch;
        decoding runs all rows together, a finished row fed pad tokens, masked out, until every row
        has stopped at its own EOS or ``max_new_tokens``.

        prefill: ``"per_row"`` (default) prefills each row alone, unpadded, and left-pads the rows' KV
        caches into one for the batched decode: no compute on padding, and on CPU with prompts of
        thousands of visual tokens no slower than one big matmul (tests/benchmarks/test_bench_batching.py).
        ``"padded"`` runs the LLM once over the left-padded batch (attention mask, position ids counted
        from each row's first real token), which pays for the padding and, on CPU, for the explicit mask."""
        from transformers import DynamicCache

        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if prefill not in ("padded", "per_row"):
            raise ValueError(f"prefill must be 'padded' or 'per_row', got {prefill!r}")
        timer = stage_timer or _no_timer
        input_ids, mask, inputs = self._batch_inputs(batch)
        embeds, filled = self.embed_batch(inputs, stage_timer=timer)
        lm = self.model.language_model
        cache = DynamicCache()
        n_rows = input_ids.shape[0]
        lengths = mask.sum(-1)
        eos, pad = self.config.token_ids.eos, self.config.token_ids.pad
        new_tokens: list[list[int]] = [[] for _ in range(n_rows)]
        done = torch.zeros(n_rows, dtype=torch.bool, device=self.device)

        def take(token: torch.Tensor) -> None:
            for row, value in enumerate(token.tolist()):
                if done[row]:
                    continue
                new_tokens[row].append(value)
                n = len(new_tokens[row])
                if n >= max_new_tokens or (value == eos and n >= min_new_tokens):
                    done[row] = True

        with timer("prefill"):
            if prefill == "padded":
                # Positions as if each row had no padding (padded slots get position 0; they are masked).
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                last = lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=True,
                          **{self._cache_kwarg: cache}).last_hidden_state[:, -1]
            else:
                cache, last = self._prefill_rows(embeds, lengths)
            token = self._head(last).argmax(-1)
            take(token)
        with timer("decode"):
            step = 0
            while not bool(done.all()):
                alive = ~done
                feed = torch.where(alive, token, torch.full_like(token, pad))
                mask = torch.cat([mask, alive.long()[:, None]], dim=-1)
                hidden = lm(
                    input_ids=feed[:, None],
                    attention_mask=mask,
                    position_ids=(lengths + step)[:, None],
                    use_cache=True,
                    **{self._cache_kwarg: cache},
                ).last_hidden_state
                token = self._head(hidden[:, -1]).argmax(-1)
                take(token)
                step += 1
        results = []
        for row in range(n_rows):
            tokens = new_tokens[row]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True) if self.tokenizer is not None else ""
            results.append(GenerationResult(torch.tensor([tokens], dtype=torch.long), text, filled[row],
                                            int(lengths[row])))
        return results


def _cache_layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) [B, kv_heads, S, D] per layer of a DynamicCache (transformers 5 and 4 layouts)."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def _cpu(value: torch.Tensor | None) -> torch.Tensor | None:
    return None if value is None else value.cpu()


def _split_rows(features: torch.Tensor | None, sizes: list[int]) -> list[torch.Tensor | None]:
    """[sum(sizes), ...] -> one tensor per row (None for a row with no items)."""
    if features is None:
        if any(sizes):
            raise ValueError("the batch lists visual items but carries no pixels for them")
        return [None] * len(sizes)
    if sum(sizes) != features.shape[0]:
        raise ValueError(f"{features.shape[0]} crops / frames encoded but the rows' layout needs {sum(sizes)}")
    return [chunk if n else None for chunk, n in zip(torch.split(features, sizes), sizes)]
