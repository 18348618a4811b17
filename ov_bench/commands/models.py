"""``ov-bench models``: model presets and adapters."""

from __future__ import annotations

import argparse

from reference_model import PRESETS
from reference_model.families import checkpoint_defaults

NAME = "models"
HELP = "list model presets and adapters (what --model accepts)"
ORDER = 30

PRESET_NOTES = {
    "tiny": "random weights, tiny config with the real 384/14 geometry; runs anywhere in seconds",
    "0.5b": "Qwen2-0.5B + SigLIP so400m architecture, random weights, Qwen2's real tokenizer",
    "7b": "Qwen2-7B + SigLIP so400m architecture, random weights, Qwen2's real tokenizer",
    "72b": "Qwen2-72B + SigLIP so400m architecture, random weights, Qwen2's real tokenizer",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        nargs="?",
        default=None,
        metavar="DIR",
        help="show which family and evaluation defaults this checkpoint directory gets, and why",
    )


def execute(args: argparse.Namespace) -> int:
    if args.checkpoint is not None:
        defaults = checkpoint_defaults(args.checkpoint)
        reasons = defaults.pop("reasons", {})
        for key, value in defaults.items():
            print(f"{key:<20} {value}")
        if reasons:
            print("why:")
            for key, why in reasons.items():
                print(f"  {key:<18} {why}")
        return 0

    # local: every command module loads at start-up; the adapters stay out of ov-bench --help
    from ..adapters import ADAPTERS

    print("presets (reference adapter):")
    for name in PRESETS:
        spec = name if name == "tiny" else f"arch:{name}"
        print(f"  {spec:<12} {PRESET_NOTES.get(name, '')}")
    print("  depth overrides: arch:0.5b?layers=2 (LLM layers), &vision_layers=N")
    print()
    print("adapters:")
    for kind, (syntax, what) in ADAPTERS.items():
        print(f"  {kind:<10} --model {syntax}")
        print(f"  {'':<10} {what}")
    return 0
