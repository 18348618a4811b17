"""``ov-bench sweep``: every threshold (and frame count) on the same samples, vision work shared."""

from __future__ import annotations

import argparse
import sys

from reference_model.config import MULTI_IMAGE_LAYOUTS, VIDEO_NEWLINE_POSITIONS, VIDEO_POOL_MODES
from tasks import get_task, resolve_task_names

from ..errors import UsageError
from ..judge import add_judge_arguments, judge_config_from_args, require_judge
from ..judge.awaiting import awaiting_judge_line
from .flags import (
    add_engine_arguments,
    add_model_arguments,
    add_task_arguments,
    grid_pinpoints_arg,
    model_spec,
)

NAME = "sweep"
HELP = (
    "threshold / frame-count / grid-set / video-layout / multi-image-layout ablation on the same samples "
    "(work a setting does not change is shared)"
)
ORDER = 20
DESCRIPTION = """\
Run every setting (threshold tau x frame count F x grid set x multi-image layout x video layout) on the
same samples; each setting's rows equal a plain `ov-bench run --max-grid-tokens TAU --frames F
--grid-pinpoints G --multi-image-layout M --video-layout N --video-pool P`. With the reference model
only the work a setting changes is repeated:

  media decode + preprocess  once per (sample, frame count); single images once per grid set too
                             (the grid set picks the AnyRes crops), videos and multi-image prompts not
  vision encoder + projector once per decoded unit: shared by every tau, video layout, multi-image
                             layout (those change only packing / pooling)
  packing + LLM              per setting, except that settings giving a sample the same packed input
                             (a small image under two taus, a video under two taus or grid sets, an
                             image under two video layouts) are generated once (--no-reuse: each)

The hf: adapter falls back to separate runs (thresholds and frames only). sweep.json's "shared" and the
report say what was shared. Measured (tiny model, mmmu + videomme sample data --limit 2, --frames 8,
--grid-sets ov,next --thresholds 729,6561: 4 settings, 16 rows, 2 shared CPU cores): 6 decodes and 6
vision-encoder passes instead of 16, 8 LLM runs with 8 of 16 rows reused; 3.9 s against 7.2 s for the 4
plain runs (tests/benchmarks/test_bench_sweep_axes.py).

Output: OUTPUT/sweep.json, OUTPUT/samples.sqlite (rows keyed by threshold), OUTPUT/settings/<label>/
results.json per setting, and OUTPUT/report.md + report.html with plots (accuracy vs visual tokens,
latency by stage, peak memory, token histograms, paired deltas against the reference setting).

examples:
  ov-bench sweep --tasks ai2d,chartqa --thresholds 729,2916,6561,none --model tiny --data samples --limit 8
  ov-bench sweep --tasks videomme --frames 8,16,32 --model arch:0.5b --data /data/hub-copy
  ov-bench sweep --tasks mmmu,videomme --grid-sets ov,next --thresholds 729,6561 --data samples --limit 2
  ov-bench sweep --tasks videomme --video-layouts one_token/bilinear,grid/average,frame/average --thresholds none
  ov-bench sweep --tasks muirbench --multi-image-layouts eval,train --thresholds none
"""


def grid_set_list(text: str) -> list[str]:
    """``ov,next,384x768,768x384``: named sets split at commas, consecutive WxH sizes form one custom set;
    ``;`` separates two custom sets (``384x768,768x384;384x1152,1152x384``)."""

    sets: list[str] = []
    for group in filter(None, (g.strip() for g in text.split(";"))):
        custom: list[str] = []
        for part in filter(None, (p.strip().lower() for p in group.split(","))):
            if "x" in part and part not in ("next",):
                custom.append(part)
                continue
            if custom:
                sets.append(grid_pinpoints_arg(",".join(custom)))
                custom = []
            sets.append(grid_pinpoints_arg(part))
        if custom:
            sets.append(grid_pinpoints_arg(",".join(custom)))
    if not sets:
        raise argparse.ArgumentTypeError(
            "expected grid sets: ov, next or WxH,... lists (';' between two lists)"
        )
    return list(dict.fromkeys(sets))


def video_layout_list(text: str) -> list[tuple[str, str | None]]:
    """``one_token/bilinear,grid/average``: newline position / pool mode (``grid`` alone keeps the pool)."""

    layouts = []
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        newline, _, pool = part.partition("/")
        if newline not in VIDEO_NEWLINE_POSITIONS or (pool and pool not in VIDEO_POOL_MODES):
            raise argparse.ArgumentTypeError(
                f"{part!r}: expected NEWLINE[/POOL], NEWLINE one of {', '.join(VIDEO_NEWLINE_POSITIONS)}, "
                f"POOL one of {', '.join(VIDEO_POOL_MODES)}"
            )
        layouts.append((newline, pool or None))
    if not layouts:
        raise argparse.ArgumentTypeError("expected video layouts NEWLINE/POOL,...")
    return list(dict.fromkeys(layouts))


