"""ov-bench: evaluation and benchmarking harness for LLaVA-OneVision-style models."""

__version__ = "0.1.0"
