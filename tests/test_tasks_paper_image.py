"""infovqa_val, mmstar, scienceqa_img, realworldqa, seedbench, mmbench_en_dev(_static) against lmms-eval
0.7.3's own pipeline.

The reference side is lmms-eval's ConfigurableTask built from the task's real YAML, with its dataset
loaded offline from the same sample repo (tests/tasks_support.py): its doc_to_text and doc_to_visual,
its filter ensembles, the evaluator's reasoning-tag stripping, its process_results and aggregation().
Nothing on that side goes through tasks/. Checked on the sample docs and on hand-written docs and
responses, unparseable ones included.
"""

from __future__ import annotations

import json
import random
import socket
import time

import pytest

from tasks import get_task
from tasks.data import samples_root
from tasks.judging import AWAITING_JUDGE_KEY
from tests.support.judge_server import JudgeServer
from tests.support.mmbench_judge import lmms_eval_judging_at, mmbench_reply
from tests.support.task_parity import (  # noqa: F401
    lmms_aggregate,
    lmms_config,
    lmms_configurable_task,
    lmms_process,
    pixels_equal,
    responses_for,
)

LMMS = {  # ov-bench name -> (lmms-eval task folder, YAML)
    "infovqa_val": ("infovqa", "infovqa_val.yaml"),
    "mmstar": ("mmstar", "mmstar.yaml"),
    "scienceqa_img": ("scienceqa", "scienceqa_img.yaml"),
    "realworldqa": ("realworldqa", "realworldqa.yaml"),
    "seedbench": ("seedbench", "seedbench.yaml"),
    "mmbench_en_dev": ("mmbench", "mmbench_en_dev.yaml"),
    "mmbench_en_dev_static": ("mmbench", "mmbench_en_dev_static.yaml"),
}
EXTRA_RESPONSES = [
    "<think>The picture has many shapes, maybe A.</think> B",
    "(C)",
    "Answer: D",
    "E",
    "b",
    "I cannot tell from this image.",
    "The answer is B.",
    "B. 4",
    "  A  ",
    "4",
]


@pytest.fixture(scope="module")
def pairs(samples_cache):
    """name -> (our task, our docs, lmms-eval's ConfigurableTask, its docs in the same order)."""
    out = {}
    for name, (task_dir, yaml_name) in LMMS.items():
        ours = get_task(name)
        docs = ours.load("samples")
        theirs = lmms_configurable_task(task_dir, yaml_name, samples_root() / name)
        rows = list(theirs.test_docs())
        assert len(rows) == len(docs) >= 20
        out[name] = (ours, docs, theirs, rows)
    return out


def _responses(row: dict) -> list[str]:
    out = responses_for(row) + EXTRA_RESPONSES
    for key in ("choice_a", "choice_d", "A", "B"):  # option texts: SEED-Bench's and MMBench's columns
        if row.get(key):
            out.append(str(row[key]))
    return out


def _roundtrip(records: list[dict]) -> list[dict]:
    return json.loads(json.dumps(records))  # records are stored as JSON; aggregates must survive it


@pytest.mark.parametrize("name", list(LMMS))
def test_prompts_and_metadata_equal_lmms_eval(pairs, name):
    ours, docs, theirs, rows = pairs[name]
    for doc, row in zip(docs, rows):
        assert ours.doc_to_text(doc) == theirs.doc_to_text(row)
    # visuals: the first docs (all of them in the slow tier's test below)
    for doc, row in list(zip(docs, rows))[:3]:
        expected = theirs.doc_to_visual(row)
        got = ours.load_visuals(doc).images
        assert len(got) == len(expected) >= 1 and all(pixels_equal(g, e) for g, e in zip(got, expected))
    yaml = lmms_config(*LMMS[name])  # lmms-eval's YAML as lmms-eval loads it
    assert (ours.dataset.repo, ours.dataset.config) == (yaml["dataset_path"], yaml.get("dataset_name"))
    assert ours.dataset.split == theirs.config.test_split
    assert ours.generation_kwargs == {k: v for k, v in theirs.config.generation_kwargs.items()}
    assert ours.lmms_eval_name == theirs.config.task


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LMMS))
def test_every_visual_equals_lmms_eval(pairs, name):
    ours, docs, theirs, rows = pairs[name]
    for doc, row in zip(docs, rows):
        expected = theirs.doc_to_visual(row)
        got = ours.load_visuals(doc).images
        assert len(got) == len(expected) and all(pixels_equal(g, e) for g, e in zip(got, expected))
        assert ours.image_sizes(doc) == [im.size for im in expected]


