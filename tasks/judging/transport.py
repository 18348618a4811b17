"""ov-bench's own HTTP path to the judge: one POST per request, bounded retries, every exchange recorded.

lmms-eval's judge clients retry for minutes (the openai client: 600 s timeout and retries; the
requests-based tasks: 5 tries, 5 s apart) and then hand the task an empty reply that it scores as 0.
Here a request is tried at most ``max_attempts`` times, and only when retrying can help (connection
error, timeout, HTTP 429 or 5xx); the outcome is an :class:`Exchange` holding either the reply or the
reason it failed, never an exception and never a made-up reply. After ``UNREACHABLE_AFTER`` requests
in a row failed to connect, the judge counts as down and later requests fail at once, so a run with
its judge down does not spend minutes per sample.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from tasks.judging.config import JudgeConfig

RETRY_BACKOFF_S = (1.0, 3.0)  # sleep before the 2nd and later attempts
UNREACHABLE_AFTER = 3  # requests in a row that could not connect: the judge is down


def _sleep(seconds: float) -> None:  # module-level so tests can make retries instant
    time.sleep(seconds)


def exchange_key(messages: list[dict], params: dict[str, Any]) -> str:
    """Identifies a request's content (messages and sampling parameters, the model included): a stored
    reply to an identical request can answer it again (resume)."""
    blob = json.dumps(
        {"messages": messages, "params": params}, sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Exchange:
    """One request to the judge and what came back."""

    messages: list[dict]  # the full prompt sent
    params: dict[str, Any]  # the rest of the payload (model, temperature, max_tokens, ...)
    reply: str | None = None  # the reply's message content
    reply_model: str | None = None  # the "model" the server says answered
    error: str | None = None  # why there is no usable reply
    attempts: int = 0
    latency_ms: float | None = None
    replayed: bool = False  # answered from a stored exchange, no HTTP call
    url: str | None = None
    at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> str:
        return exchange_key(self.messages, self.params)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class _Retryable(Exception):
    pass


class Transport:
    """Sends chat-completions requests for one run (thread-safe; one per judge scope)."""

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self._key = config.key()  # read once: the environment may change under a running scope
        self._lock = threading.Lock()
        self._unreachable = 0  # requests in a row that failed to connect
        self.requests_sent = 0

    def send(self, messages: list[dict], params: dict[str, Any]) -> Exchange:
        exchange = Exchange(messages=messages, params=params, url=self.config.chat_url)
        with self._lock:
            down = self._unreachable >= UNREACHABLE_AFTER
        if down:
            exchange.error = (
                f"judge at {self.config.chat_url} unreachable ({self._unreachable} requests in a row could "
                "not connect); not retried"
            )
            return exchange
        t0 = time.perf_counter()
        connect_failed = False
        for attempt in range(1, self.config.max_attempts + 1):
            if attempt > 1:
                _sleep(RETRY_BACKOFF_S[min(attempt - 2, len(RETRY_BACKOFF_S) - 1)])
            exchange.attempts = attempt
            try:
                exchange.reply, exchange.reply_model = self._post(messages, params)
                exchange.error = None
                connect_failed = False
                break
            except _Retryable as e:
                exchange.error = str(e)
                connect_failed = str(e).startswith("cannot connect")
            except ValueError as e:  # a reply retrying will not fix
                exchange.error = str(e)
                connect_failed = False
                break
        exchange.latency_ms = (time.perf_counter() - t0) * 1e3
        if exchange.error and exchange.attempts > 1:
            exchange.error += f" (after {exchange.attempts} attempts)"
        with self._lock:
            self._unreachable = self._unreachable + 1 if connect_failed else 0
        return exchange

    def _post(self, messages: list[dict], params: dict[str, Any]) -> tuple[str, str | None]:
        import requests

        payload = {**params, "messages": messages}
        headers = {"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"}
        with self._lock:
            self.requests_sent += 1
        try:
            response = requests.post(
                self.config.chat_url, headers=headers, json=payload, timeout=self.config.timeout
            )
        except requests.exceptions.Timeout:
            raise _Retryable(f"no reply within {self.config.timeout:g} s") from None
        except requests.exceptions.ConnectionError as e:
            raise _Retryable(f"cannot connect to {self.config.chat_url} ({type(e).__name__})") from None
        except requests.exceptions.RequestException as e:
            raise ValueError(f"request failed: {type(e).__name__}: {e}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}: {_snippet(response.text)}")
        if response.status_code >= 400:
            raise ValueError(f"HTTP {response.status_code}: {_snippet(response.text)}")
        try:
            body = response.json()
            content = body["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ValueError(f"not a chat-completions reply: {_snippet(response.text)}") from None
        if not isinstance(content, str) or not content.strip():
            raise ValueError("empty reply")
        model = body.get("model") if isinstance(body, dict) else None
        return content, model if isinstance(model, str) else None


def _snippet(text: str, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
