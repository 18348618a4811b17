"""tasks/archives.py: zip, tar and split-tar unpacking, resumable (a marker per archive), never
half-done, corrupt archives named in one line."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tasks.archives import MARKER_DIR, ArchiveError, find_archives, is_unpacked, unpack, unpack_all


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_zip_unpacks_once_with_a_marker(tmp_path):
    repo, dest = tmp_path / "repo", tmp_path / "dest"
    repo.mkdir()
    _zip(repo / "videos_chunked_01.zip", {"data/a.mp4": b"A" * 100, "data/b.mp4": b"B" * 50})
    _zip(repo / "videos_chunked_02.zip", {"data/c.mp4": b"C" * 10})
    _zip(repo / "subtitle.zip", {"subtitle/a.srt": b"x"})
    assert unpack_all(repo, dest, ["videos_chunked_*.zip"]) == [
        "videos_chunked_01.zip",
        "videos_chunked_02.zip",
    ]
    assert (dest / "data" / "a.mp4").read_bytes() == b"A" * 100 and (
        dest / "data" / "c.mp4"
    ).read_bytes() == b"C" * 10
    assert not (dest / "subtitle").exists()  # not matched by the pattern
    (dest / "data" / "a.mp4").write_bytes(b"edited")
    assert unpack_all(repo, dest, ["videos_chunked_*.zip"]) == []  # finished archives are not unpacked again
    assert (dest / "data" / "a.mp4").read_bytes() == b"edited"
    assert not [p for p in dest.iterdir() if p.name.startswith(".ov_bench_tmp")]


def test_split_tar_parts_are_one_archive(tmp_path):
    repo, dest = tmp_path / "repo", tmp_path / "dest"
    repo.mkdir()
    data = _tar_bytes({"videos/x.mp4": b"X" * 3000, "videos/y.mp4": b"Y" * 5000})
    cut = len(data) // 3
    (repo / "videos.tar.00").write_bytes(data[:cut])
    (repo / "videos.tar.01").write_bytes(data[cut : 2 * cut])
    (repo / "videos.tar.02").write_bytes(data[2 * cut :])
    archives = find_archives(repo, ["videos.tar*"])
    assert [a.name for a in archives] == ["videos.tar"] and len(archives[0].parts) == 3
    assert unpack_all(repo, dest, ["videos.tar*"]) == ["videos.tar"]
    assert (dest / "videos" / "y.mp4").read_bytes() == b"Y" * 5000
    # lmms-eval's grouping: name_<digits>.tar parts belong to one archive too
    (repo / "clips_1.tar").write_bytes(_tar_bytes({"clips/a.mp4": b"a"}))
    (repo / "clips_2.tar").write_bytes(_tar_bytes({"clips/b.mp4": b"b"}))
    assert [a.name for a in find_archives(repo, ["clips_*.tar"])] == ["clips.tar"]


def test_corrupt_or_truncated_archive_is_named_and_leaves_nothing_complete(tmp_path):
    repo, dest = tmp_path / "repo", tmp_path / "dest"
    repo.mkdir()
    _zip(repo / "good.zip", {"data/g.mp4": b"G" * 1000})
    _zip(repo / "bad.zip", {"data/b1.mp4": b"1" * 5000, "data/b2.mp4": bytes(range(256)) * 40})
    raw = (repo / "bad.zip").read_bytes()
    (repo / "bad.zip").write_bytes(raw[: len(raw) // 2])  # truncated download
    unpack_all(repo, dest, ["good.zip"])
    with pytest.raises(ArchiveError) as info:
        unpack_all(repo, dest, ["*.zip"])
    message = str(info.value)
    assert "bad.zip" in message and "\n" not in message
    bad = find_archives(repo, ["bad.zip"])[0]
    assert not is_unpacked(dest, bad)  # never taken as complete
    assert not (dest / "data" / "b1.mp4").exists() and not (dest / "data" / "b2.mp4").exists()
    assert (dest / "data" / "g.mp4").read_bytes() == b"G" * 1000  # what was fetched before is kept
    assert not [p for p in dest.iterdir() if p.name.startswith(".ov_bench_tmp")]


def test_flipped_byte_in_a_member_fails_its_crc(tmp_path):
    repo, dest = tmp_path / "repo", tmp_path / "dest"
    repo.mkdir()
    payload = bytes(range(256)) * 8
    _zip(repo / "v.zip", {"data/v.mp4": payload})
    raw = bytearray((repo / "v.zip").read_bytes())
    pos = raw.find(payload[:64]) + 100
    raw[pos] ^= 0xFF
    (repo / "v.zip").write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="v.zip"):
        unpack(find_archives(repo, ["v.zip"])[0], dest)
    assert not (dest / "data" / "v.mp4").exists()


def test_an_interrupted_unpack_is_redone(tmp_path):
    repo, dest = tmp_path / "repo", tmp_path / "dest"
    repo.mkdir()
    _zip(repo / "v.zip", {"data/v.mp4": b"V" * 100})
    # what a kill mid-unpack leaves: a temporary folder with part of the members, no marker
    stale = dest / ".ov_bench_tmp-v.zip-99999" / "data"
    stale.mkdir(parents=True)
    (stale / "v.mp4").write_bytes(b"V" * 10)
    assert not (dest / MARKER_DIR).exists()
    assert unpack_all(repo, dest, ["v.zip"]) == ["v.zip"]
    assert (dest / "data" / "v.mp4").read_bytes() == b"V" * 100
    assert not (dest / ".ov_bench_tmp-v.zip-99999").exists()
    # a marker for another size of the archive (a re-downloaded, changed file) is not "done"
    _zip(repo / "v.zip", {"data/v.mp4": b"W" * 300})
    assert unpack_all(repo, dest, ["v.zip"]) == ["v.zip"]
    assert (dest / "data" / "v.mp4").read_bytes() == b"W" * 300


def test_members_outside_the_destination_are_refused(tmp_path):
    repo, dest = tmp_path / "repo", tmp_path / "dest"
    repo.mkdir()
    _zip(repo / "evil.zip", {"../escape.mp4": b"x"})
    with pytest.raises(ArchiveError, match="outside"):
        unpack_all(repo, dest, ["evil.zip"])
    assert not (tmp_path / "escape.mp4").exists()
