"""Video task adapters against lmms-eval 0.7.3 itself.

The independent side: the task YAMLs loaded by lmms-eval's own loader (lmms_eval.utils.load_yaml_config,
which executes each `!function` module the way lmms-eval does), rows read from the sample parquet by
`datasets` (what lmms-eval's loader yields), lmms-eval's doc_to_visual with HF_HOME pointing at a cache
laid out like lmms-eval's (links to the sample sets), and lmms-eval's read_video for frames. Nothing on
that side goes through tasks/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from tasks import DataError, MediaError, get_task
from tasks.base import MEDIA_ROOT_KEY

LMMS_TASKS = Path(__import__("importlib").util.find_spec("lmms_eval").submodule_search_locations[0]) / "tasks"

# task -> (lmms-eval folder, YAML(s), hub config folders in the samples dir, split, lmms-eval cache_dir, metric)
SPECS = {
    "videomme": ("videomme", ["videomme.yaml"], [None], "test", "videomme", "videomme_perception_score"),
    "egoschema": ("egoschema", ["egoschema_subset.yaml"], ["Subset"], "test", "egoschema", "score"),
    "nextqa": ("nextqa", ["nextqa_mc_test.yaml"], ["MC"], "test", "nextqa", "exact_match"),
    "perceptiontest": (
        "perceptiontest/val",
        ["perceptiontest_mc.yaml"],
        ["mc_question_val"],
        "validation",
        "perceptiontest_val",
        "accuracy",
    ),
    "mvbench": ("mvbench", None, None, "train", "mvbench_video", "mvbench_accuracy"),
}
VIDEO_TASKS = list(SPECS)
DOCS_PER_TASK = 6  # docs scored per task (mvbench: per config, 1)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    """Sample cache + an HF_HOME laid out like lmms-eval's video caches (links into the samples)."""
    root = tmp_path_factory.mktemp("ovb-video")
    hf_home = root / "hf"
    hf_home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OV_BENCH_CACHE", str(root / "cache"))
        mp.setenv("HF_HOME", str(hf_home))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        docs = {}
        for name in VIDEO_TASKS:
            task = get_task(name)
            docs[name] = task.load("samples")
            samples_dir = Path(docs[name][0][MEDIA_ROOT_KEY])
            (hf_home / SPECS[name][4]).symlink_to(samples_dir, target_is_directory=True)
        yield {"root": root, "hf_home": hf_home, "docs": docs}


@pytest.fixture(scope="module")
def lmms(env):
    """lmms-eval's configs (functions resolved by lmms-eval) per task and per hub config."""
    from lmms_eval.utils import load_yaml_config

    out = {}
    with pytest.MonkeyPatch.context() as mp:
        # nextqa/utils.py downloads nltk data at import (for its open-ended metric): keep it offline
        mp.setitem(sys.modules, "nltk", None)
        mp.setitem(sys.modules, "pywsd", None)
        for name, (folder, yamls, configs, *_rest) in SPECS.items():
            if name == "mvbench":
                group = load_yaml_config(str(LMMS_TASKS / folder / "mvbench.yaml"), mode="simple")
                for sub in group["task"]:
                    cfg = load_yaml_config(str(LMMS_TASKS / folder / f"{sub}.yaml"))
                    out[("mvbench", cfg["dataset_name"])] = cfg
            else:
                out[(name, configs[0])] = load_yaml_config(str(LMMS_TASKS / folder / yamls[0]))
    return out


def prompt_kwargs(cfg: dict):
    """lmms_eval_specific_kwargs as ConfigurableTask passes them for a model without its own entry."""
    kwargs = cfg.get("lmms_eval_specific_kwargs")
    if kwargs is None:
        return None
    kwargs = dict(kwargs)
    kwargs.update(kwargs.get("default", {}))
    return kwargs


def reference_rows(samples_dir: Path, config: str | None, split: str) -> list[dict]:
    """The rows as datasets reads the files at the hub's paths (MVBench: json/<config>.json; Video-MME:
    videomme/<split>-*.parquet; the others <config>/<split>-*.parquet)."""
    import datasets

    json_file = samples_dir / "json" / f"{config}.json"
    if json_file.is_file():
        return [dict(r) for r in datasets.load_dataset("json", data_files=[str(json_file)], split="train")]
    base = samples_dir / (config or "videomme")
    files = sorted(str(p) for p in base.glob(f"{split}-*.parquet"))
    return [dict(r) for r in datasets.load_dataset("parquet", data_files=files, split="train")]


