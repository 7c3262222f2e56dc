"""What every CLI command module shares.

A command module exposes ``add_parsers(sub)``, which adds its subcommands to the
top-level argparse sub-parser set and binds ``func`` to a handler
``handler(args: argparse.Namespace, ctx: CliContext) -> int``. Command modules import
only ``argparse`` and this module at import time; anything heavier is imported inside
the handler, so ``kiwi --help`` stays fast.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: `kiwi --help` answered from its cache imports no typing
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliContext:
    """Global options, and where output goes.

    A plain class rather than a dataclass: ``dataclasses`` costs ~10 ms to import, and
    this module is on the path of ``kiwi --help``.
    """

    __slots__ = ("json", "project", "projects", "stderr", "stdout")

    def __init__(
        self,
        *,
        project: Path | None,
        json: bool,
        projects: tuple[Path, ...] = (),
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        #: the project (the first ``--project``); ``projects``: every one (``kiwi serve``)
        self.project = project
        self.projects = projects or ((project,) if project is not None else ())
        self.json = json
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def out(self, text: str = "") -> None:
        """Human output (stdout)."""
        print(text, file=self.stdout)

    def diag(self, text: str) -> None:
        """Diagnostics (stderr)."""
        print(text, file=self.stderr)

    def emit_json(self, value: Any) -> None:
        """Exactly one JSON document on stdout."""
        import json

        self.stdout.write(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")
