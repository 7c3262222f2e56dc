"""What every CLI command module shares.

A command module exposes ``add_parsers(sub)``, which adds its subcommands to the
top-level argparse sub-parser set and binds ``func`` to a handler
``handler(args: argparse.Namespace, ctx: CliContext) -> int``. Command modules import
only ``argparse`` and this module at import time; anything heavier is imported inside
the handler, so ``kiwi --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


@dataclass(frozen=True, kw_only=True, slots=True)
class CliContext:
    """Global options, and where output goes."""

    project: Path | None
    json: bool
    stdout: TextIO = sys.stdout
    stderr: TextIO = sys.stderr

    def out(self, text: str = "") -> None:
        """Human output (stdout)."""
        print(text, file=self.stdout)

    def diag(self, text: str) -> None:
        """Diagnostics (stderr)."""
        print(text, file=self.stderr)

    def emit_json(self, value: Any) -> None:
        """Exactly one JSON document on stdout."""
        self.stdout.write(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")