def cases(env, lmms, name: str):
    """(our doc, lmms-eval's row, lmms-eval's config) for the docs scored in the tests."""
    docs = env["docs"][name]
    samples_dir = Path(docs[0][MEDIA_ROOT_KEY])
    split = SPECS[name][3]
    if name == "mvbench":
        out = []
        for config in sorted({d["_config"] for d in docs}):
            ours = [d for d in docs if d["_config"] == config]
            rows = reference_rows(samples_dir, config, split)
            assert len(rows) == len(ours)
            out.append((ours[0], rows[0], lmms[("mvbench", config)]))
        return out
    config = SPECS[name][2][0]
    rows = reference_rows(samples_dir, config, split)
    assert len(rows) == len(docs)
    return [
        (docs[i], rows[i], lmms[(name, config)])
        for i in range(0, len(docs), max(1, len(docs) // DOCS_PER_TASK))
    ]


def option_texts(doc: dict) -> list[str]:
    for key in ("options", "option", "candidates"):
        if key in doc:
            return [str(x) for x in doc[key]]
    return [str(doc[f"a{i}"]) for i in range(5)]


def responses(doc: dict) -> list[str]:
    texts = option_texts(doc)
    bare = [t.split(". ", 1)[1] if t[:1].isupper() and t[1:3] == ". " else t for t in texts]
    return [
        "A",
        "B",
        "C",
        "D",
        "E",
        "(B)",
        "B.",
        " C ",
        "The answer is C",
        "The answer is (A).",
        "D. " + bare[-1],
        bare[0],
        f"I think the correct option here is {bare[-1]} because of the video",
        "yes",
        "42",
        "",
        "garbage ###",
        "a",
        "The best answer is: B\nbecause",
    ]


def _agg(cfg: dict):
    from lmms_eval.api.registry import get_aggregation

    agg = cfg["metric_list"][0]["aggregation"]
    return get_aggregation(agg) if isinstance(agg, str) else agg


def _call_agg(agg, values):
    import inspect

    return agg(values, args=None) if "args" in inspect.signature(agg).parameters else agg(values)


class _ReplayRandom:
    """The reference's `random` during one call: replays ov-bench's seeded fallback draws, and fails
    if lmms-eval draws where ov-bench did not."""

    def __init__(self, draws: list):
        self.draws = list(draws)
        self.calls = 0

    def choice(self, seq):
        self.calls += 1
        assert self.draws, "lmms-eval fell back to random.choice but ov-bench recorded no fallback"
        value = self.draws.pop(0)
        assert value in seq
        return value


def _jsonable(x):
    return json.loads(json.dumps(x))


# ---- config ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VIDEO_TASKS)
def test_task_attributes(name, lmms):
    task = get_task(name)
    assert task.modality == "video"
    assert task.main_metric == SPECS[name][5]
    cfg = next(c for (n, _), c in lmms.items() if n == name)
    assert task.dataset.repo == cfg["dataset_path"]
    assert task.dataset.split == cfg["test_split"]
    expected = dict(cfg.get("generation_kwargs") or {"do_sample": False})
    expected.setdefault("until", ["\n\n"])  # lmms-eval's TaskConfig default (fewshot_delimiter)
    if "temperature" in expected:
        expected["temperature"] = float(expected["temperature"])
    assert task.generation_kwargs == expected


def test_mvbench_covers_the_lmms_eval_group(lmms):
    task = get_task("mvbench")
    configs = sorted(c for (n, c) in lmms if n == "mvbench")
    assert len(configs) == 20
    assert [d.config for d in task.hub_datasets()] == configs
    assert {d.revision for d in task.hub_datasets()} == {"video"}


# ---- prompts and visuals ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", VIDEO_TASKS)
def test_prompt_equals_lmms_eval(name, env, lmms):
    task = get_task(name)
    for doc, row, cfg in cases(env, lmms, name):
        kwargs = prompt_kwargs(cfg)
        expected = cfg["doc_to_text"](row, kwargs) if kwargs is not None else cfg["doc_to_text"](row)
        assert task.doc_to_text(doc) == expected


@pytest.mark.parametrize("name", VIDEO_TASKS)
def test_visuals_equal_lmms_eval(name, env, lmms):
    """The same file as lmms-eval's doc_to_visual, and the frames of lmms-eval's read_video."""
    import inspect

    from lmms_eval.models.model_utils.load_video import read_video

    task = get_task(name)
    for doc, row, cfg in cases(env, lmms, name)[:3]:
        fn = cfg["doc_to_visual"]
        paths = fn(row, prompt_kwargs(cfg)) if len(inspect.signature(fn).parameters) == 2 else fn(row)
        assert len(paths) == 1
        visuals = task.load_visuals(doc, frames=8)
        assert visuals.images == []
        clip = visuals.video
        assert os.path.realpath(clip.path) == os.path.realpath(paths[0])
        assert clip.total_frames >= 8  # lmms-eval's reader returns min(N, F) frames
        np.testing.assert_array_equal(clip.frames, read_video(paths[0], num_frm=8))
        assert task.image_sizes(doc) == []


@pytest.mark.parametrize("name", VIDEO_TASKS)
def test_hub_rows_resolve_videos_in_lmms_eval_cache(name, env):
    """Rows from the hub carry no media root: videos are looked up where lmms-eval keeps them."""
    task = get_task(name)
    doc = dict(env["docs"][name][0])
    local = task.load_visuals(doc, frames=4).video
    doc[MEDIA_ROOT_KEY] = None
    hub = task.load_visuals(doc, frames=4).video
    assert hub.path.startswith(str(env["hf_home"]))
    assert os.path.realpath(hub.path) == os.path.realpath(local.path)


# ---- scores ---------------------------------------------------------------------------------------


def _expected_sample_score(name: str, result: dict) -> float:
    """The per-sample score on the metric's scale, by arithmetic on lmms-eval's per-sample result."""
    if name == "videomme":
        return 100.0 * result["videomme_perception_score"]["score"]
    if name == "mvbench":
        r = result["mvbench_accuracy"]
        return 100.0 * r["score"] if r["pred_answer"] != "" else 0.0
    if name == "egoschema":
        return float(str(result["score"]["pred"]) == str(result["score"]["ground_truth"]))
    if name == "nextqa":
        return float(result["exact_match"])
    return float(result["accuracy"]["correct"])


@pytest.mark.parametrize("name", VIDEO_TASKS)
def test_scores_and_aggregate_equal_lmms_eval(name, env, lmms):
    from lmms_eval.tasks._task_utils.mcq_extract import extract_mcq_answer

    task = get_task(name)
    metric = SPECS[name][5]
    records, reference = [], []
    fallbacks = 0
    for doc, row, cfg in cases(env, lmms, name):
        process = cfg["process_results"]
        for response in responses(row):
            record = task.score(doc, response)
            assert json.loads(json.dumps(record)) == record  # JSON-serialisable
            replay = _ReplayRandom(record.get("fallback_choice", []))
            saved = process.__globals__.get("random")
            process.__globals__["random"] = replay
            try:
                # lmms-eval's generate_until pipeline strips the response before process_results
                expected = process(row, [response.strip()])
            finally:
                process.__globals__["random"] = saved
            assert record["lmms"] == _jsonable(expected), (name, response)
            assert replay.calls == len(record.get("fallback_choice", []))
            fallbacks += replay.calls
            assert record["score"] == pytest.approx(_expected_sample_score(name, expected)), (name, response)
            if replay.calls:
                assert record["parse_failed"]
            _check_parsed(name, task, row, response, record, expected, extract_mcq_answer)
            records.append(record)
            reference.append(expected)
    if name in ("egoschema", "nextqa"):
        assert fallbacks > 0, "the response set should exercise lmms-eval's random fallback"
    metrics = task.aggregate(records)
    cfg = cases(env, lmms, name)[0][2]
    expected_agg = _call_agg(_agg(cfg), [r[metric] for r in reference])
    assert metrics[metric] == pytest.approx(float(expected_agg))
    assert metrics["parse_failure_rate"] == pytest.approx(
        sum(r["parse_failed"] for r in records) / len(records)
    )
    assert 0 < metrics["parse_failure_rate"] < 1
    if name == "mvbench":
        mv_cases = cases(env, lmms, name)
        per_doc = len(responses(mv_cases[0][1]))
        for (doc, _row, sub_cfg), rec_group in zip(mv_cases, _chunks(reference, per_doc)):
            key = f"mvbench_{doc['_config']}/mvbench_accuracy"
            assert metrics[key] == pytest.approx(_call_agg(_agg(sub_cfg), [r[metric] for r in rec_group]))


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _check_parsed(name, task, row, response, record, expected, extract_mcq_answer) -> None:
    parsed = record["parsed"]
    if name == "videomme":
        letter = extract_mcq_answer(response.strip(), choices=["A", "B", "C", "D"])
        assert parsed == (letter or None)
        assert record["parse_failed"] == (letter == "")
    elif name == "perceptiontest":
        pred_id = expected["accuracy"]["pred_id"]
        assert parsed == ("ABCD"[pred_id] if pred_id >= 0 else None)
        assert record["parse_failed"] == (pred_id < 0)
    elif name == "egoschema":
        assert parsed == "ABCDE"[expected["score"]["pred"]]
    elif name == "nextqa":
        assert (parsed == "ABCDE"[row["answer"]]) == bool(expected["exact_match"])
    elif name == "mvbench":
        if parsed is None:
            assert record["parse_failed"]
        gt = expected["mvbench_accuracy"]["gt_answer"]
        assert (parsed == gt) == bool(expected["mvbench_accuracy"]["score"])


@pytest.mark.parametrize("name", ["egoschema", "nextqa"])
def test_random_fallback_is_deterministic_per_doc(name, env):
    task = get_task(name)
    doc = env["docs"][name][0]
    first = task.score(doc, "garbage ###")
    assert first["parse_failed"] and first["fallback_choice"]
    for _ in range(3):
        assert task.score(doc, "garbage ###") == first
    state = __import__("random").getstate()
    get_task(name).score(doc, "???")
    assert __import__("random").getstate() == state  # the global RNG is never used


# ---- data sources, subsets, bad input ---------------------------------------------------------------


def test_limit_is_stratified_and_seeded(env):
    task = get_task("videomme")
    docs = task.load("samples", limit=6, seed=0)
    assert sorted(d["duration"] for d in docs) == ["long", "long", "medium", "medium", "short", "short"]
    assert task.selected_ids == [d["question_id"] for d in docs]
    assert [
        d["question_id"] for d in get_task("videomme").load("samples", limit=6, seed=0)
    ] == task.selected_ids
    mv = get_task("mvbench")
    assert len({d["_config"] for d in mv.load("samples", limit=20)}) == 20


def test_local_directory_in_hub_layout(env, tmp_path):
    """--data DIR: a copy of the sample layout loads offline; its videos resolve inside DIR."""
    task = get_task("perceptiontest")
    samples_dir = Path(env["docs"]["perceptiontest"][0][MEDIA_ROOT_KEY])
    shutil.copytree(samples_dir, tmp_path / "perceptiontest")
    docs = task.load(str(tmp_path))
    assert [task.doc_id(d) for d in docs] == [task.doc_id(d) for d in env["docs"]["perceptiontest"]]
    assert task.load_visuals(docs[0], frames=4).video.path.startswith(str(tmp_path))


def test_missing_and_truncated_videos_fail_only_that_doc(env, tmp_path):
    task = get_task("videomme")
    samples_dir = Path(env["docs"]["videomme"][0][MEDIA_ROOT_KEY])
    shutil.copytree(samples_dir, tmp_path / "videomme")
    docs = task.load(str(tmp_path))
    by_video: dict[str, list[dict]] = {}
    for d in docs:
        by_video.setdefault(d["videoID"], []).append(d)
    missing, truncated, fine = list(by_video)[:3]
    (tmp_path / "videomme" / "data" / f"{missing}.mp4").unlink()
    video = tmp_path / "videomme" / "data" / f"{truncated}.mp4"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])

    with pytest.raises(MediaError, match="video not found") as e:
        task.load_visuals(by_video[missing][0])
    assert "\n" not in str(e.value) and task.doc_id(by_video[missing][0]) in str(e.value)
    with pytest.raises(MediaError) as e:
        task.load_visuals(by_video[truncated][0])
    assert "\n" not in str(e.value) and task.doc_id(by_video[truncated][0]) in str(e.value)
    assert task.load_visuals(by_video[fine][0], frames=4).video.frames.shape[0] == 4


def test_hub_offline_fails_fast_naming_alternatives(env):
    with pytest.raises(DataError, match="--data samples") as e:
        get_task("videomme").load("hub")
    assert "\n" not in str(e.value)


def test_samples_are_deterministic(env, tmp_path):
    from tasks.samples import video_samples

    video_samples.perceptiontest(tmp_path / "a", n_videos=2)
    video_samples.perceptiontest(tmp_path / "b", n_videos=2)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        if rel.suffix == ".mp4":  # pixels, not container bytes (muxer metadata may differ)
            a = get_frames(tmp_path / "a" / rel)
            b = get_frames(tmp_path / "b" / rel)
            np.testing.assert_array_equal(a, b)
    assert reference_rows(tmp_path / "a", "mc_question_val", "validation") == reference_rows(
        tmp_path / "b", "mc_question_val", "validation"
    )


def get_frames(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
