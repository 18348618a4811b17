"""Errors a user can cause. The CLI prints their message on one line and exits with status 2."""

from __future__ import annotations

from tasks.records import DataError, MediaError, TaskError


class OvBenchError(Exception):
    """Base class of the harness's own user-facing errors."""


class UsageError(OvBenchError):
    """A bad command-line value (threshold, limit, model spec ...)."""


class OutputInUseError(OvBenchError):
    """Another ov-bench process holds the output directory."""


class ResumeMismatchError(OvBenchError):
    """The output directory holds results made with different settings than this run's."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exception types whose message is shown as one line (exit 2) instead of a traceback: the
    harness's own, the tasks package's, and the built-in ones bad input raises."""
    return (
        OvBenchError,
        ValueError,
        FileNotFoundError,
        NotADirectoryError,
        PermissionError,
        IsADirectoryError,
        TaskError,
        DataError,
        MediaError,
    )
