"""Private copies of lmms-eval task utils modules, for the modules that cannot be imported as they are.

Some lmms-eval 0.7.3 task modules do things at import or while scoring that a harness must not:

- nextqa/utils.py reads os.environ["HF_HOME"] at import (KeyError when unset) and calls
  nltk.download() three times (network access; only its open-ended WUPS metric needs nltk);
- egoschema/utils.py and nextqa/utils.py fall back to the global `random.choice` when no option letter
  is found in a response, so scores are not reproducible and the global RNG is disturbed.

load_private_utils executes the module's own source file under a private module name (the real
`lmms_eval.tasks.<x>.utils` in sys.modules is never touched) with HF_HOME defaulted for the import,
nltk/pywsd hidden (their `try: import` blocks then skip the downloads), and stdout/loguru silenced. In the
private copy the module global `random` is replaced by SEEDED_RANDOM, which draws from the RNG of the
enclosing `seeded_fallback(seed)` block and counts the draws, so a caller can seed the fallback per doc
and record the response as unparsed. Every function is lmms-eval's own code; only its globals differ.

with_globals(fn, **overrides) runs one lmms-eval function against a copy of its module's globals (Video-MME's
import-time cache folder, EgoSchema's HTTP client) without touching the module, so concurrent calls with
different values never race.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import os
import random
import sys
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from tasks.lmms import lmms_eval_tasks_dir, quiet
from tasks.records import TaskError

# Modules whose import triggers downloads in lmms-eval task utils; hidden while a private copy imports.
_HIDDEN_MODULES = ("nltk", "pywsd")


@dataclass
class Fallback:
    """The seeded RNG of one scoring call and how often lmms-eval drew from it."""

    rng: random.Random
    draws: int = 0
    choices: list[Any] = field(default_factory=list)


_ACTIVE: contextvars.ContextVar[Fallback | None] = contextvars.ContextVar(
    "ov_bench_lmms_fallback", default=None
)


class _SeededRandom:
    """Stands in for the `random` module inside private copies of lmms-eval modules."""

    def __getattr__(self, name: str) -> Any:
        active = _ACTIVE.get()
        if active is None:
            raise TaskError(
                f"lmms-eval called random.{name} outside a seeded scoring call; wrap the call in seeded_fallback()"
            )
        attr = getattr(active.rng, name)
        if not callable(attr):
            return attr

        def draw(*args: Any, **kwargs: Any) -> Any:
            active.draws += 1
            value = attr(*args, **kwargs)
            active.choices.append(value)
            return value

        return draw


SEEDED_RANDOM = _SeededRandom()


@contextlib.contextmanager
def seeded_fallback(seed: str) -> Iterator[Fallback]:
    """Within the block, lmms-eval's random fallbacks in private copies draw from Random(seed)."""
    state = Fallback(rng=random.Random(seed))
    token = _ACTIVE.set(state)
    try:
        yield state
    finally:
        _ACTIVE.reset(token)


_lock = threading.Lock()
_cache: dict[tuple[str, str], ModuleType] = {}


def load_private_utils(task_dir: str, module: str = "utils") -> ModuleType:
    """A private copy of lmms_eval/tasks/<task_dir>/<module>.py (see the module doc)."""
    key = (task_dir, module)
    with _lock:
        if key in _cache:
            return _cache[key]
        path = lmms_eval_tasks_dir() / task_dir / f"{module}.py"
        if not path.is_file():
            raise TaskError(f"lmms-eval task module not found: {path}")
        name = f"lmms_eval.tasks.{task_dir.replace('/', '.')}._ov_bench_private_{module}"  # loguru: quiet("lmms_eval") applies
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise TaskError(f"cannot load {path}")
        mod = importlib.util.module_from_spec(spec)
        try:
            with _import_guard(), quiet():
                spec.loader.exec_module(mod)
        except SystemExit as e:
            raise TaskError(f"importing {path} tried to exit the process (code {e.code})") from None
        except (ImportError, KeyError, OSError) as e:
            raise TaskError(f"cannot import {path}: {type(e).__name__}: {e}") from None
        if isinstance(getattr(mod, "random", None), ModuleType):
            mod.random = SEEDED_RANDOM
        _cache[key] = mod
        return mod


@contextlib.contextmanager
def _import_guard() -> Iterator[None]:
    saved_modules = {m: sys.modules.get(m) for m in _HIDDEN_MODULES}
    had_hf_home = "HF_HOME" in os.environ
    try:
        for m in _HIDDEN_MODULES:
            sys.modules[m] = None  # type: ignore[assignment]  # `import m` now raises ImportError
        if not had_hf_home:
            # the value huggingface_hub would use; only feeds media-path globals we never use
            os.environ["HF_HOME"] = os.path.expanduser("~/.cache/huggingface")
        yield
    finally:
        for m, saved in saved_modules.items():
            if saved is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = saved
        if not had_hf_home:
            os.environ.pop("HF_HOME", None)


def with_globals(fn: Any, **overrides: Any) -> Any:
    """lmms-eval's function ``fn`` running against a copy of its module's globals with ``overrides``.

    For module-level state that lmms-eval reads at import and a harness must set per call (Video-MME's
    video cache folder, EgoSchema's HTTP client): the module itself is never touched, so concurrent calls
    with different overrides do not race. The module's other functions are rebound to the same copy, so
    calls between them (an aggregation calling its helper) see the overrides too. The code objects are
    lmms-eval's own; only the globals they look names up in differ."""
    module_globals = fn.__globals__
    namespace = dict(module_globals)
    namespace.update(overrides)
    for name, value in module_globals.items():
        if (
            name not in overrides
            and isinstance(value, types.FunctionType)
            and value.__globals__ is module_globals
        ):
            namespace[name] = _rebound(value, namespace)
    bound = namespace.get(fn.__name__)
    if getattr(bound, "__code__", None) is fn.__code__:
        return bound
    return _rebound(fn, namespace)


def _rebound(fn: types.FunctionType, namespace: dict[str, Any]) -> types.FunctionType:
    out = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    out.__kwdefaults__ = fn.__kwdefaults__
    out.__qualname__ = fn.__qualname__
    out.__module__ = fn.__module__
    return out
