"""Killing a CLI run with SIGKILL once it has committed some rows (the resume tests)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path


def count_rows(output: Path) -> int:
    db = output / "samples.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def kill_after_rows(cmd: list[str], env: dict, output: Path, rows: int, timeout_s: float = 240) -> int:
    """Start ``cmd``, SIGKILL it once ``output``'s samples.sqlite holds ``rows`` rows; the rows left."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout_s
        while count_rows(output) < rows:
            assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read()}"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return count_rows(output)
