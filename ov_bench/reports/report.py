"""A run's outputs on disk: results.json, then report.md and report.html (``run_report``); the printed
summary is ``summary.summary_table`` (re-exported here for the run command)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ov_bench.outputs.results import RESULTS_JSON
from ov_bench.outputs.store import SampleRow
from ov_bench.reports.summary import summary_table as summary_table  # re-exported

log = logging.getLogger(__name__)


def write_outputs(output_dir: Path, results: dict[str, Any], rows: Sequence[SampleRow]) -> None:
    """results.json (atomically), then report.md, report.html and their PNGs into ``output_dir``."""
    output_dir = Path(output_dir)
    tmp = output_dir / (RESULTS_JSON + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(output_dir / RESULTS_JSON)
    from ov_bench.reports.run_report import write_run_report

    try:
        write_run_report(output_dir, results, rows)
    except Exception as exc:  # results.json and samples.sqlite are written; a report failure loses nothing
        log.warning("report.md / report.html failed: %s: %s", type(exc).__name__, exc)