def multi_image_layout_list(text: str) -> list[str]:

    values = [p.strip().lower() for p in text.split(",") if p.strip()]
    bad = [v for v in values if v not in MULTI_IMAGE_LAYOUTS]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"expected a list of {', '.join(MULTI_IMAGE_LAYOUTS)}, got {text!r}")
    return list(dict.fromkeys(values))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(parser, limit_help="a seeded, stratified subset of N docs per task")
    add_model_arguments(parser, axes=True)
    parser.add_argument(
        "--grid-sets",
        type=grid_set_list,
        default=None,
        metavar="G1,G2",
        help="AnyRes grid-set axis: ov, next or WxH lists (';' between two custom lists); "
        "pixels are shared only within a grid set (default: not swept)",
    )
    parser.add_argument(
        "--video-layouts",
        type=video_layout_list,
        default=None,
        metavar="N/P,...",
        help="video-layout axis, newline position / pool mode, e.g. one_token/bilinear,grid/average "
        "(vision features shared across them; default: not swept)",
    )
    parser.add_argument(
        "--multi-image-layouts",
        type=multi_image_layout_list,
        default=None,
        metavar="eval,train",
        help="multi-image layout axis: eval (729 per image), train (730); vision features shared "
        "(default: not swept)",
    )
    parser.add_argument(
        "--reference",
        default=None,
        metavar="LABEL",
        help="setting the paired comparisons are made against (default: tau-6561, else the last)",
    )
    add_engine_arguments(parser, output_default="runs/sweep-<timestamp>")
    parser.add_argument(
        "--no-reuse",
        action="store_true",
        help="run the LLM for every setting even when two settings give a sample the same input",
    )
    parser.add_argument("--no-report", action="store_true", help="skip report.md / report.html")
    add_judge_arguments(parser)


def execute(args: argparse.Namespace) -> int:
    # local: every command module loads at start-up; the sweep engine, adapters and reports stay out of --help
    from ..adapters import check_model_spec
    from ..engine.sweep import SweepConfig, Sweeper
    from ..reports.sweep_report import summary_text

    args.tasks = resolve_task_names(args.tasks)  # lmms-eval task/group names and suites -> ours
    for name in args.tasks:
        get_task(name)
    spec = model_spec(args, frames=None, max_grid_tokens=args.thresholds[0])
    axes = {
        "--grid-sets": (args.grid_sets, spec.grid_pinpoints, "--grid-pinpoints"),
        "--video-layouts": (
            args.video_layouts,
            spec.video_layout or spec.video_pool,
            "--video-layout/--video-pool",
        ),
        "--multi-image-layouts": (args.multi_image_layouts, spec.multi_image_layout, "--multi-image-layout"),
    }
    for flag, (axis, single, single_flag) in axes.items():
        if axis is not None and single is not None:
            raise UsageError(f"{flag} sweeps what {single_flag} fixes: give one of them")
        if axis is not None and spec.kind == "hf":
            raise UsageError(
                f"{flag}: the hf: adapter cannot change layouts in place; sweep the reference model, "
                "or make one `ov-bench run` per layout"
            )
    for tau in args.thresholds:  # hf: refuses a tau that is not a multiple of 729 before loading weights
        check_model_spec(spec.replace(max_grid_tokens=tau))
    judge = judge_config_from_args(args)
    require_judge(args.tasks, judge)  # exit 2 before anything loads or is written
    config = SweepConfig(
        tasks=args.tasks,
        thresholds=args.thresholds,
        frames=args.frames,
        model=spec,
        data=args.data,
        limit=args.limit,
        output=args.output,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        workers=args.workers,
        profile=not args.no_profile,
        warmup=args.warmup,
        reuse=not args.no_reuse,
        retry_errors=args.retry_errors,
        progress=not args.no_progress,
        reference=args.reference,
        report=not args.no_report,
        grid_sets=args.grid_sets,
        video_layouts=args.video_layouts,
        multi_image_layouts=args.multi_image_layouts,
        judge=judge,
    )
    outcome = Sweeper(config).run()
    print(summary_text(outcome.sweep, outcome.results))
    out = outcome.output_dir
    print(
        f"sweep: {out}/sweep.json, report: {out}/report.md and {out}/report.html, settings: {out}/settings/"
    )
    waiting = awaiting_judge_line([row for rows in outcome.rows.values() for row in rows])
    if waiting:  # samples whose judge call failed: rerunning the same command judges only those
        print(waiting, file=sys.stderr)
        return 1
    return 0
