"""`ov-bench -v`: ov-bench's own debug lines, not the third-party chatter (matplotlib's font manager,
urllib3, PIL, filelock) that a root logger at DEBUG lets through."""

from __future__ import annotations

import subprocess
import sys

# Emits one debug line from each of our packages and from third-party loggers, then a real matplotlib
# font lookup (which logs "findfont: ..." at DEBUG).
SCRIPT = """
import logging, sys
from ov_bench.cli import configure_logging
if sys.argv[1] == "root-debug":  # the former configuration, as a control
    logging.basicConfig(level=logging.DEBUG)
else:
    configure_logging(sys.argv[1] == "verbose")
for name in ("ov_bench.engine.runner", "tasks.data", "reference_model.checkpoints", "ov_media.video"):
    logging.getLogger(name).debug("ours-debug %s", name)
logging.getLogger("ov_bench.engine.runner").warning("ours-warning")
for name in ("urllib3.connectionpool", "PIL.PngImagePlugin", "filelock", "httpx"):
    logging.getLogger(name).debug("theirs-debug %s", name)
logging.getLogger("urllib3.connectionpool").warning("theirs-warning")
import matplotlib.font_manager as fm
fm.findfont("DejaVu Sans")
"""


def stderr_of(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stderr


def test_verbose_shows_our_debug_lines_only():
    control = stderr_of("root-debug")
    assert "findfont" in control and "theirs-debug" in control  # what -v used to print

    verbose = stderr_of("verbose")
    for name in ("ov_bench.engine.runner", "tasks.data", "reference_model.checkpoints", "ov_media.video"):
        assert f"ours-debug {name}" in verbose
    assert "findfont" not in verbose and "theirs-debug" not in verbose and "matplotlib" not in verbose
    assert "ours-warning" in verbose and "theirs-warning" in verbose  # warnings from everyone


def test_quiet_by_default():
    quiet = stderr_of("quiet")
    assert "debug" not in quiet and "findfont" not in quiet
    assert "ours-warning" in quiet and "theirs-warning" in quiet
