"""Deterministic sample sets in each benchmark's exact hub schema (`--data samples`)."""
