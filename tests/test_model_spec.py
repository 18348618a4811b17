"""ModelSpec: the one value holding a model's settings. Its store keys must stay byte-identical to the
keys older runs wrote (resume and compare across versions), every command must build the same value
from the same flags, and bad combinations fail in one line."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from ov_bench.model_spec import ModelSpec
from tests.support.baseline import BASELINE, COMMAND


# The key format older ov-bench versions wrote, spelled out by hand: kind:model@dtype, then the video
# sampling tags, unpad rounding, a non-default resize backend, the layout tags and gencfg, in that order.
@pytest.mark.parametrize(
    "fields, suffix",
    [
        ({}, ""),
        ({"max_grid_tokens": 729, "frames": 8, "dtype": "float32"}, ""),  # threshold and frames: own columns
        ({"image_resize": "pil"}, ""),  # the reference model's default backend names nothing
        ({"image_resize": "torchvision"}, "/resize=torchvision"),
        ({"unpad_rounding": "hf"}, "/unpad=hf"),
        ({"use_generation_config": False}, "/gencfg=off"),
        ({"grid_pinpoints": " NEXT "}, "/grid=next"),
        (
            {"frame_sampling": "fps", "force_sample": False, "time_instruction": True},
            "/sampling=fps/force=off/ti=on",
        ),
        (
            {
                "grid_pinpoints": "next",
                "video_pool": "average",
                "video_layout": "grid",
                "multi_image_layout": "train",
                "use_generation_config": False,
                "image_resize": "torchvision",
                "unpad_rounding": "hf",
                "time_instruction": False,
                "frame_sampling": "uniform",
            },
            "/sampling=uniform/ti=off/unpad=hf/resize=torchvision/mi=train/video=grid/pool=average/grid=next"
            "/gencfg=off",
        ),
    ],
)
def test_key_suffix_keeps_the_old_format(fields, suffix):
    assert ModelSpec(**fields).key_suffix(default_image_resize="pil") == suffix


def test_loaded_adapter_key_is_the_old_key():
    from ov_bench.adapters import load_adapter

    adapter = load_adapter("tiny", max_grid_tokens=729, video_layout="frame", image_resize="torchvision")
    assert adapter.key == "reference:tiny@float32/resize=torchvision/video=frame"


def test_resume_into_the_committed_baseline_evaluates_nothing(tmp_path, capsys):
    """A run directory written before ModelSpec existed: the same command finds every row under its key
    and threshold, runs no sample again, and rewrites results equal to the committed ones."""
    from ov_bench.cli import main

    out = tmp_path / "baseline"
    shutil.copytree(BASELINE, out)
    with sqlite3.connect(out / "samples.sqlite") as db:
        before = db.execute("select model_key, threshold, count(*) from samples group by 1, 2").fetchall()
    assert before and before[0][:2] == ("reference:tiny@float32", "6561")
    assert main(COMMAND + ["--output", str(out), "--no-progress", "--no-warmup"]) == 0
    with sqlite3.connect(out / "samples.sqlite") as db:
        after = db.execute("select model_key, threshold, count(*) from samples group by 1, 2").fetchall()
    assert after == before  # no row under a new key, none added
    assert main(["compare", str(BASELINE), str(out), "--exact", "--no-timing"]) == 0


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"model": "hf:/x", "unpad_rounding": "hf"}, "reference model only"),
        ({"model": "hf:/x", "video_layout": "grid"}, "video_layout: reference model only"),
        ({"model": "hf:/x", "use_generation_config": False}, "use_generation_config"),
        ({"offload_folder": "/tmp/o"}, "--offload-folder needs --device-map"),
        ({"frames": 0}, "--frames must be >= 1"),
        ({"max_grid_tokens": -5}, "max_grid_tokens"),
        ({"grid_pinpoints": "7x7"}, "not a positive multiple of 384"),
        ({"video_pool": "median"}, "video_pool 'median': choose one of average, bilinear, max"),
        ({"model": " "}, "--model is empty"),
        ({"model": "hf:"}, "needs a checkpoint directory"),
    ],
)
def test_bad_combinations_fail_in_one_line(fields, message):
    with pytest.raises(ValueError, match=message) as exc:
        ModelSpec(**fields)
    assert "\n" not in str(exc.value)


def test_model_args_parse_into_the_same_value_as_the_flags():
    """lmms-eval's key=value strings and `ov-bench run` flags describe one ModelSpec."""
    from ov_bench.cli import build_parser
    from ov_bench.commands.flags import model_spec

    args = build_parser().parse_args(
        [
            "run",
            "--tasks",
            "mmmu",
            "--model",
            "arch:0.5b?layers=2",
            "--max-grid-tokens",
            "none",
            "--frames",
            "16",
            "--multi-image-layout",
            "train",
            "--no-force-sample",
            "--no-generation-config",
            "--max-memory",
            "0=1GiB,cpu=2GiB",
            "--device-map",
            "auto",
        ]
    )
    from_flags = model_spec(args)
    from_model_args = ModelSpec.from_model_args(
        {
            "pretrained": "arch:0.5b?layers=2",
            "max_grid_tokens": "none",
            "frames": "16",
            "multi_image_layout": "train",
            "force_sample": "false",
            "use_generation_config": "false",
            "max_memory": "0=1GiB;cpu=2GiB",  # lmms-eval splits model_args at commas
            "device_map": "auto",
        }
    )
    assert from_flags == from_model_args
    assert from_flags.max_grid_tokens is None and from_flags.frames == 16


def test_every_command_builds_its_spec_from_one_flag_definition():
    """run, sweep and tokens share the model flags: the same words give the same settings."""
    from ov_bench.cli import build_parser
    from ov_bench.commands.flags import model_spec

    words = [
        "--tasks",
        "videomme",
        "--video-layout",
        "grid",
        "--video-pool",
        "average",
        "--unpad-rounding",
        "hf",
    ]
    specs = {
        command: model_spec(build_parser().parse_args([command, *words]), frames=None, max_grid_tokens=6561)
        for command in ("run", "sweep", "tokens")
    }
    assert len(set(specs.values())) == 1
    assert specs["run"].video_layout == "grid" and specs["run"].unpad_rounding == "hf"


def test_unknown_model_args_name_the_known_ones():
    with pytest.raises(ValueError, match="unknown model_args colour; known: pretrained, max_grid_tokens"):
        ModelSpec.from_model_args({"pretrained": "tiny", "colour": "red"})
