"""A small OpenAI-compatible chat-completions server on 127.0.0.1 for judge tests.

    with JudgeServer(reply=lambda request: "{'score': 4}") as server:
        config = JudgeConfig(url=server.url)          # http://127.0.0.1:PORT/v1
        ...
        server.requests                               # every request body received, in order

``reply(request) -> str | Reply``: a string is the reply's message content; a :class:`Reply` says
what to do instead (an HTTP status, a non-JSON body, a delay). ``down_url()`` is a base URL on which
nothing listens. The server answers ``POST /v1/chat/completions`` and ``GET /v1/models``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str | None = None  # message content (None with status >= 400 or raw)
    status: int = 200
    raw: str | None = None  # a body sent as is (e.g. not JSON)
    delay_s: float = 0.0
    model: str | None = None  # the "model" field; default: the request's


ReplyFn = Callable[[dict[str, Any]], "str | Reply"]


def last_user_text(request: dict[str, Any]) -> str:
    """The text of the last user message of a chat request."""
    for message in reversed(request.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content)
    return ""


class JudgeServer:
    def __init__(self, reply: ReplyFn) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "test-judge", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    request = json.loads(body)
                except ValueError:
                    self._send(400, {"error": {"message": "body is not JSON"}})
                    return
                with server._lock:
                    server.requests.append(request)
                    server.headers.append(dict(self.headers))
                outcome = server.reply(request)
                if isinstance(outcome, str):
                    outcome = Reply(content=outcome)
                if outcome.delay_s:
                    threading.Event().wait(outcome.delay_s)  # not time.sleep: tests patch it
                if outcome.raw is not None:
                    self._send_raw(outcome.status, outcome.raw.encode())
                elif outcome.status >= 400:
                    self._send(outcome.status, {"error": {"message": f"scripted HTTP {outcome.status}"}})
                else:
                    self._send(
                        200,
                        {
                            "id": f"chatcmpl-{len(server.requests)}",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": outcome.model or request.get("model", "test-judge"),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": outcome.content},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                        },
                    )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                self._send_raw(status, json.dumps(payload).encode(), "application/json")

            def _send_raw(self, status: int, data: bytes, kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> JudgeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.headers.clear()


def down_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def no_retry_sleeps(monkeypatch: Any) -> None:
    """Make ov-bench's transport backoff and lmms-eval's retry sleeps instant."""
    import time as time_module

    from tasks.judging import transport

    monkeypatch.setattr(transport, "_sleep", lambda s: None)
    real_sleep = time_module.sleep
    monkeypatch.setattr(time_module, "sleep", lambda s: real_sleep(0) if s >= 1 else real_sleep(s))


def pick(text: str, n: int) -> int:
    """A deterministic choice in range(n) from a request's text (the same request, the same reply)."""
    import hashlib

    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % n


def plausible_reply(request: dict[str, Any]) -> str:
    """A well-formed reply in the format each lmms-eval 0.7.3 judge prompt asks for, chosen
    deterministically from the request (so two callers sending the same prompt get the same reply)."""
    text = " ".join(str(m.get("content")) for m in request.get("messages") or [])
    k = pick(text, 1000)
    if "Correctness\n---" in text or "correctness score for the prediction" in text:  # MMVet
        return f"{(k % 11) / 10:.1f}"
    if "[End of Assistant 2]" in text:  # LLaVA-in-the-wild: two scores on the first line
        return f"{1 + k % 10} {1 + (k // 10) % 10}\nAssistant 2 is {'more' if k % 2 else 'less'} detailed."
    if "Extracted answer:" in text:  # MathVista's extraction
        return ["A", "B", "3", "2.5", "[1, 2]", "red"][k % 6]
    if "'pred'" in text and "'score'" in text:  # ActivityNet-QA
        return f"{{'pred': '{'yes' if k % 2 else 'no'}', 'score': {k % 6}}}"
    if "'score'" in text:  # VideoChatGPT, VideoDC
        return f"{{'score': {k % 6}}}"
    if "match an answer with several options" in text:  # MMBench: a letter its matcher reads
        return ["A", "B", "E"][k % 3]
    return str(k % 2)  # the 0/1 verdicts (MathVerse, DC100)
