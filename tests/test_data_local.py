"""`--data DIR` on copies of the hub repos in their real layout: datasets' own loader reads the README
configs, archives unpack on first use, MVBench's JSON configs, DATA_LIST folders, data0613/ and
frame folders; the preflight; truncated images decoded as lmms-eval decodes them."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ov_bench.model_spec import ModelSpec
from tasks import DataError, MediaError, get_task
from tests.support.hub_repos import make_repo

ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
CLI = [sys.executable, "-m", "ov_bench.cli"]


class Copies:
    """DIR holding repo copies (as `hf download` leaves them), each written on first request."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __truediv__(self, name: str) -> Path:
        if not (self.root / name).is_dir():
            make_repo(name, self.root / name)
        return self.root / name

    def __str__(self) -> str:
        return str(self.root)


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    root = tmp_path_factory.mktemp("copies")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(root / "hf-home"))
        mp.setenv("OV_BENCH_CACHE", str(root / "ovb-cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        yield Copies(root / "data")


def test_local_copy_is_read_by_datasets_and_unpacked_on_first_use(copies):
    import pyarrow.parquet as pq

    task_dir = copies / "nextqa"
    shutil.rmtree(task_dir / "NExTVideo", ignore_errors=True)
    shutil.rmtree(task_dir / ".ov_bench_unpacked", ignore_errors=True)
    assert (task_dir / "videos.zip").is_file() and not (task_dir / "NExTVideo").exists()  # still packed
    docs = get_task("nextqa").load(str(copies))
    expected = pq.read_table(
        task_dir / "MC" / "test-00000-of-00001.parquet"
    ).to_pylist()  # independent reader
    assert [{k: d[k] for k in expected[0]} for d in docs] == expected
    assert (task_dir / "NExTVideo").is_dir()  # unpacked on first use, where lmms-eval looks
    task = get_task("nextqa")
    clip = task.load_visuals(docs[0], frames=4).video
    assert clip.path == str(task_dir / "NExTVideo" / f"{docs[0]['video']}.mp4") and clip.frames.shape[0] == 4


@pytest.mark.slow  # writes the 20-config MVBench copy (~30 s)
def test_mvbench_json_configs_data_list_folders_data0613_and_frame_folders(copies):
    import json

    from lmms_eval.tasks.mvbench.utils import DATA_LIST  # lmms-eval's own table of folders

    task = get_task("mvbench")
    copies / "mvbench"
    docs = task.load(str(copies))
    configs = {d["_config"] for d in docs}
    assert configs == set(DATA_LIST) and len(configs) == 20
    for config in ("action_antonym", "episodic_reasoning"):
        rows = json.loads((copies / "mvbench" / "json" / f"{config}.json").read_text())
        got = [{k: d[k] for k in rows[0]} for d in docs if d["_config"] == config]
        assert got == rows
    moving = next(d for d in docs if d["_config"] == "moving_count")  # sits under data0613/ in the copy
    assert (
        task.video_path(moving)
        == copies / "mvbench" / "data0613" / DATA_LIST["moving_count"] / moving["video"]
    )
    episodic = next(d for d in docs if d["_config"] == "episodic_reasoning")
    folder = copies / "mvbench" / DATA_LIST["episodic_reasoning"] / episodic["video"]
    assert folder.is_dir()
    clip = task.load_visuals(episodic, frames=5).video
    n = len(list(folder.glob("*.jpg")))
    assert clip.total_frames == n and clip.fps == 3.0
    assert clip.indices == [int(x) for x in np.linspace(0, n - 1, 5)]  # lmms-eval's uniform indices
    from PIL import Image

    first = np.asarray(Image.open(sorted(folder.glob("*.jpg"))[0]).convert("RGB"))
    assert np.array_equal(clip.frames[0], first)


def test_limit_picks_rows_before_reading_media_columns(copies, monkeypatch):
    """The subset is chosen on the rows without image columns; only the chosen rows are read in full."""
    import datasets

    calls = []
    original = datasets.Dataset.select

    def spy(self, indices, *a, **kw):
        calls.append(len(list(indices)))
        return original(self, indices, *a, **kw)

    monkeypatch.setattr(datasets.Dataset, "select", spy)
    docs = get_task("nextqa").load(str(copies), limit=4, seed=1)
    assert len(docs) == 4 and calls == [4]


def test_preflight_stats_media_and_names_what_is_missing(copies, tmp_path):
    from tasks.preflight import missing_media

    shutil.copytree(copies / "nextqa", tmp_path / "nextqa")
    task = get_task("nextqa")
    docs = task.load(str(tmp_path))
    assert missing_media(task, docs) == []
    gone = tmp_path / "nextqa" / "NExTVideo" / f"{docs[0]['video']}.mp4"
    gone.unlink()
    missing = missing_media(task, docs)
    assert {m.doc_id for m in missing} == {task.doc_id(d) for d in docs if d["video"] == docs[0]["video"]}
    assert all("video not found" in m.reason and str(gone) in m.reason for m in missing)


def test_runner_preflight_partial_and_none(copies, tmp_path):
    from ov_bench.engine.runner import RunConfig, Runner
    from ov_bench.errors import UsageError
    from tests.support.fakes import InstantAdapter

    shutil.copytree(copies / "nextqa", tmp_path / "nextqa")
    task = get_task("nextqa")
    docs = task.load(str(tmp_path))
    (tmp_path / "nextqa" / "NExTVideo" / f"{docs[0]['video']}.mp4").unlink()
    cfg = RunConfig(
        tasks=["nextqa"],
        data=str(tmp_path),
        output=str(tmp_path / "out"),
        model=ModelSpec(model="tiny", frames=2),
        workers=0,
        progress=False,
        write_outputs=False,
    )
    runner = Runner(cfg, adapter=InstantAdapter())
    outcome = runner.run()
    errors = [r for r in outcome.rows if r.error]
    assert len(outcome.rows) == len(docs) and len(errors) == 3  # the three questions of the removed video
    assert all(r.error.startswith("media_missing: ") for r in errors)
    assert (
        runner.notes and "3/30 docs have no media" in runner.notes[0] and "video not found" in runner.notes[0]
    )
    shutil.rmtree(tmp_path / "nextqa" / "NExTVideo")
    (tmp_path / "nextqa" / ".ov_bench_unpacked").rename(tmp_path / "kept-marker")  # keep the archive packed
    (tmp_path / "nextqa" / "videos.zip").unlink()
    cfg.output = str(tmp_path / "out2")
    with pytest.raises(UsageError) as info:
        Runner(cfg, adapter=InstantAdapter()).run()
    assert "ov-bench fetch --tasks nextqa" in str(info.value) and "30/30 docs have no media" in str(
        info.value
    )
    assert not (tmp_path / "out2").exists()  # refused before anything is written or loaded


@pytest.mark.slow
def test_copy_missing_its_metadata_is_one_line_exit_2(copies, tmp_path):
    shutil.copytree(copies / "nextqa", tmp_path / "nextqa", ignore=shutil.ignore_patterns("README.md"))
    with pytest.raises(DataError, match="README.md missing"):
        get_task("nextqa").load(str(tmp_path))
    shutil.copy(copies / "nextqa" / "README.md", tmp_path / "nextqa" / "README.md")
    (tmp_path / "nextqa" / "MC" / "test-00000-of-00001.parquet").unlink()
    with pytest.raises(DataError) as info:
        get_task("nextqa").load(str(tmp_path))
    assert "\n" not in str(info.value) and "nextqa" in str(info.value)
    out = subprocess.run(
        [*CLI, "run", "--tasks", "nextqa", "--data", str(tmp_path), "--output", str(tmp_path / "o")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


@pytest.mark.slow
def test_corrupt_archive_in_a_copy_is_one_line_exit_2(copies, tmp_path):
    shutil.copytree(
        copies / "nextqa", tmp_path / "nextqa", ignore=shutil.ignore_patterns("NExTVideo", ".ov_bench_*")
    )
    raw = (tmp_path / "nextqa" / "videos.zip").read_bytes()
    (tmp_path / "nextqa" / "videos.zip").write_bytes(raw[: len(raw) // 2])
    out = subprocess.run(
        [*CLI, "run", "--tasks", "nextqa", "--data", str(tmp_path), "--output", str(tmp_path / "o")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr[-1500:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "videos.zip" in lines[0] and "Traceback" not in out.stderr
    assert (
        not (tmp_path / "nextqa" / "NExTVideo").exists()
        and not (tmp_path / "nextqa" / ".ov_bench_unpacked").exists()
    )


# ---- truncated images (issue 12.6) ---------------------------------------------------------------------


def _truncated_jpeg() -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    return data[: int(len(data) * 0.6)]


def test_truncated_image_decodes_as_lmms_eval_with_a_warning():
    from PIL import Image, ImageFile

    from tasks.media import decode_image, decode_image_lenient

    data = _truncated_jpeg()
    cell = {"bytes": data, "path": None}
    # lmms-eval's way, independently: the global switch on (as its import leaves it), then a plain decode
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # PIL's default, without lmms-eval imported
    image, warning = decode_image_lenient(cell, {}, "mmmu doc 1 image_1")
    assert np.array_equal(np.asarray(image.convert("RGB")), expected)
    assert warning and "truncated" in warning and "image_1" in warning
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # never left switched on
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # even with lmms-eval's global switch on
    with pytest.raises(MediaError, match="truncated"):
        decode_image(cell, {}, "x")  # the strict decode
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with pytest.raises(MediaError):
        decode_image_lenient(cell, {}, "x", strict=True)
    ok, none = decode_image_lenient({"bytes": _full_png(), "path": None}, {}, "x")
    assert none is None and ok.size == (8, 6)


def _full_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


def test_media_warning_is_recorded_and_strict_media_makes_it_an_error(tmp_path):
    from ov_bench.engine.runner import RunConfig, Runner
    from tasks import Visuals
    from tests.support.fakes import FakeImageTask, InstantAdapter

    class TruncatedTask(FakeImageTask):
        name = "fake_image"

        def load_visuals(self, doc: dict, frames: int = 32) -> Visuals:
            visuals = super().load_visuals(doc, frames)
            if doc["id"].endswith("1"):
                visuals.media_warning = f"{doc['id']} image: truncated image decoded with grey filler"
            return visuals

    def run(strict: bool, out: str):
        cfg = RunConfig(
            tasks=["fake_image"],
            data="samples",
            output=str(tmp_path / out),
            workers=0,
            progress=False,
            write_outputs=False,
            strict_media=strict,
        )
        return Runner(cfg, adapter=InstantAdapter(), task_factory=lambda name: TruncatedTask(n=4)).run()

    lenient = run(False, "a")
    warned = [r for r in lenient.rows if r.record and r.record.get("media_warning")]
    assert len(warned) == 1 and not any(r.error for r in lenient.rows)  # scored: n and the denominator match
    strict = run(True, "b")
    errors = [r for r in strict.rows if r.error]
    assert len(errors) == 1 and "--strict-media" in errors[0].error and errors[0].doc_id == warned[0].doc_id


def test_two_copies_with_the_same_name_do_not_share_a_cache(copies, tmp_path):
    """datasets keys a local folder's cache by its name and README patterns: ov-bench keys it by the
    copy's path and files, so a second DIR/nextqa with other rows is read as it is."""
    import pyarrow.parquet as pq

    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        shutil.copytree(
            copies / "nextqa", root / "nextqa", ignore=shutil.ignore_patterns("NExTVideo", ".ov_bench_*")
        )
    parquet = b / "nextqa" / "MC" / "test-00000-of-00001.parquet"
    pq.write_table(pq.read_table(parquet).slice(0, 3), parquet)
    assert len(get_task("nextqa").load(str(a))) == 30
    assert len(get_task("nextqa").load(str(b))) == 3
    pq.write_table(pq.read_table(a / "nextqa" / "MC" / "test-00000-of-00001.parquet").slice(0, 5), parquet)
    assert len(get_task("nextqa").load(str(b))) == 5  # rewritten in place: read again
