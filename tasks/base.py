"""The Task interface, its records, and the errors a task raises.

A Task adapts one benchmark: where its rows come from (hub, a local copy, generated samples),
which subset `limit` takes, the prompt and visuals of a row, and how a response is scored. Prompts,
visuals and scores come from lmms-eval's own task functions (see the adapters); this module holds
the plumbing they share. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

# One MediaError and one VideoClip for training and evaluation (re-exported here for the tasks).
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


class Task:
    """Base class of every benchmark adapter.

    Subclasses set the class attributes and implement doc_to_text / load_visuals / score /
    aggregate (normally by calling lmms-eval), plus `generate_samples` for `--data samples`.
    """

    name: ClassVar[str]
    lmms_eval_name: ClassVar[str]
    modality: ClassVar[str]
    dataset: ClassVar[HubDataset]
    main_metric: ClassVar[str]
    # lmms-eval task folder and YAML (lmms_eval/tasks/<lmms_eval_dir>/<lmms_eval_yaml>): the source of
    # generation_kwargs and the default lmms_eval_specific_kwargs.
    lmms_eval_dir: ClassVar[str]
    lmms_eval_yaml: ClassVar[str]
    id_column: ClassVar[str] = "id"
    # Columns holding images (a single image cell or a list of them); decoded by load_visuals.
    image_columns: ClassVar[tuple[str, ...]] = ()
    # Bump when generate_samples changes so cached sample sets are rebuilt.
    samples_version: ClassVar[int] = 1
    # doc ids chosen by the last load() (all rows when no limit)
    selected_ids: list[str] | None = None

    def __repr__(self) -> str:
        return f"<Task {self.name} ({self.lmms_eval_name}, {self.modality})>"

    # ---- lmms-eval configuration ---------------------------------------------------------

    @functools.cached_property
    def lmms_eval_config(self) -> dict[str, Any]:
        """The task's lmms-eval YAML (with `include:` merged, `!function` kept as strings)."""
        from tasks.lmms import load_task_yaml

        return load_task_yaml(self.lmms_eval_dir, self.lmms_eval_yaml)

    @property
    def lmms_eval_kwargs(self) -> dict[str, Any]:
        """lmms_eval_specific_kwargs["default"]: the prompt kwargs lmms-eval uses by default."""
        kwargs = self.lmms_eval_config.get("lmms_eval_specific_kwargs") or {}
        return dict(kwargs.get("default", {}))

    @property
    def generation_kwargs(self) -> dict[str, Any]:
        """As lmms-eval's TaskConfig completes them (an `until` stop list; greedy when the YAML has none)."""
        from lmms_eval.api.task import TaskConfig

        c = self.lmms_eval_config
        gen = c.get("generation_kwargs")
        config = TaskConfig(output_type=c.get("output_type", "generate_until"), generation_kwargs=dict(gen) if gen else None)
        return dict(config.generation_kwargs or {})

    # ---- data -------------------------------------------------------------------------------

    def load(self, data: str = "hub", limit: int | None = None, seed: int = 0) -> list[dict]:
        """Rows in the hub schema from `data` ("hub", "samples" or a directory).

        limit: a stratified, seeded subset (see tasks/subset.py), never the first N rows; the chosen
        ids are kept in `self.selected_ids`.
        """
        from tasks.data import load_rows
        from tasks.subset import stratified_subset

        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise TaskError(f"limit must be a positive integer, got {limit!r}")
        docs = load_rows(self, data)
        if limit is not None and limit < len(docs):
            docs = stratified_subset(docs, limit, seed, key=self.doc_id, stratum=self.stratum, group=self.group_key)
        self.selected_ids = [self.doc_id(d) for d in docs]
        return docs

    def hub_datasets(self) -> list[HubDataset]:
        """The hub configs making up the task (one, except for groups of lmms-eval tasks)."""
        return [self.dataset]

    def prepare_rows(self, rows: list[dict], dataset: HubDataset) -> list[dict]:
        """Hook run on the rows of each hub config after loading (e.g. tagging a group member)."""
        return rows

    def generate_samples(self, out_dir: Path) -> None:
        """Write a deterministic sample set laid out like the hub repo into out_dir."""
        raise NotImplementedError(f"task {self.name} has no sample generator")

    def doc_id(self, doc: dict) -> str:
        return str(doc[self.id_column])

    def stratum(self, doc: dict) -> str:
        """Stratum for `limit` subsets (subject, duration or task type)."""
        return ""

    def group_key(self, doc: dict) -> str:
        """Docs sharing a group key are kept together by `limit` (MME's question pairs)."""
        return self.doc_id(doc)

    # ---- prompt, media, scoring ---------------------------------------------------------

    def doc_to_text(self, doc: dict) -> str:
        raise NotImplementedError

    def load_visuals(self, doc: dict, frames: int = 32) -> Visuals:
        raise NotImplementedError

    def image_sizes(self, doc: dict) -> list[tuple[int, int]]:
        raise NotImplementedError

    def score(self, doc: dict, response: str) -> dict:
        raise NotImplementedError

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        raise NotImplementedError


def parse_failure_rate(records: list[dict]) -> float:
    if not records:
        return math.nan
    return sum(bool(r.get("parse_failed")) for r in records) / len(records)
