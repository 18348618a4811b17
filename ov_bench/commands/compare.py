"""``ov-bench compare BASELINE NEW``: fail when a change regresses tokens, scores, latency or memory."""

from __future__ import annotations

import argparse

NAME = "compare"
HELP = "compare two runs or sweeps (regression check for CI; Markdown summary for a PR comment)"
ORDER = 40
DESCRIPTION = """\
Compare NEW against BASELINE (each a results.json, a run directory or a sweep directory).
Visual-token counts must match exactly (per task, and per sample where both sides have
samples.sqlite). The main metric may not drop by more than sampling noise explains: a paired test
on per-sample rows (McNemar for right/wrong scores, paired bootstrap otherwise), or a binomial
standard-error bound on results.json alone; --tolerance adds an allowed drop (fraction of the
metric's scale). Latency (p50 per stage) and peak memory increases above their relative tolerances
are warnings (failures with --fail-on-timing). Prints a Markdown summary for a pull-request comment.

exit status: 0 no regression, 1 regression, 2 unusable input

examples:
  ov-bench compare reports/baseline runs/new --no-timing --exact
  ov-bench compare main/results.json pr/results.json --latency-tolerance 0.2 --memory-tolerance 0.1
"""


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _alpha(text: str) -> float:
    value = _fraction(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a level in (0, 1), got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", metavar="BASELINE", help="results.json, run directory or sweep directory")
    parser.add_argument("new", metavar="NEW", help="results.json, run directory or sweep directory")
    parser.add_argument(
        "--tolerance",
        type=_fraction,
        default=0.0,
        metavar="F",
        help="allowed drop of the main metric beyond noise, as a fraction of its scale (default 0)",
    )
    parser.add_argument(
        "--alpha", type=_alpha, default=0.05, help="significance level of the score tests (default 0.05)"
    )
    parser.add_argument(
        "--exact",
        action="store_true",
        help="metrics and per-sample scores, responses and parsed answers must be identical (CI reruns)",
    )
    parser.add_argument(
        "--latency-tolerance",
        type=_fraction,
        default=0.2,
        metavar="R",
        help="flag p50 latency increases above this fraction (default 0.2)",
    )
    parser.add_argument(
        "--memory-tolerance",
        type=_fraction,
        default=0.1,
        metavar="R",
        help="flag peak-memory increases above this fraction (default 0.1)",
    )
    parser.add_argument("--no-timing", action="store_true", help="do not judge latency or memory")
    parser.add_argument(
        "--fail-on-timing", action="store_true", help="latency/memory flags fail the check (exit 1)"
    )
    parser.add_argument(
        "--bootstrap", type=int, default=10_000, metavar="N", help="bootstrap resamples (default 10000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--output", default=None, metavar="FILE", help="also write the Markdown summary to FILE"
    )


def execute(args: argparse.Namespace) -> int:
    from pathlib import Path

    # local: every command module loads at start-up; the comparison code (~50 ms) stays out of --help
    from ..analysis.compare import CompareOptions, compare_paths

    if args.bootstrap < 100:
        raise ValueError(f"--bootstrap must be >= 100, got {args.bootstrap}")
    options = CompareOptions(
        alpha=args.alpha,
        tolerance=args.tolerance,
        latency_tolerance=args.latency_tolerance,
        memory_tolerance=args.memory_tolerance,
        timing=not args.no_timing,
        fail_on_timing=args.fail_on_timing,
        exact=args.exact,
        n_boot=args.bootstrap,
        seed=args.seed,
    )
    comparison = compare_paths(args.baseline, args.new, options)
    text = comparison.markdown()
    print(text)
    if args.output:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return comparison.exit_code
