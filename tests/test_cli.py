"""The ``ov-bench`` command line as a user runs it (subprocesses, real tasks on sample data).

Covers: help without heavy imports, the listing commands, bad input (one line, exit 2), the main-job
command end to end, kill -9 then resume equals an uninterrupted run, a second run on a busy output
directory, --strict, and sharding under accelerate with 2 processes.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import CLI, ENV, run_cli
from tests.support.kill import kill_after_rows

# Small but real: mmmu (single image) and videomme (video) sample sets, few frames to stay fast.
SMALL = ["--model", "tiny", "--data", "samples", "--frames", "4", "--no-progress"]


def rows_of(output: Path) -> list[tuple]:
    with sqlite3.connect(output / "samples.sqlite") as conn:
        return conn.execute(
            "SELECT task, doc_id, response, score, parsed, visual_tokens_counted, visual_tokens_measured, "
            "text_tokens, error FROM samples ORDER BY task, doc_id"
        ).fetchall()


def metrics_of(output: Path) -> dict:
    results = json.loads((output / "results.json").read_text())
    return {
        name: (t["n"], t["errors"], t["metrics"], t["visual_tokens"]) for name, t in results["tasks"].items()
    }


def test_help_is_light():
    code = (
        "import sys; from ov_bench.cli import build_parser; build_parser().format_help(); "
        "heavy = [m for m in ('torch', 'transformers', 'lmms_eval', 'datasets', 'av', 'PIL') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV)
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("run", "tasks", "models"):
        assert command in out.stdout
    assert "--max-grid-tokens" in run_cli("run", "--help").stdout


def test_tasks_and_models_listings():
    tasks = run_cli("tasks")
    assert tasks.returncode == 0, tasks.stderr
    assert (
        "mmmu" in tasks.stdout and "single_image" in tasks.stdout and "lmms-lab-encoder/MMMU" in tasks.stdout
    )
    assert "videomme" in tasks.stdout and "video" in tasks.stdout
    as_json = json.loads(run_cli("tasks", "--json").stdout)
    assert {"task", "modality", "dataset", "lmms_eval", "paper_row"} <= set(as_json["tasks"][0])
    models = run_cli("models")
    assert models.returncode == 0
    assert "tiny" in models.stdout and "arch:0.5b" in models.stdout and "hf:PATH" in models.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--tasks", "nosuchtask"], "unknown task 'nosuchtask'"),
        (["--tasks", "mmmu", "--data", "/nonexistent/dir"], "--data /nonexistent/dir"),
        (["--tasks", "mmmu", "--data", __file__], "not a directory"),
        pytest.param(  # offline: fails fast, names the alternatives (imports datasets: slow tier)
            ["--tasks", "mmmu", "--data", "hub"], "--data samples", marks=pytest.mark.slow
        ),
        (["--tasks", "mmmu", "--max-grid-tokens", "0"], "--max-grid-tokens"),
        (["--tasks", "mmmu", "--max-grid-tokens", "-5"], "--max-grid-tokens"),
        (["--tasks", "mmmu", "--max-grid-tokens", "lots"], "--max-grid-tokens"),
        (["--tasks", "mmmu", "--limit", "abc"], "--limit"),
        (["--tasks", "mmmu", "--limit", "0"], "--limit"),
        (["--tasks", "mmmu", "--model", "{empty}"], "no weights"),
        (["--tasks", "mmmu", "--model", "hf:{empty}"], "no config.json"),
        (["--tasks", "mmmu", "--model", "/no/such/checkpoint"], "no such preset or checkpoint"),
        (["--tasks", "mmmu", "--model", "arch:0.5b?layers=x"], "layers"),
        (["--tasks", "mmmu", "--model", "hf:{hf}", "--max-grid-tokens", "1000"], "multiple of 729"),
        (["--tasks", "mmmu", "--dtype", "float8"], "--dtype"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, args, needle):
    empty = tmp_path / "empty_ckpt"
    empty.mkdir()
    (empty / "config.json").write_text("{}") if not args[-1].startswith("hf:") else None
    if any(
        "{hf}" in a for a in args
    ):  # config and (empty) weights file: enough for the checks before loading
        hf = tmp_path / "hf"
        hf.mkdir()
        (hf / "config.json").write_text('{"model_type": "llava_onevision"}')
        (hf / "model.safetensors").write_bytes(b"")
        args = [a.replace("{hf}", str(hf)) for a in args]
    args = [a.replace("{empty}", str(empty)) for a in args]
    out = run_cli("run", *args, "--output", str(tmp_path / "out"), "--no-progress", timeout=120)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "out" / "samples.sqlite").exists()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference run every other CLI test compares with."""
    output = tmp_path_factory.mktemp("cli") / "full"
    out = run_cli("run", "--tasks", "mmmu,videomme", "--limit", "6", *SMALL, "--output", str(output))
    assert out.returncode == 0, out.stderr
    return output, out


