"""Where the LLM judge is and how long to wait for it: one value for every judged task.

lmms-eval 0.7.3 reaches judges through two client conventions (the openai client of
``lmms_eval.llm_judge``, which wants the base URL, and ``requests.post`` in the video tasks and
MMBench, which wants the full ``.../chat/completions`` URL) and reads both from environment
variables at import. ov-bench takes one base URL here and routes both paths through its own
transport (tasks/judging/routes.py), so the judge goes exactly where this config says.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass

# lmms-eval 0.7.3's MODEL_VERSION default in every judged task module.
DEFAULT_JUDGE_MODEL = "gpt-4o-2024-11-20"
# The openai client's own default is 600 s with retries; a judge reply is a few tokens.
DEFAULT_TIMEOUT_S = 60.0
# Sent when OPENAI_API_KEY is unset: lmms-eval's openai client refuses an empty key, and local
# OpenAI-compatible servers (vLLM, sglang) accept any.
PLACEHOLDER_API_KEY = "EMPTY"
CHAT_PATH = "/chat/completions"


class JudgeError(Exception):
    """A judge call failed (HTTP error, timeout, unreachable, unusable reply) or no judge is configured."""


@dataclass(frozen=True)
class JudgeConfig:
    """An OpenAI-compatible chat-completions judge.

    url: the base URL, normally ending in /v1; requests go to ``url + /chat/completions``.
    api_key: None reads OPENAI_API_KEY when the run's judge scope opens, else the placeholder.
    max_attempts: tries per request on a connection error, a timeout, HTTP 429 or 5xx.
    """

    url: str
    model: str = DEFAULT_JUDGE_MODEL
    timeout: float = DEFAULT_TIMEOUT_S
    api_key: str | None = None
    max_attempts: int = 3

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                f"--judge-url {self.url!r}: expected an http(s) base URL such as http://HOST:8000/v1"
            )
        if parsed.path.rstrip("/").endswith(CHAT_PATH):
            raise ValueError(
                f"--judge-url {self.url!r}: give the base URL (ending in /v1), not the {CHAT_PATH} endpoint"
            )
        if not self.model or not self.model.strip():
            raise ValueError("--judge-model: expected a model name")
        if not self.timeout > 0:
            raise ValueError(f"--judge-timeout: expected a positive number of seconds, got {self.timeout}")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    @property
    def chat_url(self) -> str:
        return self.url.rstrip("/") + CHAT_PATH

    def key(self) -> str:
        return self.api_key or os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_API_KEY

    def describe(self) -> dict[str, object]:
        """What results and reports record about the judge (never the key)."""
        return {"url": self.url, "model": self.model, "timeout_s": self.timeout}
