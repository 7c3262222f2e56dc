"""The five MCP tools Kiwi offers: names, descriptions and exact input schemas (SPEC §10).

Schemas are JSON Schema 2020-12 (MCP's default dialect, so no ``$schema`` key is sent) and
close every object with ``additionalProperties: false``. The server validates arguments
against them itself: the low-level SDK server does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["ENVELOPE_SCHEMA", "HELP_ACTIONS", "TOOL_SPECS", "ToolSpec", "tool_spec"]

HELP_ACTIONS: Final = ("stuck", "escalate", "checkpoint")

_PROJECT_PATH: Final = {
    "type": "string",
    "minLength": 1,
    "description": "Absolute path of the project root (the folder holding .ai/); it must "
    "be a project this server serves (its --project roots). Default: the first of them.",
}
_ITEM_TYPE: Final = {
    "type": "string",
    "enum": ["tool", "directive", "knowledge"],
    "description": "Which kind of item.",
}
_ITEM_ID: Final = {
    "type": "string",
    "minLength": 1,
    "maxLength": 512,
    "description": "The item's id: its path below .ai/<kind>s/ without extension, "
    "'/'-separated (e.g. 'runtimes/python'); a bare name works when it is unique.",
}

#: Any JSON value, written portably (an ``anyOf`` of every type rather than ``{}``).
_ANY_JSON: Final[Mapping[str, Any]] = {
    "anyOf": [{"type": t} for t in ("object", "array", "string", "number", "boolean", "null")]
}

#: What every result's ``structuredContent`` is: the result envelope of SPEC §5.5, written
#: portably for hosts' validators (``anyOf`` rather than ``type: [x, "null"]``, every
#: property typed).
ENVELOPE_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "ok": {"type": "boolean"},
        "data": {**_ANY_JSON, "description": "The result: any JSON value; null on failure."},
        "error": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "hint": {"type": "string"},
                        "chain": {"type": "array", "items": {"type": "string"}},
                        "at": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "details": {"type": "object"},
                    },
                    "required": ["code", "message", "hint"],
                },
                {"type": "null"},
            ]
        },
        "meta": {"type": "object"},
    },
    "required": ["ok", "data", "error", "meta"],
}


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolSpec:
    """One MCP tool as listed by ``tools/list``."""

    name: str
    title: str
    description: str
    input_schema: Mapping[str, Any]
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False


def _object(properties: Mapping[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": dict(properties),
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


TOOL_SPECS: Final[tuple[ToolSpec, ...]] = (
    ToolSpec(
        name="search",
        title="Search Kiwi items",
        description="Find tools, directives and knowledge entries by keywords and meaning, "
        "best first; only items that verify are results. "
        "Each hit names its space (project > user > system) and the files it shadows.",
        input_schema=_object(
            {
                "query": {
                    "type": "string",
                    "maxLength": 1000,
                    "description": "Words to look for in ids, descriptions and bodies; "
                    "an empty string lists everything.",
                },
                "item_type": {**_ITEM_TYPE, "description": "Only this kind (default: all)."},
                "source": {
                    "type": "string",
                    "enum": ["project", "user", "system", "registry", "all"],
                    "default": "all",
                    "description": "Only this space, or the shared registry (tier "
                    "'registry'); all: every space, and the registry when one is configured.",
                },
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                "mode": {
                    "type": "string",
                    "enum": ["hybrid", "keyword", "semantic"],
                    "default": "hybrid",
                    "description": "hybrid: keywords and meaning fused (default); keyword: "
                    "BM25 only; semantic: nearest by embedding only.",
                },
                "project_path": _PROJECT_PATH,
            },
            ("query",),
        ),
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        name="load",
        title="Load a Kiwi item",
        description="Read an item: the parsed record and the raw file, its space, the files "
        "it shadows and whether it verifies. With 'destination', copy it into the project "
        "or user space (the system space is read-only).",
        input_schema=_object(
            {
                "item_type": _ITEM_TYPE,
                "item_id": _ITEM_ID,
                "source": {
                    "type": "string",
                    "enum": ["project", "user", "system"],
                    "description": "Read from this space only (default: the first that "
                    "holds the id, project > user > system).",
                },
                "destination": {
                    "type": "string",
                    "enum": ["project", "user"],
                    "description": "Copy the item (and a tool's extra files) into this "
                    "space. Refused when the file already exists there.",
                },
                "project_path": _PROJECT_PATH,
            },
            ("item_type", "item_id"),
        ),
    ),
    ToolSpec(
        name="execute",
        title="Execute a Kiwi item",
        description="Run a tool through its chain and return the result envelope; for a "
        "directive, return its instructions with ${inputs.x} filled in (inline mode: you "
        "follow them); for a knowledge entry, return the entry. 'dry_run' resolves and "
        "validates without effects. Long runs report progress when you send a progress token.",
        input_schema=_object(
            {
                "item_type": _ITEM_TYPE,
                "item_id": _ITEM_ID,
                "parameters": {
                    "type": "object",
                    "default": {},
                    "description": "A tool's params, or a directive's inputs.",
                },
                "dry_run": {"type": "boolean", "default": False},
                "thread": {
                    "type": "boolean",
                    "default": False,
                    "description": "Run a directive as a thread: its own process, an LLM "
                    "following it with the directive's permissions and limits; returns "
                    "{thread_id, status} at once (watch it with execute of tool "
                    "threads/status).",
                },
                "project_path": _PROJECT_PATH,
            },
            ("item_type", "item_id"),
        ),
        destructive=True,
        open_world=True,
    ),
    ToolSpec(
        name="sign",
        title="Sign Kiwi items",
        description="Sign project or user items with the user's key, so they run under "
        "KIWI_VERIFY=signed: a privileged act that vouches for the file as it is now. It "
        "needs '<kind>.sign:<id>', which no default policy grants (the operator signs with "
        "'kiwi sign'). 'item_id' may be a glob ('*' within a segment, '**' across). "
        "Re-signing an unchanged file keeps its signature.",
        input_schema=_object(
            {
                "item_type": _ITEM_TYPE,
                "item_id": {**_ITEM_ID, "description": "An id or an id glob."},
                "project_path": _PROJECT_PATH,
            },
            ("item_type", "item_id"),
        ),
        destructive=True,
        idempotent=True,
    ),
    ToolSpec(
        name="help",
        title="Kiwi help",
        description="Guidance on using Kiwi (topics), and signals from an agent: "
        "'stuck', 'escalate' (a human should look) or 'checkpoint'. Signals are recorded "
        "in the project's audit log.",
        input_schema=_object(
            {
                "topic": {
                    "type": "string",
                    "maxLength": 100,
                    "description": "A topic; omit it for the overview and the topic list.",
                },
                "action": {"type": "string", "enum": list(HELP_ACTIONS)},
                "reason": {
                    "type": "string",
                    "maxLength": 4000,
                    "description": "Why (with 'action').",
                },
                "project_path": _PROJECT_PATH,
            }
        ),
        idempotent=True,
    ),
)

_BY_NAME: Final = {spec.name: spec for spec in TOOL_SPECS}


def tool_spec(name: str) -> ToolSpec | None:
    """The spec of the tool called ``name``, or None when Kiwi has no such tool."""
    return _BY_NAME.get(name)
