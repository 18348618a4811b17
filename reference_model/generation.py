"""Greedy decoding for the reference model, single prompt and batched, and the decoding settings a
checkpoint's ``generation_config.json`` carries.

The model only turns a prompt into embeddings (``LlavaOneVision.embed`` / ``embed_batch``); this module
runs the LLM over them: prefill (one pass, or per row with left-padded KV caches), then a decode loop
that stops a row at any of its EOS ids or at ``max_new_tokens``.

Decoding follows what the evaluated path does: lmms-eval calls the original model's
``generate(inputs_embeds=..., do_sample=False)`` after removing temperature / top_p / top_k, so the
rest of the checkpoint's generation_config applies. With ``inputs_embeds`` the generated sequence
starts empty, so ``repetition_penalty`` acts on the generated tokens only (transformers'
RepetitionPenaltyLogitsProcessor: a logit < 0 is multiplied by the penalty, otherwise divided).
``min_new_tokens`` keeps decoding past an EOS instead of masking it (an ov-bench control for timing
runs; lmms-eval never sets it).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

StageTimer = Callable[[str], contextlib.AbstractContextManager]


def no_timer(_name: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------- settings
@dataclass
class GenerationSettings:
    """Decoding settings of a checkpoint (greedy; sampling keys are ignored as lmms-eval removes them)."""

    eos_token_ids: list[int] = field(
        default_factory=list
    )  # stop on any of them; empty = the model's <|im_end|>
    repetition_penalty: float = 1.0
    max_new_tokens: int | None = None  # the file's default, used only when a caller gives none
    min_new_tokens: int = 0
    source: str = "default"  # "generation_config.json" or "default"

    def to_dict(self) -> dict:
        return asdict(self)


def read_generation_config(directory) -> GenerationSettings | None:
    """The checkpoint's ``generation_config.json`` as settings, or None when the directory has none.
    ``eos_token_id`` may be an int or a list; a malformed file is refused with one line."""
    if directory is None:
        return None
    path = Path(directory) / "generation_config.json"
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from None
    eos = raw.get("eos_token_id")
    eos_ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in eos_ids):
        raise ValueError(f"{path}: eos_token_id must be an int or a list of ints, got {eos!r}")
    penalty = raw.get("repetition_penalty", 1.0)
    if penalty is None:
        penalty = 1.0
    if not isinstance(penalty, (int, float)) or isinstance(penalty, bool) or not penalty > 0:
        raise ValueError(f"{path}: repetition_penalty must be a positive number, got {penalty!r}")
    max_new = raw.get("max_new_tokens")
    return GenerationSettings(
        eos_token_ids=eos_ids,
        repetition_penalty=float(penalty),
        max_new_tokens=int(max_new) if isinstance(max_new, int) and max_new > 0 else None,
        min_new_tokens=int(raw.get("min_new_tokens") or 0),
        source="generation_config.json",
    )


@dataclass
class Decoding:
    """What one generate call decodes with: the resolved stop ids, penalty and lengths."""

    eos_ids: frozenset[int]
    repetition_penalty: float
    max_new_tokens: int
    min_new_tokens: int

    def finished(self, tokens: Sequence[int]) -> bool:
        n = len(tokens)
        return n >= self.max_new_tokens or (tokens[-1] in self.eos_ids and n >= self.min_new_tokens)


def resolve_decoding(
    settings: GenerationSettings | None, default_eos: int, max_new_tokens: int, min_new_tokens: int
) -> Decoding:
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be >= 1")
    eos = set(settings.eos_token_ids) if settings is not None and settings.eos_token_ids else set()
    eos.add(default_eos)  # <|im_end|> ends the assistant turn whatever the file lists
    penalty = settings.repetition_penalty if settings is not None else 1.0
    return Decoding(frozenset(eos), penalty, max_new_tokens, min_new_tokens)


def penalize(logits: torch.Tensor, generated: Sequence[Sequence[int]], penalty: float) -> torch.Tensor:
    """transformers' RepetitionPenaltyLogitsProcessor over each row's generated tokens (in float32,
    as transformers' generate casts the next-token logits)."""
    logits = logits.float()
    if penalty == 1.0:
        return logits
    for row, tokens in enumerate(generated):
        if not tokens:
            continue
        index = torch.tensor(sorted(set(tokens)), device=logits.device)
        score = logits[row, index]
        logits[row, index] = torch.where(score < 0, score * penalty, score / penalty)
    return logits


# ----------------------------------------------------------------------------- visual features into the prompt
def fill_placeholders(
    embed_tokens: torch.nn.Module,
    input_ids: torch.Tensor,
    fills: Sequence[tuple[int, Sequence[torch.Tensor | None], str]],
) -> tuple[torch.Tensor, list[int]]:
    """Token embeddings [B, S, H] with visual features in the placeholder positions.

    ``fills``: (placeholder id, per-row features [n_row, H] or None, kind) per kind of placeholder. Row r's
    placeholders of an id take row r's features in order; the counts must match exactly. Returns the
    embeddings and the positions filled per row. The one place features enter the prompt: single,
    batched and training forward all come here."""
    masks = [input_ids == token_id for token_id, _, _ in fills]
    any_mask = torch.zeros_like(input_ids, dtype=torch.bool)
    for mask in masks:
        any_mask |= mask
    embeds = embed_tokens(input_ids.masked_fill(any_mask, 0))
    n_rows = input_ids.shape[0]
    filled = [0] * n_rows
    for mask, (_, rows, kind) in zip(masks, fills):
        pieces = []
        for row in range(n_rows):
            tokens = rows[row] if row < len(rows) else None
            n_slots, n_tokens = int(mask[row].sum()), 0 if tokens is None else tokens.shape[0]
            if n_slots != n_tokens:
                where = f"row {row}: " if n_rows > 1 else ""
                raise ValueError(
                    f"{where}{kind} placeholders ({n_slots}) and {kind} features ({n_tokens}) differ"
                )
            if n_tokens:
                pieces.append(tokens)
                filled[row] += n_tokens
        if pieces:
            # masked_scatter fills True positions row-major, so features concatenated in row order land
            # in their own rows.
            embeds = embeds.masked_scatter(mask[..., None], torch.cat(pieces).to(embeds.dtype))
    return embeds, filled


# ----------------------------------------------------------------------------- the decode loops
def cache_kwarg(language_model: torch.nn.Module) -> str:
    import inspect

    params = inspect.signature(language_model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def head_rows(lm_head: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """lm_head on a few rows [B, H] -> [B, vocab], computed as weight @ hidden^T: with the vocabulary as
    the long side, BLAS packs only the small operand (F.linear's layout made MKL repack the whole
    151936 x 896 weight every call once B reached 4, doubling the decode step on CPU)."""
    weight = getattr(lm_head, "weight", None)
    if not isinstance(weight, torch.Tensor) or hasattr(lm_head, "_hf_hook"):
        # Split by accelerate: its hook brings the weight (and the input) to the right device.
        return lm_head(hidden).to(hidden.device)
    logits = (weight @ hidden.transpose(0, 1)).transpose(0, 1)
    return logits if lm_head.bias is None else logits + lm_head.bias


def greedy_single(
    language_model: torch.nn.Module,
    lm_head: torch.nn.Module,
    embeds: torch.Tensor,
    decoding: Decoding,
    timer: StageTimer = no_timer,
) -> list[int]:
    """Greedy decoding of one prompt's embeddings [1, S, H] with a KV cache; the new token ids."""
    from transformers import DynamicCache

    cache = DynamicCache()
    kwarg = cache_kwarg(language_model)
    tokens: list[int] = []

    def pick(hidden: torch.Tensor) -> torch.Tensor:
        logits = penalize(lm_head(hidden[:, -1]), [tokens], decoding.repetition_penalty)
        token = logits.argmax(-1)
        tokens.append(int(token))
        return token

    with timer("prefill"):
        token = pick(language_model(inputs_embeds=embeds, use_cache=True, **{kwarg: cache}).last_hidden_state)
    with timer("decode"):
        position = embeds.shape[1]
        while not decoding.finished(tokens):
            hidden = language_model(
                input_ids=token[:, None],
                position_ids=torch.tensor([[position]], device=embeds.device),
                use_cache=True,
                **{kwarg: cache},
            ).last_hidden_state
            token = pick(hidden)
            position += 1
    return tokens


def cache_layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) [B, kv_heads, S, D] per layer of a DynamicCache (transformers 5 and 4 layouts)."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def prefill_rows(language_model: torch.nn.Module, embeds: torch.Tensor, lengths: torch.Tensor):
    """Each row's prompt (its unpadded tail) through the LLM alone, as a single prompt would be; the
    caches are then left-padded with zeros (masked in decoding) into one batch cache. Returns the cache
    and each row's last hidden state [B, H]."""
    from transformers import DynamicCache

    kwarg = cache_kwarg(language_model)
    width = embeds.shape[1]
    rows, lasts = [], []
    for row, n in enumerate(lengths.tolist()):
        cache = DynamicCache()
        hidden = language_model(
            inputs_embeds=embeds[row : row + 1, width - n :], use_cache=True, **{kwarg: cache}
        ).last_hidden_state
        lasts.append(hidden[:, -1])
        rows.append(cache_layers(cache))

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


def greedy_batch(
    language_model: torch.nn.Module,
    lm_head: torch.nn.Module,
    embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    decoding: Decoding,
    pad_id: int,
    timer: StageTimer = no_timer,
    prefill: str = "per_row",
) -> list[list[int]]:
    """Greedy decoding of a left-padded batch of embeddings [B, S, H]; each row's new token ids, equal to
    ``greedy_single`` on that row alone. Rows decode together; a finished row is fed pad tokens, masked
    out, until every row has stopped.

    prefill: ``"per_row"`` prefills each row alone, unpadded, and left-pads the rows' KV caches into one
    for the batched decode (no compute on padding); ``"padded"`` runs the LLM once over the left-padded
    batch (attention mask, position ids counted from each row's first real token)."""
    from transformers import DynamicCache

    if prefill not in ("padded", "per_row"):
        raise ValueError(f"prefill must be 'padded' or 'per_row', got {prefill!r}")
    kwarg = cache_kwarg(language_model)
    n_rows = embeds.shape[0]
    mask = attention_mask
    lengths = mask.sum(-1)
    tokens: list[list[int]] = [[] for _ in range(n_rows)]
    done = torch.zeros(n_rows, dtype=torch.bool, device=embeds.device)

    def pick(last: torch.Tensor) -> torch.Tensor:
        logits = penalize(head_rows(lm_head, last), tokens, decoding.repetition_penalty)
        token = logits.argmax(-1)
        for row, value in enumerate(token.tolist()):
            if not done[row]:
                tokens[row].append(value)
                if decoding.finished(tokens[row]):
                    done[row] = True
        return token

    with timer("prefill"):
        if prefill == "padded":
            cache = DynamicCache()
            positions = (mask.cumsum(-1) - 1).clamp(min=0)  # padded slots get 0; they are masked
            last = language_model(
                inputs_embeds=embeds,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{kwarg: cache},
            ).last_hidden_state[:, -1]
        else:
            cache, last = prefill_rows(language_model, embeds, lengths)
        token = pick(last)
    with timer("decode"):
        step = 0
        while not bool(done.all()):
            alive = ~done
            feed = torch.where(alive, token, torch.full_like(token, pad_id))
            mask = torch.cat([mask, alive.long()[:, None]], dim=-1)
            hidden = language_model(
                input_ids=feed[:, None],
                attention_mask=mask,
                position_ids=(lengths + step)[:, None],
                use_cache=True,
                **{kwarg: cache},
            ).last_hidden_state
            token = pick(hidden[:, -1])
            step += 1
    return tokens
