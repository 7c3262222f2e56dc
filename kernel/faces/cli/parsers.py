"""The ``kiwi`` argument parser, built from the command modules' ``add_parsers``.

Apart from ``main`` so that ``kiwi --help`` answered from the help cache imports neither
argparse nor this module.
"""

from __future__ import annotations

import argparse
import functools
import importlib
from collections.abc import Sequence

from kiwi_mcp.kernel._version import __version__
from kiwi_mcp.kernel.faces.cli.base import EXIT_USAGE

__all__ = ["UsageExit", "build"]


class UsageExit(SystemExit):
    """An argument the parser refused; ``main`` prints it (as JSON too under ``--json``)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(EXIT_USAGE)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # raised, not printed: whether --json was given is main's to know, not this parser's
        raise UsageExit(self, message)


def build(modules: Sequence[str], command: str | None = None) -> argparse.ArgumentParser:
    """The ``kiwi`` argument parser, with the subcommands that ``modules`` (command modules,
    by name) add.

    Given the ``command`` about to run, the modules are added in order only until one has
    added it (``kiwi run`` builds 6 subparsers, not 70); a name none adds gets them all, so
    argparse's refusal lists every command.
    """
    # Each ArgumentParser looks three of argparse's own texts up in the message catalogues
    # (a stat of a .mo file each time): ~20% of `kiwi --help` for 71 parsers. Within one
    # build the same text has the same translation, so the lookups are memoized meanwhile.
    lookup = argparse._  # type: ignore[attr-defined]
    argparse._ = functools.cache(lookup)  # type: ignore[attr-defined]
    try:
        return _build(modules, command)
    finally:
        argparse._ = lookup  # type: ignore[attr-defined]


def _build(modules: Sequence[str], command: str | None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kiwi",
        description="Kiwi: a small, data-driven kernel for AI agents.",
        epilog="Environment: KIWI_USER_SPACE, KIWI_VERIFY, KIWI_LOCKFILE, KIWI_AUTH_BACKEND, "
        "KIWI_LOG (log level), KIWI_LOG_FILE (also log there), KIWI_WARM=0 (no warm process).",
    )
    parser.add_argument(
        "--project",
        metavar="DIR",
        action="append",
        help="project root (default: walk up to .ai/); 'serve' takes it more than once",
    )
    parser.add_argument("--json", action="store_true", help="print data as JSON")
    parser.add_argument("--version", action="version", version=f"kiwi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    for name in modules:
        importlib.import_module(name).add_parsers(sub)
        if command is not None and command in sub.choices:
            break
    from kiwi_mcp.kernel.faces.cli.help_texts import fill

    fill(parser)
    return parser
