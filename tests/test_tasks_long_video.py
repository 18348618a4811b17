"""videomme_w_subtitle, mlvu_dev and longvideobench_val_v against lmms-eval 0.7.3 itself.

The independent side: lmms-eval's task YAMLs loaded by lmms-eval's own loader (load_yaml_config executes each
`!function` module as lmms-eval does), rows read by `datasets` from the sample files at the hub paths,
lmms-eval's own functions with their module globals pointed at the test's folders, hand-written docs and
subtitle files whose expected lines follow from the arithmetic REFERENCE.md gives (frames int(t * fps),
indices int(linspace(0, N - 1, F))). Nothing on that side goes through tasks/.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from ov_bench.model_spec import ModelSpec
from tasks import MediaError, TaskError, get_task
from tasks.base import MEDIA_ROOT_KEY
from tests.support.task_parity import LMMS_TASKS, lmms_config, lmms_kwargs

RESPONSES = [
    "A",
    "B",
    "(C)",
    "D.",
    "E",
    "The answer is B",
    "The best answer is: C\nbecause",
    "A) red",
    "I think the correct option here is the second one",
    "",
    "garbage ###",
    "yes",
    "b",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ovb-long-video")
    hf_home = root / "hf"
    hf_home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OV_BENCH_CACHE", str(root / "cache"))
        mp.setenv("HF_HOME", str(hf_home))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        docs = {name: get_task(name).load("samples") for name in ("mlvu_dev", "longvideobench_val_v")}
        yield {"root": root, "hf_home": hf_home, "docs": docs}


def parquet_rows(files: list[Path]) -> list[dict]:
    import datasets

    return [
        dict(r) for r in datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train")
    ]


class ReplayRandom:
    """The reference module's `random` for one call: replays ov-bench's seeded fallback draws."""

    def __init__(self, draws: list):
        self.draws = list(draws)

    def choice(self, seq):
        assert self.draws, "lmms-eval fell back to random.choice but ov-bench recorded no fallback"
        value = self.draws.pop(0)
        assert value in seq
        return value


def reference_result(process, row: dict, response: str, record: dict) -> dict:
    saved = process.__globals__.get("random")
    replay = ReplayRandom(record.get("fallback_choice", []))
    process.__globals__["random"] = replay
    try:
        return process(row, [response.strip()])  # generate_until strips the response first
    finally:
        process.__globals__["random"] = saved
        assert not replay.draws, "ov-bench recorded a fallback lmms-eval did not draw"


def sample_score(metric: str, result: dict) -> float:
    """The per-sample score on the metric's scale, by arithmetic on lmms-eval's per-sample result."""
    if metric == "mlvu_percetion_score":
        return 100.0 * (result["pred_answer"] == result["answer"])
    return float(result["parsed_pred"] == result["answer"])  # lvb_acc


def check_task(task, docs: list[dict], rows: list[dict], cfg: dict, metric: str) -> tuple[list, list]:
    """Prompts, per-doc results and per-doc scores equal lmms-eval's; the records and lmms-eval's results."""
    records, reference = [], []
    for doc, row in zip(docs, rows):
        assert task.doc_to_text(doc) == cfg["doc_to_text"](row, lmms_kwargs(cfg))
        for response in RESPONSES:
            record = task.score(doc, response)
            assert json.loads(json.dumps(record)) == record
            expected = reference_result(cfg["process_results"], row, response, record)
            assert record["lmms"] == json.loads(json.dumps(expected)), response
            assert record["score"] == sample_score(metric, expected[metric])
            records.append(record)
            reference.append(expected[metric])
    return records, reference


# ---- MLVU dev -----------------------------------------------------------------------------------------


def test_mlvu_prompts_scores_and_aggregate_equal_lmms_eval(env):
    task = get_task("mlvu_dev")
    docs = env["docs"]["mlvu_dev"]
    rows = parquet_rows(sorted((Path(docs[0][MEDIA_ROOT_KEY]) / "data").glob("test-*.parquet")))
    assert len(rows) == len(docs) >= 20
    cfg = lmms_config("mlvu", "mlvu_dev.yaml")
    records, reference = check_task(task, docs, rows, cfg, "mlvu_percetion_score")
    # hand-written docs: an answer other than A, options inside the question as on the hub
    own = {
        "video_name": "x.mp4",
        "question": "Which?\n(A) a\n(B) b\n(C) c\n(D) d",
        "candidates": ["a", "b", "c", "d"],
        "answer": "C",
        "task_type": "order",
        "_row": 0,
    }
    for response in ["C", "(C) c", "c", "The answer is (C).", "D", ""]:
        record = task.score(own, response)
        expected = cfg["process_results"](own, [response.strip()])
        assert record["lmms"] == expected
        assert record["parse_failed"] == (expected["mlvu_percetion_score"]["pred_answer"] == "")
    agg = cfg["metric_list"][0]["aggregation"]
    metrics = task.aggregate(records)
    assert metrics["mlvu_percetion_score"] == pytest.approx(agg(reference))
    assert 0 < metrics["mlvu_percetion_score"] < 100
    assert metrics["mlvu_task_types_missing"] == 0


def _logged(fn, *args) -> tuple[object, list[str]]:
    """fn(*args) and the lines lmms-eval logged meanwhile (loguru)."""
    from loguru import logger

    lines: list[str] = []
    logger.enable("lmms_eval")
    handler = logger.add(lambda m: lines.append(m.record["message"]), level="INFO")
    try:
        return fn(*args), lines
    finally:
        logger.remove(handler)


def test_mlvu_m_avg_divides_by_all_seven_types_even_when_one_is_missing(env):
    """lmms-eval averages over its 7 task types, an absent one counting 0: the score is kept, the missing
    type is counted and the mean over the types present reported beside it."""
    task = get_task("mlvu_dev")
    cfg = lmms_config("mlvu", "mlvu_dev.yaml")
    agg = cfg["metric_list"][0]["aggregation"]
    docs = [d for d in env["docs"]["mlvu_dev"] if d["task_type"] != "ego"]
    records = [task.score(d, r) for d in docs for r in ("A", "B", "C")]
    results = [r["lmms"]["mlvu_percetion_score"] for r in records]
    expected, lines = _logged(agg, results)
    metrics = task.aggregate(records)
    assert metrics["mlvu_percetion_score"] == pytest.approx(expected)
    assert metrics["mlvu_task_types_missing"] == 1
    logged = {
        m.group(1): float(m.group(2))
        for m in map(re.compile(r"Categories: (\w+): ([\d.]+)%").search, lines)
        if m
    }
    assert set(logged) == set(task.TASK_TYPES)  # the types lmms-eval averages over
    assert logged["ego"] == 0.0 and "mlvu_percetion_score/ego" not in metrics
    present = {t: v for t, v in logged.items() if t != "ego"}
    for t, v in present.items():
        assert metrics[f"mlvu_percetion_score/{t}"] == pytest.approx(v, abs=0.05)
    by_hand = np.mean([metrics[f"mlvu_percetion_score/{t}"] for t in present])
    assert metrics["mlvu_percetion_score_present_types"] == pytest.approx(by_hand)
    assert metrics["mlvu_percetion_score"] == pytest.approx(by_hand * 6 / 7)


def test_video_modules_import_without_hf_home(env, monkeypatch):
    """mlvu's module falls back to a path relative to the working directory, nextqa's and several others'
    raise KeyError, when HF_HOME is unset: the private copies import with it set, and never keep it."""
    import tasks.lmms_isolated as isolated

    monkeypatch.setattr(isolated, "_cache", {})
    monkeypatch.delenv("HF_HOME")
    mlvu = get_task("mlvu_dev").utils()
    assert mlvu.base_cache_dir == str(Path("~/.cache/huggingface").expanduser())
    for name in ("nextqa", "egoschema", "videomme", "longvideobench_val_v", "egoschema_test"):
        assert get_task(name).utils() is not None
    assert "HF_HOME" not in __import__("os").environ
    doc = dict(env["docs"]["mlvu_dev"][0], **{MEDIA_ROOT_KEY: None})  # a hub row: lmms-eval's cache
    expected = Path("~/.cache/huggingface").expanduser() / "mlvu" / doc["video_name"]
    with pytest.raises(MediaError, match=re.escape(str(expected))):
        get_task("mlvu_dev").video_path(doc)


# ---- LongVideoBench ------------------------------------------------------------------------------------


def test_longvideobench_prompts_scores_and_aggregate_equal_lmms_eval(env):
    task = get_task("longvideobench_val_v")
    docs = env["docs"]["longvideobench_val_v"]
    rows = parquet_rows([Path(docs[0][MEDIA_ROOT_KEY]) / "validation-00000-of-00001.parquet"])
    cfg = lmms_config("longvideobench", "longvideobench_val_v.yaml")
    records, reference = check_task(task, docs, rows, cfg, "lvb_acc")
    assert any(r.get("fallback_choice") for r in records), (
        "the responses should reach lmms-eval's random fallback"
    )
    agg = cfg["metric_list"][0]["aggregation"]
    metrics = task.aggregate(records)
    assert metrics["lvb_acc"] == pytest.approx(agg(reference))
    assert 0 < metrics["parse_failure_rate"] < 1
    # a hand-written doc with three options ("N/A" beyond), answer C
    own = dict(rows[0], option2="c", option3="N/A", option4="N/A", correct_choice=2, id="own")
    assert "C. c" in task.doc_to_text(own) and "D." not in task.doc_to_text(own)
    for response in ["C", "The best answer is C.", "D", "none of these"]:
        record = task.score(own, response)
        assert record["lmms"] == reference_result(cfg["process_results"], own, response, record)
    assert task.score(own, "C")["score"] == 1.0


def test_longvideobench_video_is_where_lmms_eval_looks(env):
    """A hub row's video is lmms-eval's doc_to_visual path ($HF_HOME/datasets/longvideobench/videos/...)."""
    task = get_task("longvideobench_val_v")
    doc = env["docs"]["longvideobench_val_v"][0]
    link = env["hf_home"] / "datasets" / "longvideobench"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(doc[MEDIA_ROOT_KEY], target_is_directory=True)
    cfg = lmms_config("longvideobench", "longvideobench_val_v.yaml")
    (expected,) = cfg["doc_to_visual"](doc)
    assert str(task.video_path(dict(doc, **{MEDIA_ROOT_KEY: None}))) == expected
    assert task.load_visuals(doc, frames=4).video.frames.shape[0] == 4


def test_decord_import_path(monkeypatch):
    """longvideobench's utils import decord (declared) at import; without it: one TaskError line."""
    import decord

    import tasks.lmms_isolated as isolated

    assert tuple(int(x) for x in decord.__version__.split(".")[:2]) >= (0, 6)
    assert get_task("longvideobench_val_v").utils().VideoReader is decord.VideoReader
    monkeypatch.setattr(isolated, "_cache", {})
    monkeypatch.setitem(sys.modules, "decord", None)
    with pytest.raises(TaskError, match="decord") as e:
        get_task("longvideobench_val_v").utils()
    assert "\n" not in str(e.value)


