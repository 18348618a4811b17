"""``ov-bench fetch``: download the tasks' hub data (and unpack their video archives)."""

from __future__ import annotations

import argparse

from tasks import DataError, get_task, resolve_task_names
from tasks.hub_fetch import fetch_task

from .flags import add_tasks_argument

NAME = "fetch"
HELP = "download the tasks' hub datasets and unpack their video archives (where lmms-eval looks, or --dest)"
ORDER = 15
DESCRIPTION = """\
Download what the tasks need from the Hugging Face hub, at the revision lmms-eval uses, skipping
files the evaluated split does not read (subtitle and audio archives: --include-extra), and unpack
the video archives. The total size is printed first; too little free space is refused. Interrupted,
rerun the same command: finished files and unpacked archives are kept. Afterwards every doc of the
split is checked for its media.

Default destination: the hub cache and $HF_HOME/<cache_dir>, the folders lmms-eval uses, so both
tools share one copy (then `ov-bench run --data hub`). With --dest DIR: DIR/<task>, the layout of
`hf download <repo> --repo-type dataset --local-dir DIR/<task>` (then `--data DIR`).

examples:
  ov-bench fetch --tasks videomme,mvbench
  ov-bench fetch --tasks nextqa --dest /data/ov-bench && ov-bench run --tasks nextqa --data /data/ov-bench
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_tasks_argument(parser)
    parser.add_argument(
        "--dest",
        default=None,
        metavar="DIR",
        help="write DIR/<task> copies that `--data DIR` reads (default: lmms-eval's folders)",
    )
    parser.add_argument(
        "--include-extra",
        action="store_true",
        help="also fetch files the evaluated split does not need (subtitles, audio)",
    )


def execute(args: argparse.Namespace) -> int:
    from pathlib import Path

    # lmms-eval task/group names and suites -> ours; unknown names fail before any download
    tasks = [get_task(name) for name in resolve_task_names(args.tasks)]
    dest = Path(args.dest).expanduser() if args.dest else None
    if dest is not None and dest.exists() and not dest.is_dir():
        raise DataError(f"--dest {args.dest}: exists and is not a directory")
    incomplete = 0
    for task in tasks:
        result = fetch_task(task, dest=dest, include_extra=args.include_extra, echo=print)
        incomplete += bool(result.missing)
    if incomplete:
        print(f"ov-bench fetch: {incomplete} task(s) lack media for some docs (listed above)")
        return 1
    return 0
