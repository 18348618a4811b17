"""--judge-url / --judge-model / --judge-timeout, defined once for every command that scores tasks."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from ov_bench.errors import UsageError
from tasks.judging import DEFAULT_JUDGE_MODEL, DEFAULT_TIMEOUT_S, JudgeConfig


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "LLM judge (MMVet, LLaVA-W, MathVista, video QA ...; see docs/judge.md)"
    )
    group.add_argument(
        "--judge-url",
        default=None,
        metavar="BASE",
        help="base URL of an OpenAI-compatible chat-completions server, ending in /v1 (requests go to "
        "BASE/chat/completions): https://api.openai.com/v1, or a local vLLM/sglang server; the key is "
        "OPENAI_API_KEY. Needed by every task scored by a judge",
    )
    group.add_argument(
        "--judge-model",
        default=None,
        metavar="NAME",
        help=f"judge model name (default: {DEFAULT_JUDGE_MODEL}, lmms-eval 0.7.3's); another name re-judges "
        "stored responses without running the model again",
    )
    group.add_argument(
        "--judge-timeout",
        type=_seconds,
        default=None,
        metavar="S",
        help=f"seconds to wait for one judge reply (default {DEFAULT_TIMEOUT_S:g})",
    )


def judge_config_from_args(args: argparse.Namespace) -> JudgeConfig | None:
    """The judge the flags describe; None without --judge-url. A bad value raises (exit 2)."""
    url = getattr(args, "judge_url", None)
    model = getattr(args, "judge_model", None)
    timeout = getattr(args, "judge_timeout", None)
    if url is None:
        if model is not None or timeout is not None:
            raise UsageError("--judge-model and --judge-timeout need --judge-url BASE (the judge server)")
        return None
    return JudgeConfig(url=url, model=model or DEFAULT_JUDGE_MODEL, timeout=timeout or DEFAULT_TIMEOUT_S)


def is_judged(task: Any) -> bool:
    return getattr(task, "scoring", "local") == "judge"


def require_judge(tasks: Iterable[Any], judge: JudgeConfig | None) -> None:
    """UsageError naming --judge-url when a task scored by a judge (a Task or a task name) has none.
    Call it before anything is loaded or written."""
    if judge is not None:
        return
    from tasks import get_task

    judged = []
    for task in tasks:
        obj = get_task(task) if isinstance(task, str) else task
        if is_judged(obj):
            judged.append(obj.name)
    if judged:
        verb = "is" if len(judged) == 1 else "are"
        raise UsageError(
            f"{', '.join(judged)} {verb} scored by an LLM judge: pass --judge-url BASE "
            "(an OpenAI-compatible server such as https://api.openai.com/v1 or a local vLLM; see docs/judge.md)"
        )
