"""Flags shared by run, sweep and train: --dtype, --device-map, --max-memory, --offload-folder, and the
check that refuses a bad device map with one line before any weight is read."""

from __future__ import annotations

import argparse

DTYPES = ("auto", "float32", "bfloat16", "float16")


def add_dtype_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="auto",
        help="auto (default): float16 on CUDA as the original loader, float32 on CPU",
    )


def add_placement_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device-map",
        default=None,
        metavar="auto|balanced|sequential|FILE.json",
        help="split the model across devices with accelerate (SigLIP and Qwen2 layers are never "
        "split); FILE.json maps module names to a GPU index, cpu or disk",
    )
    parser.add_argument(
        "--max-memory",
        default=None,
        metavar="0=70GiB,1=70GiB,cpu=200GiB",
        help="memory per device for --device-map (GPU indices count within this process's GPUs)",
    )
    parser.add_argument(
        "--offload-folder",
        default=None,
        metavar="DIR",
        help="where weights mapped to disk are kept (allows disk offload)",
    )


def check_placement(
    model_spec: str,
    device_map: str | None,
    max_memory: str | None,
    offload_folder: str | None,
    dtype: str = "auto",
) -> None:
    """Validate --device-map / --max-memory against the model's module names on the meta device."""
    if device_map is None and max_memory is None:
        if offload_folder is not None:
            raise ValueError("--offload-folder needs --device-map (or --max-memory)")
        return
    from ..adapters import parse_model_spec

    kind, target = parse_model_spec(model_spec)
    if kind == "hf":
        from ..adapters.hf import check_hf_device_map

        check_hf_device_map(target, device_map, max_memory, offload_folder, dtype)
        return
    from reference_model import LlavaOneVision

    LlavaOneVision.check_device_map(target, device_map, max_memory, offload_folder, dtype)
