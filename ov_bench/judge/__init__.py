"""The LLM judge in the harness: the command-line flags, scoring a sample inside a judge session, and
the pass that (re)judges stored samples (see docs/judge.md).

The transport, sessions and the routing of lmms-eval's judge clients live in tasks/judging/ (below
the engine, so tasks can use them); this package wires them into runs.
"""

from ov_bench.judge.cli import add_judge_arguments, judge_config_from_args, require_judge
from tasks.judging import DEFAULT_JUDGE_MODEL, DEFAULT_TIMEOUT_S, JudgeConfig, JudgeError

__all__ = [
    "DEFAULT_JUDGE_MODEL",
    "DEFAULT_TIMEOUT_S",
    "JudgeConfig",
    "JudgeError",
    "add_judge_arguments",
    "judge_config_from_args",
    "require_judge",
]
