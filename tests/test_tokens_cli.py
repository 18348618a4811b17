"""``ov-bench tokens`` and the model identifiers as a user meets them (subprocess CLI calls):
unreadable docs are listed with their reasons, text tokens are Qwen2's exact counts (held against
tiktoken over the same ranks), bare ``0.5b``/``7b``/``72b`` are refused with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "ov_bench.cli"]
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("ov-bench-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OV_BENCH_CACHE", str(root))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        yield root


def ov_bench(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run([*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow  # generates the mmmu sample set, then one CLI subprocess
def test_corrupt_images_are_listed_with_reasons(cache, tmp_path):
    import pandas as pd

    from tasks import get_task

    docs = get_task("mmmu").load(data="samples", limit=4)
    frame = pd.DataFrame([{k: v for k, v in d.items() if not k.startswith("_")} for d in docs])
    frame.at[0, "image_1"] = {"bytes": b"\x89PNG\r\n\x1a\nthis is not a png", "path": None}
    frame.at[2, "image_1"] = {"bytes": b"GIF89a broken", "path": None}
    bad = {frame.loc[0, "id"], frame.loc[2, "id"]}
    from tasks.hub_layout import write_readme

    target = tmp_path / "data" / "mmmu"
    (target / "data").mkdir(parents=True)
    frame.to_parquet(target / "data" / "validation-00000-of-00001.parquet")  # the hub's path
    write_readme(get_task("mmmu"), target)  # and its README configs
    plan = tmp_path / "plan.json"
    out = ov_bench(
        "tokens",
        "--tasks",
        "mmmu",
        "--data",
        str(tmp_path / "data"),
        "--thresholds",
        "729,none",
        "--archs",
        "0.5b",
        "--json",
        str(plan),
    )
    assert out.returncode == 0, out.stderr
    assert "## Errors (2: docs left out of the counts)" in out.stdout
    listed = [line for line in out.stdout.splitlines() if line.startswith("| mmmu | validation_")]
    assert {line.split(" | ")[1] for line in listed} == bad  # once per task, not per threshold
    assert all("cannot decode image" in line for line in listed)
    rows = json.loads(plan.read_text())["rows"]
    assert [(r["n"], r["errors"]) for r in rows] == [(2, 2), (2, 2)]
    assert {e["doc_id"] for e in rows[0]["error_docs"]} == bad
    assert all(e["error"].startswith("MediaError: ") for e in rows[0]["error_docs"])


@pytest.mark.slow
def test_text_tokens_are_qwen2_counts(cache):
    """The planner's text tokens per prompt equal tiktoken's count of the same chat prompt's text
    (Qwen2's ranks and pattern, NFC), the placeholders excluded."""
    import re

    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    from ov_bench.analysis.token_planner import doc_shapes
    from reference_model.processor import build_prompt
    from reference_model.qwen2_tokenizer import ranks_file
    from tasks import get_task

    specials = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
    enc = tiktoken.Encoding(
        "qwen2",
        pat_str=QWEN2_PATTERN,
        mergeable_ranks=load_tiktoken_bpe(str(ranks_file())),
        special_tokens=specials,
    )
    for name in ("mmmu",):  # the sample set the test above generated
        task = get_task(name)
        docs = task.load(data="samples", limit=6)
        shapes = doc_shapes(task, docs)
        for doc, shape in zip(docs, shapes):
            assert shape.error is None
            prompt = build_prompt(
                task.doc_to_text(doc), num_images=len(shape.image_sizes), video=shape.has_video
            )
            parts = [
                p for p in re.split(r"(<image>|<video>)", prompt) if p and p not in ("<image>", "<video>")
            ]
            expected = sum(
                len(enc.encode(unicodedata.normalize("NFC", p), allowed_special="all")) for p in parts
            )
            assert shape.text_tokens == expected > 20
    # --text-tokens N still fixes the count.
    assert {s.text_tokens for s in doc_shapes(task, docs, text_tokens=7)} == {7}


def test_bare_sizes_are_refused_with_one_line(tmp_path):
    for name in ("0.5b", "7b", "72b"):
        out = ov_bench("run", "--tasks", "mmmu", "--model", name, "--data", "samples", cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and f"use arch:{name} for random weights, or a checkpoint path" in lines[0]
    # A directory of that name is a checkpoint path (here one without weights).
    (tmp_path / "7b").mkdir()
    out = ov_bench("run", "--tasks", "mmmu", "--model", "7b", "--data", "samples", cwd=tmp_path)
    assert out.returncode == 2 and "no weights" in out.stderr and "arch:" not in out.stderr
