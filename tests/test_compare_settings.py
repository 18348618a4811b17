"""`ov-bench compare` on two runs made with different model settings: a SETTING difference, reported,
and a failure under --exact; an hf: side is said to be multi_image_layout train."""

from __future__ import annotations

import json

import pytest

from ov_bench.cli import main


@pytest.fixture(scope="module")
def two_layouts(samples_cache, tmp_path_factory):
    """Two real CLI runs of a multi-image task that differ only in --multi-image-layout."""
    root = tmp_path_factory.mktemp("layouts")
    common = [
        "run",
        "--tasks",
        "muirbench",
        "--data",
        "samples",
        "--limit",
        "2",
        "--max-new-tokens",
        "2",
        "--no-progress",
        "--no-warmup",
    ]
    assert main(common + ["--output", str(root / "eval")]) == 0
    assert main(common + ["--output", str(root / "eval2")]) == 0
    assert main(common + ["--output", str(root / "train"), "--multi-image-layout", "train"]) == 0
    return root


def test_exact_fails_on_a_setting_difference(two_layouts, capsys):
    capsys.readouterr()
    assert (
        main(["compare", str(two_layouts / "eval"), str(two_layouts / "train"), "--exact", "--no-timing"])
        == 1
    )
    out = capsys.readouterr().out
    assert "SETTING difference" in out and "multi_image_layout eval vs train" in out
    assert "| setting multi_image_layout | **FAIL** | eval | train | setting difference |" in out
    # the layout's arithmetic: one newline more per image under train
    base = json.loads((two_layouts / "eval" / "results.json").read_text())
    new = json.loads((two_layouts / "train" / "results.json").read_text())
    assert (base["model"]["multi_image_layout"], new["model"]["multi_image_layout"]) == ("eval", "train")


def test_without_exact_the_difference_is_reported_not_judged(two_layouts, capsys):
    capsys.readouterr()
    main(["compare", str(two_layouts / "eval"), str(two_layouts / "train"), "--no-timing"])
    out = capsys.readouterr().out
    assert "SETTING difference" in out
    assert "| setting multi_image_layout | info | eval | train | setting difference |" in out


def test_same_settings_pass_exact(two_layouts, capsys):
    capsys.readouterr()
    assert (
        main(["compare", str(two_layouts / "eval"), str(two_layouts / "eval2"), "--exact", "--no-timing"])
        == 0
    )
    out = capsys.readouterr().out
    assert "SETTING difference" not in out and "| model settings | ok |" in out


def test_differences_cover_every_model_setting():
    from ov_bench.analysis.compare import MODEL_SETTINGS, model_setting_differences

    base = {
        "multi_image_layout": "eval",
        "video_layout": {"newline_position": "one_token", "pool_mode": "bilinear"},
        "grid_pinpoints": "ov",
        "image_resize": "pil",
        "dtype": "float32",
        "unpad_rounding": "original",
        "generation": {
            "source": "/a/generation_config.json",
            "eos_token_ids": [151645],
            "repetition_penalty": 1.0,
        },
    }
    assert model_setting_differences(base, dict(base)) == []
    moved = {**base, "generation": {**base["generation"], "source": "/b/generation_config.json"}}
    assert model_setting_differences(base, moved) == []  # where the file lives is not a setting
    changed = {
        "multi_image_layout": "train",
        "video_layout": {"newline_position": "grid", "pool_mode": "average"},
        "grid_pinpoints": "next",
        "image_resize": "torchvision",
        "dtype": "float16",
        "unpad_rounding": "hf",
        "generation": {"eos_token_ids": [151645, 151643], "repetition_penalty": 1.05},
    }
    assert [f for f, _, _ in model_setting_differences(base, changed)] == list(MODEL_SETTINGS)


def test_hf_side_is_reported_as_train_layout(two_layouts, tmp_path, capsys):
    from tests.support.checkpoints import build_hf_checkpoint

    ckpt = build_hf_checkpoint(tmp_path / "ckpt")
    assert (
        main(
            [
                "run",
                "--tasks",
                "muirbench",
                "--data",
                "samples",
                "--limit",
                "2",
                "--max-new-tokens",
                "2",
                "--no-progress",
                "--no-warmup",
                "--model",
                f"hf:{ckpt}",
                "--max-grid-tokens",
                "6561",
                "--output",
                str(tmp_path / "hf"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["compare", str(two_layouts / "eval"), str(tmp_path / "hf"), "--exact", "--no-timing"]) == 1
    out = capsys.readouterr().out
    assert "the new is an hf: run" in out and "multi_image_layout train, 730 tokens per image" in out
    assert "multi_image_layout eval vs train" in out