# ---- Video-MME with subtitles --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vmme(env):
    """A small copy of the Video-MME repo (3 clips and the 40 s clip, subtitle.zip) as `--data DIR` reads
    it, and a second copy without subtitle.zip."""
    from tasks.hub_layout import write_readme
    from tasks.samples import video_samples

    task = get_task("videomme_w_subtitle")
    full, bare = env["root"] / "vmme_full", env["root"] / "vmme_bare"
    video_samples.videomme(full / task.name, n_videos=3)
    write_readme(task, full / task.name)
    shutil.copytree(full / task.name, bare / task.name)
    (bare / task.name / "subtitle.zip").unlink()
    rows = parquet_rows(sorted((full / task.name / "videomme").glob("test-*.parquet")))
    return {"full": full, "bare": bare, "docs": task.load(str(full)), "rows": rows}


def _reference_prompt(cfg: dict, cache_root: Path, monkeypatch) -> object:
    """lmms-eval's doc_to_text with its import-time cache folder pointed at cache_root."""
    fn = cfg["doc_to_text"]
    monkeypatch.setitem(fn.__globals__, "base_cache_dir", str(cache_root.parent))
    monkeypatch.setitem(fn.__globals__, "cache_name", cache_root.name)
    return fn


def test_subtitle_prompt_equals_lmms_eval_for_both_prompt_sets(vmme, monkeypatch):
    task = get_task("videomme_w_subtitle")
    cfg = lmms_config("videomme", "videomme_w_subtitle.yaml")
    fn = _reference_prompt(cfg, vmme["full"] / task.name, monkeypatch)
    prompts = {}
    for model, kwargs in (
        (None, lmms_kwargs(cfg)),
        ("llava_vid", cfg["lmms_eval_specific_kwargs"]["llava_vid"]),
    ):
        assert kwargs["frame_num"] == (768 if model else 32)
        for doc, row in zip(vmme["docs"], vmme["rows"]):
            assert task.doc_to_text(doc, model) == fn(row, dict(kwargs))
            prompts[(model, doc["question_id"])] = task.doc_to_text(doc, model)
            assert task.load_visuals(doc, frames=2).media_warning is None
    texts = list(prompts.values())
    assert any("No subtitles available" in t for t in texts)  # a video without subtitles: normal
    assert any("below: \nNo subtitles" not in t for t in texts)
    differ = [q for (m, q) in prompts if m is None and prompts[(None, q)] != prompts[("llava_vid", q)]]
    assert differ, "32 and 768 sampled frames should keep different subtitle lines for the 40 s clip"


