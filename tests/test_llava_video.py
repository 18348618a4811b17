"""LLaVA-Video through the harness: its frame sampling, time instruction and evaluation defaults.

Independent sources: lmms-eval 0.7.3's ``llava_vid.load_video`` transcribed below (``_llava_vid``),
frame counts and rates read here with PyAV straight from the container, the time instruction and the
Video-MME prompt written out by hand from lmms-eval's format strings, and the 182-tokens-per-frame
arithmetic of grid + average (13x13 + a newline per row). A LLaVA-Video-style original-layout
checkpoint (the real config keys, tests/support/checkpoints.py) runs through run, sweep, tokens and the
lmms-eval plugin.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

PER_FRAME = 13 * (13 + 1)  # grid + average: 13x13 pooled, a newline after every row
OPTION_PROMPT = (
    "Select the best answer to the following multiple-choice question based on the video and the "
    "subtitles. Respond with only the letter (A, B, C, or D) of the correct option."
)


def _llava_vid(n: int, avg_fps: float, max_frames: int, force_sample: bool = False):
    """lmms-eval 0.7.3 llava_vid.load_video's indices and times (fps=1), transcribed."""
    fps = round(avg_fps / 1)
    frame_idx = [i for i in range(0, n, fps)]
    frame_time = [i / fps for i in frame_idx]
    if len(frame_idx) > max_frames or force_sample:
        frame_idx = np.linspace(0, n - 1, max_frames, dtype=int).tolist()
        frame_time = [i / avg_fps for i in frame_idx]
    return frame_idx, frame_time, n / avg_fps


