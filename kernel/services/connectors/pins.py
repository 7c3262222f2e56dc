"""Pins of upstream tool definitions (SPEC §14): the rug-pull defence.

A pin is the SHA-256 of the RFC 8785 canonical JSON (``core/canonical.py``) of the six fields
of an upstream tool that decide what a model is told and what the call means: ``name``,
``title``, ``description``, ``inputSchema``, ``outputSchema``, ``annotations``. A field the
server leaves out and one it sends as ``null`` are the same definition. Pure functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from kiwi_mcp.kernel.core.canonical import canonical_hash

__all__ = ["PINNED_FIELDS", "definition", "diff", "pin", "tool_segment"]

PINNED_FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
_NOT_ID = re.compile(r"[^a-z0-9_.-]")
_SHOWN = 160


def definition(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The pinned part of one ``tools/list`` entry (wire names), ``null`` fields left out."""
    return {key: tool[key] for key in PINNED_FIELDS if tool.get(key) is not None}


def pin(defined: Mapping[str, Any]) -> str:
    """The pin of a definition (``definition`` applied first, so any entry may be passed)."""
    return canonical_hash(definition(defined))


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def diff(pinned: Mapping[str, Any], live: Mapping[str, Any]) -> list[dict[str, str | None]]:
    """What changed, field by field: ``[{field, pinned, live}]`` with values shortened for
    display (``None`` where the field is absent on that side)."""
    old, new = definition(pinned), definition(live)
    changes: list[dict[str, str | None]] = []
    for key in PINNED_FIELDS:
        if canonical_hash(old.get(key)) != canonical_hash(new.get(key)):
            changes.append(
                {
                    "field": key,
                    "pinned": None if key not in old else _shown(old[key]),
                    "live": None if key not in new else _shown(new[key]),
                }
            )
    return changes


def tool_segment(name: str) -> str:
    """The id segment of an upstream tool (``mcp/<server>/<segment>``): lower case, anything
    an id cannot hold as ``_``, a leading ``_`` or ``.`` replaced by ``t``."""
    segment = _NOT_ID.sub("_", name.lower())[:128] or "tool"
    if not segment[0].isalnum():
        segment = "t" + segment[1:]
    return segment
