"""Copies of hub dataset repos in their real layout, for the data tests: exactly what
`hf download <repo> --repo-type dataset --local-dir DIR/<task>` leaves (README.md with the
`configs:` YAML, parquet or JSON at the hub's paths, video archives still packed, MVBench's unpacked
folders), filled with the deterministic sample content; no ov-bench marker files."""

from __future__ import annotations

from pathlib import Path

# task -> (hub repo, revision lmms-eval 0.7.3 passes)
REPOS = {
    "videomme": ("lmms-eval/Video-MME", "main"),
    "mvbench": ("OpenGVLab/MVBench", "video"),
    "egoschema": ("lmms-eval/egoschema", "main"),
    "nextqa": ("lmms-eval/NExTQA", "main"),
    "perceptiontest": ("lmms-eval/PerceptionTest_Val", "main"),
}


def make_repo(name: str, dest: Path) -> Path:
    """Write the repo copy of task `name` at dest (dest/<files>); returns dest."""
    from tasks import get_task
    from tasks.hub_layout import write_readme

    task = get_task(name)
    dest.mkdir(parents=True, exist_ok=True)
    task.generate_samples(dest)
    write_readme(task, dest, note="ov-bench test copy")
    return dest


def repo_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
