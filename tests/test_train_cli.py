"""``ov-bench train`` end to end: the offline quick start on the synthetic samples, the trained checkpoint
evaluated by ``ov-bench run``, recipe resolution (stage < YAML < --set < flags), one-line errors, and
the precision / memory options (bf16 autocast; gradient checkpointing gives the same losses)."""

from __future__ import annotations

import json

import pytest

from ov_bench.cli import main
from reference_model.training import TrainOptions, apply_overrides, get_stage, read_log, train
from reference_model.training.synthetic import make_synthetic_set


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ov_bench_cache")


def _cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def quick_start(cache, tmp_path_factory):
    """docs/training.md's quick start: stage 1, tiny, the synthetic samples, default settings."""
    mp = pytest.MonkeyPatch()
    mp.setenv("OV_BENCH_CACHE", str(cache))
    out = tmp_path_factory.mktemp("stage1")
    try:
        code = main(
            [
                "train",
                "--stage",
                "1",
                "--model",
                "tiny",
                "--data",
                "samples",
                "--output",
                str(out),
                "--no-progress",
            ]
        )
    finally:
        mp.undo()
    assert code == 0
    return out


@pytest.mark.slow
def test_quick_start_trains_on_samples(quick_start, cache):
    steps = read_log(quick_start)
    start = read_log(quick_start, "start")[0]
    # The tiny preset's stage-1 rate (the real models keep the paper's 1e-3).
    assert start["recipe"]["lr"] == 3e-2 and start["recipe"]["trainable"] == ["projector"]
    assert start["data_stats"]["by_modality"] == {"single_image": 48}
    assert len(steps) == 48 // 4 and all(r["loss"] > 0 for r in steps)
    # It visibly learns within the quick start: the mean of the last 5 steps well below the first 5.
    losses = [r["loss"] for r in steps]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    assert (quick_start / "final" / "config.json").is_file() and (
        quick_start / "final" / "model.safetensors"
    ).is_file()
    assert (cache / "train-samples").is_dir()  # generated once, reused by later runs


@pytest.mark.slow
def test_trained_checkpoint_evaluates_with_ov_bench_run(quick_start, cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OV_BENCH_CACHE", str(cache))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    code, out, err = _cli(
        capsys,
        "run",
        "--model",
        str(quick_start / "final"),
        "--tasks",
        "ai2d",
        "--data",
        "samples",
        "--limit",
        "2",
        "--output",
        str(tmp_path / "eval"),
        "--no-progress",
    )
    assert code == 0, err
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["model"]["id"] == str((quick_start / "final").resolve())
    assert results["tasks"]["ai2d"]["n"] == 2 and results["tasks"]["ai2d"]["errors"] == 0


def test_show_recipe_layers_overrides(tmp_path, capsys):
    config = tmp_path / "recipe.yaml"
    config.write_text(
        "stage: 2-ov\nlr: 2.0e-5\nvision_lr: 1.0e-6\nper_device_batch_size: 2\nvideo_frames: 8\n"
    )
    code, out, _ = _cli(
        capsys,
        "train",
        "--config",
        str(config),
        "--set",
        "lr=3e-5",
        "--set",
        "warmup_ratio=0.1",
        "--vision-lr",
        "4e-6",
        "--max-grid-tokens",
        "none",
        "--trainable",
        "projector,language_model",
        "--show-recipe",
    )
    assert code == 0
    resolved = json.loads(out)
    recipe, options = resolved["recipe"], resolved["options"]
    assert recipe["name"] == "2-ov" and recipe["lr"] == 3e-5 and recipe["vision_lr"] == 4e-6  # --set < flags
    assert recipe["warmup_ratio"] == 0.1 and recipe["video_frames"] == 8 and recipe["max_grid_tokens"] is None
    assert recipe["trainable"] == ["projector", "language_model"] and options["per_device_batch_size"] == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["--stage", "3", "--show-recipe"], "unknown stage"),
        (["--show-recipe"], "no stage given"),
        (["--stage", "1", "--set", "lr", "--show-recipe"], "expected KEY=VALUE"),
        (["--stage", "1", "--set", "learning_rate=1", "--show-recipe"], "unknown training setting"),
        (["--stage", "1", "--config", "/nonexistent.yaml"], "no such recipe file"),
        (["--stage", "1", "--data", "/nonexistent/train.json"], "no such training data"),
        (
            ["--stage", "1", "--model", "/nonexistent/ckpt", "--data", "samples"],
            "no such preset or checkpoint",
        ),
    ],
)
def test_errors_are_one_line(args, message, capsys, tmp_path, cache, monkeypatch):
    monkeypatch.setenv("OV_BENCH_CACHE", str(cache))
    code, _, err = _cli(capsys, "train", *args, "--output", str(tmp_path / "o"), "--no-progress")
    assert code == 2
    assert err.count("\n") == 1 and message in err


@pytest.mark.slow
def test_bf16_and_gradient_checkpointing(tmp_path):
    data = make_synthetic_set(tmp_path / "set", {"single_image": 4, "multi_image": 0, "video": 0})

    def run(name, **overrides):
        recipe, options = get_stage("2-si"), TrainOptions(per_device_batch_size=2, progress=False)
        apply_overrides(recipe, options, {"lr": 1e-2, "vision_lr": 3e-3, "max_steps": 2, **overrides})
        return train("tiny", data, tmp_path / name, recipe, options)

    plain = run("plain")
    checkpointed = run("checkpointed", gradient_checkpointing=True)
    assert checkpointed.losses == pytest.approx(plain.losses, rel=1e-5)  # recomputation, same numbers
    bf16 = run("bf16", mixed_precision="bf16")
    assert bf16.losses[0] == pytest.approx(plain.losses[0], rel=0.05)  # autocast: close, not equal
    assert all(loss == loss for loss in bf16.losses)


def test_loss_summary_says_what_it_shows():
    from ov_bench.commands.train import loss_summary

    text = loss_summary([10.0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1])
    assert text.startswith("mean loss of the first 5 / last 5 of 12 steps: 8.0000 -> 1.6000 (-80%)")
    assert loss_summary([4.0, 2.0]).startswith(
        "mean loss of the first 1 / last 1 of 2 steps: 4.0000 -> 2.0000"
    )
