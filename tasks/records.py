"""The records and errors every part of tasks/ shares: the hub dataset a task reads, the decoded
media of one doc, and the errors a task raises. It imports nothing from tasks/, so the loaders
(tasks/data.py), the lmms-eval glue (tasks/lmms*.py) and the Task base class (tasks/base.py) all
depend on it and never on each other in a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

# One MediaError and one VideoClip for training and evaluation (ov_media), re-exported for the tasks.
from ov_media import MediaError as MediaError
from ov_media import VideoClip as VideoClip

if TYPE_CHECKING:
    from PIL import Image


class TaskError(ValueError):
    """A user-caused problem with a task (unknown name, bad argument)."""


class DataError(TaskError):
    """The task's data cannot be loaded (hub unreachable, local directory missing, bad layout)."""


MODALITIES = ("single_image", "multi_image", "video")

# Key added to every loaded doc: the directory that relative media paths are resolved against
# (a local hub-layout copy, the samples cache, or None for rows straight from the hub).
MEDIA_ROOT_KEY = "_media_root"
# Key added to every loaded doc: its row index in its hub config/split (lmms-eval's doc_id), the id of
# tasks whose hub rows have no id column.
ROW_KEY = "_row"


@dataclass(frozen=True)
class HubDataset:
    """Where lmms-eval loads the benchmark from on the Hugging Face hub."""

    repo: str
    config: str | None
    split: str
    revision: str | None = None  # None: the repo's default branch (see tasks/data.py on pinning)


@dataclass
class Visuals:
    """The decoded media of one doc, in the order lmms-eval's doc_to_visual returns them."""

    images: list[Image.Image] = field(default_factory=list)  # RGB; empty for video tasks
    video: VideoClip | None = None
    # Set when the media decoded but not cleanly (a truncated image decoded with grey filler, as
    # lmms-eval decodes it); the runner records it on the sample's row.
    media_warning: str | None = None


class TaskSpec(Protocol):
    """What the loaders, the fetcher and the preflight read of a task: ``tasks.base.Task`` is one. They
    name this protocol instead of importing ``Task``, because ``Task.load`` calls them."""

    name: str
    modality: str

    def hub_datasets(self) -> list[HubDataset]: ...

    def doc_id(self, doc: dict) -> Any: ...
