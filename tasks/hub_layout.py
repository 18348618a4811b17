"""What a task's hub dataset repo holds and which of it a run needs: metadata files (parquet or JSON
declared in the README's `configs:`), media (video archives or folders) and where they go.

The per-task facts live on the Task classes as optional class attributes, read here with defaults:

    metadata_files   glob of a config's split, "{config}"/"{split}" filled in
                     (default "{config}/{split}-*", or "data/{split}-*" for a repo without configs)
    readme_config    the config name of a single-config repo's README (default "default")
    media_patterns   repo globs of the media the split needs (archives or folders)
    archive_patterns repo globs of the archives among them that are unpacked
    extra_patterns   repo globs fetched only with --include-extra (subtitles, audio)

A video task's media go where lmms-eval puts them, `$HF_HOME/<dataset_kwargs.cache_dir>`; when its
YAML says `create_link: True` (MVBench) that folder is a symlink to the downloaded snapshot, as
lmms-eval makes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tasks.records import HubDataset, TaskSpec


@dataclass(frozen=True)
class FetchSpec:
    task: str
    repo: str
    revision: str | None
    metadata_patterns: tuple[str, ...]
    media_patterns: tuple[str, ...] = ()
    archive_patterns: tuple[str, ...] = ()
    extra_patterns: tuple[str, ...] = ()
    cache_dir: str | None = None  # lmms-eval's dataset_kwargs.cache_dir (video tasks)
    create_link: bool = False
    configs: dict[str, dict[str, str]] = field(default_factory=dict)  # config -> {split: glob}

    def allow_patterns(self, include_extra: bool = False) -> list[str]:
        out = ["README.md", *self.metadata_patterns, *self.media_patterns]
        if include_extra:
            out.extend(self.extra_patterns)
        return out


def metadata_glob(task: TaskSpec, dataset: HubDataset) -> str:
    pattern = getattr(task, "metadata_files", None)
    if pattern is None:
        pattern = "{config}/{split}-*" if dataset.config else "data/{split}-*"
    return pattern.format(config=dataset.config or "", split=dataset.split)


def readme_config_name(task: TaskSpec, dataset: HubDataset) -> str:
    return dataset.config or getattr(task, "readme_config", "default")


def fetch_spec(task: TaskSpec) -> FetchSpec:
    datasets_ = task.hub_datasets()
    first = datasets_[0]
    configs: dict[str, dict[str, str]] = {}
    for ds in datasets_:
        configs.setdefault(readme_config_name(task, ds), {})[ds.split] = metadata_glob(task, ds)
    kwargs = {}
    if task.modality == "video":
        kwargs = dict((getattr(task, "lmms_eval_config", None) or {}).get("dataset_kwargs") or {})
    revision = os.environ.get(f"OV_BENCH_HUB_REVISION_{task.name.upper()}") or first.revision
    return FetchSpec(
        task=task.name,
        repo=first.repo,
        revision=revision,
        metadata_patterns=tuple(dict.fromkeys(g for split in configs.values() for g in split.values())),
        media_patterns=tuple(getattr(task, "media_patterns", ())),
        archive_patterns=tuple(getattr(task, "archive_patterns", ())),
        extra_patterns=tuple(getattr(task, "extra_patterns", ())),
        cache_dir=kwargs.get("cache_dir"),
        create_link=bool(kwargs.get("create_link", False)),
        configs=configs,
    )


def hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or "~/.cache/huggingface").expanduser()


def lmms_eval_media_dir(spec: FetchSpec) -> Path | None:
    """Where lmms-eval reads the task's media: $HF_HOME/<cache_dir> (None for image tasks)."""
    if spec.cache_dir is None:
        return None
    cache = Path(os.path.expandvars(spec.cache_dir)).expanduser()
    return cache if cache.is_absolute() else hf_home() / cache


def readme_text(spec: FetchSpec, pretty_name: str) -> str:
    """A dataset card with the `configs:` YAML datasets reads (the hub repos declare theirs so)."""
    lines = ["---", "configs:"]
    for config, splits in spec.configs.items():
        lines.append(f"- config_name: {config}")
        lines.append("  data_files:")
        for split, glob in splits.items():
            lines.append(f"  - split: {split}")
            lines.append(f"    path: {glob}")
    lines += ["---", "", f"# {pretty_name}", ""]
    return "\n".join(lines)


def write_readme(task: TaskSpec, out_dir: Path, note: str = "") -> None:
    spec = fetch_spec(task)
    text = readme_text(spec, f"{spec.repo} ({note})" if note else spec.repo)
    (out_dir / "README.md").write_text(text)
