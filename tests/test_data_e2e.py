"""Issue 11's acceptance: `ov-bench run --tasks videomme,mvbench,egoschema,nextqa,perceptiontest` gives
no error rows on local copies in the real layouts (--data DIR) and through the loopback hub (--data
hub, media fetched first). Both are tiny-model CLI runs over five generated repo copies: slow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.hub_repos import REPOS, make_repo
from tests.support.loopback_hub import LoopbackHub

TASKS = ["videomme", "mvbench", "egoschema", "nextqa", "perceptiontest"]
CLI = [sys.executable, "-m", "ov_bench.cli"]
RUN = [
    "run",
    "--tasks",
    ",".join(TASKS),
    "--model",
    "tiny",
    "--limit",
    "6",
    "--frames",
    "2",
    "--no-progress",
    "--max-new-tokens",
    "4",
]  # nextqa and perceptiontest set none: 1024, as lmms-eval


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OV_BENCH_CACHE", str(root / "gen-cache"))
        mp.setenv("HF_HOME", str(root / "gen-hf"))
        for name in TASKS:
            make_repo(name, root / "data" / name)
    return root


def _no_error_rows(out_dir) -> dict:
    results = json.loads((out_dir / "results.json").read_text())
    assert set(results["tasks"]) == set(TASKS)
    for name, t in results["tasks"].items():
        assert t["n"] > 0 and t["errors"] == 0, (name, t.get("error_reasons"))
    return results


@pytest.mark.slow
def test_five_video_tasks_on_local_copies(copies):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(copies / "hf-local"))
    out = subprocess.run(
        [*CLI, *RUN, "--data", str(copies / "data"), "--output", str(copies / "run-dir")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    _no_error_rows(copies / "run-dir")


@pytest.mark.slow
def test_five_video_tasks_through_the_loopback_hub(copies):
    hub = LoopbackHub()
    for name in TASKS:
        repo, revision = REPOS[name]
        hub.add(
            repo,
            copies / "pristine" / name if (copies / "pristine" / name).is_dir() else _pristine(copies, name),
            revision,
        )
    hub.start()
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
        env.update(HF_ENDPOINT=hub.url, HF_HOME=str(copies / "hf-hub"), HF_HUB_DISABLE_TELEMETRY="1")
        out = subprocess.run(
            [*CLI, *RUN, "--data", "hub", "--output", str(copies / "run-hub")],
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        for name in TASKS:
            assert f"{name}: {REPOS[name][0]}" in out.stderr  # fetched first, size line printed
        _no_error_rows(copies / "run-hub")
    finally:
        hub.stop()


def _pristine(copies, name):
    """A repo copy nothing has unpacked into (the local-copy run unpacks in place)."""
    folder = copies / "pristine" / name
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OV_BENCH_CACHE", str(copies / "gen-cache"))
        mp.setenv("HF_HOME", str(copies / "gen-hf"))
        make_repo(name, folder)
    return folder
