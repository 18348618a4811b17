"""The ``ov-bench`` command line.

Subcommands live in ``ov_bench/commands/<module>.py``, one module each, and are found at start-up:
a module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``execute(args) -> int`` (and
optionally ``ORDER`` for its place in --help). Adding a subcommand means adding a file; nothing
here changes. Every command module is imported at start-up, so at module level a command imports only
what its parser needs and cheap lookups (the flags, the task registry); the engine, the adapters, the
analysis and reports, and anything that loads torch are imported inside ``execute`` so ``--help``
stays fast (tests/test_imports.py checks what --help loads).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from . import __version__, commands
from .errors import user_error_types

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error prints one line (no usage block) and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def discover_commands() -> list[ModuleType]:
    mods = []
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        if all(hasattr(mod, attr) for attr in ("NAME", "add_arguments", "execute")):
            mods.append(mod)
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ov-bench",
        description="Evaluate and benchmark LLaVA-OneVision-style models: scores, visual tokens, "
        "latency per stage and peak memory per sample.",
    )
    parser.add_argument("--version", action="version", version=f"ov-bench {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="ov-bench's debug lines (other libraries stay at warnings)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in discover_commands():
        p = sub.add_parser(
            mod.NAME,
            help=getattr(mod, "HELP", None),
            description=getattr(mod, "DESCRIPTION", None) or getattr(mod, "HELP", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_execute=mod.execute)
    return parser


# Our packages; -v lowers only these to DEBUG. Third-party loggers (matplotlib's font manager, PIL,
# urllib3, filelock, httpx ...) stay at WARNING, where their debug chatter would bury ours.
OUR_LOGGERS = ("ov_bench", "tasks", "reference_model", "ov_media")


def configure_logging(verbose: bool) -> None:
    """Warnings from everyone on stderr; with ``verbose``, also ov-bench's own debug lines."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_execute", None):
        parser.print_help()
        return EXIT_USAGE
    configure_logging(args.verbose)

    try:
        return int(args._execute(args) or 0)
    except user_error_types() as exc:
        if os.environ.get("OV_BENCH_DEBUG"):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"ov-bench: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "ov-bench: interrupted (finished samples are saved; rerun the same command to resume)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
