"""The layout and decoding flags end to end: run records the settings it used and the model follows
them (measured positions against REFERENCE-style arithmetic), tokens counts with them, bad values are
one line and exit 2."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.support.cli import run_cli

SMALL = [
    "--model",
    "tiny",
    "--data",
    "samples",
    "--frames",
    "4",
    "--no-progress",
    "--limit",
    "2",
    "--max-new-tokens",
    "2",
]


def _measured(output) -> dict[str, set[tuple[int, int]]]:
    with sqlite3.connect(output / "samples.sqlite") as conn:
        rows = conn.execute(
            "SELECT task, visual_tokens_counted, visual_tokens_measured FROM samples"
        ).fetchall()
    out: dict[str, set] = {}
    for task, counted, measured in rows:
        out.setdefault(task, set()).add((counted, measured))
    return out


@pytest.mark.slow
def test_run_follows_and_records_the_layout_flags(tmp_path):
    output = tmp_path / "train"
    out = run_cli(
        "run",
        "--tasks",
        "muirbench,videomme",
        *SMALL,
        "--output",
        str(output),
        "--multi-image-layout",
        "train",
        "--video-layout",
        "grid",
        "--video-pool",
        "average",
        "--no-generation-config",
    )
    assert out.returncode == 0, out.stderr
    model = json.loads((output / "results.json").read_text())["model"]
    assert model["multi_image_layout"] == "train"
    assert model["video_layout"] == {"newline_position": "grid", "pool_mode": "average"}
    assert model["grid_pinpoints"] == "ov" and model["family"] == "onevision"
    assert model["generation"]["repetition_penalty"] == 1.0
    measured = _measured(output)
    assert measured["videomme"] == {(4 * 182, 4 * 182)}  # 13x13 + a newline per row, 4 frames
    for counted, positions in measured["muirbench"]:
        assert counted == positions and counted % 730 == 0

    default = tmp_path / "eval"
    out = run_cli("run", "--tasks", "muirbench", *SMALL, "--output", str(default))
    assert out.returncode == 0, out.stderr
    assert json.loads((default / "results.json").read_text())["model"]["multi_image_layout"] == "eval"
    for counted, positions in _measured(default)["muirbench"]:
        assert counted == positions and counted % 729 == 0 and counted % 730 != 0


@pytest.mark.slow
def test_tokens_counts_with_the_layout_flags(tmp_path):
    plans = {}
    for name, flags in (("ov", []), ("grid", ["--video-layout", "grid", "--video-pool", "average"])):
        path = tmp_path / f"{name}.json"
        out = run_cli(
            "tokens",
            "--tasks",
            "videomme",
            "--data",
            "samples",
            "--frames",
            "4",
            "--limit",
            "2",
            "--archs",
            "0.5b",
            "--json",
            str(path),
            *flags,
        )
        assert out.returncode == 0, out.stderr
        plans[name] = json.loads(path.read_text())["rows"][0]["visual_tokens"]
    assert plans["ov"]["max"] == 4 * 196 + 1 and plans["grid"]["max"] == 4 * 182


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--video-layout", "spatial"], "--video-layout"),
        (["--video-pool", "conv"], "--video-pool"),
        (["--multi-image-layout", "stacked"], "--multi-image-layout"),
        (["--grid-pinpoints", "100x384"], "multiple of 384"),
        (["--grid-pinpoints", "huge"], "--grid-pinpoints"),
    ],
)
def test_bad_layout_flags_one_line_exit_2(tmp_path, flags, needle):
    out = run_cli("run", "--tasks", "mmmu", *SMALL, "--output", str(tmp_path / "out"), *flags, timeout=120)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in out.stderr


def test_hf_adapter_refuses_reference_only_options():
    from ov_bench.adapters import load_adapter

    with pytest.raises(ValueError, match="reference model only"):
        load_adapter("hf:/nonexistent", max_grid_tokens=6561, multi_image_layout="eval")


def test_planner_follows_the_grid_set():
    """2304x2304: OV picks the 6x6 grid (1 + 36 crops, 7371 tokens); NeXT's largest is 2x2 (1 + 4, 3699)."""
    from ov_bench.analysis.token_planner import count_crops, count_visual_tokens
    from reference_model.config import resolve_grid_pinpoints

    nxt = tuple(resolve_grid_pinpoints("next"))
    assert count_crops([(2304, 2304)]) == 37 and count_crops([(2304, 2304)], (), nxt) == 5
    assert count_visual_tokens([(2304, 2304)], max_grid_tokens=6561) == 7371
    assert (
        count_visual_tokens([(2304, 2304)], max_grid_tokens=6561, layout=(("grid_pinpoints", nxt),)) == 3699
    )
