"""Weights for the tiny preset whose greedy answers depend on the input.

With transformers' default init (std 0.02) and tied embeddings, a tiny random model echoes the last
prompt token ("\\n" after the assistant header) forever, so every sample gets the same response and
any score comparison is trivially 0 == 0. Fan-in scaled weights with gain 2 let attention mix the
prompt and the image into the residual stream; with tied embeddings, shrunken rows for bytes that
are not printable ASCII keep answers readable (and re-tokenizable), and enlarged rows for the option
letters A-D make letter answers common, so tiny-model scores vary per sample as a real model's do.
"""

from __future__ import annotations

import torch
from torch import nn

GAIN = 2.0
LETTER_BOOST = 2.5
UNPRINTABLE_SCALE = 0.1


@torch.no_grad()
def lively_init(model: nn.Module, tokenizer, seed: int = 0) -> None:
    """Re-initialise ``model`` (ours or transformers' LlavaOnevisionForConditionalGeneration: both have
    ``model.language_model``, ``model.multi_modal_projector`` and ``model.image_newline``) in place."""
    generator = torch.Generator().manual_seed(seed)
    backbone = model.model
    linears = [
        m
        for part in (backbone.language_model, backbone.multi_modal_projector)
        for m in part.modules()
        if isinstance(m, nn.Linear)
    ]
    for layer in linears:
        layer.weight.copy_(
            torch.randn(layer.weight.shape, generator=generator) * (GAIN / layer.in_features**0.5)
        )
    embeddings = backbone.language_model.embed_tokens.weight
    embeddings.copy_(torch.randn(embeddings.shape, generator=generator))

    def ids(chars: str) -> list[int]:
        return [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(c))[0] for c in chars]

    printable = set(ids("".join(map(chr, range(32, 127)))))
    unprintable = [i for i in range(256) if i not in printable]  # byte tokens are ids 0-255
    embeddings[unprintable] *= UNPRINTABLE_SCALE
    embeddings[ids("ABCD")] *= LETTER_BOOST
    backbone.image_newline.copy_(torch.randn(backbone.image_newline.shape, generator=generator))
