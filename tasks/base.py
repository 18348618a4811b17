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
from tasks.estimators import MetricEstimator
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
    # The largest per-sample score (the row's `score`): 1 for right/wrong, 100 where lmms-eval's
    # per-sample aggregation is in percent (Video-MME, MVBench, MMVet), 5 for 0-5 judge scores.
    score_max: ClassVar[float] = 1.0
    # Bump when generate_samples changes so cached sample sets are rebuilt.
    samples_version: ClassVar[int] = 1

    # ---- names and the paper (read by tasks/registry.py, `ov-bench tasks`, docs/tasks.md) ----------
    # The lmms-eval group this task belongs to; `--tasks <group>` runs every registered member. Set it
    # only where ov-bench registers every member of lmms-eval's group, so a group name runs what
    # lmms-eval's group runs (tests/test_task_names.py checks the membership against lmms-eval's YAML).
    lmms_eval_group: ClassVar[str | None] = None
    # The LLaVA-OneVision paper row this task reproduces (every member of a group whose mean is the row).
    paper_row: ClassVar[str | None] = None
    # "local" | "judge" (may call an LLM judge) | "server" (only a test server scores it).
    scoring: ClassVar[str] = "local"
    # Number of docs in the real hub split (None: not known offline).
    real_docs: ClassVar[int | None] = None
    # False where the hub repo layout was inferred from lmms-eval's code rather than seen.
    layout_verified: ClassVar[bool] = True
    # False for the variants of a paper row that the `paper` suites leave out (one variant per row).
    in_paper_suite: ClassVar[bool] = True
    # The suites (by modality) the task's paper rows belong to; None: its own modality. SEED-Bench's one
    # lmms-eval task gives an image row and a video row.
    paper_modalities: ClassVar[tuple[str, ...] | None] = None
    # doc ids chosen by the last load() (all rows when no limit)
    selected_ids: list[str] | None = None
    # Where aggregate() may write files lmms-eval's aggregations write (a test server's submission file,
    # under <submission_dir>/submissions/): the run directory, set by the runner; None writes nothing.
    submission_dir: Path | None = None

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

    def doc_to_text(self, doc: dict, prompt_model: str | None = None) -> str:
        """The question text. ``prompt_model``: the lmms-eval model whose lmms_eval_specific_kwargs entry
        the prompt uses where the task's YAML has one (llava_vid for LLaVA-Video checkpoints: Video-MME's
        post-prompt "The best answer is:"); None: the default entry."""
        raise NotImplementedError

    def load_visuals(self, doc: dict, frames: int = 32) -> Visuals:
        raise NotImplementedError

    def image_sizes(self, doc: dict) -> list[tuple[int, int]]:
        raise NotImplementedError

    def score(self, doc: dict, response: str) -> dict:
        raise NotImplementedError

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        raise NotImplementedError

    # ---- sub-scores and the metric's structure (intervals) --------------------------------

    def subscores(self, record: dict) -> dict[str, str]:
        """The sub-score groups one scored record belongs to, {dimension: label}, e.g. {"subject":
        "Art_Theory", "discipline": "Art and Design"}. results.json reports the main metric per label,
        with its interval, and compare pairs them. Default: none."""
        return {}

    def estimator(self, metric: str) -> MetricEstimator | None:
        """How ``metric`` follows from the per-sample scores (tasks/estimators.py), or None when it does
        not. Default: the main metric is the mean of the per-sample scores."""
        if metric != self.main_metric:
            return None
        return MetricEstimator(score_max=self.score_max)


def parse_failure_rate(records: list[dict]) -> float:
    if not records:
        return math.nan
    return sum(bool(r.get("parse_failed")) for r in records) / len(records)
