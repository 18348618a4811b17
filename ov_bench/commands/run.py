"""``ov-bench run``: evaluate a model on tasks with per-sample profiling and a resumable store."""

from __future__ import annotations

import argparse

from tasks import get_task, resolve_task_names

from ..judge import add_judge_arguments, judge_config_from_args, require_judge
from ..model_spec import ModelSpec
from .flags import add_engine_arguments, add_model_arguments, add_task_arguments, model_spec, positive_int

NAME = "run"
HELP = "evaluate a model on benchmark tasks (scores, visual tokens, latency per stage, peak memory)"
ORDER = 10
DESCRIPTION = """\
Evaluate a model on one or more tasks. Every sample is committed to OUTPUT/samples.sqlite as it
finishes: rerun the same command with the same --output to resume after a crash. At the end
OUTPUT/results.json, OUTPUT/report.md, OUTPUT/report.html and a summary table are written.

examples:
  ov-bench run --tasks mmmu,videomme --model tiny --data samples
  ov-bench run --tasks mmmu --model hf:/ckpt/llava-onevision-0.5b --data /data/hub-copy --limit 100
  accelerate launch --multi_gpu --num_processes 2 $(which ov-bench) run --tasks mmmu --data samples
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(parser, limit_help="evaluate a seeded, stratified subset of N docs per task")
    add_model_arguments(parser)
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=1,
        help="samples of one task per model call (default 1); with N > 1 the model stages' "
        "latency and peak memory recorded per sample are the batch's",
    )
    add_engine_arguments(parser, output_default="runs/<timestamp>")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any sample ended in an error")
    parser.add_argument(
        "--no-fetch",
        action="store_true",
        help="--data hub: refuse instead of fetching a video task's missing media (see `ov-bench fetch`)",
    )
    add_judge_arguments(parser)
    parser.add_argument(
        "--published",
        default=None,
        metavar="KEY",
        help="compare with this checkpoint's published numbers in results.json and the reports (7b-ov, "
        "lmms-lab/llava-onevision-qwen2-7b-ov, ...; default: recognised from the model's name, if any)",
    )
    parser.add_argument(
        "--strict-media",
        action="store_true",
        help="a truncated image (decoded with grey filler, as lmms-eval does) is an error row",
    )


def precheck(args: argparse.Namespace) -> ModelSpec:
    """Fail fast, before anything is loaded or written, on input a user can get wrong; the model's
    settings as one value."""
    # local: every command module loads at start-up; the engine and adapters (~70 ms) stay out of --help
    from ..adapters import check_model_spec
    from ..engine.runner import check_data_arg, check_output_arg
    from ..published.catalog import resolve_checkpoint

    args.tasks = resolve_task_names(args.tasks)  # lmms-eval task/group names and suites -> ours
    spec = model_spec(args)
    for name in args.tasks:
        get_task(name)
    require_judge(args.tasks, judge_config_from_args(args))  # exit 2 before anything loads or is written
    check_data_arg(args.data)
    check_output_arg(args.output)
    check_model_spec(spec)
    if args.published is not None:
        resolve_checkpoint(args.published)
    return spec


def execute(args: argparse.Namespace) -> int:
    spec = precheck(args)
    # local: the engine and the reports stay out of ov-bench --help
    from ..engine.runner import RunConfig, Runner
    from ..outputs.results import failed_tasks
    from ..reports.report import summary_table

    config = RunConfig(
        tasks=args.tasks,
        model=spec,
        data=args.data,
        limit=args.limit,
        batch_size=args.batch_size,
        output=args.output,
        seed=args.seed,
        strict=args.strict,
        max_new_tokens=args.max_new_tokens,
        workers=args.workers,
        profile=not args.no_profile,
        warmup=args.warmup,
        retry_errors=args.retry_errors,
        progress=not args.no_progress,
        fetch=not args.no_fetch,
        strict_media=args.strict_media,
        published=args.published,
        judge=judge_config_from_args(args),
    )
    runner = Runner(config)
    outcome = runner.run()
    if outcome.results is not None:
        print(summary_table(outcome.results))
        print(
            f"results: {outcome.output_dir}/results.json, report: {outcome.output_dir}/report.md and report.html, "
            f"samples: {outcome.output_dir}/samples.sqlite"
        )
    import sys

    for note in runner.notes:
        print(note)

    from ..judge.awaiting import awaiting_judge_line

    waiting = awaiting_judge_line(outcome.rows)
    if waiting:  # samples whose judge call failed: a rerun judges only those
        print(waiting, file=sys.stderr)
        return 1
    failed = failed_tasks(outcome.results) if outcome.results is not None else []
    if failed:  # a task without a single scored sample is no result, whatever --strict says
        for name in failed:
            top = outcome.results["tasks"][name]["top_error"]
            print(
                f"ov-bench: every sample of {name} ended in an error; top reason {top['stage']} "
                f"({top['count']} of {outcome.results['tasks'][name]['n']}): {top['example']}",
                file=sys.stderr,
            )
        return 1
    if args.strict and outcome.errors:
        print(f"ov-bench: {outcome.errors} sample(s) ended in an error (--strict)", file=sys.stderr)
        return 1
    return 0
