"""Unpacking the video archives of a hub dataset repo (zip, tar, split tar parts) into the folder a
task reads, the way lmms-eval's task loader does, but resumable and never half-done.

Every archive is extracted into a temporary folder next to the destination, its members are then
renamed into place, and only then is a marker `.ov_bench_unpacked/<archive>.json` written. An archive
is complete exactly when its marker exists and names the same archive size: an interrupted unpack
leaves no marker (its temporary folder is removed on the next attempt), so it is unpacked again.
A corrupt or truncated archive is an ArchiveError naming it; members already in place from other
archives are never touched.

Split tar parts (`name.tar.00`, `name_1.tar`, ... as lmms-eval groups them: the text before `.tar`
with a trailing `_<digits>` removed) are read as one stream in sorted order, without writing the
concatenated tar to disk.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tasks.records import DataError

MARKER_DIR = ".ov_bench_unpacked"


class ArchiveError(DataError):
    """An archive cannot be read (corrupt, truncated, not an archive)."""


@dataclass(frozen=True)
class Archive:
    """One archive to unpack: a zip, a tar, or the sorted parts of one split tar."""

    name: str  # the marker name: the zip/tar file name, or the split tar's base name + ".tar"
    parts: tuple[Path, ...]

    @property
    def kind(self) -> str:
        return "zip" if self.parts[0].name.lower().endswith(".zip") else "tar"

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.parts)


def find_archives(folder: Path, patterns: Iterable[str]) -> list[Archive]:
    """The archives under `folder` matching the repo-relative glob `patterns`, grouped as lmms-eval
    groups them (split tar parts into one archive)."""
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in folder.glob(pattern) if p.is_file())
    zips: list[Archive] = []
    tar_groups: dict[str, list[Path]] = {}
    for path in sorted(found):
        rel = path.relative_to(folder).as_posix()
        lower = path.name.lower()
        if lower.endswith(".zip"):
            zips.append(Archive(rel, (path,)))
        elif ".tar" in lower:
            base = re.sub(r"_\d+$", "", rel.split(".tar")[0])
            tar_groups.setdefault(base, []).append(path)
    tars = [Archive(f"{base}.tar", tuple(sorted(parts))) for base, parts in sorted(tar_groups.items())]
    return zips + tars


def _marker(dest: Path, archive: Archive) -> Path:
    return dest / MARKER_DIR / (archive.name.replace("/", "__") + ".json")


def is_unpacked(dest: Path, archive: Archive) -> bool:
    marker = _marker(dest, archive)
    try:
        return json.loads(marker.read_text()).get("size") == archive.size
    except (OSError, ValueError):
        return False


class _Concatenated(io.RawIOBase):
    """The parts of a split archive read as one stream."""

    def __init__(self, parts: tuple[Path, ...]) -> None:
        self._parts = list(parts)
        self._current = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while True:
            if self._current is None:
                if not self._parts:
                    return 0
                self._current = open(self._parts.pop(0), "rb")
            n = self._current.readinto(buffer)
            if n:
                return n
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        super().close()


def _safe_members(names: Iterable[str], archive: Archive) -> None:
    for name in names:
        p = Path(name)
        if p.is_absolute() or ".." in p.parts:
            raise ArchiveError(
                f"{archive.parts[0]}: member {name!r} points outside the destination; not unpacked"
            )


def _extract(archive: Archive, tmp: Path, progress) -> None:
    try:
        if archive.kind == "zip":
            with zipfile.ZipFile(archive.parts[0]) as z:
                infos = z.infolist()
                _safe_members((i.filename for i in infos), archive)
                for info in infos:
                    z.extract(info, tmp)  # CRC checked while reading: a corrupt member raises
                    if progress is not None:
                        progress.update(info.compress_size)
        else:
            stream = io.BufferedReader(_Concatenated(archive.parts), buffer_size=1 << 20)
            with tarfile.open(fileobj=stream, mode="r|*") as t:
                for member in t:
                    _safe_members([member.name], archive)
                    if not (member.isfile() or member.isdir()):
                        continue
                    try:
                        t.extract(member, tmp, filter="data")
                    except TypeError:  # Python without extraction filters; members were checked above
                        t.extract(member, tmp)
                    if progress is not None:
                        progress.update(member.size)
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError, zlib_error()) as e:
        what = (
            "corrupt or truncated archive"
            if not isinstance(e, OSError) or "CRC" in str(e)
            else "cannot read archive"
        )
        raise ArchiveError(
            f"{archive.parts[0]}: {what} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
            f"nothing from it was unpacked, download it again"
        ) from None


def zlib_error() -> type[BaseException]:
    import zlib

    return zlib.error


def _alive(pid_text: str) -> bool:
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def unpack(archive: Archive, dest: Path, progress=None) -> bool:
    """Unpack `archive` into `dest` unless its marker says it is done. True if it was unpacked now."""
    if is_unpacked(dest, archive):
        return False
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / f".ov_bench_tmp-{archive.name.replace('/', '__')}-{os.getpid()}"
    for stale in dest.glob(f".ov_bench_tmp-{archive.name.replace('/', '__')}-*"):
        if not _alive(stale.name.rsplit("-", 1)[-1]):  # left by an interrupted attempt, not a concurrent one
            shutil.rmtree(stale, ignore_errors=True)
    tmp.mkdir()
    try:
        _extract(archive, tmp, progress)
        for src in sorted(tmp.rglob("*"), key=lambda p: len(p.parts)):
            if src.is_dir():
                continue
            target = dest / src.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, target)
        marker = _marker(dest, archive)
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp_marker = marker.with_suffix(".tmp")
        tmp_marker.write_text(json.dumps({"archive": archive.name, "size": archive.size}))
        os.replace(tmp_marker, marker)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def unpack_all(folder: Path, dest: Path, patterns: Iterable[str], progress: bool = False) -> list[str]:
    """Unpack the archives under `folder` matching `patterns` into `dest` (resumable); the names
    unpacked now."""
    archives = [a for a in find_archives(folder, patterns) if not is_unpacked(dest, a)]
    if not archives:
        return []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=sum(a.size for a in archives),
            unit="B",
            unit_scale=True,
            desc="unpacking",
            dynamic_ncols=True,
            disable=None,
        )  # no bar when stderr is not a terminal
    done = []
    try:
        for archive in archives:
            if unpack(archive, dest, bar):
                done.append(archive.name)
    finally:
        if bar is not None:
            bar.close()
    return done
