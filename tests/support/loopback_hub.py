"""A loopback (127.0.0.1) stand-in for the Hugging Face hub, serving dataset repos from folders, so
huggingface_hub and datasets run their real download code against it (HF_ENDPOINT=server.url).

It answers the endpoints those clients call (read from huggingface_hub 2.x's hf_api.py,
file_download.py and hf_file_system.py):

    GET  /api/datasets/<repo>[/revision/<rev>]        repo info: sha, siblings (+ sizes)
    GET  /api/datasets/<repo>/tree/<rev>[/<path>]     listing (?recursive=true), entries with size/oid
    POST /api/datasets/<repo>/paths-info/<rev>        entries for the given paths
    HEAD|GET /datasets/<repo>/resolve/<rev>/<path>    the file: ETag, X-Repo-Commit, Content-Length,
                                                      Accept-Ranges, Range -> 206

Files are served as regular (non-LFS, non-Xet) blobs. A revision is a branch name mapped to a folder;
its commit sha is derived from the name. `cut_once[path] = n` makes the first GET of that file send
n bytes and drop the connection (a download cut off midway). Every request is logged in `requests`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def sha_of(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Repo:
    repo_id: str
    revisions: dict[str, Path]  # branch -> folder ("main" is the default branch)

    def folder(self, rev: str) -> tuple[str, Path] | None:
        if rev in self.revisions:
            return rev, self.revisions[rev]
        for name, folder in self.revisions.items():
            if sha_of(f"{self.repo_id}@{name}") == rev:
                return name, folder
        return None

    def sha(self, rev: str) -> str:
        return sha_of(f"{self.repo_id}@{rev}")


@dataclass
class LoopbackHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    cut_once: dict[str, int] = field(default_factory=dict)  # repo path -> bytes sent before dropping
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Range header)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def add(self, repo_id: str, folder: Path, revision: str = "main") -> None:
        repo = self.repos.setdefault(repo_id, Repo(repo_id, {}))
        repo.revisions[revision] = Path(folder)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LoopbackHub:
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def gets(self, suffix: str) -> int:
        """How many GETs of a resolve URL ending with suffix were served."""
        return sum(
            1
            for method, path, _ in self.requests
            if method == "GET" and "/resolve/" in path and path.endswith(suffix)
        )

    def ranges(self, suffix: str) -> list[str]:
        """The Range headers of the GETs of a resolve URL ending with suffix ("" when none)."""
        return [
            r
            for method, path, r in self.requests
            if method == "GET" and "/resolve/" in path and path.endswith(suffix)
        ]


def _entry(path: str, file: Path) -> dict:
    if file.is_dir():
        return {"type": "directory", "oid": sha_of(path), "size": 0, "path": path}
    size = file.stat().st_size
    return {"type": "file", "oid": _etag(file), "size": size, "path": path}


def _etag(file: Path) -> str:
    stat = file.stat()
    return sha_of(f"{file}:{stat.st_size}:{stat.st_mtime_ns}")


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


class _Handler(BaseHTTPRequestHandler):
    server_hub: LoopbackHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    # ---- helpers -------------------------------------------------------------------------------

    def _json(self, obj, status: int = 200) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str, code: str = "EntryNotFound") -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _repo(self, repo_id: str) -> Repo | None:
        repo = self.server_hub.repos.get(repo_id)
        if repo is None:
            self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _split_repo_rev(self, rest: str) -> tuple[str, str, str]:
        """'<owner>/<name>/<rev>/<path>' -> (repo, rev, path), rev possibly URL-encoded with slashes."""
        parts = rest.split("/")
        repo_id = "/".join(parts[:2])
        rev = urllib.parse.unquote(parts[2]) if len(parts) > 2 else "main"
        path = urllib.parse.unquote("/".join(parts[3:]))
        return repo_id, rev, path

    # ---- endpoints -----------------------------------------------------------------------------

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch()

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        url = urllib.parse.urlparse(self.path)
        self.server_hub.requests.append((self.command, url.path, self.headers.get("Range") or ""))
        path = url.path
        query = urllib.parse.parse_qs(url.query)
        if path.startswith("/api/datasets/"):
            rest = path[len("/api/datasets/") :]
            parts = rest.split("/")
            repo_id = "/".join(parts[:2])
            action = parts[2] if len(parts) > 2 else "revision"
            tail = "/".join(parts[3:])
            if action == "revision" or len(parts) == 2:
                return self._info(repo_id, urllib.parse.unquote(tail) if tail else "main")
            if action == "tree":
                rev, _, sub = tail.partition("/")
                return self._tree(
                    repo_id,
                    urllib.parse.unquote(rev),
                    urllib.parse.unquote(sub),
                    query.get("recursive", ["false"])[0].lower() in ("1", "true"),
                )
            if action == "paths-info":
                return self._paths_info(repo_id, urllib.parse.unquote(tail))
            return self._error(404, f"unknown endpoint {path}", "EndpointNotFound")
        if path.startswith("/datasets/") and "/resolve/" in path:
            prefix, _, rest = path[len("/datasets/") :].partition("/resolve/")
            rev, _, file_path = rest.partition("/")
            return self._resolve(prefix, urllib.parse.unquote(rev), urllib.parse.unquote(file_path))
        self._error(404, f"unknown endpoint {path}", "EndpointNotFound")

    def _info(self, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        found = repo.folder(rev)
        if found is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        name, folder = found
        siblings = [
            {"rfilename": f, "size": (folder / f).stat().st_size, "blobId": _etag(folder / f)}
            for f in _files(folder)
        ]
        self._json(
            {
                "id": repo_id,
                "sha": repo.sha(name),
                "private": False,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
                "lastModified": "2024-01-01T00:00:00.000Z",
                "createdAt": "2024-01-01T00:00:00.000Z",
            }
        )

    def _tree(self, repo_id: str, rev: str, sub: str, recursive: bool) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        found = repo.folder(rev)
        if found is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        _, folder = found
        base = folder / sub if sub else folder
        if not base.is_dir():
            return self._error(404, f"{sub} not found in {repo_id}@{rev}")
        items = base.rglob("*") if recursive else base.iterdir()
        entries = [_entry(p.relative_to(folder).as_posix(), p) for p in sorted(items)]
        self._json(entries)

    def _paths_info(self, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        found = repo.folder(rev)
        if found is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        _, folder = found
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(raw or "{}").get("paths", [])
        else:
            paths = urllib.parse.parse_qs(raw).get("paths", [])
        out = [_entry(p, folder / p) for p in paths if (folder / p).exists()]
        self._json(out)

    def _resolve(self, repo_id: str, rev: str, file_path: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        found = repo.folder(rev)
        if found is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        name, folder = found
        file = folder / file_path
        if not file.is_file():
            return self._error(404, f"Entry not found: {file_path}")
        size = file.stat().st_size
        start, end = 0, size - 1
        status = 200
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            first, _, last = range_header[len("bytes=") :].partition("-")
            if first:
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            elif last:  # suffix range
                start, end = max(size - int(last), 0), size - 1
            status = 206
        if start >= size and size > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = max(end - start + 1, 0)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{_etag(file)}"')
        self.send_header("X-Repo-Commit", repo.sha(name))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        cut = self.server_hub.cut_once.pop(file_path, None)
        with open(file, "rb") as f:
            f.seek(start)
            remaining = length
            if cut is not None:
                self.wfile.write(f.read(min(cut, remaining)))
                self.wfile.flush()
                self.close_connection = True
                import socket

                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            while remaining > 0:
                chunk = f.read(min(1 << 20, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
