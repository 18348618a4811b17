"""Benchmark task adapters whose prompts and scores come from lmms-eval 0.7.3.

    from tasks import get_task, list_tasks
    task = get_task("mmmu")
    docs = task.load(data="samples", limit=20)
    record = task.score(docs[0], "B")
    metrics = task.aggregate([record])

Importing this package is cheap: adapters, lmms-eval, datasets and PIL are imported on use.
"""

from tasks.base import (
    MEDIA_ROOT_KEY,
    ROW_KEY,
    DataError,
    HubDataset,
    MediaError,
    Task,
    TaskError,
    VideoClip,
    Visuals,
)
from tasks.registry import get_task, list_tasks, register, resolve_task_names

__all__ = [
    "MEDIA_ROOT_KEY",
    "ROW_KEY",
    "DataError",
    "HubDataset",
    "MediaError",
    "Task",
    "TaskError",
    "VideoClip",
    "Visuals",
    "get_task",
    "list_tasks",
    "register",
    "resolve_task_names",
]
