"""A run's outputs on disk: results.json, then report.md and report.html (``run_report``); the printed
summary is ``summary.summary_table`` (re-exported here for the run command)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ov_bench.outputs.run_outputs import write_results_json
from ov_bench.outputs.store import SampleRow
from ov_bench.reports.run_report import write_run_report
from ov_bench.reports.summary import summary_table as summary_table  # re-exported

log = logging.getLogger(__name__)


def write_outputs(output_dir: Path, results: dict[str, Any], rows: Sequence[SampleRow]) -> None:
    """results.json (atomically), then report.md, report.html and their PNGs into ``output_dir``."""
    output_dir = Path(output_dir)
    write_results_json(output_dir, results)
    try:
        write_run_report(output_dir, results, rows)
    except Exception as exc:  # results.json and samples.sqlite are written; a report failure loses nothing
        log.warning("report.md / report.html failed: %s: %s", type(exc).__name__, exc)