def _parity(name, pairs, tmp_path, docs_rows=None, responses=None):
    """Score every (doc, response) both ways; return (our records, lmms-eval's per-doc results)."""
    ours, docs, theirs, rows = pairs[name]
    docs_rows = docs_rows or list(zip(docs, rows))
    records, results = [], []
    for i, (doc, row) in enumerate(docs_rows):
        for response in responses(row) if responses else _responses(row):
            expected = lmms_process(theirs, row, response, doc_id=i)
            record = ours.score(doc, response)
            assert record["lmms"] == json.loads(json.dumps(expected)), (name, response)
            records.append(record)
            results.append(expected)
    return records, results


def _aggregates_equal(ours, theirs, records, results, tmp_path, skip=()):
    got = ours.aggregate(_roundtrip(records))
    expected = lmms_aggregate(theirs, results, str(tmp_path))
    for metric, value in expected.items():
        if metric in skip:
            continue
        if value is None:
            assert metric not in got  # a file-writing aggregation: nothing to report, no float(None)
        else:
            assert got[metric] == pytest.approx(value, abs=1e-12), metric
    return got, expected


@pytest.mark.parametrize("name", ["infovqa_val", "mmstar", "scienceqa_img", "realworldqa", "seedbench"])
def test_scores_and_aggregates_equal_lmms_eval(pairs, name, tmp_path):
    ours, _, theirs, _ = pairs[name]
    records, results = _parity(name, pairs, tmp_path)
    got, expected = _aggregates_equal(ours, theirs, records, results, tmp_path)
    assert set(expected) <= set(got) and expected  # every lmms-eval metric reported
    scores = {r["score"] for r in records}
    assert len(scores) > 1  # right and wrong answers both happen
    if name != "infovqa_val":  # ANLS has no parser: nothing can fail to parse
        assert 0 < got["parse_failure_rate"] < 1


def test_seedbench_image_and_video_rows(pairs, tmp_path):
    ours, docs, theirs, rows = pairs["seedbench"]
    video = [(d, r) for d, r in zip(docs, rows) if d["data_type"] == "video"]
    assert video and all(len(ours.load_visuals(d).images) > 1 for d, _ in video[:2])  # frames as images
    # lmms-eval calls doc_to_text with the doc alone: the function takes no kwargs
    fn = theirs.config.doc_to_text
    with pytest.raises(TypeError):
        fn(rows[0], {})
    assert ours.doc_to_text(docs[0]) == fn(rows[0])
    truth = lambda row: [row["answer"]]  # noqa: E731
    records, results = _parity("seedbench", pairs, tmp_path, responses=truth)
    got, _ = _aggregates_equal(ours, theirs, records, results, tmp_path)
    assert got["seed_image"] == got["seed_video"] == got["seed_all"] == 1.0
    assert ours.paper_modalities == ("single_image", "video")


# ---- hand-written docs ----------------------------------------------------------------------------


def _png(size=(64, 48)):
    from tasks.samples.draw import encode, shapes_image

    return encode(shapes_image(random.Random(0), size, [("red", "circle")]), "x.png")


def _pil(cell):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(cell["bytes"]))


HAND_DOCS = {
    "mmstar": {
        "index": 7,
        "question": "Which is right? Please answer yes or no.\nOptions: A: yes, B: no",
        "answer": "B",
        "category": "math",
        "l2_category": "geometry",
        "meta_info": {"source": "x", "split": "val", "image_path": "x.png"},
    },
    "scienceqa_img": {
        "question": "Which one is a mammal?",
        "choices": ["frog", "whale", "shark", "eagle", "trout"],
        "answer": 1,
        "hint": "",
        "subject": "natural science",
    },
    "realworldqa": {
        "question": "Which way does the road go? Please answer directly with a single word.",
        "answer": "Downhill",
    },
    "seedbench": {
        "answer": "C",
        "choice_a": "run",
        "choice_b": "sit",
        "choice_c": "jump",
        "choice_d": "swim",
        "data_type": "video",
        "question": "What does the person do?",
        "question_id": "v1",
        "question_type_id": 10,
    },
    "infovqa_val": {
        "questionId": "1",
        "question": "What is the title?",
        "answers": ["Coffee", "coffee facts"],
        "answer_type": ["single span"],
    },
    "mmbench_en_dev_static": {
        "index": 5,
        "question": "What is shown?",
        "hint": "nan",
        "answer": "A",
        "A": "a cat",
        "B": "a dog",
        "C": None,
        "D": None,
        "category": "image_scene",
        "L2-category": "Coarse Perception",
        "source": "x",
        "split": "dev",
        "comment": None,
    },
}
HAND_RESPONSES = [
    "",
    "jump",
    "It is a cat.",
    "Downhill.",
    "downhill",
    "coffee",
    "(B)",
    "no idea",
    "C",
    "A dog and a cat",
]


