"""A strict, small dotenv parser (SPEC §8.1).

Accepted lines:

* blank lines and lines whose first non-blank character is ``#``;
* ``KEY=VALUE`` or ``export KEY=VALUE`` (spaces around ``=`` allowed), ``KEY`` matching
  ``[A-Za-z_][A-Za-z0-9_]*``;
* ``VALUE`` unquoted: taken up to an inline comment (``#`` preceded by whitespace), trailing
  whitespace dropped; a ``#`` glued to text (``http://h/#x``) is part of the value;
* ``'single quoted'``: literal, no escapes;
* ``"double quoted"``: escapes ``\\n``, ``\\t``, ``\\r``, ``\\"`` and ``\\\\``; any other
  backslash is kept as is.

A quoted value must close on the same line and may be followed only by whitespace or a
comment. Values are never expanded (``${X}`` stays literal): a dotenv file is data, and
expanding would make a secret's value depend on the order files are read.

Anything else is a :class:`~kiwi_mcp.kernel.errors.ParseError` naming the file and the line number —
never the line itself, which may hold a secret.
"""

from __future__ import annotations

import re

from kiwi_mcp.kernel.errors import ParseError

__all__ = ["parse_dotenv"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPORT = re.compile(r"export\s+")
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_HINT = (
    "Dotenv lines look like KEY=value, export KEY='value' or KEY=\"a\\nb\"; '#' starts a comment."
)


def parse_dotenv(text: str, *, source: str) -> dict[str, str]:
    """Parse dotenv ``text`` read from ``source`` (a path, used in messages).

    Later assignments of the same key win.

    Raises:
        ParseError: a malformed line; the message is ``<source>:<line>: <what is wrong>``.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            key, value = _parse_line(line)
        except ValueError as exc:
            raise ParseError(f"{source}:{number}: {exc}", hint=_HINT, at=source) from None
        values[key] = value
    return values


def _parse_line(line: str) -> tuple[str, str]:
    export = _EXPORT.match(line)
    if export:
        line = line[export.end() :]
    key_match = _KEY.match(line)
    if key_match is None:
        raise ValueError("expected a variable name ([A-Za-z_][A-Za-z0-9_]*)")
    key = key_match.group()
    rest = line[key_match.end() :].lstrip(" \t")
    if not rest.startswith("="):
        raise ValueError(f"expected '=' after {key}")
    after_equals = rest[1:]
    rest = after_equals.lstrip(" \t")
    if rest.startswith("#") and rest != after_equals:
        return key, ""  # "KEY= # note": an empty value and a comment
    if rest.startswith("'"):
        end = rest.find("'", 1)
        if end == -1:
            raise ValueError(f"unterminated single quote in the value of {key}")
        _check_tail(rest[end + 1 :], key)
        return key, rest[1:end]
    if rest.startswith('"'):
        value, end = _read_double_quoted(rest, key)
        _check_tail(rest[end:], key)
        return key, value
    return key, _strip_inline_comment(rest)


def _read_double_quoted(rest: str, key: str) -> tuple[str, int]:
    out: list[str] = []
    index = 1
    while index < len(rest):
        char = rest[index]
        if char == '"':
            return "".join(out), index + 1
        if char == "\\" and index + 1 < len(rest):
            nxt = rest[index + 1]
            escaped = _DOUBLE_ESCAPES.get(nxt)
            if escaped is not None:
                out.append(escaped)
                index += 2
                continue
        out.append(char)
        index += 1
    raise ValueError(f"unterminated double quote in the value of {key}")


def _check_tail(tail: str, key: str) -> None:
    stripped = tail.strip()
    if stripped and not stripped.startswith("#"):
        raise ValueError(f"unexpected text after the closing quote of {key}")
    if stripped and tail[0] not in " \t":
        raise ValueError(f"a comment after the value of {key} needs a space before '#'")


def _strip_inline_comment(value: str) -> str:
    for index, char in enumerate(value):
        if char == "#" and index > 0 and value[index - 1] in " \t":
            return value[:index].rstrip()
    return value.rstrip()
