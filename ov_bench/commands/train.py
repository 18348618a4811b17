"""``ov-bench train``: train the reference model with one LLaVA-OneVision stage's recipe."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..model_spec import ModelSpec
from .flags import add_placement_arguments, add_progress_argument, positive_int

NAME = "train"
HELP = "train the reference model with a LLaVA-OneVision stage recipe (1, 1.5, 2-si, 2-ov) on accelerate"
ORDER = 40
DESCRIPTION = """\
Train the reference model on LLaVA conversation JSON with one stage's recipe: trainable parts,
learning rates (the vision tower in its own group), cosine schedule with 3% warmup, AdamW without
weight decay, and the stage's visual-token budget. Settings are overridden in this order: the
stage's recipe < --config YAML < --set KEY=VALUE < the flags below.

The global batch (samples per optimizer step) is the paper's for the model's size (512 for 0.5B, 256
for 7B and 72B; 4 for the tiny preset) unless --global-batch-size sets it; the per-device batch and
the gradient accumulation are derived from it and the number of processes (--batch-size or
--grad-accum fixes one of them). A global batch the processes cannot share evenly is refused.

Writes OUTPUT/train_log.jsonl (loss, learning rates, tokens/s per step), OUTPUT/checkpoint-N/
(HF layout + optimizer/scheduler/RNG/data-order state) every --save-every steps, and
OUTPUT/final/ (HF layout, evaluate it with `ov-bench run --model OUTPUT/final`).

examples:
  ov-bench train --stage 1 --model tiny --data samples --output runs/stage1
  ov-bench train --stage 2-ov --model runs/stage1/final --data llava_ov.json --media-dir /data/media \\
      --global-batch-size 64 --batch-size 1 --mixed-precision bf16 --gradient-checkpointing --output runs/ov
  ov-bench train --stage 1.5 --config my_recipe.yaml --set max_grid_tokens=2187 --output runs/s15
  ov-bench train --stage 1 --output runs/stage1 --resume auto        # continue from the latest checkpoint
  accelerate launch --multi_gpu --num_processes 8 $(which ov-bench) train --stage 2-si ...     # DDP
  accelerate launch --config_file fsdp.yaml $(which ov-bench) train --stage 2-si ...  # FSDP / DeepSpeed
