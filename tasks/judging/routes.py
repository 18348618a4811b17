"""lmms-eval's judge clients, routed to the active judge session (tasks/judging/session.py).

lmms-eval 0.7.3's judged tasks reach their judge three ways, each configured from environment
variables read when the module is imported (and from a ``.env`` file that ``lmms_eval.llm_judge``
loads into the environment):

- ``lmms_eval.llm_judge`` providers (``server.evaluate(request)``: MMVet, DC100, MathVista, MathVerse,
  LLaVA-in-the-wild through ``lmms_eval.verifiers``): every provider class's ``evaluate`` is wrapped
  once; inside a judge session it builds the payload with lmms-eval's own ``prepare_messages`` and
  ``build_sampling_kwargs`` and sends it through ov-bench's transport; outside one it is lmms-eval's.
- ``requests.post(API_URL, ...)`` (ActivityNet-QA, VideoChatGPT, VideoDC, MMBench): the module's
  ``requests`` global is replaced by :class:`RoutedRequests`, whose ``post`` sends the payload to the
  session whatever URL lmms-eval computed.
- an ``openai.OpenAI`` client held by the module (MathVerse's evaluator): :func:`route_openai_client`.

Prompts, payloads and reply parsing stay lmms-eval's; only the transport is ov-bench's. Imports go
through :func:`judge_import_env`: no ``.env`` is loaded, the judge variables lmms-eval reads are
cleared (so every module builds the plain OpenAI provider) with a placeholder key (the openai client
refuses to be built without one), and the environment is restored afterwards, so nothing leaks into
the process.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from tasks.judging.config import PLACEHOLDER_API_KEY
from tasks.judging.session import JudgeAbort, active_session

# What lmms-eval's judge modules read at import.
_JUDGE_ENV = (
    "API_TYPE",
    "MODEL_VERSION",
    "OPENAI_API_URL",
    "OPENAI_API_BASE",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "AZURE_ENDPOINT",
    "AZURE_API_KEY",
    "AZURE_API_VERSION",
    "LLM_JUDGE_URL",
)
_env_lock = threading.RLock()


@contextlib.contextmanager
def judge_import_env() -> Iterator[None]:
    """Import lmms-eval judge modules with no .env, no judge variables, a placeholder key; restore after."""
    with _env_lock:
        saved_env = {k: os.environ.get(k) for k in _JUDGE_ENV}
        saved_dotenv = sys.modules.get("dotenv", None)
        had_dotenv = "dotenv" in sys.modules
        sys.modules["dotenv"] = None  # type: ignore[assignment]  # `from dotenv import ...` raises ImportError
        for k in _JUDGE_ENV:
            os.environ.pop(k, None)
        os.environ["OPENAI_API_KEY"] = PLACEHOLDER_API_KEY
        try:
            yield
        finally:
            if had_dotenv:
                sys.modules["dotenv"] = saved_dotenv  # type: ignore[assignment]
            else:
                sys.modules.pop("dotenv", None)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def import_judge_module(name: str) -> ModuleType:
    """Import an lmms-eval module that builds judge clients, under :func:`judge_import_env`, with the
    provider classes routed."""
    from tasks.lmms import quiet

    module = sys.modules.get(name)
    if module is not None and _providers_routed:
        return module  # already imported (the environment is left alone on later calls)
    with judge_import_env(), quiet():
        route_providers()
        return importlib.import_module(name)


# ---- lmms_eval.llm_judge providers --------------------------------------------------------------


_providers_routed = False


def route_providers() -> None:
    """Wrap ``evaluate`` of every provider class lmms-eval's factory can build (once per process)."""
    global _providers_routed
    with judge_import_env():
        if _providers_routed:
            return
        from lmms_eval.llm_judge import ProviderFactory

        for cls in set(ProviderFactory._provider_classes.values()):
            original = cls.__dict__.get("evaluate")
            if original is not None and not getattr(original, "_ov_bench_routed", False):
                cls.evaluate = _routed_evaluate(original)
        _providers_routed = True


def _routed_evaluate(original: Any) -> Any:
    @functools.wraps(original)
    def evaluate(self: Any, request: Any) -> Any:
        session = active_session()
        if session is None:
            return original(self, request)
        return _evaluate_in_session(self, request, session)

    evaluate._ov_bench_routed = True  # type: ignore[attr-defined]
    return evaluate


