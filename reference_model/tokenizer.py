"""A byte-level tokenizer built in code for the tiny preset (no download), with Qwen2's special tokens.

Real checkpoints bring their own tokenizer; this one exists so the tiny model, tests and demos run
offline. Byte-level BPE without merges: every UTF-8 byte is one token, so any text round-trips.
"""

from __future__ import annotations

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
TINY_SPECIAL_IDS = {"pad": 256, "eos": 258, "image": 259, "video": 260}
TINY_VOCAB_SIZE = 320  # 256 bytes + 5 specials, padded like real vocabularies


def build_tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(byte_chars))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(SPECIAL_TOKENS)  # ids 256.. in list order
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS,
        model_max_length=32768,
    )
    return tok