@pytest.mark.slow
def test_main_job_end_to_end(uninterrupted):
    output, out = uninterrupted
    assert "mmmu [samples]" in out.stdout and "videomme [samples]" in out.stdout  # the summary table
    for name in ("results.json", "report.md", "samples.sqlite"):
        assert (output / name).is_file()
    results = json.loads((output / "results.json").read_text())
    # Throughput: the loop's wall time and samples/s (model load and warm-up excluded, each recorded).
    run = results["run"]
    assert run["samples"] == 12 and run["wall_s"] > 0 and run["model_load_s"] > 0 and run["warmup_s"] > 0
    assert run["samples_per_s"] == pytest.approx(12 / run["wall_s"])
    tasks = results["tasks"]
    assert sum(tasks[t]["wall_s"] for t in ("mmmu", "videomme")) == pytest.approx(run["wall_s"], rel=0.05)
    for t in ("mmmu", "videomme"):
        assert tasks[t]["samples_evaluated"] == 6
        assert tasks[t]["samples_per_s"] == pytest.approx(6 / tasks[t]["wall_s"])
    assert "samples/s" in out.stdout and f"run: 12 sample(s) in {run['wall_s']:.2f} s" in out.stdout
    assert "warm-up: one 32x32 synthetic image" in out.stderr
    assert f"run: 12 sample(s) in {run['wall_s']:.2f} s" in (output / "report.md").read_text()
    assert results["data"]["samples"] is True
    assert results["tasks"]["mmmu"]["n"] == 6 and results["tasks"]["videomme"]["n"] == 6
    assert "mmmu_acc" in results["tasks"]["mmmu"]["metrics"]
    assert results["tasks"]["videomme"]["visual_tokens"]["max"] == 196 * 4 + 1
    rows = rows_of(output)
    assert len(rows) == 12 and all(r[-1] is None for r in rows)
    assert all(r[5] == r[6] for r in rows)


@pytest.mark.slow
def test_kill_9_then_resume_equals_uninterrupted(uninterrupted, tmp_path):
    """Also the determinism check across processes: the resumed rows come from a fresh process."""
    full, _ = uninterrupted
    output = tmp_path / "killed"
    args = ["run", "--tasks", "mmmu,videomme", "--limit", "6", *SMALL, "--output", str(output)]
    done_before = kill_after_rows([*CLI, *args], ENV, output, 3)
    assert 3 <= done_before < 12, "the kill should land mid-run"
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert rows_of(output) == rows_of(full)  # no sample twice (primary key), none lost, same answers
    assert metrics_of(output) == metrics_of(full)


