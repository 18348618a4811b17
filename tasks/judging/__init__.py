"""The LLM judge below the engine: its configuration, ov-bench's HTTP transport, the per-sample
session that records every exchange, and the routing of lmms-eval's judge clients into it.

Tasks import this package (never ov_bench); the engine opens a :func:`judge_scope` per run and a
:func:`judge_session` per sample (ov_bench/judge/). A task that runs without a judge but asks one
when it is configured (MMBench's unreadable predictions) sets ``record[AWAITING_JUDGE_KEY] = True`` on
the samples it would ask about; its judging pass (ov_bench/engine/judge_pass.py, by group) clears it,
and a later run with a judge judges what still awaits it, without running the model again.
"""

from tasks.judging.config import (
    DEFAULT_JUDGE_MODEL,
    DEFAULT_TIMEOUT_S,
    PLACEHOLDER_API_KEY,
    JudgeConfig,
    JudgeError,
)
from tasks.judging.routes import (
    RoutedRequests,
    import_judge_module,
    judge_import_env,
    load_private_judge_utils,
    route_openai_client,
    route_providers,
    route_requests,
)
from tasks.judging.session import (
    JudgeAbort,
    JudgeScope,
    JudgeSession,
    active_scope,
    active_session,
    judge_scope,
    judge_session,
)
from tasks.judging.transport import Exchange, Transport, exchange_key

# Record key of a sample scored without the judge it would have used (judged when one is configured).
AWAITING_JUDGE_KEY = "awaiting_judge"

__all__ = [
    "AWAITING_JUDGE_KEY",
    "DEFAULT_JUDGE_MODEL",
    "DEFAULT_TIMEOUT_S",
    "PLACEHOLDER_API_KEY",
    "Exchange",
    "JudgeAbort",
    "JudgeConfig",
    "JudgeError",
    "JudgeScope",
    "JudgeSession",
    "RoutedRequests",
    "Transport",
    "active_scope",
    "active_session",
    "exchange_key",
    "import_judge_module",
    "judge_import_env",
    "judge_scope",
    "judge_session",
    "load_private_judge_utils",
    "route_openai_client",
    "route_providers",
    "route_requests",
]