def _evaluate_in_session(provider: Any, request: Any, session: Any) -> Any:
    """OpenAIProvider.evaluate's payload (lmms-eval's own helpers), sent through the session."""
    import dataclasses

    from lmms_eval.llm_judge.protocol import Response
    from lmms_eval.llm_judge.providers.openai import build_sampling_kwargs

    if request.images:
        raise JudgeAbort("judge requests with images are not supported by ov-bench's judge transport")
    config = request.config or provider.config
    payload: dict[str, Any] = {
        "messages": provider.prepare_messages(request),
        # the sampling keys follow the judge model actually used (reasoning models take other keys)
        **build_sampling_kwargs(dataclasses.replace(config, model_name=session.config.model)),
    }
    if config.top_p is not None:
        payload["top_p"] = config.top_p
    if config.response_format == "json":
        payload["response_format"] = {"type": "json_object"}
    exchange = session.chat(payload)
    return Response(
        content=(exchange.reply or "").strip(),
        model_used=exchange.reply_model or session.config.model,
        raw_response={"model": exchange.reply_model, "content": exchange.reply},
    )


# ---- requests.post --------------------------------------------------------------------------------


class _Reply:
    """What lmms-eval reads of a requests.Response: raise_for_status(), json(), content, text."""

    status_code = 200

    def __init__(self, body: dict[str, Any]) -> None:
        import json

        self._body = body
        self.text = json.dumps(body)
        self.content = self.text.encode()

    def raise_for_status(self) -> None:
        return None

    def json(self) -> dict[str, Any]:
        return self._body


def _chat_body(exchange: Any, model: str) -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "model": exchange.reply_model or model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": exchange.reply}}],
    }


class RoutedRequests:
    """Stands in for the ``requests`` module inside an lmms-eval judge module.

    ``post`` goes to the active judge session whatever URL it is given. Outside a session it refuses
    (``strict``: ov-bench's private copies of the video modules) or is the real ``requests.post``
    (lmms-eval's own modules, which other code may use directly)."""

    def __init__(self, strict: bool) -> None:
        self._strict = strict

    def post(self, url: str, *args: Any, json: Any = None, **kwargs: Any) -> Any:
        session = active_session()
        if session is None:
            if self._strict:
                raise JudgeAbort("no LLM judge is configured (--judge-url)")
            import requests

            return requests.post(url, *args, json=json, **kwargs)
        exchange = session.chat(dict(json or {}))
        return _Reply(_chat_body(exchange, session.config.model))

    def __getattr__(self, name: str) -> Any:  # requests.exceptions and the rest: the real module's
        import requests

        return getattr(requests, name)


def route_requests(module: ModuleType, strict: bool = False) -> ModuleType:
    """Replace ``module.requests`` with :class:`RoutedRequests` (idempotent)."""
    if not isinstance(getattr(module, "requests", None), RoutedRequests):
        module.requests = RoutedRequests(strict)  # type: ignore[attr-defined]
    return module


# ---- an openai client held by a module --------------------------------------------------------------


class _Namespace:
    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


class RoutedOpenAIClient:
    """An ``openai.OpenAI`` stand-in: ``chat.completions.create(**payload)`` goes to the active session;
    outside one, to the original client."""

    def __init__(self, original: Any) -> None:
        self._original = original
        self.chat = _Namespace(completions=_Namespace(create=self._create))

    def _create(self, **payload: Any) -> Any:
        session = active_session()
        if session is None:
            return self._original.chat.completions.create(**payload)
        exchange = session.chat(payload)
        message = _Namespace(role="assistant", content=exchange.reply)
        return _Namespace(
            model=exchange.reply_model or session.config.model,
            choices=[_Namespace(index=0, message=message)],
            usage=None,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def route_openai_client(owner: Any, attr: str = "client") -> None:
    """Replace ``owner.<attr>`` (an openai client on a class or module) with a routed one (idempotent)."""
    client = getattr(owner, attr, None)
    if client is not None and not isinstance(client, RoutedOpenAIClient):
        setattr(owner, attr, RoutedOpenAIClient(client))


# ---- private copies (the video tasks) ---------------------------------------------------------------


def load_private_judge_utils(task_dir: str, module: str = "utils") -> ModuleType:
    """ov-bench's private copy of an lmms-eval video task module (tasks/lmms_isolated.py), imported
    under :func:`judge_import_env`, with its ``requests`` routed strictly to the judge session."""
    from tasks.lmms_isolated import load_private_utils

    key = (task_dir, module)
    if key not in _private:
        with judge_import_env():
            _private[key] = route_requests(load_private_utils(task_dir, module), strict=True)
    return _private[key]


_private: dict[tuple[str, str], ModuleType] = {}
