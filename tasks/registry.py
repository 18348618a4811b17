"""The task registry: names -> Task classes, and the one resolver of user-given task names.

Adapter modules register their classes with the `@register` decorator. The modules are listed in
TASK_MODULES and imported on the first lookup, so `import tasks` stays cheap; adding a family of
tasks is one line there. Every listed module must import.

Names a user may give (`resolve_task_names`), tried in this order:
1. an ov-bench task name (ours keep their meaning where lmms-eval uses the same name for something
   else: `egoschema` is lmms-eval's egoschema_subset, lmms-eval's full `egoschema` is our egoschema_test);
2. a suite: `paper-single-image`, `paper-multi-image`, `paper-video`, `paper` (every task with a
   paper row that is not scored by a test server; one variant per row, see Task.in_paper_suite);
3. an lmms-eval task name (`mmmu_val` -> mmmu, `docvqa_val` -> docvqa);
4. an lmms-eval group name: every registered task whose `lmms_eval_group` is that name (the groups
   are read off the Task classes; there is no list of them here).
"""

from __future__ import annotations

import difflib
import importlib
import threading
from collections.abc import Iterable

from tasks.base import MODALITIES, Task, TaskError
from tasks.groups import GroupConfig, group_config

TASK_MODULES: list[str] = [
    "tasks.image_tasks",  # mmmu, ai2d, mme, chartqa, docvqa
    "tasks.paper_image_tasks",  # infovqa_val, mmstar, scienceqa_img, realworldqa, seedbench
    "tasks.mmbench_tasks",  # mmbench_en_dev, mmbench_en_dev_static
    "tasks.multi_image_tasks",  # muirbench, llava_interleave_bench, mantis, blink_<config> x14
    "tasks.video_tasks",  # videomme, mvbench, egoschema, nextqa, perceptiontest
    "tasks.long_video_tasks",  # videomme_w_subtitle, mlvu_dev, longvideobench_val_v
    "tasks.server_tasks",  # docvqa_test, infovqa_test, egoschema_test (scored by a test server)
    "tasks.judged_image_tasks",  # mmvet, llava_in_the_wild, dc100_en, mathvista_testmini_*, mathverse
    "tasks.judged_video_tasks",  # activitynetqa, videochatgpt_*, video_dc499
]

SCORINGS = ("local", "judge", "server")
# suite name -> the modality it runs (None: all of them)
SUITES: dict[str, str | None] = {
    "paper-single-image": "single_image",
    "paper-multi-image": "multi_image",
    "paper-video": "video",
    "paper": None,
}

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
    if getattr(cls, "scoring", "local") not in SCORINGS:
        raise TypeError(f"{cls.__name__}.scoring must be one of {SCORINGS}")
    if name in SUITES:
        raise TypeError(f"task name {name!r} is a suite name")
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
            importlib.import_module(module)
        _loaded = True


def list_tasks() -> list[str]:
    _load_modules()
    return sorted(_REGISTRY)


def task_classes() -> dict[str, type[Task]]:
    """Name -> class of every registered task (nothing instantiated)."""
    _load_modules()
    return dict(sorted(_REGISTRY.items()))


def get_task(name: str) -> Task:
    """A fresh instance of the task `name` (an ov-bench name, or a name that resolves to one task)."""
    _load_modules()
    cls = _REGISTRY.get(name)
    if cls is None:
        resolved = resolve_task_names([name])
        if len(resolved) != 1:
            raise TaskError(f"{name!r} names {len(resolved)} tasks ({', '.join(resolved)}); name one of them")
        cls = _REGISTRY[resolved[0]]
    return cls()


# ---- names users give ---------------------------------------------------------------------------


def groups() -> dict[str, list[str]]:
    """lmms-eval group name -> the registered tasks that are its members (from the Task classes)."""
    out: dict[str, list[str]] = {}
    for name, cls in task_classes().items():
        if cls.lmms_eval_group:
            out.setdefault(cls.lmms_eval_group, []).append(name)
    return out


