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
    "Kind",
    "check_id",
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
    """Validate an id's form and return it.

    Raises:
        InvalidId: empty, absolute, with a backslash, NUL, ``..`` or an empty or bad segment.
    """
    if not item_id:
        raise InvalidId("the id is empty")
    if "\x00" in item_id:
        raise InvalidId("the id contains a NUL byte")
    if "\\" in item_id:
        raise InvalidId(f"the id {item_id!r} contains a backslash; use '/' between segments")
    if item_id.startswith("/"):
        raise InvalidId(f"the id {item_id!r} is absolute; ids are relative to .ai/<kind>s/")
    for segment in item_id.split("/"):
        if segment == "":
            raise InvalidId(f"the id {item_id!r} has an empty segment")
        if segment in (".", ".."):
            raise InvalidId(
                f"the id {item_id!r} contains {segment!r}; ids cannot leave their space"
            )
        if not _SEGMENT.match(segment):
            raise InvalidId(
                f"the id {item_id!r} has a bad segment {segment!r}",
                hint="Segments match [a-z0-9][a-z0-9_.-]* (lower case, digits, '_', '.', '-').",
            )
    return item_id
