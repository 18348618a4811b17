"""The Task interface (records and errors live in tasks/records.py and are re-exported here).

A Task adapts one benchmark: where its rows come from (hub, a local copy, generated samples),
which subset `limit` takes, the prompt and visuals of a row, and how a response is scored. Prompts,
visuals and scores come from lmms-eval's own task functions (see the adapters); this module holds
the plumbing they share. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

from tasks.data import load_rows
from tasks.hub_fetch import ensure_hub_media
from tasks.records import (  # noqa: F401  (re-exported: the names tasks.base always had)
    MEDIA_ROOT_KEY,
    MODALITIES,
    ROW_KEY,
    DataError,
    HubDataset,
    MediaError,
    TaskError,
    VideoClip,
    Visuals,
)


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

    # ---- data -------------------------------------------------------------------------------

    def load(
        self, data: str = "hub", limit: int | None = None, seed: int = 0, fetch: bool = True
    ) -> list[dict]:
        """Rows in the hub schema from `data` ("hub", "samples" or a directory).

        limit: a stratified, seeded subset (see tasks/subset.py), never the first N rows, chosen before
        any image cell is read; the chosen ids are kept in `self.selected_ids`.
        fetch: with data="hub", download a video task's missing media first (False: refuse).
        """
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise TaskError(f"limit must be a positive integer, got {limit!r}")
        docs = load_rows(self, data, limit=limit, seed=seed)
        if data == "hub" and self.modality == "video":  # videos come from archives lmms-eval unpacks
            ensure_hub_media(self, docs, fetch)
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
