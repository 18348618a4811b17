"""The committed regression baseline (reports/baseline) and the documented command that made it."""

from __future__ import annotations

from pathlib import Path

BASELINE = Path(__file__).resolve().parents[2] / "reports" / "baseline"
# reports/README.md's command, minus --output
COMMAND = [
    "run",
    "--tasks",
    "ai2d,mmmu,videomme",
    "--model",
    "tiny",
    "--data",
    "samples",
    "--limit",
    "2",
    "--frames",
    "4",
    "--max-new-tokens",
    "8",
]