def _header(path) -> tuple[int, float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return int(stream.frames), float(stream.average_rate)


def _write(path: Path, n: int, fps) -> Path:
    from ov_media.video import write_video

    write_video(
        path,
        [np.full((16, 16, 3), 6 * i, np.uint8) for i in range(n)],
        Fraction(fps),
        codec="mpeg4",
        qscale=2,
    )
    return path


# ------------------------------------------------------------------ sampling
@pytest.mark.parametrize(
    "n, fps, cap, force",
    [
        (10, 2.5, 64, False),  # step round(2.5) = 2: times i/2, not i/2.5 (the evaluated code's quirk)
        (21, 3, 64, False),  # 7 s: 7 frames at 1 fps
        (21, 3, 4, False),  # above the cap: linspace, times i/fps
        (21, 3, 64, True),  # force_sample: always the linspace
    ],
)
def test_fps_sampling_equals_llava_vid(tmp_path, n, fps, cap, force):
    from ov_media.video import FrameSampling, sample_frames, sampled_indices, video_header

    path = _write(tmp_path / "v.mp4", n, fps)
    header = _header(path)
    want_idx, want_times, want_duration = _llava_vid(*header, cap, force)
    clip = sample_frames(path, cap, FrameSampling("fps", force))
    assert clip.indices == want_idx and clip.times == pytest.approx(want_times)
    assert clip.duration == pytest.approx(want_duration) and len(clip.frames) == len(want_idx)
    # the decoded frames are those frames: frame i was drawn at grey level 6 i
    assert [round(float(f.mean()) / 6) for f in clip.frames] == want_idx
    h = video_header(path)
    assert (h.total_frames, h.fps) == header
    assert sampled_indices(h.total_frames, h.fps, cap, FrameSampling("fps", force))[0] == want_idx


def test_uniform_sampling_is_unchanged_and_timed(tmp_path):
    from ov_media.video import sample_frames

    path = _write(tmp_path / "v.mp4", 21, 3)
    clip = sample_frames(path, 4)
    assert clip.indices == [int(x) for x in np.linspace(0, 20, 4)] and clip.sampling == "uniform"
    assert clip.times == pytest.approx([i / 3 for i in clip.indices])


def test_frame_folder_times_are_three_fps(tmp_path):
    from PIL import Image

    from ov_media.video import FrameSampling, sample_frames
    from tasks.video_sources import sample_frame_folder

    for i in range(10):
        Image.new("RGB", (8, 8), (i, i, i)).save(tmp_path / f"{i + 1:05d}.jpg")
    want = np.linspace(0, 9, 4, dtype=int).tolist()  # llava_vid's mvbench branch: linspace in any mode
    for clip in (
        sample_frame_folder(tmp_path, 4, sampling_mode="fps"),
        sample_frames(tmp_path, 4, FrameSampling("fps")),
    ):
        assert clip.indices == want and clip.times == pytest.approx([i / 3 for i in want])
        assert clip.duration == pytest.approx(10 / 3)


def test_time_instruction_for_a_known_clip(tmp_path):
    """7 s at 3 fps: 7 frames at 1 fps; at a cap of 4, the linspace 0, 6, 13, 20 timed i/3."""
    from ov_bench.engine.sample import with_time_instruction
    from ov_media.video import FrameSampling, sample_frames
    from reference_model.processor import build_prompt

    path = _write(tmp_path / "v.mp4", 21, 3)
    clip = sample_frames(path, 64, FrameSampling("fps"))
    expected = (
        "The video lasts for 7.00 seconds, and 7 frames are uniformly sampled from it. These frames are "
        "located at 0.00s,1.00s,2.00s,3.00s,4.00s,5.00s,6.00s.Please answer the following questions "
        "related to this video."
    )
    assert with_time_instruction("Q?", clip) == expected + "\nQ?"
    prompt = build_prompt(with_time_instruction("Q?", clip), video=True)
    assert f"<|im_start|>user\n<video>\n{expected}\nQ?<|im_end|>" in prompt
    capped = sample_frames(path, 4, FrameSampling("fps"))
    assert with_time_instruction("Q?", capped) == (
        "The video lasts for 7.00 seconds, and 4 frames are uniformly sampled from it. These frames are located "
        "at 0.00s,2.00s,4.33s,6.67s.Please answer the following questions related to this video.\nQ?"
    )


# ------------------------------------------------------------------ the checkpoint through the harness
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Video-MME samples in an isolated cache and a LLaVA-Video-style checkpoint."""
    from reference_model import LlavaOneVision
    from tests.support.checkpoints import build_llava_video_checkpoint

    root = tmp_path_factory.mktemp("llava-video")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OV_BENCH_CACHE", str(root / "cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        from tasks import get_task

        task = get_task("videomme")
        docs = task.load(data="samples")
        ckpt = build_llava_video_checkpoint(
            LlavaOneVision.from_pretrained("tiny"), root / "LLaVA-Video-7B-Qwen2"
        )
        yield {"root": root, "task": task, "docs": docs, "ckpt": ckpt}


@pytest.fixture(scope="module")
def adapter(env):
    from ov_bench.adapters import load_adapter

    return load_adapter(str(env["ckpt"]), max_grid_tokens=6561)


def _expected_frames(task, doc, cap=64):
    return _llava_vid(*_header(task.video_path(doc)), cap)


def _videomme_text(doc, post_prompt="The best answer is:"):
    """lmms-eval's videomme_doc_to_text, written out: its option prompt, question, options, post-prompt."""
    return OPTION_PROMPT + "\n" + doc["question"] + "\n" + "\n".join(doc["options"]) + "\n" + post_prompt


def test_sample_set_has_a_clip_where_fps_and_uniform_differ(env):
    task, docs = env["task"], env["docs"]
    long = [d for d in docs if _header(task.video_path(d))[0] >= 80]
    assert long, "no long clip in the Video-MME samples"
    n, fps = _header(task.video_path(long[0]))
    assert n / fps == pytest.approx(40.0)
    assert len(_llava_vid(n, fps, 64)[0]) == 40  # fps sampling: 40 frames; uniform at 64: 64


def test_checkpoint_defaults_follow_the_evaluated_path(env, adapter, capsys):
    from ov_bench.cli import main

    assert (adapter.frame_sampling, adapter.force_sample, adapter.time_instruction) == ("fps", False, False)
    assert adapter.prompt_model == "llava_vid" and adapter.default_frames == 64
    assert (adapter.model.config.video_newline_position, adapter.model.config.video_pool_mode) == (
        "grid",
        "average",
    )
    assert main(["models", str(env["ckpt"])]) == 0
    shown = capsys.readouterr().out
    assert "time_instruction     False" in shown and "force_sample         False" in shown
    assert "add_time_instruction model_arg defaults to False" in shown and "The best answer is:" in shown


def test_prepare_builds_llava_vids_prompt_and_fps_frames(env, adapter):
    from ov_bench.engine.sample import Sample, prepare
    from reference_model.processor import chatml

    task = env["task"]
    doc = next(d for d in env["docs"] if _header(task.video_path(d))[0] >= 80)  # the 40 s clip
    idx, times, duration = _expected_frames(task, doc)
    sample = prepare(Sample("videomme", task, doc, "d", 0, 64, 2), adapter)
    assert sample.error is None, sample.error
    assert sample.frame_indices == idx and sample.frame_times == pytest.approx(times)
    assert sample.prepared.prompt == chatml("<video>\n" + _videomme_text(doc))
    assert sample.prepared.visual_tokens_counted == PER_FRAME * len(idx) == PER_FRAME * 40
    # --time-instruction: the exact line, from lmms-eval's format with this clip's numbers
    adapter.time_instruction = True
    try:
        sample = prepare(Sample("videomme", task, doc, "d", 0, 64, 2), adapter)
    finally:
        adapter.time_instruction = False
    line = (
        f"The video lasts for {duration:.2f} seconds, and {len(idx)} frames are uniformly sampled from it. "
        f"These frames are located at {','.join(f'{t:.2f}s' for t in times)}.Please answer the following "
        "questions related to this video."
    )
    assert sample.prepared.prompt == chatml("<video>\n" + line + "\n" + _videomme_text(doc))


def test_run_records_fps_frames_and_counts(env, adapter, tmp_path, monkeypatch):
    from ov_bench.engine.runner import RunConfig, Runner
    from ov_bench.outputs.store import ResultsStore

    monkeypatch.setenv("OV_BENCH_CACHE", str(env["root"] / "cache"))
    out = tmp_path / "run"
    config = RunConfig(
        tasks=["videomme"],
        model=str(env["ckpt"]),
        data="samples",
        limit=2,
        max_new_tokens=2,
        output=str(out),
        progress=False,
        warmup=False,
        workers=0,
    )
    outcome = Runner(config, adapter=adapter).run()
    assert outcome.errors == 0
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["frames"] == 64
    video = results["run"]["video"]
    assert (video["frame_sampling"], video["force_sample"], video["time_instruction"], video["prompts"]) == (
        "fps",
        False,
        False,
        "llava_vid",
    )
    docs = {str(env["task"].doc_id(d)): d for d in env["docs"]}
    with ResultsStore(out / "samples.sqlite") as store:
        rows = store.rows(adapter.key, outcome.rows[0].threshold, "videomme")
    assert len(rows) == 2
    for row in rows:
        idx, times, _ = _expected_frames(env["task"], docs[row.doc_id])
        assert row.frame_indices == idx and row.frame_times == pytest.approx(times)
        assert row.visual_tokens_counted == row.visual_tokens_measured == PER_FRAME * len(idx)


def test_sweep_tokens_and_plugin_follow_the_checkpoint(env, adapter, tmp_path, monkeypatch, capsys):
    from ov_bench.cli import main
    from ov_bench.engine.sweep import SweepConfig, Sweeper

    monkeypatch.setenv("OV_BENCH_CACHE", str(env["root"] / "cache"))
    task, docs = env["task"], env["docs"]
    by_id = {str(task.doc_id(d)): d for d in docs}

    sweep = Sweeper(
        SweepConfig(
            tasks=["videomme"],
            thresholds=[729, 6561],
            frames=[64],
            model=str(env["ckpt"]),
            data="samples",
            limit=1,
            max_new_tokens=2,
            output=str(tmp_path / "sweep"),
            progress=False,
            warmup=False,
            workers=0,
            report=False,
        ),
        adapter=adapter,
    ).run()
    rows = [r for label_rows in sweep.rows.values() for r in label_rows]
    assert len(rows) == 2 and not any(r.error for r in rows)
    for row in rows:
        idx, times, _ = _expected_frames(task, by_id[row.doc_id])
        assert row.visual_tokens_counted == row.visual_tokens_measured == PER_FRAME * len(idx)
        assert row.frame_indices == idx

    plan = tmp_path / "plan.json"
    assert (
        main(
            [
                "tokens",
                "--tasks",
                "videomme",
                "--model",
                str(env["ckpt"]),
                "--data",
                "samples",
                "--archs",
                "0.5b",
                "--text-tokens",
                "0",
                "--json",
                str(plan),
            ]
        )
        == 0
    )
    capsys.readouterr()
    (row,) = json.loads(plan.read_text())["rows"]
    counts = [PER_FRAME * len(_expected_frames(task, d)[0]) for d in docs]
    assert row["frames"] == 64 and row["frame_sampling"] == "fps" and row["setting"] == "fps, F<=64"
    assert row["visual_tokens"]["max"] == max(counts) == PER_FRAME * 40
    assert row["visual_tokens"]["mean"] == pytest.approx(sum(counts) / len(counts))

    from ov_bench.integrations.lmms_eval_model import OvBenchReference
    from tests.support.lmms_requests import lmms_request

    model = OvBenchReference(pretrained=str(env["ckpt"]), max_grid_tokens=6561)
    assert model.frames == 64 and model.adapter.frame_sampling == "fps"
    doc = next(d for d in docs if _header(task.video_path(d))[0] >= 80)
    default_context = _videomme_text(
        doc, "\nAnswer with the option's letter from the given choices directly."
    )
    assert model._model_context("videomme", doc, default_context) == _videomme_text(doc)
    model.task_dict = {"videomme": {"test": {0: doc}}}
    (result,) = model.generate_until(
        [lmms_request(default_context, [str(task.video_path(doc))], {"max_new_tokens": 2}, task="videomme")]
    )
    stats = model.request_stats[-1]
    assert stats.error is None and stats.num_frames == 40
    assert result.token_counts.visual_tokens == PER_FRAME * 40


# ------------------------------------------------------------------ training (the LLaVA-Video stage)
def test_video_recipe_builds_182_per_frame_inputs_with_the_time_instruction(tmp_path):
    from reference_model import LlavaOneVision
    from reference_model.training.dataset import TrainDataset, read_records
    from reference_model.training.recipes import get_stage
    from reference_model.training.synthetic import make_synthetic_set
    from reference_model.training.trainer import apply_video_layout

    recipe = get_stage("llava-video")
    assert (recipe.video_frames, recipe.video_sampling, recipe.time_instruction) == (64, "fps", True)
    assert {"video", "long_video", "single_image"} <= set(recipe.modalities)
    data = make_synthetic_set(tmp_path, {"single_image": 1, "multi_image": 0, "video": 1, "long_video": 1})
    model = LlavaOneVision.from_pretrained("tiny")
    apply_video_layout(model, recipe)
    dataset = TrainDataset(read_records(data), tmp_path, model.processor, recipe)
    assert dataset.stats.kept == 3
    video_id = model.config.token_ids.video
    # (clip, frames at 1 fps: 16 s at 2 fps -> step 2 -> 16 frames; 1 s at 4 fps -> 1 frame)
    for record_id, seconds, frames in (("long_video_0000", 16, 16), ("video_0000", 1, 1)):
        index = next(i for i, s in enumerate(dataset.samples) if s.record.id == record_id)
        item = dataset[index]
        assert int((item["input_ids"] == video_id).sum()) == PER_FRAME * frames
        assert len(item["pixel_values_videos"]) == frames
        text = model.tokenizer.decode([t for t in item["input_ids"].tolist() if t != video_id])
        times = ",".join(f"{float(i)}0s" for i in range(frames))
        line = (
            f"The video lasts for {seconds}.00 seconds, and {frames} frames are uniformly sampled from it. "
            f"These frames are located at {times}.Please answer the following questions related to this video."
        )
        # the user turn: <video> (its run of video tokens, dropped here), the instruction, the question
        assert (
            f"<|im_start|>user\n\n{line}\nWhich way" in text
            or f"<|im_start|>user\n\n{line}\nWhat colour" in text
        )


@pytest.mark.slow
def test_video_recipe_trains_on_the_existing_trainer(tmp_path):
    from reference_model import LlavaOneVision
    from reference_model.training import TrainOptions, apply_overrides, get_stage, read_log, train
    from reference_model.training.synthetic import make_synthetic_set

    data = make_synthetic_set(
        tmp_path / "set", {"single_image": 2, "multi_image": 0, "video": 1, "long_video": 1}
    )
    recipe, options = get_stage("video"), TrainOptions(per_device_batch_size=2, progress=False)
    apply_overrides(recipe, options, {"max_steps": 2, "lr": 1e-3, "vision_lr": 1e-4})
    result = train("tiny", data, tmp_path / "out", recipe, options)
    assert [r["step"] for r in read_log(tmp_path / "out")] == [1, 2]
    # the saved checkpoint keeps the layout and is detected as LLaVA-Video (its evaluated defaults)
    trained = LlavaOneVision.from_pretrained(str(result.final_dir)).config
    assert (trained.video_newline_position, trained.video_pool_mode) == ("grid", "average")
    assert (trained.family, trained.video_sampling, trained.video_frames) == ("llava-video", "fps", 64)


# ------------------------------------------------------------------ outputs and flags
def test_frame_times_column_and_older_stores_stay_readable(tmp_path):
    import sqlite3

    from ov_bench.outputs.run_outputs import read_rows
    from ov_bench.outputs.store import ResultsStore, SampleRow

    db = tmp_path / "samples.sqlite"
    row = SampleRow(
        task="videomme",
        doc_id="1",
        model_key="m",
        threshold="6561",
        frame_indices=[0, 2],
        frame_times=[0.0, 1.0],
    )
    with ResultsStore(db) as store:
        store.write(row)
        (back,) = store.rows("m", "6561", "videomme")
    assert back.frame_indices == [0, 2] and back.frame_times == [0.0, 1.0]
    with sqlite3.connect(db) as conn:  # a store written before the column existed
        conn.execute("ALTER TABLE samples DROP COLUMN frame_times_json")
    (old,) = read_rows(db)
    assert old.frame_indices == [0, 2] and old.frame_times is None
    with ResultsStore(db) as store:  # reopened for writing: the column is added, old rows read as None
        (old,) = store.rows("m", "6561", "videomme")
    assert old.frame_times is None


@pytest.mark.parametrize("command", ["run", "sweep", "tokens"])
def test_sampling_flags_parse_and_bad_values_exit_2(command):
    from ov_bench.cli import build_parser
    from ov_bench.commands.flags import model_spec

    args = build_parser().parse_args(
        [command, "--tasks", "videomme", "--frame-sampling", "fps", "--force-sample"]
    )
    spec = model_spec(args, frames=None)
    assert spec.frame_sampling == "fps" and spec.force_sample is True
    assert spec.time_instruction is None and args.frames is None
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--tasks", "videomme", "--frame-sampling", "2fps"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_cli_run_takes_the_checkpoints_defaults(env, tmp_path):
    """`ov-bench run --model DIR` with no video flag: 64-frame cap, fps sampling, 182 per frame; an
    explicit --frame-sampling uniform --frames 8 gives 8 x 182 and joins the results key."""
    import os
    import subprocess
    import sys

    cli_env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OV_BENCH_CACHE": str(env["root"] / "cache"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    base = [
        sys.executable,
        "-m",
        "ov_bench.cli",
        "run",
        "--tasks",
        "videomme",
        "--model",
        str(env["ckpt"]),
        "--data",
        "samples",
        "--limit",
        "1",
        "--max-new-tokens",
        "2",
        "--no-progress",
        "--no-warmup",
    ]
    docs = {str(env["task"].doc_id(d)): d for d in env["docs"]}
    for name, flags in (("default", []), ("uniform", ["--frame-sampling", "uniform", "--frames", "8"])):
        out = tmp_path / name
        proc = subprocess.run(
            [*base, "--output", str(out), *flags], env=cli_env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        results = json.loads((out / "results.json").read_text())
        (row,) = [r for r in _store_rows(out)]
        if name == "default":
            idx, _, _ = _expected_frames(env["task"], docs[row["doc_id"]])
            assert results["run"]["frames"] == 64 and results["run"]["video"]["frame_sampling"] == "fps"
            assert row["visual_tokens_counted"] == row["visual_tokens_measured"] == PER_FRAME * len(idx)
        else:
            assert (
                results["run"]["video"]["frame_sampling"] == "uniform"
                and "/sampling=uniform" in row["model_key"]
            )
            assert row["visual_tokens_counted"] == row["visual_tokens_measured"] == PER_FRAME * 8


def _store_rows(out: Path) -> list[dict]:
    import sqlite3

    with sqlite3.connect(out / "samples.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM samples")]


