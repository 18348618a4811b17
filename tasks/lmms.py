"""Guarded access to lmms-eval 0.7.3's task code: its YAML configs and its task utils modules.

lmms-eval is the source of truth for prompts and scoring, but some of its task modules have side
effects (reading HF_HOME at import, sys.exit on a missing file, print() in aggregations, a global
RNG in parsers). Everything here imports lmms-eval lazily and contains those side effects.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from tasks.records import TaskError


@functools.cache
def lmms_eval_tasks_dir() -> Path:
    # find_spec locates the package without running lmms_eval/tasks/__init__.py (which is slow).
    spec = importlib.util.find_spec("lmms_eval")
    if spec is None or not spec.submodule_search_locations:
        raise TaskError("lmms-eval is not installed; `pip install lmms-eval>=0.7.3`")
    return Path(next(iter(spec.submodule_search_locations))) / "tasks"


class _FunctionTag(str):
    """A `!function utils.x` value from an lmms-eval YAML, kept as its dotted name."""


def _yaml_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def function_tag(loader: yaml.SafeLoader, node: yaml.Node) -> _FunctionTag:
        return _FunctionTag(loader.construct_scalar(node))

    Loader.add_constructor("!function", function_tag)
    return Loader


@functools.cache
def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    with open(path, encoding="utf-8") as f:
        data = yaml.load(f, Loader=_yaml_loader())  # noqa: S506 - SafeLoader subclass
    return data or {}


def load_task_yaml(task_dir: str, filename: str) -> dict[str, Any]:
    """Read lmms_eval/tasks/<task_dir>/<filename>, merging `include:` like lmms-eval does
    (the including file's keys win)."""
    path = lmms_eval_tasks_dir() / task_dir / filename
    if not path.is_file():
        raise TaskError(f"lmms-eval task config not found: {path}")
    config = dict(_read_yaml(path))
    include = config.pop("include", None)
    if include:
        base = load_task_yaml(task_dir, include)
        base.update(config)
        config = base
    return config


def import_utils(task_dir: str, module: str = "utils") -> ModuleType:
    """Import lmms_eval.tasks.<task_dir>.<module>; an exit or failure at import becomes a TaskError."""
    name = f"lmms_eval.tasks.{task_dir}.{module}"
    try:
        with quiet():
            return importlib.import_module(name)
    except SystemExit as e:  # some lmms-eval task modules call sys.exit at import
        raise TaskError(f"importing {name} tried to exit the process (code {e.code})") from None
    except ImportError as e:
        raise TaskError(f"cannot import {name}: {e}") from None


class _QuietStdout:
    """Installed as sys.stdout while any thread is inside quiet(): drops writes from those threads
    and forwards everything else, so other threads' output is untouched (contextlib.redirect_stdout
    swaps a process-global and is not safe when several threads score at once)."""

    def __init__(self, target: Any):
        self.target = target

    def write(self, text: str) -> int:
        if threading.get_ident() in _quiet_depth:
            return len(text)
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


_quiet_lock = threading.Lock()
_quiet_depth: dict[int, int] = {}  # thread id -> nesting depth of quiet()


@contextlib.contextmanager
def quiet():
    """Silence lmms-eval's print() and loguru output (aggregations print per-category tables).

    Thread-safe: only the calling thread's prints are dropped; loguru's "lmms_eval" logger is
    disabled while any thread is inside."""
    from loguru import logger

    me = threading.get_ident()
    with _quiet_lock:
        if not _quiet_depth:
            logger.disable("lmms_eval")
            if not isinstance(sys.stdout, _QuietStdout):
                sys.stdout = _QuietStdout(sys.stdout)
        _quiet_depth[me] = _quiet_depth.get(me, 0) + 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth[me] -= 1
            if not _quiet_depth[me]:
                del _quiet_depth[me]
            if not _quiet_depth:
                logger.enable("lmms_eval")
                if isinstance(sys.stdout, _QuietStdout):  # someone may have replaced it meanwhile
                    sys.stdout = sys.stdout.target


def call(fn, *args, **kwargs):
    """Call an lmms-eval function; sys.exit inside it becomes a TaskError, prints are silenced."""
    try:
        with quiet():
            return fn(*args, **kwargs)
    except SystemExit as e:
        raise TaskError(
            f"lmms-eval {getattr(fn, '__name__', fn)} tried to exit the process (code {e.code})"
        ) from None