def test_subtitle_task_scores_and_aggregate_equal_lmms_eval(vmme):
    task = get_task("videomme_w_subtitle")
    cfg = lmms_config("videomme", "videomme_w_subtitle.yaml")
    agg = cfg["metric_list"][0]["aggregation"]
    records, reference = [], []
    for doc, row in zip(vmme["docs"], vmme["rows"]):
        for response in RESPONSES:
            record = task.score(doc, response)
            expected = cfg["process_results"](row, [response.strip()])
            assert record["lmms"] == expected
            assert record["score"] == pytest.approx(100.0 * expected["videomme_perception_score"]["score"])
            records.append(record)
            reference.append(expected["videomme_perception_score"])
    assert task.aggregate(records)["videomme_perception_score"] == pytest.approx(agg(reference))


@pytest.mark.slow
def test_subtitle_prompts_on_the_full_sample_set(env, monkeypatch):
    """Every doc of the Video-MME sample set (with its 40 s clip), both prompt sets."""
    task = get_task("videomme_w_subtitle")
    docs = task.load("samples")
    root = Path(docs[0][MEDIA_ROOT_KEY])
    rows = parquet_rows(sorted((root / "videomme").glob("test-*.parquet")))
    cfg = lmms_config("videomme", "videomme_w_subtitle.yaml")
    fn = _reference_prompt(cfg, root, monkeypatch)
    for model, kwargs in (
        (None, lmms_kwargs(cfg)),
        ("llava_vid", cfg["lmms_eval_specific_kwargs"]["llava_vid"]),
    ):
        for doc, row in zip(docs, rows):
            assert task.doc_to_text(doc, model) == fn(row, dict(kwargs))


