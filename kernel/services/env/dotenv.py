"""Dotenv files as the field reads them (SPEC §8.1): python-dotenv's grammar, no interpolation.

The grammar is python-dotenv's (``dotenv.parser``): ``KEY=value``, ``export KEY=value``,
``'single'`` (literal) and ``"double"`` quotes (escapes such as ``\\n``), quoted values that
span lines (a PEM key), inline ``# comments``. Values are never expanded (``${X}`` stays
literal): a dotenv file is data, and expanding would make a secret's value depend on the
order files are read. A line with no ``=`` (``KEY``) sets nothing.

A malformed line does not fail the file: it is kept as a ``BadLine`` (the line number and,
when one can be read, the key), and only a chain that asks for a key of that file fails on
it (``DotenvFile.check``) — one broken line must not stop every tool. Messages name the file
and the line number, never the line itself, which may hold a secret.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from kiwi_mcp.kernel.errors import ParseError

__all__ = ["BadLine", "DotenvFile", "parse_dotenv", "read_dotenv"]

_KEY_AT_START: Final = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=")
_HINT: Final = (
    "Dotenv lines look like KEY=value, export KEY='value' or KEY=\"a\\nb\" (quoted values may"
    " span lines); '#' starts a comment."
)


@dataclass(frozen=True, kw_only=True, slots=True)
class BadLine:
    """A statement python-dotenv could not read: where it starts, and its key if readable."""

    line: int
    key: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class DotenvFile:
    """The values of one dotenv file, and the statements that could not be read."""

    source: str
    values: dict[str, str]
    bad: tuple[BadLine, ...] = ()

    def check(self, asked: Iterable[str]) -> None:
        """Fail a chain that asks for a key of this file while a line of it is malformed.

        Raises:
            ParseError: ``<source>:<line>: …`` for the first malformed line (never its text).
        """
        if not self.bad:
            return
        names = set(asked)
        keys = set(self.values) | {bad.key for bad in self.bad if bad.key}
        if not names & keys:
            return
        raise self.error(next((b for b in self.bad if b.key in names), self.bad[0]))

    def error(self, bad: BadLine) -> ParseError:
        """The error naming ``bad``'s file and line (and key, when readable)."""
        what = f"the value of {bad.key}" if bad.key else "a statement"
        return ParseError(
            f"{self.source}:{bad.line}: {what} could not be read (an unclosed quote, or text"
            " that is not KEY=value)",
            hint=_HINT,
            at=self.source,
            details={"lines": [b.line for b in self.bad]},
        )


def read_dotenv(text: str, *, source: str) -> DotenvFile:
    """Every ``KEY=value`` of ``text`` (later assignments win) and the malformed lines."""
    from dotenv.parser import parse_stream

    values: dict[str, str] = {}
    bad: list[BadLine] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            found = _KEY_AT_START.match(binding.original.string)
            bad.append(BadLine(line=binding.original.line, key=found.group(1) if found else None))
        elif binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return DotenvFile(source=source, values=values, bad=tuple(bad))


def parse_dotenv(text: str, *, source: str) -> dict[str, str]:
    """The values of ``text``, strictly: any malformed line fails the whole file.

    Raises:
        ParseError: ``<source>:<line>: …`` for the first malformed line.
    """
    found = read_dotenv(text, source=source)
    if found.bad:
        raise found.error(found.bad[0])
    return found.values
