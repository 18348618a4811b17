"""Helpers shared by several test files (no tests here): checkpoints, hub stand-ins, fake tasks and
adapters, CLI and lmms-eval request builders. Shared fixtures live in tests/conftest.py."""
