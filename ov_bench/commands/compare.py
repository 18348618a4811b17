"""``ov-bench compare BASELINE NEW``: fail when a change regresses tokens, scores, latency or memory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .flags import add_json_argument

NAME = "compare"
HELP = "compare two runs or sweeps, or a run with the published numbers (published:CHECKPOINT RUN)"
ORDER = 40
DESCRIPTION = """\
Compare NEW against BASELINE (each a results.json, a run directory or a sweep directory).
Visual-token counts must match exactly (per task, and per sample where both sides have
samples.sqlite). The main metric may not drop by more than sampling noise explains: a paired test
on per-sample rows (McNemar for right/wrong scores, paired bootstrap otherwise), or a binomial
standard-error bound on results.json alone; --tolerance adds an allowed drop (fraction of the
metric's scale). Latency (p50 per stage) and peak memory increases above their relative tolerances
are warnings (failures with --fail-on-timing). Prints a Markdown summary for a pull-request comment.

With BASELINE = published:CHECKPOINT (7b-ov, lmms-lab/llava-onevision-qwen2-7b-ov, its -hf port, ...):
one row per published number whose task NEW has: published, measured (on the printed scale),
difference, how many documents' answers would have to change to close the gap, and a verdict.
On the full split: reproduced when |measured - published| <= the printed rounding + --tolerance
percent of the metric's full scale (default 1: 1 point of a percentage, 20 of MME perception's 2000,
8 of MME cognition's 800, 0.05 of a judge's 5). On a --limit subset: reproduced when the published
value lies in the 95% interval of the full split's value (stratified bootstrap with finite-population
correction over samples.sqlite's per-sample scores). Not comparable (with the reason): sample data,
another split or sub-task set, a model setting other than the evaluated path's, another judge model,
a task whose definition changed since the paper, a server-only score, failures above
--max-failure-share.

exit status: 0 no regression (published: every comparable row reproduced, or nothing comparable),
1 regression (published: a comparable row not reproduced), 2 unusable input

examples:
  ov-bench compare reports/baseline runs/new --no-timing --exact
  ov-bench compare main/results.json pr/results.json --latency-tolerance 0.2 --memory-tolerance 0.1
  ov-bench compare published:7b-ov runs/ov7b --json verdicts.json
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
    parser.add_argument(
        "baseline",
        metavar="BASELINE",
        help="results.json, run directory or sweep directory; or published:CHECKPOINT",
    )
    parser.add_argument("new", metavar="NEW", help="results.json, run directory or sweep directory")
    parser.add_argument(
        "--tolerance",
        type=_fraction,
        default=None,
        metavar="F",
        help="two runs: allowed drop of the main metric beyond noise, as a fraction of its scale (default 0); "
        "published: allowed drift on a full split, in percent of the metric's full scale (default 1)",
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
    # --seed and --output mean other things here than in run/sweep (the bootstrap's seed; a file)
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--output", default=None, metavar="FILE", help="also write the Markdown summary to FILE"
    )
    published = parser.add_argument_group("published:CHECKPOINT")
    add_json_argument(published, "one object per published row")
    published.add_argument(
        "--max-failure-share",
        type=_fraction,
        default=0.05,
        metavar="F",
        help="a task with more error rows plus unparseable answers than this share is not comparable (default 0.05)",
    )
    published.add_argument(
        "--ignore-setting",
        default="",
        metavar="S1,S2",
        help="evaluated-path settings whose difference is only noted (e.g. dtype when running bfloat16)",
    )


def _write(path: str | None, text: str) -> None:

    if path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def execute(args: argparse.Namespace) -> int:
    # local: every command module loads at start-up; the comparison code (~50 ms) stays out of --help
    from ..analysis.compare import CompareOptions, compare_paths
    from ..published.catalog import PUBLISHED_PREFIX

    if args.bootstrap < 100:
        raise ValueError(f"--bootstrap must be >= 100, got {args.bootstrap}")
    if args.baseline.lower().startswith(PUBLISHED_PREFIX):
        return execute_published(args)
    if args.new.lower().startswith(PUBLISHED_PREFIX):
        raise ValueError("published:CHECKPOINT goes first: ov-bench compare published:CHECKPOINT RUN")
    options = CompareOptions(
        alpha=args.alpha,
        tolerance=0.0 if args.tolerance is None else args.tolerance,
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
    _write(args.output, text + "\n")
    return comparison.exit_code


def execute_published(args: argparse.Namespace) -> int:
    """``compare published:CHECKPOINT RUN``: the run (each setting of a sweep) against the published numbers."""

    from ..analysis.published import PublishedOptions, compare_run
    from ..outputs.run_outputs import load_outputs
    from ..published.catalog import recognise, resolve_checkpoint
    from ..reports.published_report import comparison_markdown

    _, key = resolve_checkpoint(args.baseline)  # an unknown checkpoint: one line, exit 2
    options = PublishedOptions(
        tolerance=1.0 if args.tolerance is None else args.tolerance,
        max_failure_share=args.max_failure_share,
        n_boot=args.bootstrap,
        seed=args.seed,
        ignore_settings=tuple(s.strip() for s in args.ignore_setting.split(",") if s.strip()),
    )
    settings = load_outputs(args.new)
    texts, rows, code = [], [], 0
    for s in settings:
        label = args.new if len(settings) == 1 else f"{args.new} [{s.label}]"
        rec = recognise(s.results.get("model") or {})
        seen = rec.why if rec.key in (None, key) else f"{rec.why}, compared with {key} as asked"
        comp = compare_run(key, s.results, s.rows, options, run_label=label, recognised=seen)
        texts.append(comparison_markdown(comp))
        rows += [{**r, "setting": s.label} if len(settings) > 1 else r for r in comp.to_json()]
        code = max(code, comp.exit_code)
    text = "\n".join(texts)
    print(text, end="")
    _write(args.output, text)
    _write(args.json, json.dumps(rows, indent=2) + "\n")
    return code