def test_planner_frame_counts_equal_the_samplers(tmp_path):
    """Per doc: the planner's frames (container header, no decode) == the frames the sampler decodes;
    a frame folder takes the linspace (F) in fps mode too."""
    from types import SimpleNamespace

    from PIL import Image

    from ov_bench.analysis.token_planner import doc_shapes
    from ov_media.video import FrameSampling, sample_frames, video_header

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(30):
        Image.new("RGB", (8, 8), (i, i, i)).save(folder / f"{i:05d}.jpg")
    paths = {"a": _write(tmp_path / "a.mp4", 21, 3), "b": _write(tmp_path / "b.mp4", 10, 2.5), "f": folder}
    task = SimpleNamespace(
        modality="video",
        doc_id=lambda d: d["id"],
        doc_to_text=lambda d: "q",
        is_frame_folder=lambda d: d["id"] == "f",
        video_header=lambda d: video_header(paths[d["id"]]),
    )
    sampling = FrameSampling("fps")
    shapes = doc_shapes(task, [{"id": k} for k in paths], text_tokens=0, sampling=sampling)
    for shape in shapes:
        for cap in (4, 8):
            assert shape.frames(cap, sampling) == len(
                sample_frames(paths[shape.doc_id], cap, sampling).indices
            )
    assert [s.frames(8, sampling) for s in shapes] == [7, 5, 8]


def test_plugin_model_args_for_sampling(tmp_path):
    from ov_bench.integrations.lmms_eval_model import OvBenchReference
    from tests.support.lmms_requests import lmms_request

    path = _write(tmp_path / "v.mp4", 21, 3)
    model = OvBenchReference(
        pretrained="tiny", frames=4, frame_sampling="fps", force_sample="false", time_instruction="true"
    )
    a = model.adapter
    assert (a.frame_sampling, a.force_sample, a.time_instruction) == ("fps", False, True)
    assert a.key.endswith("/sampling=fps/force=off/ti=on")
    model.task_dict = {"t": {"test": {0: {}}}}
    (result,) = model.generate_until([lmms_request("Q?", [str(path)], {"max_new_tokens": 1})])
    assert model.request_stats[-1].num_frames == 4  # 7 s at 1 fps is above the cap of 4: the linspace
    assert result.token_counts.visual_tokens == 4 * 196 + 1  # tiny is OV: one_token + bilinear
    with pytest.raises(ValueError, match="time_instruction must be true or false"):
        OvBenchReference(pretrained="tiny", time_instruction="maybe")
    with pytest.raises(ValueError, match="frame_sampling 'x'"):
        OvBenchReference(pretrained="tiny", frame_sampling="x")
