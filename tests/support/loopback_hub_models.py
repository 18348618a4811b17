"""A loopback Hugging Face hub serving model repos, for tests that go through huggingface_hub itself
(``HF_ENDPOINT=http://127.0.0.1:PORT``). It answers the calls ``snapshot_download`` makes:

- ``GET /api/models/{repo}/revision/{rev}``: the repo's commit sha and its file list (siblings);
- ``GET /api/models/{repo}/tree/{rev}?recursive=true``: files and folders with sizes (one page);
- ``HEAD`` / ``GET /{repo}/resolve/{rev}/{path}``: a file's metadata headers (X-Repo-Commit, ETag,
  Content-Length) and its bytes.

Every request is logged in ``server.requests`` so a test can see which files were fetched.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


class ModelHub:
    def __init__(self, repos: dict[str, dict[str, bytes]]) -> None:
        self.repos = repos  # repo id -> {path in repo: content}
        self.sha = {repo: hashlib.sha1(repo.encode()).hexdigest() for repo in repos}
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                hub._serve(self, body=False)

            def do_GET(self) -> None:
                hub._serve(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ModelHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fetched(self, repo: str) -> set[str]:
        """Paths of ``repo`` whose bytes were downloaded (GET on resolve)."""
        prefix = f"/{repo}/resolve/"
        return {
            p[len(prefix) :].split("/", 1)[1] for m, p in self.requests if m == "GET" and p.startswith(prefix)
        }

    def _serve(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlparse(handler.path).path)
        self.requests.append((handler.command, path))
        if path.startswith("/api/models/") and "/tree/" in path:
            repo = path[len("/api/models/") :].split("/tree/")[0]
            if repo not in self.repos:
                return self._send(
                    handler,
                    404,
                    b'{"error": "Repository not found"}',
                    body,
                    {"X-Error-Code": "RepositoryNotFound"},
                )
            files = self.repos[repo]
            folders = sorted({name.rsplit("/", 1)[0] for name in files if "/" in name})
            tree = [
                {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
                for d in folders
            ]
            tree += [
                {"type": "file", "oid": hashlib.sha1(files[n]).hexdigest(), "size": len(files[n]), "path": n}
                for n in sorted(files)
            ]
            return self._send(
                handler, 200, json.dumps(tree).encode(), body, {"Content-Type": "application/json"}
            )
        if path.startswith("/api/models/"):
            rest = path[len("/api/models/") :]
            repo, _, _rev = rest.partition("/revision/")
            if repo not in self.repos:
                return self._send(
                    handler,
                    404,
                    b'{"error": "Repository not found"}',
                    body,
                    {"X-Error-Code": "RepositoryNotFound"},
                )
            info = {
                "id": repo,
                "modelId": repo,
                "sha": self.sha[repo],
                "private": False,
                "siblings": [{"rfilename": name} for name in sorted(self.repos[repo])],
            }
            return self._send(
                handler, 200, json.dumps(info).encode(), body, {"Content-Type": "application/json"}
            )
        for repo, files in self.repos.items():
            prefix = f"/{repo}/resolve/"
            if path.startswith(prefix):
                _rev, _, name = path[len(prefix) :].partition("/")
                if name not in files:
                    return self._send(handler, 404, b"not found", body, {"X-Error-Code": "EntryNotFound"})
                content = files[name]
                headers = {
                    "X-Repo-Commit": self.sha[repo],
                    "ETag": f'"{hashlib.sha256(content).hexdigest()}"',
                    "Content-Type": "application/octet-stream",
                }
                return self._send(handler, 200, content, body, headers)
        return self._send(handler, 404, b"not found", body, {})

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, content: bytes, body: bool, headers: dict
    ) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        if body:
            handler.wfile.write(content)
