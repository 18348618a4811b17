"""`ov-bench fetch` and `--data hub` through the real clients (huggingface_hub's snapshot_download,
datasets' load_dataset) against a loopback hub on 127.0.0.1 serving repo copies in the real layouts
(tests/support/loopback_hub.py). huggingface_hub reads HF_ENDPOINT at import, so every check runs the
CLI in a subprocess with HF_ENDPOINT, an isolated HF_HOME and the offline switches unset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hub_repos import REPOS, make_repo, repo_files
from tests.support.loopback_hub import LoopbackHub

CLI = [sys.executable, "-m", "ov_bench.cli"]


class Hub:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = LoopbackHub().start()

    def serve(self, name: str) -> Path:
        """Write task `name`'s repo copy on first use and serve it under its hub id and revision."""
        folder = self.root / "repos" / name
        if not folder.is_dir():
            make_repo(name, folder)
            repo, revision = REPOS[name]
            self.server.add(repo, folder, revision)
        return folder

    def env(self, hf_home: Path, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
        env.update(
            HF_ENDPOINT=self.server.url,
            HF_HOME=str(hf_home),
            OV_BENCH_CACHE=str(self.root / "ovb-cache"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_ETAG_TIMEOUT="10",
            **extra,
        )
        return env

    def cli(
        self, hf_home: Path, *args: str, timeout: float = 300, python: str | None = None
    ) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", python, *args] if python else [*CLI, *args]
        return subprocess.run(cmd, env=self.env(hf_home), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("loopback")
    with pytest.MonkeyPatch.context() as mp:  # the copies are written offline
        mp.setenv("OV_BENCH_CACHE", str(root / "gen-cache"))
        mp.setenv("HF_HOME", str(root / "gen-hf"))
        h = Hub(root)
        try:
            yield h
        finally:
            h.server.stop()


@pytest.mark.slow  # two CLI fetches (~20 s on 2 shared cores)
def test_fetch_dest_downloads_what_the_split_needs_and_unpacks(hub, tmp_path):
    source = hub.serve("videomme")
    dest = tmp_path / "data"
    out = hub.cli(tmp_path / "hf", "fetch", "--tasks", "videomme", "--dest", str(dest))
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    total = sum(len(b) for n, b in repo_files(source).items() if n != "subtitle.zip")
    assert lines[0].startswith("videomme: lmms-eval/Video-MME, 4 files")  # README, parquet, 2 archives
    assert f"{total / 1000:.1f} KB" in lines[0]  # the size, from the hub's metadata, printed first
    import pyarrow.parquet as pq

    docs = sum(pq.read_metadata(f).num_rows for f in (source / "videomme").glob("test-*.parquet"))
    assert docs > 30 and f"all {docs} docs have their media" in out.stdout  # every row of the split
    got = repo_files(dest / "videomme")
    for name, data in repo_files(source).items():
        if name == "subtitle.zip":
            assert name not in got  # allow_patterns: the subtitle archive is not needed without subtitles
        else:
            assert got[name] == data
    members = sorted(n for n in got if n.startswith("data/") and n.endswith(".mp4"))
    import zipfile

    packed = sorted(m for z in source.glob("videos_chunked_*.zip") for m in zipfile.ZipFile(z).namelist())
    assert len(members) > 10 and members == packed  # unpacked with the real member prefix data/<videoID>.mp4
    again = hub.cli(tmp_path / "hf", "fetch", "--tasks", "videomme", "--dest", str(dest), "--include-extra")
    assert again.returncode == 0, again.stderr[-2000:]
    assert (dest / "videomme" / "subtitle.zip").read_bytes() == (source / "subtitle.zip").read_bytes()
    assert "of archives to unpack" not in again.stdout  # finished archives are not unpacked again


@pytest.mark.slow
def test_fetch_resumes_a_download_cut_off_midway(hub, tmp_path):
    source = hub.serve("nextqa")
    chunk = 4096
    cut = 3 * chunk
    assert (source / "videos.zip").stat().st_size > 4 * chunk
    hub.server.cut_once["videos.zip"] = cut
    before = hub.server.gets("videos.zip")
    # huggingface_hub writes what it received in 10 MB chunks; a 4 KB chunk makes a cut after 12 KB of a
    # small test archive behave as a cut after 30 MB of a real one (the bytes before it are kept)
    python = (
        "import sys\n"
        f"import huggingface_hub.constants as c; c.DOWNLOAD_CHUNK_SIZE = {chunk}\n"
        "from ov_bench.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    out = hub.cli(tmp_path / "hf", "fetch", "--tasks", "nextqa", "--dest", str(tmp_path / "d"), python=python)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "d" / "nextqa" / "videos.zip").read_bytes() == (source / "videos.zip").read_bytes()
    ranges = hub.server.ranges("videos.zip")[before:]
    assert ranges == ["", f"bytes={cut}-"]  # resumed where the connection dropped
    assert "all 30 docs have their media" in out.stdout
    # the --dest copy is what --data DIR reads (offline, in this process)
    from tasks import get_task
    from tasks.preflight import missing_media

    task = get_task("nextqa")
    docs = task.load(str(tmp_path / "d"))
    assert len(docs) == 30 and missing_media(task, docs) == []


@pytest.mark.slow  # writes the 20-config MVBench copy
def test_fetch_mvbench_at_its_revision_into_lmms_evals_folder(hub, tmp_path):
    hub.serve("mvbench")
    hf = tmp_path / "hf"
    out = hub.cli(hf, "fetch", "--tasks", "mvbench")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("mvbench: OpenGVLab/MVBench@video")
    assert any(
        p.endswith("/api/datasets/OpenGVLab/MVBench/revision/video") for _, p, _ in hub.server.requests
    )
    link = hf / "mvbench_video"  # create_link: True, as lmms-eval leaves it
    assert link.is_symlink() and (link / "json" / "action_antonym.json").is_file()
    assert (hf / "hub" / "datasets--OpenGVLab--MVBench" / "refs" / "video").is_file()
    assert "all 40 docs have their media" in out.stdout


@pytest.mark.slow  # a tiny-model run (~60 s on 2 shared cores)
def test_data_hub_fetches_missing_media_first_and_no_fetch_refuses(hub, tmp_path):
    hub.serve("nextqa")
    refused = hub.cli(
        tmp_path / "hf-a",
        "run",
        "--tasks",
        "nextqa",
        "--data",
        "hub",
        "--no-fetch",
        "--limit",
        "2",
        "--output",
        str(tmp_path / "o1"),
    )
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "ov-bench fetch --tasks nextqa" in lines[0], refused.stderr[-2000:]
    ran = hub.cli(
        tmp_path / "hf-b",
        "run",
        "--tasks",
        "nextqa",
        "--data",
        "hub",
        "--limit",
        "3",
        "--frames",
        "2",
        "--model",
        "tiny",
        "--no-progress",
        "--max-new-tokens",
        "4",
        "--output",
        str(tmp_path / "o2"),
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "nextqa: lmms-eval/NExTQA, 3 files" in ran.stderr  # the size line, before the download
    assert (tmp_path / "hf-b" / "nextqa" / "NExTVideo").is_dir()  # where lmms-eval looks
    row = next(line for line in ran.stdout.splitlines() if line.startswith("nextqa"))
    assert row.split()[1:3] == ["3", "0"]  # n=3, no errors


def test_fetch_bad_input_is_one_line_exit_2(hub, tmp_path):
    hub.serve("nextqa")
    unknown = hub.cli(tmp_path / "hf", "fetch", "--tasks", "nextqa,nosuchtask")
    assert unknown.returncode == 2 and "unknown task 'nosuchtask'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1 and not (tmp_path / "hf" / "hub").exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    not_dir = hub.cli(tmp_path / "hf", "fetch", "--tasks", "nextqa", "--dest", str(a_file))
    assert not_dir.returncode == 2 and "not a directory" in not_dir.stderr
    assert len(not_dir.stderr.strip().splitlines()) == 1 and a_file.read_text() == "x"


def test_fetch_refuses_when_the_disk_is_too_small(hub, tmp_path):
    hub.serve("nextqa")
    dest = tmp_path / "d"
    (dest / "nextqa").mkdir(parents=True)
    (dest / "nextqa" / "keep.txt").write_text("already here")
    python = (
        "import collections, shutil, sys\n"
        "shutil.disk_usage = lambda p: collections.namedtuple('u', 'total used free')(10**6, 10**6 - 5000, 5000)\n"
        "from ov_bench.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    out = hub.cli(tmp_path / "hf", "fetch", "--tasks", "nextqa", "--dest", str(dest), python=python)
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs" in lines[0] and "only 5.0 KB available" in lines[0]
    files = [
        p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file() and ".cache" not in p.parts
    ]
    assert files == ["nextqa/keep.txt"]  # nothing downloaded (the dry run's listing only), nothing lost
