"""Item ids, kinds and extensions (SPEC §1, §3). Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from kiwi_mcp.kernel.errors import InvalidId, UsageError

__all__ = [
    "EXTENSIONS",
    "KINDS",
    "MAX_ID",
    "MAX_SEGMENT",
    "Kind",
    "check_id",
    "check_pattern",
    "folder_for",
    "is_item_name",
    "parse_kind",
]

Kind = Literal["tool", "directive", "knowledge"]
KINDS: tuple[Kind, ...] = ("tool", "directive", "knowledge")

EXTENSIONS: Mapping[Kind, tuple[str, ...]] = MappingProxyType(
    {
        "tool": (".yaml", ".yml", ".py", ".sh", ".js"),
        "directive": (".md",),
        "knowledge": (".md",),
    }
)

_FOLDERS: Mapping[Kind, str] = MappingProxyType(
    {"tool": "tools", "directive": "directives", "knowledge": "knowledge"}
)
_KIND_WORDS: Mapping[str, Kind] = MappingProxyType(
    {
        "tool": "tool",
        "tools": "tool",
        "directive": "directive",
        "directives": "directive",
        "knowledge": "knowledge",
    }
)
_SEGMENT = re.compile(r"[a-z0-9][a-z0-9_.-]*\Z")
_GLOB_SEGMENT = re.compile(r"[a-z0-9_.*-]+\Z")

#: Longest id segment: ``<segment>@<version>.lock.json`` and the temp name a writer gives it
#: (``.<name>.<pid>.<random>.tmp``) must stay within a file name's 255 bytes.
MAX_SEGMENT = 128
#: Longest id, so a path under any project root stays far below PATH_MAX.
MAX_ID = 1024
# A whole well-formed id in one match (segments start with [a-z0-9], so never '.' or '..'):
# the common case skips the checks that name what is wrong.
_WELL_FORMED = re.compile(
    rf"[a-z0-9][a-z0-9_.-]{{0,{MAX_SEGMENT - 1}}}(?:/[a-z0-9][a-z0-9_.-]{{0,{MAX_SEGMENT - 1}}})*\Z"
)
_SHOWN = 60
_ID_HINT = (
    "An id is the item's path below .ai/<kind>s/ without its extension: '/'-separated "
    f"segments of [a-z0-9][a-z0-9_.-]* (at most {MAX_SEGMENT} characters each, {MAX_ID} in "
    "all), e.g. 'runtimes/python'."
)
_PATTERN_HINT = (
    _ID_HINT[:-1] + "; a pattern may also use '*' within a segment and '**' for any number "
    "of segments, e.g. 'llm/*' or '**'."
)


def folder_for(kind: Kind) -> str:
    """The folder below ``.ai/`` that holds items of ``kind``."""
    return _FOLDERS[kind]


def parse_kind(text: str) -> Kind:
    """Accept 'tool', 'tools', 'directive', … and return the canonical kind.

    Raises:
        UsageError: not a kind.
    """
    kind = _KIND_WORDS.get(text.strip().lower())
    if kind is None:
        raise UsageError(
            f"unknown item kind {text!r}", hint="Use one of: tool, directive, knowledge."
        )
    return kind


def is_item_name(segment: str) -> bool:
    """True when a file/folder name (without extension) can be an id segment."""
    return bool(_SEGMENT.match(segment)) and not segment.endswith(".")


def check_id(item_id: str) -> str:
    """Validate an id's form (SPEC §3) and return it.

    Raises:
        InvalidId: empty, absolute, with a backslash, NUL, ``..`` or an empty or bad segment,
            or longer than :data:`MAX_SEGMENT` per segment / :data:`MAX_ID` in all.
    """
    if len(item_id) <= MAX_ID and _WELL_FORMED.match(item_id):
        return item_id
    _check_shape(item_id, "id", _ID_HINT)
    for segment in item_id.split("/"):
        if not _SEGMENT.match(segment):
            raise InvalidId(
                f"the id {_shown(item_id)} has a bad segment {_shown(segment)}", hint=_ID_HINT
            )
    return item_id


def check_pattern(pattern: str) -> str:
    """Validate an id or an id glob (``*`` within a segment, ``**`` for whole segments) and
    return it: what ``kiwi sign`` and the MCP ``sign`` tool accept.

    Raises:
        InvalidId: the shape rules of :func:`check_id`, and ``**`` inside a longer segment.
    """
    _check_shape(pattern, "pattern", _PATTERN_HINT)
    for segment in pattern.split("/"):
        if segment == "**":
            continue
        if "**" in segment:
            raise InvalidId(
                f"the pattern {_shown(pattern)} has '**' inside the segment {_shown(segment)}",
                hint=_PATTERN_HINT,
            )
        if not _GLOB_SEGMENT.match(segment):
            raise InvalidId(
                f"the pattern {_shown(pattern)} has a bad segment {_shown(segment)}",
                hint=_PATTERN_HINT,
            )
    return pattern


def _check_shape(text: str, what: str, hint: str) -> None:
    """The rules ids and patterns share: none of the spellings that could leave a space."""
    if not text:
        raise InvalidId(f"the {what} is empty", hint=hint)
    if len(text) > MAX_ID:
        raise InvalidId(
            f"the {what} {text[:_SHOWN]!r}… is {len(text)} characters long; at most {MAX_ID} "
            "are allowed",
            hint=hint,
        )
    if "\x00" in text:
        raise InvalidId(f"the {what} {_shown(text)} contains a NUL byte", hint=hint)
    if "\\" in text:
        raise InvalidId(
            f"the {what} {_shown(text)} contains a backslash; use '/' between segments",
            hint=hint,
        )
    if text.startswith("/"):
        raise InvalidId(
            f"the {what} {_shown(text)} is absolute; ids are relative to .ai/<kind>s/", hint=hint
        )
    for segment in text.split("/"):
        if segment == "":
            raise InvalidId(f"the {what} {_shown(text)} has an empty segment", hint=hint)
        if segment in (".", ".."):
            raise InvalidId(
                f"the {what} {_shown(text)} contains {segment!r}; ids cannot leave their space",
                hint=hint,
            )
        if len(segment) > MAX_SEGMENT:
            raise InvalidId(
                f"the {what} {_shown(text)} has a segment of {len(segment)} characters; at "
                f"most {MAX_SEGMENT} are allowed",
                hint=hint,
            )


def _shown(text: str) -> str:
    """``text`` for a message: quoted, and cut short so a hostile id cannot flood it."""
    if len(text) <= _SHOWN:
        return repr(text)
    return repr(text[:_SHOWN]) + f"… ({len(text)} characters)"
