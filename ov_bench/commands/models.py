"""``ov-bench models``: model presets and adapters."""

from __future__ import annotations

import argparse

NAME = "models"
HELP = "list model presets and adapters (what --model accepts)"
ORDER = 30

PRESET_NOTES = {
    "tiny": "random weights, tiny config with the real 384/14 geometry; runs anywhere in seconds",
    "0.5b": "Qwen2-0.5B + SigLIP so400m architecture, random weights (write arch:0.5b)",
    "7b": "Qwen2-7B + SigLIP so400m architecture, random weights (write arch:7b)",
    "72b": "Qwen2-72B + SigLIP so400m architecture, random weights (write arch:72b)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def execute(args: argparse.Namespace) -> int:
    from reference_model import PRESETS

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
