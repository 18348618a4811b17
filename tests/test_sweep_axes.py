"""`ov-bench sweep` over grid sets, video layouts and multi-image layouts: every setting's rows equal a
plain run loaded with that setting (its own adapter, its own preprocessing: an independent path), and
the shared-work counters follow the arithmetic of what each axis changes."""

from __future__ import annotations

import json

import pytest

from ov_bench.adapters import load_adapter
from ov_bench.engine.runner import RunConfig, Runner
from ov_bench.engine.sweep import SweepConfig, Sweeper
from ov_bench.model_spec import ModelSpec

FIELDS = (
    "model_key",
    "response",
    "parsed",
    "score",
    "parse_failed",
    "visual_tokens_counted",
    "visual_tokens_measured",
    "text_tokens",
    "prompt_tokens",
    "new_tokens",
    "error",
    "frames",
    "frame_indices",
)


def _key(rows) -> list[tuple]:
    return [(r.task, r.doc_id, r.threshold) + tuple(getattr(r, f) for f in FIELDS) for r in rows]


def _plain(tmp_path, name: str, tasks: list[str], tau, options: dict, limit: int, frames: int = 32):
    """A plain run on a freshly loaded tiny model under ``options`` (nothing shared with the sweep)."""
    adapter = load_adapter("tiny", max_grid_tokens=tau, **options)
    cfg = RunConfig(
        tasks=tasks,
        data="samples",
        limit=limit,
        model=ModelSpec(model="tiny", max_grid_tokens=tau, frames=frames, **dict(options)),
        output=str(tmp_path / name),
        progress=False,
        max_new_tokens=3,
    )
    return Runner(cfg, adapter=adapter).run()


def _assert_equal_to_plain(sweep, setting, plain, tasks) -> None:
    assert _key(sweep.rows[setting.label]) == _key(plain.rows), setting.label
    for task in tasks:
        ours, theirs = sweep.results[setting.label]["tasks"][task], plain.results["tasks"][task]
        for field in ("n", "errors", "metrics", "visual_tokens", "text_tokens"):
            assert ours[field] == theirs[field], (setting.label, task, field)
    for field in ("key", "grid_pinpoints", "video_layout", "multi_image_layout", "threshold"):
        assert sweep.results[setting.label]["model"][field] == plain.results["model"][field], (
            setting.label,
            field,
        )


@pytest.fixture(scope="module")
def grid_sweep(samples_cache, tiny_adapter, tmp_path_factory):
    out = tmp_path_factory.mktemp("grid") / "out"
    cfg = SweepConfig(
        tasks=["mmmu"],
        thresholds=[729, None],
        grid_sets=["ov", "next"],
        data="samples",
        limit=2,
        output=str(out),
        progress=False,
        max_new_tokens=3,
        report=False,
    )
    key_before = tiny_adapter.key
    outcome = Sweeper(cfg, adapter=tiny_adapter).run()
    assert tiny_adapter.key == key_before  # the injected adapter comes back as it went in
    return outcome


def test_grid_set_by_threshold_rows_equal_plain_runs(grid_sweep, tmp_path):
    sweep = grid_sweep
    assert [s.label for s in sweep.settings] == [
        "grid-ov_tau-729",
        "grid-ov_tau-none",
        "grid-next_tau-729",
        "grid-next_tau-none",
    ]
    for s in sweep.settings:
        plain = _plain(tmp_path, s.label, ["mmmu"], s.threshold, {"grid_pinpoints": s.grid_set}, limit=2)
        _assert_equal_to_plain(sweep, s, plain, ["mmmu"])
    tokens = {s.label: [r.visual_tokens_measured for r in sweep.rows[s.label]] for s in sweep.settings}
    assert tokens["grid-ov_tau-none"] != tokens["grid-next_tau-none"]  # the grid set does bite


def test_grid_set_shares_pixels_only_within_a_grid_set(grid_sweep):
    work = grid_sweep.work
    # 2 single-image docs: one decode + preprocess + vision pass per (doc, grid set), 2 settings each
    assert (work.units, work.encoded, work.grid_passes, work.rows) == (4, 4, 2, 8)
    assert work.llm_runs + work.reused == 8
    data = json.loads((grid_sweep.output_dir / "sweep.json").read_text())
    assert data["axes"]["grid_pinpoints"] == ["ov", "next"]
    assert {s["model_key"] for s in data["settings"]} == {
        "reference:tiny@float32/grid=ov",
        "reference:tiny@float32/grid=next",
    }
    shared = "\n".join(data["shared"])
    assert "vision encoder + projector: 4 passes, each shared by 2.0 settings" in shared
    assert f"{work.reused} of 8 rows reused" in shared and "axis grid_pinpoints (2 values)" in shared


