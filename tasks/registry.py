"""The task registry: names -> Task classes.

Adapter modules register their classes with the `@register` decorator. The modules are listed in
TASK_MODULES and imported on the first lookup, so `import tasks` stays cheap; adding a family of
tasks is one line there. A listed module that does not exist yet is skipped (it may be in flight on
another branch); any other import error propagates.
"""

from __future__ import annotations

import importlib
import threading

from tasks.base import MODALITIES, Task, TaskError

TASK_MODULES: list[str] = [
    "tasks.image_tasks",  # mmmu, ai2d, mme, chartqa, docvqa
    "tasks.multi_image_tasks",  # muirbench, llava_interleave_bench, mantis, blink_<config> x14
    "tasks.video_tasks",  # videomme, mvbench, egoschema, nextqa, perceptiontest
    "tasks.long_video_tasks",  # videomme_w_subtitle, mlvu_dev, longvideobench_val_v
    "tasks.server_tasks",  # docvqa_test, infovqa_test, egoschema_test (scored by a test server)
    "tasks.judged_image_tasks",  # mmvet, llava_in_the_wild, dc100_en, mathvista_testmini_*, mathverse
    "tasks.judged_video_tasks",  # activitynetqa, videochatgpt_*, video_dc499
]

_REGISTRY: dict[str, type[Task]] = {}
_loaded = False
_lock = threading.Lock()


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: add a Task subclass to the registry under cls.name."""
    name = getattr(cls, "name", None)
    if not name or not isinstance(name, str):
        raise TypeError(f"{cls.__name__} has no task name")
    if getattr(cls, "modality", None) not in MODALITIES:
        raise TypeError(f"{cls.__name__}.modality must be one of {MODALITIES}")
    existing = _REGISTRY.get(name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise TypeError(f"task {name!r} registered twice ({existing.__qualname__}, {cls.__qualname__})")
    _REGISTRY[name] = cls
    return cls


def _load_modules() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for module in TASK_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as e:
                if e.name != module:
                    raise
        _loaded = True


def list_tasks() -> list[str]:
    _load_modules()
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    """A fresh instance of the task registered as `name`."""
    _load_modules()
    cls = _REGISTRY.get(name)
    if cls is None:
        raise TaskError(f"unknown task {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return cls()
