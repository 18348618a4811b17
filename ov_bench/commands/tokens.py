"""``ov-bench tokens``: the visual-token distribution per threshold over a dataset, from image sizes alone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ov_media.video import FrameSampling
from reference_model.families import checkpoint_defaults
from tasks import get_task, resolve_task_names

from ..mdtable import md_table
from ..model_spec import DEFAULT_FRAMES, ModelSpec
from .flags import (
    add_device_map_argument,
    add_json_argument,
    add_model_arguments,
    add_task_arguments,
    model_spec,
    non_negative_int,
    positive_int,
)

NAME = "tokens"
HELP = "plan token budgets: visual tokens per threshold, prefill FLOPs and KV cache (no model, no pixel decoding)"
ORDER = 30
DESCRIPTION = """\
Visual tokens per prompt for every doc of the tasks at each threshold tau (image tasks) or frame
count F (video tasks), from image headers alone (no pixel decoding, no model): mean, p50, p90, max.
Also the predicted LLM prefill FLOPs, vision-encoder FLOPs and KV-cache bytes per prompt for the
0.5B, 7B and 72B architectures (formulas in ov_bench/analysis/token_planner.py). Text tokens are counted
exactly with Qwen2's tokenizer (the chat prompt as the model sees it) unless --text-tokens N is
given. Docs whose media cannot be read are left out and listed with their reasons.

examples:
  ov-bench tokens --tasks ai2d,chartqa --data samples --thresholds 729,2916,6561,none
  ov-bench tokens --tasks videomme --data /data/hub-copy --frames 8,16,32 --json plan.json
"""


def text_tokens_arg(text: str) -> int | None:
    if text == "auto":
        return None
    return non_negative_int(text)


def arch_list(text: str) -> list[str]:
    names = [t.strip().lower().removeprefix("arch:") for t in text.split(",") if t.strip()]
    known = ("0.5b", "7b", "72b")
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"architectures must be among {', '.join(known)}, got {text!r}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(
        parser, limit_help="plan a seeded, stratified subset of N docs per task (default: all)"
    )
    # --model: a checkpoint directory's defaults (video layout, frames, frame sampling, task prompts) are
    # read from its config.json only; presets plan LLaVA-OneVision's.
    add_model_arguments(parser, axes=True, runtime=False, generation=False)
    parser.add_argument(
        "--archs",
        type=arch_list,
        default=["0.5b", "7b", "72b"],
        metavar="A1,A2",
        help="architectures to cost (default: 0.5b,7b,72b)",
    )
    parser.add_argument(
        "--text-tokens",
        type=text_tokens_arg,
        default=None,
        metavar="auto|N",
        help="text tokens per prompt for the cost estimates (default auto: the prompt's Qwen2 tokens)",
    )
    parser.add_argument(
        "--kv-bytes",
        type=non_negative_int,
        default=2,
        metavar="B",
        help="bytes per KV-cache element (default 2: bf16/fp16)",
    )
    add_json_argument(parser, "the plan")
    parser.add_argument(
        "--gpus",
        type=positive_int,
        default=None,
        metavar="N",
        help="memory per GPU with the model split over N GPUs (weights, KV cache, activations)",
    )
    parser.add_argument(
        "--gpu-memory",
        default=None,
        metavar="SIZE",
        help="GPU size, e.g. 80GiB: with --gpus, whether it fits; alone, how many GPUs are needed",
    )
    add_device_map_argument(parser)


def _checkpoint_video_defaults(
    spec: ModelSpec, frames: list[int] | None
) -> tuple[ModelSpec, list[int], Any, str | None]:
    """The plan's model settings, frame counts, FrameSampling and task-prompt model: the flags, else a
    checkpoint directory's defaults (its config.json), else LLaVA-OneVision's."""
    defaults: dict = {}
    if spec.kind == "reference" and Path(spec.target).is_dir():
        try:
            defaults = checkpoint_defaults(spec.target)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"--model {spec.model}: {exc}") from None
        newline, pool = defaults["video_layout"].split(" + ")
        spec = spec.replace(video_layout=spec.video_layout or newline, video_pool=spec.video_pool or pool)
    prompt_model = defaults.get("prompts") if defaults.get("prompts") != "llava_onevision" else None
    frames = frames or [int(defaults.get("video_frames", DEFAULT_FRAMES))]
    mode = spec.frame_sampling or defaults.get("video_sampling", "uniform")
    force = spec.force_sample if spec.force_sample is not None else bool(defaults.get("force_sample", False))
    return spec, frames, FrameSampling(mode, force), prompt_model


def execute(args: argparse.Namespace) -> int:
    # local: the planners and the device map import torch; every command module loads at start-up, so
    # these imports stay out of ov-bench --help
    from ..analysis.token_planner import plan_as_dict, plan_task, render_plan
    from ..engine.runner import check_data_arg

    args.tasks = resolve_task_names(args.tasks)  # lmms-eval task/group names and suites -> ours
    tasks = [get_task(name) for name in args.tasks]
    check_data_arg(args.data)
    gpu_memory = None
    if args.gpu_memory is not None:
        from reference_model.device_map import size_bytes

        try:
            gpu_memory = size_bytes(args.gpu_memory)
        except ValueError:
            raise ValueError(f"--gpu-memory {args.gpu_memory!r}: not a size (e.g. 80GiB)") from None
    if args.device_map is not None:
        from reference_model.device_map import read_device_map

        read_device_map(args.device_map)  # a bad file fails before the tasks load
    spec = model_spec(args, frames=None, max_grid_tokens=None)
    spec, frames, sampling, prompt_model = _checkpoint_video_defaults(spec, args.frames)
    rows = []
    for task in tasks:
        docs = task.load(data=args.data, limit=args.limit, seed=args.seed)
        rows += plan_task(
            task,
            docs,
            args.thresholds,
            frames,
            archs=args.archs,
            unpad_rounding=spec.unpad_rounding,
            text_tokens=args.text_tokens,
            kv_bytes_per_elem=args.kv_bytes,
            layout=spec.planner_layout(),
            sampling=sampling,
            prompt_model=prompt_model,
        )
    if args.data == "samples":
        print("> SAMPLE DATA: generated by ov-bench for smoke tests; not the benchmark's distribution\n")
    print(render_plan(rows))
    if args.gpus is not None or gpu_memory is not None:
        from ..analysis.memory_planner import render_gpu_plans

        print(render_gpu_plans(rows, args.archs, args.gpus, gpu_memory, kv_bytes=args.kv_bytes))
    if args.device_map is not None:
        from ..analysis.memory_planner import map_weights_per_device

        per_arch = {a: map_weights_per_device(a, args.device_map) for a in args.archs}
        devices = sorted({d for m in per_arch.values() for d in m})
        print("## Weights per device of " + str(args.device_map) + " (GiB)\n")
        print(
            md_table(
                ["arch", *devices],
                [[a, *(f"{m.get(d, 0) / 2**30:.1f}" for d in devices)] for a, m in per_arch.items()],
            )
            + "\n"
        )
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "data": args.data,
            "unpad_rounding": args.unpad_rounding,
            "kv_bytes_per_elem": args.kv_bytes,
            "frame_sampling": sampling.describe(),
            "rows": plan_as_dict(rows),
        }
        path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"plan: {path}")
    return 0