def test_video_layouts_share_the_encoder_and_equal_plain_runs(samples_cache, tiny_adapter, tmp_path):
    layouts = [("one_token", "bilinear"), ("grid", "average")]
    cfg = SweepConfig(
        tasks=["videomme"],
        thresholds=[None],
        frames=[4],
        video_layouts=layouts,
        data="samples",
        limit=1,
        output=str(tmp_path / "video"),
        progress=False,
        max_new_tokens=3,
        report=False,
    )
    sweep = Sweeper(cfg, adapter=tiny_adapter).run()
    assert [s.label for s in sweep.settings] == [
        "video-one_token-bilinear_tau-none",
        "video-grid-average_tau-none",
    ]
    assert (sweep.work.units, sweep.work.encoded, sweep.work.llm_runs, sweep.work.reused) == (1, 1, 2, 0)
    measured = [sweep.rows[s.label][0].visual_tokens_measured for s in sweep.settings]
    assert measured == [196 * 4 + 1, 182 * 4]  # 14x14 per frame + 1 newline; 13x(13+1) per frame
    for s in sweep.settings:
        options = {"video_layout": s.options["video_layout"], "video_pool": s.options["video_pool"]}
        plain = _plain(tmp_path, s.label, ["videomme"], None, options, limit=1, frames=4)
        _assert_equal_to_plain(sweep, s, plain, ["videomme"])


@pytest.mark.slow
def test_multi_image_layouts_and_grid_sets_on_videos_reuse(samples_cache, tiny_adapter, tmp_path):
    """A video and a multi-image prompt do not depend on the grid set: done once for both grid sets (one
    pass), their generations reused; the multi-image layout changes the count by one per image."""
    cfg = SweepConfig(
        tasks=["videomme", "muirbench"],
        thresholds=[None],
        frames=[3],
        grid_sets=["ov", "next"],
        multi_image_layouts=["eval", "train"],
        data="samples",
        limit=1,
        output=str(tmp_path / "mi"),
        progress=False,
        max_new_tokens=3,
        report=False,
    )
    sweep = Sweeper(cfg, adapter=tiny_adapter).run()
    assert (sweep.work.units, sweep.work.encoded, sweep.work.grid_passes) == (2, 2, 1)
    assert sweep.work.rows == 8 and sweep.work.llm_runs == 3  # 1 video + 2 multi-image layouts
    by_label = {s.label: s for s in sweep.settings}
    mi = {label: next(r for r in sweep.rows[label] if r.task == "muirbench") for label in by_label}
    n_images = mi["grid-ov_mi-eval_tau-none"].visual_tokens_measured // 729
    assert mi["grid-ov_mi-eval_tau-none"].visual_tokens_measured == 729 * n_images
    assert mi["grid-next_mi-train_tau-none"].visual_tokens_measured == 730 * n_images
    s = by_label["grid-next_mi-train_tau-none"]
    plain = _plain(
        tmp_path,
        "plain",
        ["videomme", "muirbench"],
        None,
        {"grid_pinpoints": "next", "multi_image_layout": "train"},
        limit=1,
        frames=3,
    )
    _assert_equal_to_plain(sweep, s, plain, ["videomme", "muirbench"])