@pytest.mark.parametrize("name", list(HAND_DOCS))
def test_hand_written_docs_equal_lmms_eval(pairs, name, tmp_path):
    ours, _, theirs, _ = pairs[name]
    doc = dict(HAND_DOCS[name], _row=0, _media_root=None)
    assert ours.doc_to_text(doc) == theirs.doc_to_text(HAND_DOCS[name])
    for response in HAND_RESPONSES:
        expected = lmms_process(theirs, dict(HAND_DOCS[name]), response)
        assert ours.score(doc, response)["lmms"] == json.loads(json.dumps(expected)), response


# ---- MMBench: CircularEval, the judge trap, no network, no ./submissions ---------------------------


def _mmbench_responses(rotation: int, mixed: bool = False):
    """Per doc: right, wrong, unreadable (two option texts, no letter: the rule-based matcher gives up),
    or an option's text; all rotations of a question get the same kind (1e6 is a multiple of 4).
    ``mixed``: each rotation its own kind, wrong ones only unreadable (meaning the wrong option), so
    that most questions go to the judge."""

    def pick(row: dict) -> list[str]:
        k = sum(row[c] is not None for c in "ABCD")
        wrong = next(c for c in "ABCD"[:k] if c != row["answer"])
        right, other = row[row["answer"]], row[wrong]
        unsure = f"either {right} or {other}, rather {right}"  # two option texts
        kinds = [row["answer"], wrong, unsure, right]
        if mixed:
            kinds = [row["answer"], unsure, f"either {right} or {other}, rather {other}", right]
        return [kinds[(row["index"] + rotation + (row["index"] // 1_000_000 if mixed else 0)) % 4]]

    return pick


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test at once (lmms-eval's MMBench client must never run)."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_mmbench_static_equals_lmms_eval(pairs, tmp_path, no_network, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ours, _, theirs, _ = pairs["mmbench_en_dev_static"]
    for rotation in range(4):
        records, results = _parity(
            "mmbench_en_dev_static", pairs, tmp_path, responses=_mmbench_responses(rotation)
        )
        _aggregates_equal(ours, theirs, records, results, tmp_path / "ref")
    assert not (tmp_path / "submissions").exists()  # lmms-eval's files went to a temporary directory


def test_mmbench_en_dev_without_judge_scores_as_static_and_flags(pairs, tmp_path, no_network, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dev, docs, dev_lmms, rows = pairs["mmbench_en_dev"]
    static, _, static_lmms, _ = pairs["mmbench_en_dev_static"]
    assert dev.scoring == "local" and dev.group_judged  # runs without a judge; judged by group with one
    records, results = _parity("mmbench_en_dev", pairs, tmp_path, responses=_mmbench_responses(0))
    unreadable = [r for r in records if r.get(AWAITING_JUDGE_KEY)]
    assert unreadable and len(unreadable) < len(records)
    evaluator = static_lmms.config.process_results.__globals__["mmbench_evaluator"]
    for r in records:  # the flag is exactly lmms-eval's rule-based matcher failing
        readable = evaluator.prefetch_answer(dict(r["lmms"]["gpt_eval_score"]))
        assert bool(r.get(AWAITING_JUDGE_KEY)) == (not readable)
    state = random.getstate()
    start = time.monotonic()
    got = dev.aggregate(_roundtrip(records))
    assert time.monotonic() - start < 10  # no 45 s of retries
    assert random.getstate() == state  # lmms-eval's random.seed(2680) did not leak
    expected = lmms_aggregate(static_lmms, results, str(tmp_path / "ref"))
    assert got["gpt_eval_score"] == pytest.approx(expected["gpt_eval_score"], abs=1e-12)
    assert got["awaiting_judge"] == len(unreadable) and got["judge_answers"] == 0
    assert "submission" not in got and expected["submission"] is None
    assert not (tmp_path / "submissions").exists()
    # where every prediction is readable, lmms-eval's own mmbench_en_dev aggregation (it would call a
    # judge otherwise) gives the same number
    records, results = _parity("mmbench_en_dev", pairs, tmp_path, responses=lambda row: [row["answer"]])
    assert not any(r.get(AWAITING_JUDGE_KEY) for r in records) and dev.judge_groups(records) == []
    got, _ = _aggregates_equal(dev, dev_lmms, records, results, tmp_path / "ref")
    assert got["gpt_eval_score"] == 100.0 and got["awaiting_judge"] == 0


def test_mmbench_limit_keeps_circular_rotations_together(pairs):
    ours, docs, _, _ = pairs["mmbench_en_dev"]
    rotations = {}
    for d in docs:
        rotations.setdefault(d["index"] % 1_000_000, set()).add(d["index"])
    assert any(len(v) > 2 for v in rotations.values())
    for limit, seed in [(5, 0), (9, 1), (14, 2)]:
        sub = get_task("mmbench_en_dev").load("samples", limit=limit, seed=seed)
        chosen = {}
        for d in sub:
            chosen.setdefault(d["index"] % 1_000_000, set()).add(d["index"])
        assert all(v == rotations[q] for q, v in chosen.items())
        assert limit <= len(sub) < limit + 4


def test_mmbench_never_calls_float_on_none(pairs):
    ours, docs, _, _ = pairs["mmbench_en_dev"]
    assert ours.aggregate([]) == {
        "parse_failure_rate": pytest.approx(float("nan"), nan_ok=True),
        "awaiting_judge": 0.0,
        "judge_answers": 0.0,
    }
    only_rotation = [ours.score(d, d["answer"]) for d in docs if d["index"] >= 1_000_000][:1]
    out = ours.aggregate(only_rotation)  # no original row: lmms-eval scores no question
    assert all(v is None or isinstance(v, float) for v in out.values())


def test_mmbench_en_dev_judged_groups_equal_lmms_eval(pairs, tmp_path, monkeypatch):
    """With a judge, each CircularEval group holding an unreadable prediction is judged through ov-bench's
    transport: the same requests lmms-eval's own client sends to the same server, the group's result and
    the whole aggregate what lmms-eval's judge aggregation gives with those replies."""
    import copy

    from tasks.judging import JudgeConfig, judge_scope, judge_session

    monkeypatch.chdir(tmp_path)
    dev, _, dev_lmms, _ = pairs["mmbench_en_dev"]
    records, results = _parity("mmbench_en_dev", pairs, tmp_path, responses=_mmbench_responses(2, True))
    groups = dev.judge_groups(records)
    indices = [int(r["lmms"]["gpt_eval_score"]["index"]) for r in records]
    flagged = {i for i, r in enumerate(records) if r.get(AWAITING_JUDGE_KEY)}
    assert groups and {i for g in groups for i in g} >= flagged  # every unreadable row's group
    for group in groups:  # one question each, all of its rows, one of them unreadable
        question = indices[group[0]] % 1_000_000
        assert sorted(group) == [i for i, x in enumerate(indices) if x % 1_000_000 == question]
        assert flagged & set(group)
    # lmms-eval's gpt_eval_score aggregation (its YAML's en_utils) with its own client
    aggregation = dev_lmms.aggregation()["gpt_eval_score"]
    evaluator = aggregation.__globals__["mmbench_evaluator"]
    group_scores = []
    with JudgeServer(mmbench_reply) as server:
        for group in groups:
            judged = [copy.deepcopy(records[i]) for i in group]
            with judge_scope(JudgeConfig(url=server.url)), judge_session() as session:
                score = dev.judge_group(judged)
            ours = list(server.requests)
            server.clear()
            with lmms_eval_judging_at(evaluator, server, monkeypatch):
                expected = lmms_aggregate(dev_lmms, [results[i] for i in group], str(tmp_path / "ref"))
            assert score * 100 == expected["gpt_eval_score"]
            assert ours == server.requests  # the same prompts, parameters and judge model, in order
            assert [e.messages for e in session.exchanges] == [r["messages"] for r in ours]
            server.clear()
            for i, record in zip(group, judged):
                records[i] = record
            group_scores.append(score)
        assert set(group_scores) == {0.0, 1.0}  # questions judged right and wrong both happen
        read = [r for r in records if "judge_answer" in r]
        assert read and all(r["parsed"] == r["judge_answer"] for r in read)
        got = dev.aggregate(_roundtrip(records))
        with lmms_eval_judging_at(evaluator, server, monkeypatch):
            expected = lmms_aggregate(dev_lmms, results, str(tmp_path / "ref"))["gpt_eval_score"]
        assert got["gpt_eval_score"] == pytest.approx(expected, abs=1e-12)
        assert got["judge_answers"] == len(read)
        static = pairs["mmbench_en_dev_static"][0].aggregate(_roundtrip(records))["gpt_eval_score"]
        assert static != expected  # the judge changed the number here
    assert not (tmp_path / "submissions").exists()


def test_mmbench_unreadable_judge_reply_fails_the_group(pairs, tmp_path, monkeypatch):
    """lmms-eval asks twice more and then draws a random letter; here the group awaits the judge."""
    import copy

    from tasks.judging import JudgeConfig, JudgeError, judge_scope, judge_session

    dev = pairs["mmbench_en_dev"][0]
    records, _ = _parity("mmbench_en_dev", pairs, tmp_path, responses=_mmbench_responses(2))
    group = [copy.deepcopy(records[i]) for i in dev.judge_groups(records)[0]]
    state = random.getstate()
    with JudgeServer(lambda request: "I am not sure") as server:
        with judge_scope(JudgeConfig(url=server.url)), judge_session() as session:
            with pytest.raises(JudgeError, match="unusable reply 'I am not sure'"):
                dev.judge_group(group)
        assert len(server.requests) == 1 and len(session.exchanges) == 1
    assert random.getstate() == state
    assert not any("judge_answer" in r for r in group)


# ---- data layout: the sample sets are the hub repos' layout; fetch and --data DIR read them ---------


@pytest.mark.parametrize("name", list(LMMS))
def test_sample_files_are_what_fetch_downloads(pairs, name):
    from fnmatch import fnmatch

    from tasks.data import SAMPLES_MARKER
    from tasks.hub_layout import fetch_spec

    spec = fetch_spec(pairs[name][0])
    files = [
        p.relative_to(samples_root() / name).as_posix()
        for p in (samples_root() / name).rglob("*")
        if p.is_file()
    ]
    data = [f for f in files if f not in ("README.md", SAMPLES_MARKER)]
    assert data and all(any(fnmatch(f, g) for g in spec.metadata_patterns) for f in data)
    expected = {
        "mmstar": ["mmstar.parquet"],
        "realworldqa": ["data/test-*"],
        "seedbench": ["data/test-*"],
        "scienceqa_img": ["ScienceQA-IMG/test-*"],
        "infovqa_val": ["InfographicVQA/validation-*"],
        "mmbench_en_dev": ["en/dev-*"],
        "mmbench_en_dev_static": ["en/dev-*"],
    }[name]
    assert list(spec.metadata_patterns) == expected  # the paths of the hub repo (docs/tasks.md)


@pytest.mark.slow  # a CLI fetch and a --data hub load against a loopback hub
def test_mmstar_fetch_and_hub_load_through_the_real_clients(pairs, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    from tests.support.loopback_hub import LoopbackHub

    repo = tmp_path / "repo"
    shutil.copytree(samples_root() / "mmstar", repo, ignore=shutil.ignore_patterns(".ov_bench*"))
    (repo / "MMStar.tsv").write_text("index\tquestion\n")  # on the hub, outside `configs:`: not needed
    server = LoopbackHub().start()
    try:
        server.add("Lin-Chen/MMStar", repo)
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
        env.update(HF_ENDPOINT=server.url, HF_HOME=str(tmp_path / "hf"), OV_BENCH_CACHE=str(tmp_path / "c"))
        cli = [sys.executable, "-m", "ov_bench.cli"]
        out = subprocess.run(
            [*cli, "fetch", "--tasks", "mmstar", "--dest", str(tmp_path / "d")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert sorted(
            p.name for p in (tmp_path / "d" / "mmstar").iterdir() if not p.name.startswith(".")
        ) == ["README.md", "mmstar.parquet"]
        code = "import sys, tasks; print(len(tasks.get_task('mmstar').load(sys.argv[1])))"
        for data in (str(tmp_path / "d"), "hub"):
            out = subprocess.run(
                [sys.executable, "-c", code, data], env=env, capture_output=True, text=True, timeout=300
            )
            assert out.returncode == 0 and out.stdout.strip() == str(len(pairs["mmstar"][1])), out.stderr[
                -2000:
            ]
    finally:
        server.stop()