def test_subtitle_lines_are_those_at_the_sampled_frames(env, tmp_path):
    """A hand-written .srt on a real encoded clip (40 s at 2 fps, 80 frames): a cue is kept when one of
    the int(linspace(0, 79, F)) frames lies in [int(start * 2), int(end * 2)) and its text is in the
    <font> tag; the rest are dropped."""
    from tasks.samples.video_samples import ClipSpec, write_clip

    task = get_task("videomme_w_subtitle")
    write_clip(tmp_path / "data" / "vid00000001.mp4", ClipSpec(64, 48, 40.0, 2, "red", "right", 0))
    cues = [
        (1.0, 1.5, "kept at both", True),
        (1.5, 2.0, "only at 768", True),  # frame 3: not among 32 sampled frames of 80
        (0.2, 0.4, "never (shorter than a frame)", True),
        (5.0, 6.0, "never (no font tag)", False),
        (20.0, 21.0, "kept at both too", True),
        (23.0, 23.5, "only at 768 too", True),  # frame 46
    ]
    srt = []
    for i, (start, end, text, tagged) in enumerate(cues):
        line = f'<font color="white" size=".72c">{text}</font>' if tagged else text
        srt.append(
            f"{i + 1}\n00:00:{int(start):02d},{round(start % 1 * 1000):03d} --> "
            f"00:00:{int(end):02d},{round(end % 1 * 1000):03d}\n{line}\n"
        )
    (tmp_path / "subtitle").mkdir()
    (tmp_path / "subtitle" / "vid00000001.srt").write_text("\n".join(srt))
    doc = {
        "videoID": "vid00000001",
        "question": "Q?",
        "options": ["A. x", "B. y"],
        MEDIA_ROOT_KEY: str(tmp_path),
    }

    def expected(frames: int) -> set[str]:
        picked = set(np.linspace(0, 79, frames, dtype=int).tolist())
        return {t for s, e, t, tag in cues if tag and picked & set(range(int(s * 2), int(e * 2)))}

    for model, frames in ((None, 32), ("llava_vid", 768)):
        prompt = task.doc_to_text(doc, model)
        lines = prompt.split("listed below: \n")[1].split("\nSelect the best answer")[0].split("\n")
        assert set(lines) == expected(frames)
    assert expected(32) != expected(768)


