"""``ov-bench run``: evaluate a model on tasks with per-sample profiling and a resumable store."""

from __future__ import annotations

import argparse

from ..threshold import DEFAULT_THRESHOLD
from .model_options import add_layout_arguments, layout_options
from .placement import DTYPES, add_dtype_argument, add_placement_arguments, check_placement  # noqa: F401

NAME = "run"
HELP = "evaluate a model on benchmark tasks (scores, visual tokens, latency per stage, peak memory)"
ORDER = 10
DESCRIPTION = """\
Evaluate a model on one or more tasks. Every sample is committed to OUTPUT/samples.sqlite as it
finishes: rerun the same command with the same --output to resume after a crash. At the end
OUTPUT/results.json, OUTPUT/report.md and a summary table are written.

examples:
  ov-bench run --tasks mmmu,videomme --model tiny --data samples
  ov-bench run --tasks mmmu --model hf:/ckpt/llava-onevision-0.5b --data /data/hub-copy --limit 100
  accelerate launch --multi_gpu --num_processes 2 $(which ov-bench) run --tasks mmmu --data samples
"""


def _int_at_least(text: str, minimum: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer >= 0")


def threshold(text: str) -> int | None:
    """``none`` (no cap) or a positive integer tau (ov_bench.threshold.parse_threshold)."""
    from ..threshold import parse_threshold

    try:
        return parse_threshold(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {text!r}") from None


def task_list(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of task names")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tasks",
        type=task_list,
        required=True,
        metavar="T1,T2",
        help="comma-separated task names (see `ov-bench tasks`)",
    )
    parser.add_argument(
        "--model",
        default="tiny",
        help="tiny | arch:0.5b[?layers=N] | PATH (HF or original layout) | hf:PATH (default: tiny)",
    )
    parser.add_argument(
        "--data", default="hub", help="hub | samples | DIR (a local copy of the hub repos; default: hub)"
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="evaluate a seeded, stratified subset of N docs per task",
    )
    parser.add_argument(
        "--max-grid-tokens",
        type=threshold,
        default=DEFAULT_THRESHOLD,
        metavar="TAU|none",
        help="AnyRes grid-token threshold tau (anyres_max_9 = 6561, the default); none = no cap",
    )
    parser.add_argument(
        "--frames",
        type=positive_int,
        default=None,
        metavar="F",
        help="video frames per sample, the cap with --frame-sampling fps (default: the checkpoint's: "
        "32, LLaVA-Video 64)",
    )
    add_dtype_argument(parser)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    add_placement_arguments(parser)
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=1,
        help="samples of one task per model call (default 1); with N > 1 the model stages' "
        "latency and peak memory recorded per sample are the batch's",
    )
    parser.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="output directory (default: runs/<timestamp>); reuse it to resume",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for the --limit subset and torch (default 0)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if any sample ended in an error")
    parser.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=None,
        metavar="N",
        help="override the tasks' max_new_tokens",
    )
    parser.add_argument(
        "--unpad-rounding",
        choices=("original", "hf"),
        default="original",
        help="reference model only: unpad rounding of the original code or of transformers",
    )
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=2,
        help="prefetch threads decoding media and preprocessing ahead of the model (0 = inline)",
    )
    parser.add_argument("--retry-errors", action="store_true", help="on resume, run error rows again")
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="skip per-stage timers and peak-memory probes (end-to-end time is still recorded)",
    )
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="before timing, one untimed call on a tiny synthetic input (a 32x32 image, 2 new "
        "tokens) for kernel and allocator warm-up; its cost is results.json's run.warmup_s "
        "(default: on)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_layout_arguments(parser)
    parser.add_argument(
        "--no-fetch",
        action="store_true",
        help="--data hub: refuse instead of fetching a video task's missing media (see `ov-bench fetch`)",
    )
    parser.add_argument(
        "--strict-media",
        action="store_true",
        help="a truncated image (decoded with grey filler, as lmms-eval does) is an error row",
    )


def precheck(args: argparse.Namespace) -> None:
    """Fail fast, before any output is written, on input a user can get wrong."""
    from tasks import get_task, resolve_task_names

    from ..adapters import check_model_spec
    from ..engine.runner import check_data_arg, check_output_arg

    args.tasks = resolve_task_names(args.tasks)  # lmms-eval task/group names and suites -> ours
    for name in args.tasks:
        get_task(name)
    check_data_arg(args.data)
    check_output_arg(args.output)
    check_model_spec(args.model, args.max_grid_tokens)
    check_placement(args.model, args.device_map, args.max_memory, args.offload_folder, args.dtype)


def execute(args: argparse.Namespace) -> int:
    precheck(args)
    from ..engine.runner import RunConfig, Runner
    from ..outputs.results import failed_tasks
    from ..reports.report import summary_table

    config = RunConfig(
        tasks=args.tasks,
        model=args.model,
        data=args.data,
        limit=args.limit,
        max_grid_tokens=args.max_grid_tokens,
        frames=args.frames,
        dtype=args.dtype,
        device=args.device,
        batch_size=args.batch_size,
        output=args.output,
        seed=args.seed,
        strict=args.strict,
        max_new_tokens=args.max_new_tokens,
        unpad_rounding=args.unpad_rounding,
        workers=args.workers,
        profile=not args.no_profile,
        warmup=args.warmup,
        retry_errors=args.retry_errors,
        progress=not args.no_progress,
        model_options=layout_options(args),
        device_map=args.device_map,
        max_memory=args.max_memory,
        offload_folder=args.offload_folder,
        fetch=not args.no_fetch,
        strict_media=args.strict_media,
    )
    runner = Runner(config)
    outcome = runner.run()
    if outcome.results is not None:
        print(summary_table(outcome.results))
        print(
            f"results: {outcome.output_dir}/results.json, report: {outcome.output_dir}/report.md, "
            f"samples: {outcome.output_dir}/samples.sqlite"
        )
    import sys

    for note in runner.notes:
        print(note)

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
