"""``ov-bench sweep``: every threshold (and frame count) on the same samples, vision work shared."""

from __future__ import annotations

import argparse

from .model_options import add_layout_arguments, layout_options

NAME = "sweep"
HELP = "AnyRes threshold / frame-count ablation on the same samples (vision encoder run once per image)"
ORDER = 20
DESCRIPTION = """\
Run every setting (threshold tau x frame count F) on the same samples. With the reference model each
sample is decoded and preprocessed once, each image goes through the vision encoder and projector
once, and only packing + the LLM run per setting; samples whose packed input is the same under two
settings are generated once (--no-reuse to run each). Each setting's rows equal a plain
`ov-bench run --max-grid-tokens TAU --frames F`. The hf: adapter falls back to separate runs.

Output: OUTPUT/sweep.json, OUTPUT/samples.sqlite (rows keyed by threshold), OUTPUT/settings/<label>/
results.json per setting, and OUTPUT/report.md + report.html with plots (accuracy vs visual tokens,
latency by stage, peak memory, token histograms, paired deltas against the reference setting).

examples:
  ov-bench sweep --tasks ai2d,chartqa --thresholds 729,2916,6561,none --model tiny --data samples --limit 8
  ov-bench sweep --tasks videomme --frames 8,16,32 --model arch:0.5b --data /data/hub-copy
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .placement import add_dtype_argument, add_placement_arguments
    from .run import non_negative_int, positive_int, task_list
    from .tokens import frames_list, threshold_list

    parser.add_argument("--tasks", type=task_list, required=True, metavar="T1,T2", help="comma-separated task names")
    parser.add_argument("--thresholds", type=threshold_list, default=[729, 2916, 6561, None], metavar="T1,T2",
                        help="grid-token thresholds tau, integers or 'none' (default: 729,2916,6561,none)")
    parser.add_argument("--frames", type=frames_list, default=None, metavar="F1,F2",
                        help="video frame counts, caps with --frame-sampling fps (default: the checkpoint's: 32, "
                             "LLaVA-Video 64)")
    parser.add_argument("--model", default="tiny", help="tiny | arch:0.5b[?layers=N] | PATH | hf:PATH (default: tiny)")
    parser.add_argument("--data", default="hub", help="hub | samples | DIR (default: hub)")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="a seeded, stratified subset of N docs per task")
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="output directory (default: runs/sweep-<timestamp>); reuse it to resume")
    parser.add_argument("--reference", default=None, metavar="LABEL",
                        help="setting the paired comparisons are made against (default: tau-6561, else the last)")
    add_dtype_argument(parser)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    add_placement_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=positive_int, default=None, metavar="N",
                        help="override the tasks' max_new_tokens")
    parser.add_argument("--unpad-rounding", choices=("original", "hf"), default="original")
    parser.add_argument("--workers", type=non_negative_int, default=2, help="prefetch threads (0 = inline)")
    parser.add_argument("--no-reuse", action="store_true",
                        help="run the LLM for every setting even when two settings give a sample the same input")
    parser.add_argument("--no-profile", action="store_true", help="skip per-stage timers and memory probes")
    parser.add_argument("--no-report", action="store_true", help="skip report.md / report.html")
    parser.add_argument("--retry-errors", action="store_true", help="on resume, run error rows again")
    parser.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True,
                        help="one untimed call on a tiny synthetic input before timing (default: on)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_layout_arguments(parser)


def execute(args: argparse.Namespace) -> int:
    from tasks import get_task

    from ..adapters import check_model_spec
    from ..engine.sweep import SweepConfig, Sweeper

    for name in args.tasks:
        get_task(name)
    for tau in args.thresholds:  # hf: refuses a tau that is not a multiple of 729 before loading weights
        check_model_spec(args.model, tau)
    from .placement import check_placement

    check_placement(args.model, args.device_map, args.max_memory, args.offload_folder, args.dtype)
    from ..adapters import default_frames

    frames = args.frames or [default_frames(args.model)]
    config = SweepConfig(
        tasks=args.tasks, thresholds=args.thresholds, frames=frames, model=args.model, data=args.data,
        limit=args.limit, dtype=args.dtype, device=args.device, output=args.output, seed=args.seed,
        max_new_tokens=args.max_new_tokens, unpad_rounding=args.unpad_rounding, workers=args.workers,
        profile=not args.no_profile, warmup=args.warmup, reuse=not args.no_reuse, retry_errors=args.retry_errors,
        progress=not args.no_progress, reference=args.reference, report=not args.no_report,
        model_options=layout_options(args),
        device_map=args.device_map, max_memory=args.max_memory, offload_folder=args.offload_folder,
    )
    outcome = Sweeper(config).run()
    from ..reports.sweep_report import summary_text

    print(summary_text(outcome.sweep, outcome.results))
    out = outcome.output_dir
    print(f"sweep: {out}/sweep.json, report: {out}/report.md and {out}/report.html, settings: {out}/settings/")
    return 0
