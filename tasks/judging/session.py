"""The judge a run uses (a scope) and the judge calls of one sample (a session).

A run opens one :func:`judge_scope` (config + transport); scoring one sample opens one
:func:`judge_session` inside it, which collects that sample's exchanges. lmms-eval's judge clients
are routed to the active session (tasks/judging/routes.py). The first failed call ends the session:
it raises :class:`JudgeAbort`, a BaseException, so that lmms-eval's ``except Exception`` retry loops
(MMVet's loops forever on a reply outside [0, 1]) cannot swallow it and score the sample 0;
the judged task turns it into a :class:`JudgeError` for its caller. Context variables keep scopes and
sessions per thread.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tasks.judging.config import JudgeConfig, JudgeError
from tasks.judging.transport import Exchange, Transport, exchange_key

# A reply check returns None for a usable reply, else why it is not usable.
ReplyCheck = Callable[[str], "str | None"]


class JudgeAbort(BaseException):
    """Raised inside lmms-eval code at a failed judge call; caught by the judged task."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class JudgeScope:
    config: JudgeConfig
    transport: Transport


@dataclass
class JudgeSession:
    """The judge calls made while scoring one sample (or one pair)."""

    scope: JudgeScope
    replay: dict[str, Exchange] = field(default_factory=dict)  # exchange key -> a stored good exchange
    check: ReplyCheck | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    failure: str | None = None

    @property
    def config(self) -> JudgeConfig:
        return self.scope.config

    def chat(self, payload: dict[str, Any]) -> Exchange:
        """Send lmms-eval's payload (its messages and sampling parameters) with the configured model."""
        if self.failure is not None:
            raise JudgeAbort(self.failure)
        params = {k: v for k, v in payload.items() if k != "messages"}
        params["model"] = self.config.model
        messages = list(payload.get("messages") or [])
        stored = self.replay.get(exchange_key(messages, params))
        if stored is not None:
            exchange = Exchange(
                messages=messages,
                params=params,
                reply=stored.reply,
                reply_model=stored.reply_model,
                attempts=0,
                replayed=True,
                url=stored.url,
            )
        else:
            exchange = self.scope.transport.send(messages, params)
        if exchange.ok and self.check is not None:
            reason = self.check(exchange.reply or "")
            if reason:
                exchange.error = f"unusable reply {_quote(exchange.reply)}: {reason}"
        self.exchanges.append(exchange)
        if not exchange.ok:
            self.failure = exchange.error
            raise JudgeAbort(exchange.error or "judge call failed")
        return exchange

    @contextlib.contextmanager
    def checking(self, check: ReplyCheck | None) -> Iterator[None]:
        previous, self.check = self.check, check
        try:
            yield
        finally:
            self.check = previous


_SCOPE: contextvars.ContextVar[JudgeScope | None] = contextvars.ContextVar(
    "ov_bench_judge_scope", default=None
)
_SESSION: contextvars.ContextVar[JudgeSession | None] = contextvars.ContextVar(
    "ov_bench_judge_session", default=None
)


@contextlib.contextmanager
def judge_scope(config: JudgeConfig | None) -> Iterator[JudgeScope | None]:
    """Within the block, judged scoring uses ``config`` (None: no judge; judged tasks then refuse)."""
    scope = None if config is None else JudgeScope(config, Transport(config))
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def active_scope() -> JudgeScope | None:
    return _SCOPE.get()


@contextlib.contextmanager
def judge_session(replay: list[Exchange] | None = None) -> Iterator[JudgeSession]:
    """One sample's judge calls; ``replay``: stored exchanges that answer identical requests again."""
    scope = _SCOPE.get()
    if scope is None:
        raise JudgeError("no LLM judge is configured (--judge-url)")
    session = JudgeSession(scope, replay={e.key: e for e in replay or () if e.ok})
    token = _SESSION.set(session)
    try:
        yield session
    finally:
        _SESSION.reset(token)


def active_session() -> JudgeSession | None:
    return _SESSION.get()


def _quote(text: str | None, limit: int = 80) -> str:
    text = " ".join((text or "").split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