"""


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _threshold(text: str) -> str:
    if text.strip().lower() != "none":
        positive_int(text)
    return text


# flag dest -> recipe/options field (None values are not applied)
_FLAG_FIELDS = {
    "lr": "lr",
    "vision_lr": "vision_lr",
    "batch_size": "per_device_batch_size",
    "grad_accum": "gradient_accumulation_steps",
    "global_batch_size": "global_batch_size",
    "epochs": "num_epochs",
    "max_steps": "max_steps",
    "max_grid_tokens": "max_grid_tokens",
    "frames": "video_frames",
    "max_length": "max_length",
    "seed": "seed",
    "mixed_precision": "mixed_precision",
    "save_every": "save_every",
    "workers": "num_workers",
    "overlong": "overlong",
    "trainable": "trainable",
    "dtype": "dtype",
    "device_map": "device_map",
    "max_memory": "max_memory",
    "offload_folder": "offload_folder",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from_stage = "(default: the stage's)"
    parser.add_argument(
        "--stage", default=None, help="1 | 1.5 | 2-si | 2-ov (aliases: 2, si, ov, 2-onevision)"
    )
    parser.add_argument(
        "--model",
        default="tiny",
        help="the model training starts from: tiny | arch:0.5b[?layers=N] | PATH (default: tiny)",
    )
    parser.add_argument(
        "--data",
        default="samples",
        help="training data, not run's benchmarks: LLaVA conversation JSON/JSONL (or its directory) | "
        "samples (a synthetic set; default)",
    )
    parser.add_argument(
        "--media-dir",
        default=None,
        metavar="DIR",
        help="where image/video paths resolve (default: the JSON's directory)",
    )
    parser.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="checkpoints and logs (default: runs/train-<stage>-<time>; --resume continues one)",
    )
    parser.add_argument(
        "--config", default=None, metavar="YAML", help="recipe/option overrides as a YAML mapping"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any recipe or option field (repeatable), e.g. --set warmup_ratio=0.1",
    )
    parser.add_argument("--lr", type=_non_negative_float, help=f"LLM + projector learning rate {from_stage}")
    parser.add_argument(
        "--vision-lr", type=_non_negative_float, help=f"vision tower learning rate {from_stage}"
    )
    parser.add_argument(
        "--trainable", help="comma-separated parts: vision_tower,projector,newline,language_model"
    )
    parser.add_argument(
        "--global-batch-size",
        type=positive_int,
        metavar="N",
        help="samples per optimizer step over all processes (default: the paper's for the model's size: "
        "512 for 0.5B, 256 for 7B/72B; tiny: 4)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        help="samples per device per micro-batch (default: derived from the global batch, at most 4; "
        "run's --batch-size is samples per model call)",
    )
    parser.add_argument(
        "--grad-accum",
        type=positive_int,
        help="micro-batches per optimizer step (default: derived from the global batch)",
    )
    parser.add_argument("--epochs", type=positive_int, help="passes over the data (default 1)")
    parser.add_argument(
        "--max-steps", type=positive_int, help="stop after N optimizer steps (sets the schedule's length)"
    )
    parser.add_argument(
        "--max-grid-tokens",
        type=_threshold,
        metavar="TAU|none",
        help=f"AnyRes threshold tau of the training inputs {from_stage}",
    )
    parser.add_argument("--frames", type=positive_int, help="video frames per training sample (default 32)")
    parser.add_argument("--max-length", type=positive_int, help=f"longest sequence in tokens {from_stage}")
    parser.add_argument(
        "--overlong", choices=("skip", "truncate"), help="what to do with longer samples (default skip)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="seed for data order and initialisation (default 0; run's picks the --limit subset)",
    )
    parser.add_argument(
        "--mixed-precision",
        choices=("no", "bf16", "fp16"),
        help="autocast precision (default no; an accelerate config's value is used when launched with one)",
    )
    parser.add_argument(
        "--gradient-checkpointing", action="store_true", help="recompute activations in backward"
    )
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),
        default=None,
        help="weights' dtype (default auto: float32 master weights; autocast follows --mixed-precision)",
    )
    add_placement_arguments(parser)
    parser.add_argument(
        "--save-every",
        type=positive_int,
        metavar="N",
        help="checkpoint every N steps (default: at the end only)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="data-loading worker processes (default 0; run's --workers are prefetch threads)",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="auto|DIR",
        help="resume from a checkpoint dir, a run dir's latest checkpoint, or auto (OUTPUT's latest, if any)",
    )
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    parser.add_argument(
        "--show-recipe", action="store_true", help="print the resolved recipe and options, then exit"
    )
    add_progress_argument(parser)


def resolve(args: argparse.Namespace):
    """(recipe, options) after the stage, YAML, --set and flag overrides."""
    # local: the training package imports numpy (~170 ms with its recipes); every command module loads at
    # start-up, so it stays out of ov-bench --help
    from reference_model.training import TrainOptions, apply_overrides, get_stage, load_yaml_overrides
    from reference_model.training.recipes import apply_model_defaults, parse_assignments

    yaml_overrides = load_yaml_overrides(args.config) if args.config else {}
    stage = args.stage or yaml_overrides.pop("stage", None)
    yaml_overrides.pop("stage", None)
    if stage is None:
        raise ValueError(
            "no stage given: pass --stage (1, 1.5, 2-si, 2-ov) or put 'stage:' in the --config YAML"
        )
    recipe, options = apply_model_defaults(get_stage(str(stage)), args.model), TrainOptions()
    flags = {
        field: getattr(args, dest) for dest, field in _FLAG_FIELDS.items() if getattr(args, dest) is not None
    }
    if args.gradient_checkpointing:
        flags["gradient_checkpointing"] = True
    if args.no_progress:
        flags["progress"] = False
    given: set[str] = set()
    for overrides in (yaml_overrides, parse_assignments(args.set), flags):
        apply_overrides(recipe, options, overrides)
        given |= {str(key).replace("-", "_") for key in overrides}
    return recipe, options, apply_batch_layout(recipe, options, args.model, given)


def apply_batch_layout(recipe, options, model: str, given: set[str]):
    """Set the global batch, per-device batch and accumulation on ``options`` for the processes this
    launch started (fields in ``given`` were set by the user); the BatchLayout."""
    from reference_model.training.batch_layout import default_global_batch, model_size, split_global_batch

    from ..engine.distributed import launched_world_size

    processes = launched_world_size()
    per_device = options.per_device_batch_size if "per_device_batch_size" in given else None
    accumulation = options.gradient_accumulation_steps if "gradient_accumulation_steps" in given else None
    if "global_batch_size" in given:
        global_batch, source = options.global_batch_size, "as given"
    elif per_device is not None and accumulation is not None:
        global_batch, source = (
            per_device * processes * accumulation,
            "per-device batch x accumulation as given",
        )
    else:
        global_batch, source = default_global_batch(recipe.paper_global_batch, model_size(model), processes)
    layout = split_global_batch(global_batch, processes, per_device, accumulation, source)
    options.global_batch_size = layout.global_batch
    options.per_device_batch_size = layout.per_device
    options.gradient_accumulation_steps = layout.accumulation
    return layout


def loss_summary(losses: list[float]) -> str:
    """Per-step losses are noisy (each step sees other samples): report the mean of the first and
    last k steps (k = 5, fewer on short runs), saying so."""
    k = max(1, min(5, len(losses) // 2))
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    change = f" ({(last - first) / first:+.0%})" if first else ""
    return (
        f"mean loss of the first {k} / last {k} of {len(losses)} steps: {first:.4f} -> {last:.4f}{change} "
        f"(per step: {losses[0]:.4f} -> {losses[-1]:.4f})"
    )


def execute(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from ..engine.distributed import LOST_PROCESSES_HINT, launch_lost_processes

    if launch_lost_processes():
        raise UsageError(
            "accelerate launch started one process where --num_processes asked for more (its plain launcher "
            f"needs MPI to start them), so this one would train alone; {LOST_PROCESSES_HINT}"
        )
    recipe, options, layout = resolve(args)
    if args.show_recipe:
        print(
            json.dumps(
                {
                    "recipe": dataclasses.asdict(recipe),
                    "options": dataclasses.asdict(options),
                    "batch_layout": dataclasses.asdict(layout),
                },
                indent=2,
            )
        )
        return 0
    # local: the adapters and the trainer (torch) stay out of ov-bench --help
    from ..adapters import check_model_spec

    check_model_spec(
        ModelSpec(
            model=args.model,
            device_map=options.device_map,
            max_memory=options.max_memory,
            offload_folder=options.offload_folder,
            dtype="float32" if options.dtype == "auto" else options.dtype,
        )
    )
    output = args.output
    if output is None:
        import time

        output = f"runs/train-{recipe.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    from reference_model.training import train

    from ..engine.distributed import launched_rank

    if launched_rank() == 0:
        print(f"stage {recipe.name}: {layout.describe()}", flush=True)
    try:
        result = train(
            args.model,
            args.data,
            output,
            recipe,
            options,
            media_dir=args.media_dir,
            resume=args.resume,
            cpu=args.cpu,
        )
    except KeyboardInterrupt:
        import sys

        print(
            f"ov-bench: interrupted; continue from the latest checkpoint in {output} with --resume auto "
            "(checkpoints are written every --save-every steps)",
            file=sys.stderr,
        )
        return 130
    from accelerate import PartialState

    if PartialState().is_main_process:
        stats = result.data_stats
        skipped = {k: v for k, v in stats.items() if (k.startswith("skipped") or k == "truncated") and v}
        print(
            f"stage {recipe.name}: {result.global_step} steps on {stats['kept']} samples {stats['by_modality']}"
            + (f", {skipped}" if skipped else "")
        )
        if result.losses:
            print(loss_summary(result.losses))
        print(
            f"model: {result.final_dir} (ov-bench run --model {result.final_dir} --tasks ...), "
            f"log: {result.output_dir}/train_log.jsonl"
        )
    return 0
