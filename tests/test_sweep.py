"""`ov-bench sweep`: a sweep's rows equal separate plain runs (the runner) setting by setting; shared
work counters; resume; several frame counts; the hf: fallback; the report (figures checked, HTML
opened in headless Chromium when /usr/bin/chromium exists)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from ov_bench.engine.runner import RunConfig, Runner
from ov_bench.engine.sweep import SweepConfig, Sweeper
from ov_bench.model_spec import ModelSpec
from tests.support.headless_chromium import needs_chromium, probe

THRESHOLDS = [729, 2916, 6561, None]
FIELDS = (
    "response",
    "parsed",
    "score",
    "parse_failed",
    "record",
    "visual_tokens_counted",
    "visual_tokens_measured",
    "text_tokens",
    "prompt_tokens",
    "new_tokens",
    "error",
    "frames",
    "max_new_tokens",
    "data_source",
    "frame_indices",
)


def _key(rows) -> list[tuple]:
    return [(r.task, r.doc_id, r.threshold) + tuple(getattr(r, f) for f in FIELDS) for r in rows]


@pytest.fixture(scope="module")
def sweep_ai2d(samples_cache, tiny_adapter, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "out"
    cfg = SweepConfig(
        tasks=["ai2d"],
        thresholds=THRESHOLDS,
        data="samples",
        limit=4,
        output=str(out),
        progress=False,
        max_new_tokens=4,
    )
    return Sweeper(cfg, adapter=tiny_adapter).run()


@pytest.fixture(scope="module")
def plain_runs(samples_cache, tiny_adapter, tmp_path_factory):
    root = tmp_path_factory.mktemp("plain")
    outcomes = {}
    for tau in THRESHOLDS:
        tiny_adapter.set_threshold(tau)
        cfg = RunConfig(
            tasks=["ai2d"],
            data="samples",
            limit=4,
            model=ModelSpec(model="tiny", max_grid_tokens=tau),
            output=str(root / f"tau-{tau}"),
            progress=False,
            max_new_tokens=4,
        )
        outcomes[tau] = Runner(cfg, adapter=tiny_adapter).run()
    return outcomes


@pytest.mark.slow
def test_sweep_equals_separate_runs(sweep_ai2d, plain_runs):
    sweep = sweep_ai2d
    assert sweep.mode == "shared-vision"
    for setting in sweep.settings:
        plain = plain_runs[setting.threshold]
        assert _key(sweep.rows[setting.label]) == _key(plain.rows), setting.label
        ours, theirs = sweep.results[setting.label]["tasks"]["ai2d"], plain.results["tasks"]["ai2d"]
        for field in ("n", "errors", "metrics", "visual_tokens", "text_tokens"):
            assert ours[field] == theirs[field], (setting.label, field)
        assert sweep.results[setting.label]["model"]["threshold"] == setting.threshold
    tokens = [sweep.results[s.label]["tasks"]["ai2d"]["visual_tokens"]["max"] for s in sweep.settings]
    assert tokens[0] < tokens[1] <= tokens[2] <= tokens[3]  # the thresholds do bite


def test_sweep_shares_vision_work_and_reuses_identical_inputs(sweep_ai2d):
    work = sweep_ai2d.work
    assert work.units == work.encoded == 4  # one decode + one vision pass per sample for all 4 settings
    assert work.rows == 16 and work.llm_runs + work.reused == 16
    assert work.reused > 0  # small images pack identically under several thresholds
    sweep_json = json.loads((sweep_ai2d.output_dir / "sweep.json").read_text())
    assert sweep_json["mode"] == "shared-vision" and sweep_json["reference"] == "tau-6561"
    assert [s["label"] for s in sweep_json["settings"]] == ["tau-729", "tau-2916", "tau-6561", "tau-none"]
    assert len(sweep_json["comparisons"]) == 3
    c729 = next(c for c in sweep_json["comparisons"] if c["new"] == "tau-729")
    rows = {s.label: {r.doc_id: r for r in sweep_ai2d.rows[s.label]} for s in sweep_ai2d.settings}
    expected = (
        sum(
            rows["tau-729"][d].visual_tokens_measured - rows["tau-6561"][d].visual_tokens_measured
            for d in rows["tau-729"]
        )
        / 4
    )
    assert c729["n_pairs"] == 4 and c729["tokens_delta"] == pytest.approx(expected) and expected < 0


@pytest.mark.slow
def test_each_setting_compares_exactly_with_its_plain_run(sweep_ai2d, plain_runs, capsys):
    from ov_bench.cli import main

    for setting in sweep_ai2d.settings:
        plain_dir = plain_runs[setting.threshold].output_dir
        assert main(["compare", str(plain_dir), str(setting.results_dir), "--exact", "--no-timing"]) == 0
    out = capsys.readouterr().out
    assert "tokens/sample | ok" in out and "score/sample | ok" in out


@pytest.mark.slow
def test_no_reuse_gives_the_same_rows(sweep_ai2d, samples_cache, tiny_adapter, tmp_path):
    cfg = SweepConfig(
        tasks=["ai2d"],
        thresholds=THRESHOLDS,
        data="samples",
        limit=4,
        output=str(tmp_path / "nr"),
        progress=False,
        max_new_tokens=4,
        reuse=False,
        report=False,
        profile=False,
    )
    outcome = Sweeper(cfg, adapter=tiny_adapter).run()
    assert outcome.work.reused == 0 and outcome.work.llm_runs == 16
    for s in outcome.settings:
        assert _key(outcome.rows[s.label]) == _key(sweep_ai2d.rows[s.label])
        for row in outcome.rows[s.label]:  # unprofiled, as a run with --no-profile records
            assert set(row.latency_ms) == {"media_decode", "preprocess", "end_to_end"}
            assert row.peak_memory_bytes is None


def test_resume_runs_nothing_twice(sweep_ai2d, samples_cache, tiny_adapter, tmp_path):
    out = tmp_path / "resume"
    shutil.copytree(sweep_ai2d.output_dir, out)
    cfg = SweepConfig(
        tasks=["ai2d"],
        thresholds=THRESHOLDS,
        data="samples",
        limit=4,
        output=str(out),
        progress=False,
        max_new_tokens=4,
        report=False,
    )
    again = Sweeper(cfg, adapter=tiny_adapter).run()
    assert again.work.units == 0 and again.work.rows == 0
    for s in again.settings:
        assert _key(again.rows[s.label]) == _key(sweep_ai2d.rows[s.label])


@pytest.mark.slow
def test_frames_and_modalities(samples_cache, tiny_adapter, tmp_path):
    """Several frame counts: one store per F; video rows are tau-independent, image rows F-independent,
    and each setting equals its plain run."""
    out = tmp_path / "frames"
    cfg = SweepConfig(
        tasks=["videomme", "muirbench"],
        thresholds=[729, None],
        frames=[2, 3],
        data="samples",
        limit=1,
        output=str(out),
        progress=False,
        max_new_tokens=3,
        report=False,
    )
    sweep = Sweeper(cfg, adapter=tiny_adapter).run()
    assert [s.label for s in sweep.settings] == ["tau-729_F-2", "tau-none_F-2", "tau-729_F-3", "tau-none_F-3"]
    assert (out / "frames-2" / "samples.sqlite").is_file() and (out / "frames-3" / "samples.sqlite").is_file()
    # 1 video decoded per F, 1 multi-image sample decoded once; 1 LLM run per distinct input
    assert sweep.work.units == 3 and sweep.work.encoded == 3 and sweep.work.llm_runs == 3
    video_tokens = {
        s.label: sweep.results[s.label]["tasks"]["videomme"]["visual_tokens"]["max"] for s in sweep.settings
    }
    assert video_tokens == {"tau-729_F-2": 393, "tau-none_F-2": 393, "tau-729_F-3": 589, "tau-none_F-3": 589}
    tiny_adapter.set_threshold(None)
    plain = Runner(
        RunConfig(
            tasks=["videomme", "muirbench"],
            data="samples",
            limit=1,
            model=ModelSpec(model="tiny", max_grid_tokens=None, frames=3),
            output=str(tmp_path / "plain"),
            progress=False,
            max_new_tokens=3,
        ),
        adapter=tiny_adapter,
    ).run()
    assert _key(sweep.rows["tau-none_F-3"]) == _key(plain.rows)


def test_hf_adapter_falls_back_to_separate_runs(samples_cache, tmp_path, capfd):
    from ov_bench.adapters import load_adapter
    from tests.support.checkpoints import build_hf_checkpoint

    ckpt = build_hf_checkpoint(tmp_path / "ckpt")
    adapter = load_adapter(f"hf:{ckpt}", max_grid_tokens=729)
    cfg = SweepConfig(
        tasks=["ai2d"],
        thresholds=[729, 6561],
        data="samples",
        limit=2,
        output=str(tmp_path / "hf"),
        progress=False,
        max_new_tokens=2,
        report=False,
    )
    sweep = Sweeper(cfg, adapter=adapter).run()
    assert sweep.mode == "separate-runs"
    assert "running 2 separate runs" in capfd.readouterr().err
    assert [len(sweep.rows[s.label]) for s in sweep.settings] == [2, 2]
    assert sweep.results["tau-729"]["model"]["vision_aspect_ratio"] == "anyres_max_1"
    from ov_bench.errors import UsageError

    bad = SweepConfig(
        tasks=["ai2d"],
        thresholds=[1000],
        data="samples",
        limit=1,
        output=str(tmp_path / "bad"),
        progress=False,
    )
    with pytest.raises(UsageError, match="multiple of 729"):
        Sweeper(bad, adapter=adapter).run()


def test_sweep_cli_bad_input(capsys, tmp_path):
    from ov_bench.cli import main

    assert main(["sweep", "--tasks", "nope", "--data", "samples"]) == 2
    assert "unknown task" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sweep", "--tasks", "ai2d", "--thresholds", "-5"])
    assert (
        main(
            [
                "sweep",
                "--tasks",
                "ai2d",
                "--data",
                "samples",
                "--reference",
                "tau-1",
                "--output",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "--reference tau-1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- the report
def test_report_figures_have_axes_and_data(sweep_ai2d):
    from ov_bench.reports import plots
    from ov_bench.reports.sweep_report import FIGURES, build_figures, collect

    data = collect(sweep_ai2d.sweep, sweep_ai2d.results, sweep_ai2d.rows, n_boot=200)
    figures, notes = build_figures(data)
    assert notes == [] and set(figures) == set(FIGURES)
    for name, fig in figures.items():
        _, xlabel, ylabel = FIGURES[name]
        for ax in fig.axes:
            assert (ax.get_xlabel(), ax.get_ylabel()) == (xlabel, ylabel)
            assert plots.axes_have_data(ax)
        plots.close(fig)
    acc = data.points["ai2d"]
    assert [p.label for p in acc] == ["tau-729", "tau-2916", "tau-6561", "tau-none"]
    assert all(p.low <= p.score <= p.high for p in acc)
    hist = data.tokens["ai2d"]
    assert {k: len(v) for k, v in hist.items()} == {s.label: 4 for s in sweep_ai2d.settings}
    with pytest.raises(ValueError, match="no data"):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        plots.check_figure(fig, "x", "y")


def test_report_files(sweep_ai2d):
    out = sweep_ai2d.output_dir
    md = (out / "report.md").read_text()
    assert "## Paired deltas against tau-6561" in md and "SAMPLE DATA" in md
    for name in (
        "accuracy_vs_tokens.png",
        "latency_by_stage.png",
        "peak_memory.png",
        "visual_token_histograms.png",
    ):
        assert f"]({name})" in md
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert "http://" not in page and "https://" not in page  # self-contained
    assert "<table" in page
    # random weights (the tiny preset): the banner on both files; numbers for people; no raw Markdown
    for text in (md, page):
        assert "RANDOM WEIGHTS: scores are meaningless" in text
    assert not re.search(r"\d\.\d+e[+-]\d", page) and "`" not in page
    assert "<code>reference:tiny@float32</code>" in page
    assert "## Media warnings and parse failures" in md


def test_summary_text_says_random_weights(sweep_ai2d):
    from ov_bench.reports.sweep_report import summary_text

    text = summary_text(sweep_ai2d.sweep, sweep_ai2d.results)
    assert "note: RANDOM WEIGHTS: scores are meaningless" in text


@needs_chromium
def test_report_html_images_load_in_headless_chromium(sweep_ai2d, tmp_path):
    seen = probe(sweep_ai2d.output_dir / "report.html", tmp_path)
    assert seen.startswith("images 4/4;"), seen
    assert "RANDOM WEIGHTS: scores are meaningless" in seen and "SAMPLE DATA" in seen
