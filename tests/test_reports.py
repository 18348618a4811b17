"""The run's reports and the caveats they carry.

- mdtable.fmt: numbers for people (expected strings written out by hand).
- outputs.caveats: media warnings and parse failures counted from rows built here.
- A run on ai2d's sample data with one image truncated (real decode path: grey filler + warning) and an
  instant model: the terminal summary, results.json, report.md and report.html all name the warning;
  --strict-media turns it into an error; parse failures agree with lmms-eval's own parse_failure_rate.
- Example prompts/responses; sections added from outside; the random-weights banner.
- Plots: histogram bars of several settings never overlap, legends never cover an axes.
- report.html in headless Chromium (where installed): its images decode, its banners show.
"""

from __future__ import annotations

import json
import re

import pytest

from ov_bench.mdtable import BYTES, MS, SECONDS, SHARE, TOKENS, fmt, md_table
from ov_bench.outputs.store import SampleRow
from tests.support.fakes import InstantAdapter
from tests.support.headless_chromium import needs_chromium, probe, screenshot

TRUNCATED_DOC = 1  # index in the task's seeded doc list


# ----------------------------------------------------------------------------- formatting
def test_fmt_formats_numbers_for_people():
    assert fmt(16390.0) == "16,390" and fmt(16389.6) == "16,390" and fmt(1234567) == "1,234,567"
    assert fmt(0.12345678) == "0.1235" and fmt(123.456) == "123.5" and fmt(-27.05) == "-27.05"
    assert fmt(None) == "-" and fmt(float("nan")) == "-" and fmt(float("inf")) == "-"
    assert fmt(True) == "yes" and fmt("tau-729") == "tau-729"
    assert fmt(1.5 * 2**30, BYTES) == "1.50 GiB" and fmt(512 * 2**20, BYTES) == "512.0 MiB"
    assert fmt(-105.25 * 2**20, BYTES) == "-105.2 MiB" and fmt(0, BYTES) == "0 B"
    assert fmt(1 / 3, SHARE) == "33.3%" and fmt(12.5, MS) == "12.5 ms" and fmt(16390.2, MS) == "16,390 ms"
    assert fmt(3.456, SECONDS) == "3.46 s" and fmt(2929, TOKENS) == "2,929 tokens"
    table = md_table(["a", "peak"], [["x|y", 3 * 2**30], [None, 5]], units=[None, BYTES])
    assert table.splitlines()[2:] == ["| x\\|y | 3.00 GiB |", "| - | 5 B |"]


def test_html_tables_and_text_are_for_people():
    from ov_bench.reports.document import Table, Text, inline_html

    page = Table(["task", "visual mean", "peak"], [["ai2d", 16390.0, 2**31]], [None, None, BYTES]).html()
    assert "16,390" in page and "2.00 GiB" in page and "e+" not in page
    assert Text("model `a<b>` **x**").html() == "<p>model <code>a&lt;b&gt;</code> <strong>x</strong></p>"
    assert inline_html("no `markup") == "no `markup"  # an unpaired backtick stays text


# ----------------------------------------------------------------------------- caveats from rows
def _row(doc: str, task: str = "t", **kw) -> SampleRow:
    return SampleRow(task=task, doc_id=doc, model_key="k", threshold="6561", **kw)


def test_caveats_count_warning_rows_and_parse_failures():
    from ov_bench.outputs.caveats import media_warnings, parse_failures

    truncated = "t doc {} image: truncated image decoded with grey filler (as lmms-eval decodes it)"
    # a real subtitle warning's own text holds "; " (tasks/long_video_tasks.py): one warning, not two
    subtitles = (
        "t doc 6: no subtitle/ folder in /x (subtitle.zip not fetched or not unpacked), so the prompt says "
        "'No subtitles available'; run `ov-bench fetch --tasks t`"
    )
    rows = [_row(str(i), record={"score": 0.0, "media_warning": truncated.format(i)}) for i in range(6)]
    rows.append(_row("6", record={"media_warning": truncated.format(6) + "; " + subtitles}))  # 2 kinds
    rows.append(_row("9", record={"media_warning": "t doc 9 video: odd container"}))
    rows += [_row("7", record={"score": 1.0}), _row("8", record=None, error="media_decode: MediaError: x")]
    for row, failed in zip(rows, [True, False, True, False, False, False, False, False, True, True]):
        row.parse_failed = failed
    media = media_warnings(rows)
    assert media == {
        "count": 8,
        "doc_ids": ["0", "1", "2", "3", "4"],
        "kinds": {"truncated_image": 7, "missing_subtitles": 1, "other": 1},
    }
    # the error row (doc 8) is not scored, so neither counted nor in the denominator
    assert parse_failures(rows) == {"count": 3, "scored": 9, "share": 3 / 9, "doc_ids": ["0", "2", "7"]}
    assert parse_failures([])["share"] is None