def test_sweep_axes_cli_bad_input(capsys, tmp_path):
    from ov_bench.cli import main

    with pytest.raises(SystemExit):
        main(["sweep", "--tasks", "mmmu", "--video-layouts", "sideways/bilinear"])
    assert "expected NEWLINE[/POOL]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sweep", "--tasks", "mmmu", "--grid-sets", "ov,500x384"])
    assert (
        main(
            [
                "sweep",
                "--tasks",
                "mmmu",
                "--data",
                "samples",
                "--grid-sets",
                "ov,next",
                "--grid-pinpoints",
                "ov",
                "--output",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "give one of them" in capsys.readouterr().err
    assert (
        main(
            [
                "sweep",
                "--tasks",
                "mmmu",
                "--data",
                "samples",
                "--model",
                "hf:/nowhere",
                "--multi-image-layouts",
                "eval,train",
                "--output",
                str(tmp_path / "y"),
            ]
        )
        == 2
    )
    assert "hf: adapter cannot change layouts" in capsys.readouterr().err


def test_grid_set_list_parsing():
    from ov_bench.commands.sweep import grid_set_list, video_layout_list

    assert grid_set_list("ov,next") == ["ov", "next"]
    assert grid_set_list("ov,384x768,768x384,next") == ["ov", "384x768,768x384", "next"]
    assert grid_set_list("384x768;768x384") == ["384x768", "768x384"]
    assert video_layout_list("one_token/bilinear,grid") == [("one_token", "bilinear"), ("grid", None)]


def test_each_setting_starts_from_the_loaded_model(tiny_adapter):
    """An axis a setting leaves out is the loaded model's, never the previous setting's (as a plain run
    loaded with only that setting's options would be), and the store key spells it the same way."""
    from reference_model import count_video_tokens

    state = tiny_adapter.layout_state()
    try:
        tiny_adapter.apply_setting(
            {"video_layout": "grid", "video_pool": "average", "multi_image_layout": "train"}
        )
        tiny_adapter.apply_setting({"video_layout": "frame"})
        config = tiny_adapter.model.config
        assert (config.video_newline_position, config.video_pool_mode, config.multi_image_layout) == (
            "frame",
            "bilinear",
            "eval",
        )
        assert tiny_adapter.key == load_adapter("tiny", max_grid_tokens=6561, video_layout="frame").key
        assert tiny_adapter.key == "reference:tiny@float32/video=frame"
        assert count_video_tokens(4, newline_position="frame", pool_mode="bilinear") == 4 * (14 * 14 + 1)
    finally:
        tiny_adapter.restore_layout(state)
    assert tiny_adapter.key == "reference:tiny@float32"


def test_resume_over_axes_runs_nothing_twice(grid_sweep, tiny_adapter, tmp_path):
    import shutil

    out = tmp_path / "resume"
    shutil.copytree(grid_sweep.output_dir, out)
    cfg = SweepConfig(
        tasks=["mmmu"],
        thresholds=[729, None],
        grid_sets=["ov", "next"],
        data="samples",
        limit=2,
        output=str(out),
        progress=False,
        max_new_tokens=3,
        report=False,
    )
    again = Sweeper(cfg, adapter=tiny_adapter).run()
    assert again.work.units == 0 and again.work.rows == 0
    for s in again.settings:
        assert _key(again.rows[s.label]) == _key(grid_sweep.rows[s.label])
    assert "nothing left to run" in again.sweep["shared"][0]


def test_layout_key_holds_every_axis_a_sample_depends_on(tiny_adapter):
    """The reuse key differs exactly when the packed input can: grid set for one image, multi-image
    layout for several, newline x pool for a video; equal across axes the sample does not depend on."""
    from types import SimpleNamespace

    from PIL import Image

    encoder = tiny_adapter.encode_once()
    single = tiny_adapter.prepare("q", [Image.new("RGB", (1500, 700))], None)
    multi = tiny_adapter.prepare("q", [Image.new("RGB", (300, 200)), Image.new("RGB", (200, 300))], None)
    video = tiny_adapter.prepare("q", [], SimpleNamespace(frames=[Image.new("RGB", (64, 48))] * 3))
    axes = [
        {"grid_pinpoints": "ov"},
        {"grid_pinpoints": "next"},
        {"multi_image_layout": "train"},
        {"video_layout": "grid", "video_pool": "average"},
    ]
    state = tiny_adapter.layout_state()
    try:
        keys = {}
        for i, options in enumerate(axes):
            tiny_adapter.apply_setting({"grid_pinpoints": "ov", **options})
            keys[i] = {
                name: encoder.layout(p, 6561)
                for name, p in (("single", single), ("multi", multi), ("video", video))
            }
    finally:
        tiny_adapter.restore_layout(state)
    assert (
        keys[0]["single"] != keys[1]["single"]
    )  # its crops came from the grid set: never shared across sets
    assert keys[0]["multi"] == keys[1]["multi"] != keys[2]["multi"]
    assert keys[0]["video"] == keys[1]["video"] == keys[2]["video"] != keys[3]["video"]
    assert keys[0]["single"] == keys[2]["single"] == keys[3]["single"]
    assert [encoder.pixels_depend_on_grid_set(p) for p in (single, multi, video)] == [True, False, False]