@pytest.mark.slow
def test_busy_output_dir_is_refused(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from ov_bench.outputs.store import OutputLock; "
            f"lock = OutputLock({str(tmp_path)!r}).acquire(); print('locked', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = run_cli("run", "--tasks", "mmmu", *SMALL, "--output", str(tmp_path), timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert busy.returncode == 2
    assert f"in use by another ov-bench run (pid {holder.pid})" in busy.stderr
    assert len(busy.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "samples.sqlite").exists()


def test_output_naming_a_file_is_one_line_exit_2(tmp_path):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    for command in (["run", "--tasks", "mmmu"], ["sweep", "--tasks", "ai2d", "--thresholds", "729"]):
        out = run_cli(
            *command,
            "--model",
            "tiny",
            "--data",
            "samples",
            "--no-progress",
            "--output",
            str(existing),
            timeout=120,
        )
        assert out.returncode == 2, (command, out.stderr)
        assert out.stderr.strip().splitlines() == [
            f"ov-bench: error: --output {existing}: is a file; give a directory "
            "(new, or an earlier run's to resume)"
        ]
    assert existing.read_text() == "keep me"


def _mmmu_copy(tmp_path: Path, corrupt: list[int]) -> Path:
    """A local mmmu directory (the hub's parquet layout) from 3 sample docs, with corrupt image cells."""
    import io

    import pandas as pd

    from tasks import get_task

    docs = get_task("mmmu").load(data="samples", limit=3)
    frame = pd.DataFrame([{k: v for k, v in d.items() if not k.startswith("_")} for d in docs])
    assert isinstance(frame.loc[0, "image_1"], dict)
    for i in corrupt:
        frame.at[i, "image_1"] = {"bytes": b"\x89PNG\r\n\x1a\nthis is not a png", "path": None}
    from tasks.hub_layout import write_readme

    target = tmp_path / "data" / "mmmu"
    (target / "data").mkdir(parents=True)
    buf = io.BytesIO()
    frame.to_parquet(buf)
    (target / "data" / "validation-00000-of-00001.parquet").write_bytes(buf.getvalue())  # the hub's path
    write_readme(get_task("mmmu"), target)  # and its README configs
    return tmp_path / "data"


@pytest.mark.slow
def test_task_where_every_sample_failed_exits_1_naming_the_reason(tmp_path):
    """Not a success even without --strict: exit 1, and the summary and stderr name the top error reason."""
    data = _mmmu_copy(tmp_path, corrupt=[0, 1, 2])
    out = run_cli(
        "run",
        "--tasks",
        "mmmu",
        "--model",
        "tiny",
        "--data",
        str(data),
        "--no-progress",
        "--no-warmup",
        "--output",
        str(tmp_path / "out"),
    )
    assert out.returncode == 1, out.stderr
    assert "FAILED: every sample of mmmu ended in an error; top reason: media_decode (3 of 3)" in out.stdout
    assert (
        "ov-bench: every sample of mmmu ended in an error; top reason media_decode (3 of 3): "
        "media_decode: MediaError:" in out.stderr
    )
    assert "Traceback" not in out.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["tasks"]["mmmu"]["top_error"]["stage"] == "media_decode"
    assert results["run"]["warmup_s"] is None and "warm-up" not in out.stderr  # --no-warmup


@pytest.mark.slow
def test_corrupt_image_is_an_error_row_and_strict_exits_1(tmp_path):
    """A local dataset directory with one corrupt image cell: the run completes, the sample is an
    error row with the reason, and --strict turns that into exit status 1 (0 without it: test_runner)."""
    _mmmu_copy(tmp_path, corrupt=[0])
    output = tmp_path / "out"
    strict = run_cli(
        "run",
        "--tasks",
        "mmmu",
        "--model",
        "tiny",
        "--data",
        str(tmp_path / "data"),
        "--no-progress",
        "--output",
        str(output),
        "--strict",
    )
    assert strict.returncode == 1, strict.stderr
    assert "1 sample(s) ended in an error (--strict)" in strict.stderr
    rows = rows_of(output)
    errors = [r for r in rows if r[-1]]
    assert len(rows) == 3 and len(errors) == 1 and errors[0][-1].startswith("media_decode:")
    results = json.loads((output / "results.json").read_text())
    assert results["tasks"]["mmmu"]["errors"] == 1 and results["data"]["samples"] is False
    assert results["data"]["source"].startswith("dir:")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_accelerate_two_processes_equal_one(uninterrupted, tmp_path):
    full, _ = uninterrupted
    output = tmp_path / "sharded"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        "-m",
        "ov_bench.cli",
        "run",
        "--tasks",
        "mmmu,videomme",
        "--limit",
        "6",
        *SMALL,
        "--output",
        str(output),
    ]
    out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=400)
    rank1 = "\n".join(line for line in out.stderr.splitlines() if "[rank1]" in line)
    assert out.returncode == 0, (rank1 or out.stderr[:3000]) + "\n...\n" + out.stderr[-2000:]
    with sqlite3.connect(output / "samples.sqlite") as conn:
        ranks = {r[0] for r in conn.execute("SELECT DISTINCT rank FROM samples")}
    assert ranks == {0, 1}  # both processes did work
    assert not (output / "shards").exists()  # merged once at the end
    assert rows_of(output) == rows_of(full)
    assert metrics_of(output) == metrics_of(full)
    assert json.loads((output / "results.json").read_text())["env"]["processes"] == 2