# ----------------------------------------------------------------------------- a run with a truncated image
class CyclingAdapter(InstantAdapter):
    """Answers A, B, then something no parser reads, in turn."""

    ANSWERS = ("A", "B", "no idea ###")

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def generate(self, prepared, max_new_tokens, timer):
        gen = super().generate(prepared, max_new_tokens, timer)
        gen.text = self.ANSWERS[self.calls % len(self.ANSWERS)]
        self.calls += 1
        return gen


def _truncating_factory():
    """ai2d as it is, but the image bytes of one doc cut in half (its header intact)."""
    from tasks import get_task

    def factory(name: str):
        task = get_task(name)
        load = task.load

        def truncated_load(**kw):
            docs = load(**kw)
            doc = docs[TRUNCATED_DOC]
            data = doc["image"]["bytes"]
            doc["image"] = {**doc["image"], "bytes": data[: len(data) // 2]}
            return docs

        task.load = truncated_load
        return task

    return factory


def _run(out, strict: bool = False):
    from ov_bench.engine.runner import RunConfig, Runner

    cfg = RunConfig(
        tasks=["ai2d"],
        data="samples",
        limit=6,
        output=str(out),
        progress=False,
        workers=0,
        strict_media=strict,
    )
    return Runner(cfg, adapter=CyclingAdapter(), task_factory=_truncating_factory()).run()


@pytest.fixture(scope="module")
def truncated_run(samples_cache, tmp_path_factory):
    return _run(tmp_path_factory.mktemp("run") / "out")


def test_media_warning_reaches_every_output(truncated_run):
    from ov_bench.reports.summary import summary_table

    out = truncated_run
    doc = out.rows[TRUNCATED_DOC].doc_id
    results = json.loads((out.output_dir / "results.json").read_text())
    assert results["tasks"]["ai2d"]["media_warnings"] == {
        "count": 1,
        "doc_ids": [doc],
        "kinds": {"truncated_image": 1},
    }
    summary = summary_table(results)
    assert f"media warnings: ai2d: 1 sample(s) (truncated image: 1), first doc(s) {doc};" in summary
    assert "--strict-media makes them errors" in summary
    md = (out.output_dir / "report.md").read_text()
    page = (out.output_dir / "report.html").read_text()
    for text in (md, page):
        assert "## Media warnings and parse failures" in md and "truncated image: 1" in text
        assert summary.splitlines()[2] in text  # the summary table's ai2d row
        assert "RANDOM WEIGHTS" not in text  # a checkpoint-like adapter (random_weights false)


def test_parse_failures_agree_with_lmms_eval(truncated_run):
    results = json.loads((truncated_run.output_dir / "results.json").read_text())
    task = results["tasks"]["ai2d"]
    parse = task["parse_failures"]
    unread = [r.doc_id for r in truncated_run.rows if r.response == CyclingAdapter.ANSWERS[2]]
    assert parse["count"] == len(unread) == 2 and parse["doc_ids"] == unread and parse["scored"] == 6
    assert parse["share"] == pytest.approx(task["metrics"]["parse_failure_rate"])  # lmms-eval's parse


def test_strict_media_makes_the_warning_an_error(samples_cache, tmp_path):
    out = _run(tmp_path / "strict", strict=True)
    task = out.results["tasks"]["ai2d"]
    assert task["media_warnings"]["count"] == 0 and task["errors"] == 1
    assert "--strict-media" in out.rows[TRUNCATED_DOC].error
    assert "(--strict-media)" in (out.output_dir / "report.md").read_text()  # the errors section


def test_run_writes_one_html_report_with_its_plots(truncated_run):
    out = truncated_run.output_dir
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2
    for name in ("latency_stages.png", "visual_tokens.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in (out / "report.md").read_text()
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"\d\.\d+e[+-]\d", page)
    outside_pre = re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)
    assert "`" not in outside_pre  # Markdown code spans became <code>


# ----------------------------------------------------------------------------- examples, sections, banner
def test_examples_pick_right_wrong_and_unparseable():
    from ov_bench.reports.examples import Example, pick_examples

    rows = [
        _row("w1", score=0.0, parse_failed=False),
        _row("r1", score=1.0, parse_failed=False),
        _row("u1", score=0.0, parse_failed=True),
        _row("e1", error="model: boom"),
        _row("p1", score=0.5, parse_failed=False),  # partial credit: not right
        _row("n1", score=None, parse_failed=False),  # unjudged: no example
        _row("r2", score=1.0, parse_failed=False),
        _row("r3", score=1.0, parse_failed=False),
    ]
    picked = {k: [r.doc_id for r in v] for k, v in pick_examples(rows).items()}
    assert picked == {"right": ["r1", "r2"], "wrong": ["w1", "p1"], "unparseable": ["u1"]}
    row = _row("x", score=1.0, response="```A```", record={"prompt": "<|im_start|>user\n<image>\nQ?"})
    example = Example("right", row)
    assert "````\n```A```\n````" in example.markdown()  # a fence the response cannot close
    assert "&lt;|im_start|&gt;user" in example.html() and "<image>" not in example.html()


def test_examples_section_shows_prompt_and_response(truncated_run):
    md = (truncated_run.output_dir / "report.md").read_text()
    section = md.split("## Example prompts and responses", 1)[1].split("\n## ", 1)[0]
    assert "**unparseable**" in section and "no idea ###" in section
    first = next(r for r in truncated_run.rows if r.parse_failed)
    assert first.record["prompt"] in section  # the prompt the model got, recorded with the row
    assert "Answer with the option's letter" in first.record["prompt"]


def test_sections_can_be_added_and_random_weights_get_a_banner(truncated_run):
    from ov_bench.reports.document import Section, Text, render_markdown
    from ov_bench.reports.html_report import render_html
    from ov_bench.reports.run_report import RUN_SECTIONS, build_run_report

    results = json.loads((truncated_run.output_dir / "results.json").read_text())
    results["model"]["random_weights"] = True

    def published(data):
        return Section("Published comparison", [Text(f"{len(data.tasks)} task(s)")])

    extra = Section.from_html("Settings that differ", "<p id='diff'>none</p>", "none")
    report = build_run_report(results, truncated_run.rows, [*RUN_SECTIONS[:4], published], [extra])
    titles = [s.title for s in report.sections]
    assert titles[-2:] == ["Published comparison", "Settings that differ"] and len(titles) == 6
    md, page = render_markdown(report), render_html(report)
    assert "## Published comparison\n\n1 task(s)" in md and "<p id='diff'>none</p>" in page
    assert md.index("RANDOM WEIGHTS: scores are meaningless") < md.index("## Run")
    assert '<p class="banner warning">RANDOM WEIGHTS: scores are meaningless' in page


# ----------------------------------------------------------------------------- plots
def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_histogram_bars_never_overlap_and_count_every_sample():
    from ov_bench.reports import plots

    few = {"a": [100, 200, 200, 300], "b": [200, 300, 300, 300], "c": [300]}
    many = {"a": list(range(1000, 1400, 10)), "b": list(range(1005, 1405, 10))}
    fig = plots.token_histograms({"few": few, "many": many}, ["a", "b", "c"])
    try:
        for ax, data in zip(fig.axes, (few, many)):
            bars = [p for p in ax.patches]
            assert sum(p.get_height() for p in bars) == sum(len(v) for v in data.values())
            boxes = [(p.get_x(), p.get_x() + p.get_width()) for p in bars if p.get_height() > 0]
            for i, (x0, x1) in enumerate(boxes):
                assert all(x1 <= y0 or y1 <= x0 for y0, y1 in boxes[i + 1 :]), (x0, x1)
        assert len(fig.axes[1].get_xticklabels()) == plots.MAX_BINS
        assert "1,000" in fig.axes[1].get_xticklabels()[0].get_text()
        _assert_legend_outside(fig)
    finally:
        plots.close(fig)


def _assert_legend_outside(fig) -> None:
    fig.canvas.draw()
    assert fig.legends, "no legend"
    for legend in fig.legends:
        box = legend.get_window_extent()
        for ax in fig.axes:
            assert not _overlap(box, ax.get_window_extent()), ax.get_title()


def test_legends_do_not_cover_bars_and_ticks_have_separators():
    from ov_bench.reports import plots

    stages = {"media_decode": 5.0, "preprocess": 20.0, "prefill": 16390.0, "decode": 3.0}
    for fig in (
        plots.latency_by_task({"ai2d": stages, "mmmu": stages}),
        plots.latency_stages({"ai2d": {"tau-729": stages, "tau-none": stages}}, ["tau-729", "tau-none"]),
        plots.peak_memory({"ai2d": {"s": 2.0**31}, "mmmu": {"s": 2.0**30}}, ["s"]),
    ):
        try:
            _assert_legend_outside(fig)
            ticks = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
            assert not any("e+" in t for t in ticks) and any("," in t for t in ticks), ticks
        finally:
            plots.close(fig)


# ----------------------------------------------------------------------------- in a browser
@needs_chromium
def test_run_report_opens_in_headless_chromium(truncated_run, tmp_path):
    page = truncated_run.output_dir / "report.html"
    seen = probe(page, tmp_path)
    assert seen.startswith("images 2/2;"), seen
    png = screenshot(page, tmp_path)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a rendered page, not a blank one


def test_settings_that_differ_from_the_evaluated_path_are_listed_per_task(truncated_run):
    """REFERENCE facts: the published numbers came from float16, 32 frames, multi-image 'eval', tau 6561
    and the ov grid set; this CPU run used float32, so every task lists dtype, and only dtype."""
    out = truncated_run.output_dir
    results = json.loads((out / "results.json").read_text())
    text = (out / "report.md").read_text()
    section = text.split("## Settings that differ from the evaluated path", 1)[1].split("\n## ", 1)[0]
    for task in results["tasks"]:
        (line,) = [row for row in section.splitlines() if row.startswith(f"| {task} |")]
        assert "dtype float32 (evaluated path: float16)" in line
        assert "threshold" not in line and "frames" not in line
    assert "Settings that differ from the evaluated path" in (out / "report.html").read_text()