def lmms_eval_names() -> dict[str, str]:
    """lmms-eval task name -> the ov-bench task running it."""
    return {cls.lmms_eval_name: name for name, cls in task_classes().items()}


def task_for_lmms_eval_name(lmms_name: str) -> str | None:
    """The ov-bench task that runs lmms-eval's task `lmms_name` exactly (None: ov-bench has none). Unlike
    resolve_task_names, an lmms-eval name never means the ov-bench task of the same name: lmms-eval's
    `egoschema` is our egoschema_test, not our egoschema. For the lmms-eval plugin."""
    return lmms_eval_names().get(lmms_name)


def suite_members(suite: str) -> list[str]:
    """The tasks of a `paper*` suite, in modality order then by name."""
    if suite not in SUITES:
        raise TaskError(f"unknown suite {suite!r}; suites: {', '.join(SUITES)}")
    wanted = SUITES[suite]
    out = []
    for modality in MODALITIES:
        if wanted not in (None, modality):
            continue
        for name, cls in task_classes().items():
            in_suite = cls.paper_row and cls.scoring != "server" and cls.in_paper_suite
            if in_suite and modality in (cls.paper_modalities or (cls.modality,)):
                out.append(name)
    return list(dict.fromkeys(out))


def known_names() -> list[str]:
    """Every name resolve_task_names accepts."""
    return sorted({*task_classes(), *SUITES, *lmms_eval_names(), *groups()})


def _resolve_one(name: str) -> list[str]:
    registry = task_classes()
    if name in registry:
        return [name]
    if name in SUITES:
        return suite_members(name)
    by_lmms = lmms_eval_names()
    if name in by_lmms:
        return [by_lmms[name]]
    members = groups().get(name)
    if members:
        return _group_members(name, members)
    known = known_names()
    lowered = {n.lower(): n for n in known}
    typed = name.lower()
    prefixed = sorted(n for n in lowered if n.startswith(typed))  # `mmbench` -> mmbench_en_dev first
    close = list(dict.fromkeys(prefixed + difflib.get_close_matches(typed, list(lowered), n=3, cutoff=0.6)))[
        :3
    ]
    if close:
        hint = f"did you mean: {', '.join(lowered[c] for c in close)}?"
    else:
        hint = "`ov-bench tasks` lists the tasks, groups and suites"
    raise TaskError(f"unknown task {name!r}; {hint}")


def registered_group_config(group: str) -> GroupConfig:
    """lmms-eval's config of a group that registered tasks name as their lmms_eval_group (read from the
    group YAML in those tasks' lmms-eval folder)."""
    dirs = sorted({c.lmms_eval_dir for c in task_classes().values() if c.lmms_eval_group == group})
    if not dirs:
        raise TaskError(f"no registered task belongs to lmms-eval group {group!r}")
    return group_config(group, dirs[0])


def _group_members(group: str, registered: list[str]) -> list[str]:
    """What lmms-eval's group runs, as ov-bench tasks in the group YAML's order; TaskError when ov-bench
    lacks a member (a group name must not silently run less than lmms-eval's group)."""
    by_lmms = lmms_eval_names()
    lmms_members = registered_group_config(group).members
    missing = [m for m in lmms_members if m not in by_lmms]
    if missing:
        raise TaskError(
            f"lmms-eval group {group!r} also runs {', '.join(missing)}, which ov-bench does not provide; "
            f"name the tasks you want: {', '.join(registered)}"
        )
    return list(dict.fromkeys([by_lmms[m] for m in lmms_members] + registered))


def resolve_task_names(names: Iterable[str]) -> list[str]:
    """ov-bench task names for user-given names (ov-bench or lmms-eval task names, lmms-eval group
    names, suites), in the order given, each once. An unknown name: TaskError with the closest names."""
    out: list[str] = []
    for name in names:
        out.extend(_resolve_one(str(name).strip()))
    return list(dict.fromkeys(out))