def test_missing_subtitle_archive_is_a_warning_on_the_record(vmme, monkeypatch, tmp_path):
    """Without subtitle.zip the prompt is lmms-eval's ("No subtitles available" for every video) and the
    sample's row carries a media_warning naming the archive; --strict-media makes it an error."""
    from ov_bench.engine.runner import RunConfig, Runner
    from tests.support.fakes import InstantAdapter

    task = get_task("videomme_w_subtitle")
    docs = task.load(str(vmme["bare"]))
    cfg = lmms_config("videomme", "videomme_w_subtitle.yaml")
    fn = _reference_prompt(cfg, vmme["bare"] / task.name, monkeypatch)
    for doc, row in zip(docs, vmme["rows"]):
        assert task.doc_to_text(doc) == fn(row, lmms_kwargs(cfg))
        assert "No subtitles available" in task.doc_to_text(doc)
        warning = task.load_visuals(doc, frames=2).media_warning
        assert "subtitle.zip" in warning and task.doc_id(doc) in warning and "\n" not in warning

    def run(strict: bool, out: str):
        config = RunConfig(
            tasks=["videomme_w_subtitle"],
            data=str(vmme["bare"]),
            limit=2,
            model=ModelSpec(model="tiny", frames=2),
            output=str(tmp_path / out),
            workers=0,
            progress=False,
            write_outputs=False,
            strict_media=strict,
        )
        return Runner(config, adapter=InstantAdapter(), task_factory=get_task).run()

    lenient = run(False, "lenient")
    rows = lenient.rows
    assert len(rows) == 2 and all("subtitle.zip" in r.record["media_warning"] for r in rows)
    media = lenient.results["tasks"]["videomme_w_subtitle"]["media_warnings"]  # results.json's count
    assert media["count"] == 2 and media["kinds"] == {"missing_subtitles": 2}
    assert all("--strict-media" in r.error for r in run(True, "strict").rows)


def test_fetch_patterns_follow_lmms_eval_layouts(env):
    from tasks.hub_fetch import check_fetched
    from tasks.hub_layout import fetch_spec

    spec = fetch_spec(get_task("videomme_w_subtitle"))
    assert "subtitle.zip" in spec.allow_patterns() and "subtitle.zip" in spec.archive_patterns
    assert "subtitle.zip" in fetch_spec(get_task("videomme")).extra_patterns  # not needed without subtitles
    lvb = fetch_spec(get_task("longvideobench_val_v"))
    assert lvb.allow_patterns() == ["README.md", "validation-*.parquet", "videos.tar.part.*"]
    assert lvb.cache_dir == "datasets/longvideobench" and lvb.allow_patterns(True)[-1] == "subtitles.tar"
    assert fetch_spec(get_task("mlvu_dev")).allow_patterns() == [
        "README.md",
        "data/test-*",
        "video_part_*.zip",
    ]
    for name in ("mlvu_dev", "longvideobench_val_v"):
        samples = Path(env["docs"][name][0][MEDIA_ROOT_KEY])
        missing, n = check_fetched(get_task(name), samples, samples)
        assert not missing and n == len(env["docs"][name])


def test_lmms_eval_task_files_exist():
    for folder, yaml_name in (
        ("videomme", "videomme_w_subtitle.yaml"),
        ("mlvu", "mlvu_dev.yaml"),
        ("longvideobench", "longvideobench_val_v.yaml"),
    ):
        assert (LMMS_TASKS / folder / yaml_name).is_file()
        assert (
            get_task(yaml_name.removesuffix(".yaml")).dataset.repo
            == lmms_config(folder, yaml_name)["dataset_path"]
        )
