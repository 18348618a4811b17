"""CI regression check: rerun the command that made reports/baseline and `ov-bench compare` the new
output against it (visual tokens, scores, responses exact; timings not judged). See reports/README.md."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from ov_bench.cli import main
from tests.support.baseline import BASELINE, COMMAND

COMPARE = ["--exact", "--no-timing"]


@pytest.fixture(scope="module")
def rerun(samples_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("rerun") / "new"
    assert main(COMMAND + ["--output", str(out), "--no-progress"]) == 0
    return out


def test_rerun_matches_the_committed_baseline(rerun, capsys):
    capsys.readouterr()
    rc = main(["compare", str(BASELINE), str(rerun), *COMPARE])
    summary = capsys.readouterr().out
    assert rc == 0, summary
    assert "tokens/sample | ok" in summary and "response/sample | ok" in summary
    assert sorted(p.name for p in BASELINE.iterdir()) == [
        "latency_stages.png",
        "report.md",
        "results.json",
        "samples.sqlite",
    ]  # compare left no trace


def test_the_check_fails_on_a_changed_token_count(tmp_path, capsys):
    """The same check on a copy of the baseline with one sample's visual tokens changed."""
    changed = tmp_path / "changed"
    shutil.copytree(BASELINE, changed)
    with sqlite3.connect(changed / "samples.sqlite") as conn:
        task, doc = conn.execute("SELECT task, doc_id FROM samples ORDER BY task, doc_id LIMIT 1").fetchone()
        conn.execute(
            "UPDATE samples SET visual_tokens_measured = visual_tokens_measured + 1 WHERE task=? AND doc_id=?",
            (task, doc),
        )
    rc = main(["compare", str(BASELINE), str(changed), *COMPARE])
    assert rc == 1 and f"{doc} (" in capsys.readouterr().out


def test_readme_documents_the_command():
    readme = (BASELINE.parent / "README.md").read_text()
    assert "ov-bench " + " ".join(COMMAND) + " --output reports/baseline" in readme
    assert "ov-bench compare reports/baseline " in readme and " ".join(COMPARE) in readme
    results = json.loads((BASELINE / "results.json").read_text())
    assert results["data"]["samples"] is True and results["model"]["id"] == "tiny"
