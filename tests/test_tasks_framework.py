"""tasks/ framework: registry, errors, data sources (hub offline, local hub layout, samples cache),
stratified subsets. The task-specific parity tests are in test_tasks_image.py / _multi_image.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest

import tasks
from tasks import DataError, TaskError, get_task, list_tasks
from tasks.data import SAMPLES_MARKER, ensure_samples, samples_root
from tasks.subset import stratified_subset

IMAGE_TASKS = ["ai2d", "chartqa", "docvqa", "llava_interleave_bench", "mme", "mmmu", "muirbench"]


def test_import_is_cheap():
    code = "import sys, tasks; print(any(m.split('.')[0] in ('lmms_eval', 'datasets', 'torch', 'PIL', 'transformers') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_lists_image_tasks_and_rejects_unknown_names():
    names = list_tasks()
    assert set(IMAGE_TASKS) <= set(names) and names == sorted(names)
    with pytest.raises(TaskError) as info:
        get_task("mmmmu")
    message = str(info.value)
    assert message.startswith("unknown task 'mmmmu'; did you mean: mmmu") and "\n" not in message
    assert isinstance(info.value, ValueError)  # a user error, never an exit


def test_task_attributes():
    modalities = {
        "mmmu": "single_image",
        "ai2d": "single_image",
        "mme": "single_image",
        "chartqa": "single_image",
        "docvqa": "single_image",
        "muirbench": "multi_image",
        "llava_interleave_bench": "multi_image",
    }
    for name, modality in modalities.items():
        task = get_task(name)
        assert task.name == name and task.modality == modality
        assert isinstance(task.dataset, tasks.HubDataset) and task.dataset.repo
        assert task.generation_kwargs["max_new_tokens"] > 0
    assert get_task("mmmu").dataset.repo == "lmms-lab-encoder/MMMU"
    assert get_task("mme").main_metric == "mme_perception_score"


def test_hub_offline_fails_fast_with_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        get_task("chartqa").load("hub")
    message = str(info.value)
    assert "\n" not in message and "--data samples" in message and "--data DIR" in message


def test_bad_data_argument():
    with pytest.raises(DataError, match="not 'hub', 'samples' or an existing directory"):
        get_task("ai2d").load("/no/such/dir")
    with pytest.raises(TaskError, match="limit"):
        get_task("ai2d").load("samples", limit=0)


@pytest.mark.slow
def test_local_hub_layout_loads_offline(samples_cache, tmp_path):
    """A directory laid out like the hub repos (DIR/<task>/[config/]split-*.parquet) loads with
    HF_HUB_OFFLINE=1 / HF_DATASETS_OFFLINE=1 set, in a fresh process."""
    for name in ("mmmu", "docvqa", "llava_interleave_bench"):
        shutil.copytree(
            ensure_samples(get_task(name)), tmp_path / name, ignore=shutil.ignore_patterns(SAMPLES_MARKER)
        )
    code = (
        "import sys, tasks\n"
        "for n in ('mmmu', 'docvqa', 'llava_interleave_bench'):\n"
        "    print(n, len(tasks.get_task(n).load(sys.argv[1])))\n"
    )
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OV_BENCH_CACHE=str(tmp_path / "unused-cache")
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    counts = dict(line.split() for line in out.stdout.strip().splitlines())
    assert set(counts) == {"mmmu", "docvqa", "llava_interleave_bench"} and all(
        int(c) > 0 for c in counts.values()
    )
    assert not (tmp_path / "unused-cache").exists()  # a directory source never generates samples
    for name in counts:  # media resolve and prompts build from the local copy (offline env still set)
        task = get_task(name)
        doc = task.load(str(tmp_path))[0]
        assert task.load_visuals(doc).images and task.doc_to_text(doc)

    # the same rows as the samples source, apart from where media resolve from
    a = get_task("mmmu").load(str(tmp_path))
    b = get_task("mmmu").load("samples")
    strip = lambda d: {k: v for k, v in d.items() if k != "_media_root"}  # noqa: E731
    assert [strip(d) for d in a] == [strip(d) for d in b]


def test_local_dir_errors(tmp_path):
    with pytest.raises(DataError, match="ai2d"):
        get_task("ai2d").load(str(tmp_path))
    (tmp_path / "ai2d" / "data").mkdir(parents=True)
    (tmp_path / "ai2d" / "data" / "test-00000-of-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="README.md missing"):  # the copy lacks its metadata
        get_task("ai2d").load(str(tmp_path))
    (tmp_path / "ai2d" / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n---\n"
    )
    with pytest.raises(DataError, match="cannot load default/test") as info:  # no test split declared
        get_task("ai2d").load(str(tmp_path))
    assert "\n" not in str(info.value)
    (tmp_path / "ai2d" / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: test\n    path: data/test-*\n---\n"
    )
    with pytest.raises(DataError, match="cannot load default/test") as info:  # unreadable parquet
        get_task("ai2d").load(str(tmp_path))
    assert "\n" not in str(info.value)


def test_samples_are_deterministic_and_cached(samples_cache):
    task = get_task("chartqa")
    path = ensure_samples(task)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    first = {p: p.read_bytes() for p in files}
    assert ensure_samples(task) == path and path.parent == samples_root()
    assert {p: p.read_bytes() for p in files} == first  # cached: not rewritten
    shutil.rmtree(path)
    ensure_samples(task)  # regenerated: the same bytes
    assert {p: p.read_bytes() for p in sorted(q for q in path.rglob("*") if q.is_file())} == first
    assert not list(samples_root().glob(".chartqa.tmp-*"))


def test_sample_images_vary_in_size(samples_cache):
    sizes = set()
    for name in ("mmmu", "ai2d", "chartqa"):
        task = get_task(name)
        for doc in task.load("samples"):
            sizes.update(task.image_sizes(doc))
    widths = {w for w, _ in sizes}
    assert min(widths) <= 32 and max(widths) >= 1600
    assert any(w >= 4 * h for w, h in sizes) and any(h >= 3 * w for w, h in sizes)  # panoramic, tall


def test_mmmu_samples_follow_the_hub_schema(samples_cache):
    import ast
    import re

    docs = get_task("mmmu").load("samples")
    assert {d["question_type"] for d in docs} == {"multiple-choice", "open"}
    for d in docs:
        assert isinstance(d["options"], str) and isinstance(ast.literal_eval(d["options"]), list)
        assert set(d) >= {
            "id",
            "question",
            "options",
            "explanation",
            "img_type",
            "answer",
            "topic_difficulty",
            "subfield",
        } | {f"image_{i}" for i in range(1, 8)}
        text = d["question"] + d["options"]
        for k in re.findall(r"<image (\d)>", text):
            assert d[f"image_{k}"] is not None
    assert any(
        max(int(k) for k in re.findall(r"<image (\d)>", d["question"] + d["options"])) >= 3 for d in docs
    )


# ---- limit: stratified, seeded subsets -------------------------------------------------------


def test_limit_is_stratified_seeded_and_recorded(samples_cache):
    task = get_task("mmmu")
    full = task.load("samples")
    subjects = {task.stratum(d) for d in full}
    sub = task.load("samples", limit=8, seed=0)
    assert len(sub) == 8
    assert {task.stratum(d) for d in sub} == subjects  # one per subject, not the first subjects
    assert task.selected_ids == [task.doc_id(d) for d in sub]
    assert [d["id"] for d in sub] != [d["id"] for d in full[:8]]
    assert [d["id"] for d in get_task("mmmu").load("samples", limit=8, seed=0)] == task.selected_ids
    others = [[d["id"] for d in get_task("mmmu").load("samples", limit=8, seed=s)] for s in range(1, 4)]
    assert any(ids != task.selected_ids for ids in others)
    assert len(task.load("samples", limit=1000)) == len(full)


def test_limit_keeps_mme_pairs_together(samples_cache):
    task = get_task("mme")
    for limit, seed in [(5, 0), (8, 1), (11, 2)]:
        sub = task.load("samples", limit=limit, seed=seed)
        counts = Counter(d["question_id"] for d in sub)
        assert set(counts.values()) == {2}
        assert len(sub) in (limit, limit + 1)
        task.aggregate([task.score(d, "yes") for d in sub])  # lmms-eval's pairwise aggregation accepts it


def test_stratified_subset_allocation_is_proportional():
    docs = [{"id": f"{s}{i}", "s": s} for s, n in (("a", 60), ("b", 30), ("c", 10)) for i in range(n)]
    sub = stratified_subset(docs, 20, seed=3, key=lambda d: d["id"], stratum=lambda d: d["s"])
    assert Counter(d["s"] for d in sub) == {"a": 12, "b": 6, "c": 2}
    assert sub == sorted(sub, key=docs.index)  # dataset order kept
    tiny = stratified_subset(docs, 2, seed=3, key=lambda d: d["id"], stratum=lambda d: d["s"])
    assert len(tiny) == 2


def test_hub_source_reads_rows_like_the_local_source(samples_cache, monkeypatch):
    """The hub path (datasets.load_dataset + undecoded image cells) on a hub-layout repo on disk:
    rows equal those of the local-directory reader."""
    task = get_task("mmmu")
    repo = ensure_samples(task)
    monkeypatch.setattr(task, "hub_datasets", lambda: [tasks.HubDataset(str(repo), None, "validation")])
    from_hub = task.load("hub")
    from_dir = task.load("samples")
    assert all(d["_media_root"] is None for d in from_hub)
    strip = lambda d: {k: v for k, v in d.items() if k != "_media_root"}  # noqa: E731
    assert [strip(d) for d in from_hub] == [strip(d) for d in from_dir]
    assert task.load_visuals(from_hub[0]).images


def test_quiet_is_thread_safe(capsys):
    """lmms-eval prints inside scoring calls; quiet() drops only the calling thread's output and
    always leaves the real sys.stdout in place, even with many threads scoring at once."""
    import threading

    from tasks.lmms import quiet

    before = sys.stdout
    barrier = threading.Barrier(6)

    def noisy() -> None:
        barrier.wait()
        for _ in range(300):
            with quiet():
                print("lmms-eval noise")

    threads = [threading.Thread(target=noisy) for _ in range(6)]
    for t in threads:
        t.start()
    print("visible")
    for t in threads:
        t.join()
    assert sys.stdout is before
    out = capsys.readouterr().out
    assert "visible" in out and "noise" not in out
