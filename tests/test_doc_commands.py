"""The documentation's examples run as written.

Every fenced block in README.md and docs/*.md whose info string is ``bash offline`` or ``python offline``
is run, in the order of its page, in a fresh directory per page, with the hub switched off and a private
cache (one for all pages, so sample sets are generated once; a block repeated verbatim runs once): bash
blocks with ``bash -e -o pipefail``, python blocks with this interpreter. Each must exit 0. Blocks without
the marker (downloads, GPUs, real data) are not run; the fast checks below keep the rest of the README
honest (its length, the download command it names, the links between pages).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)(?:\s+(\S.*))?$")
MARKER = "offline"
RUNNERS = {"bash": ["bash", "-e", "-o", "pipefail", "-c"], "python": [sys.executable, "-c"]}


# Pages written on other branches of the same change; checked like the rest once they exist.
@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    marked: bool
    text: str

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    blocks, current, body = [], None, []
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if current is None:
            match = FENCE.match(line)
            if match and line.startswith("```") and match.group(1):
                words = (match.group(2) or "").split()
                current, body = Block(page, number, match.group(1), MARKER in words, ""), []
        elif line.startswith("```"):
            current.text = "\n".join(body) + "\n"
            blocks.append(current)
            current = None
        else:
            body.append(line)
    assert current is None, f"{page}: a code block opened at line {current.line} is never closed"
    return blocks


def offline_blocks(page: Path) -> list[Block]:
    return [b for b in blocks_of(page) if b.marked]


def doc_env(cache: Path, home: Path) -> dict[str, str]:
    """The environment a newcomer's shell would have after `pip install -e .`, without the hub."""
    env = dict(os.environ)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "ACCELERATE_MIXED_PRECISION"):
        env.pop(name, None)
    bin_dir = str(Path(sys.executable).parent)  # ov-bench, lmms-eval and hf live beside this interpreter
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=f"{ROOT}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(ROOT),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OV_BENCH_CACHE=str(cache),
        HF_HOME=str(home),
        MPLBACKEND="Agg",
    )
    return env


# Blocks already run and passed on an earlier page (a page may repeat the README's example verbatim):
# run once. A later block of that page that needs the skipped block's files still fails, visibly.
_passed: set[tuple[str, str]] = set()


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One sample-data cache for every page: the sets are generated once, as for a user."""
    return tmp_path_factory.mktemp("ov_bench_cache")


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if offline_blocks(p)], ids=lambda p: p.name)
def test_offline_blocks_run_as_written(page, shared_cache, tmp_path):
    env = doc_env(shared_cache, tmp_path / "hf_home")
    workdir = tmp_path / "work"
    workdir.mkdir()
    for block in offline_blocks(page):
        assert block.language in RUNNERS, f"{block.where()}: no runner for ```{block.language}"
        if (block.language, block.text) in _passed:
            continue
        start = time.perf_counter()
        done = subprocess.run(
            [*RUNNERS[block.language], block.text],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        took = time.perf_counter() - start
        assert done.returncode == 0, (
            f"{block.where()} exited {done.returncode} after {took:.0f} s:\n{block.text}\n"
            f"--- stdout ---\n{done.stdout[-3000:]}\n--- stderr ---\n{done.stderr[-3000:]}"
        )
        _passed.add((block.language, block.text))
        print(f"{block.where()}: {took:.1f} s")


def test_the_readme_is_short_and_has_runnable_examples():
    readme = ROOT / "README.md"
    assert len(readme.read_text().splitlines()) <= 300
    marked = offline_blocks(readme)
    commands = " ".join(b.text for b in marked)
    # The smoke test and one example each of tokens, sweep and compare run in CI.
    for command in ("ov-bench run", "ov-bench tokens", "ov-bench sweep", "ov-bench compare"):
        assert command in commands, command
    assert all(b.language in RUNNERS for p in PAGES for b in offline_blocks(p))


def test_no_huggingface_cli_left_in_the_tree():
    """huggingface_hub 1.x ships `hf`; the old command is "command not found" with what pip installs."""
    old = "huggingface" + "-cli"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    hits = []
    for name in files.splitlines():
        path = ROOT / name
        if (
            path.suffix in (".py", ".md", ".toml", ".ini", ".yaml", ".yml", ".txt", ".cfg", "")
            and path.is_file()
        ):
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue
            hits += [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if old in line]
    assert not hits, hits


def _hf_download_commands() -> list[list[str]]:
    commands = []
    for page in PAGES:
        for block in blocks_of(page):
            for line in block.text.splitlines():
                if line.strip().startswith("hf download "):
                    commands.append(shlex.split(line.split("#")[0]))
        commands += [shlex.split(m) for m in re.findall(r"`(hf download [^`]+)`", page.read_text())]
    return commands


def test_hf_download_commands_use_options_the_installed_cli_has():
    hf = Path(sys.executable).parent / "hf"
    if not hf.exists():
        pytest.skip("huggingface_hub's hf command is not installed beside this Python")
    commands = _hf_download_commands()
    assert commands, "the docs suggest no `hf download` at all"
    help_text = subprocess.run(
        [str(hf), "download", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    known = set(re.findall(r"(--[a-z][a-z-]*)", help_text))
    for command in commands:
        assert command[:2] == ["hf", "download"] and len(command) > 2, command
        used = {word.split("=")[0] for word in command if word.startswith("--")}
        assert used <= known, f"{' '.join(command)}: {sorted(used - known)} not in `hf download --help`"


def test_links_between_pages_resolve():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path = (page.parent / target).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_blocks_are_found_by_their_marker(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```bash offline\nov-bench tasks\n```\n```bash\nhf download x\n```\n"
        "```python offline\nprint(1)\n```\n```text\nplain\n```\n"
    )
    found = [(b.language, b.marked, b.text, b.line) for b in blocks_of(page)]
    assert found == [
        ("bash", True, "ov-bench tasks\n", 2),
        ("bash", False, "hf download x\n", 5),
        ("python", True, "print(1)\n", 8),
        ("text", False, "plain\n", 11),
    ]
    assert [b.text for b in offline_blocks(page)] == ["ov-bench tasks\n", "print(1)\n"]
