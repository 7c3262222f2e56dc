"""Item records: tools, directives, knowledge (SPEC §4).

Records are frozen and built by ``from_mapping`` classmethods that check every field and
name its path in the error (``tools/weather.yaml: parameters.type: expected object``).
Parsing the file formats into mappings lives in ``kiwi_mcp.kernel.core.parse``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kiwi_mcp.kernel.errors import ParseError

__all__ = [
    "PRIMITIVE_IDS",
    "Annotations",
    "Directive",
    "DirectiveInput",
    "Item",
    "Knowledge",
    "Tool",
]

PRIMITIVE_IDS = frozenset({"primitives/subprocess", "primitives/http_client"})
_SEMVER = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?\Z")

SourceFormat = Literal["yaml", "python", "shell", "js"]


class _Fields:
    """Reads typed fields from a mapping, naming the file and field path on error."""

    def __init__(self, data: Mapping[str, Any], label: str) -> None:
        self.data = data
        self.label = label

    def fail(self, path: str, wanted: str, got: Any) -> ParseError:
        shown = repr(got)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return ParseError(
            f"{self.label}: {path}: expected {wanted}, got {shown}",
            at=self.label,
            hint=f"Fix '{path}' in {self.label}.",
        )

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.data.get(key)
        if value is None:
            if required:
                raise ParseError(
                    f"{self.label}: {key}: required field is missing",
                    at=self.label,
                    hint=f"Add '{key}' to {self.label}.",
                )
            return default
        if not isinstance(value, str):
            wanted = "a string (quote it)" if isinstance(value, int | float) else "a string"
            raise self.fail(key, wanted, value)
        return value

    def optional_text(self, key: str) -> str | None:
        if self.data.get(key) is None:
            return None
        return self.text(key)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise self.fail(key, "a mapping with string keys", value)
        return dict(value)

    def optional_mapping(self, key: str) -> dict[str, Any] | None:
        if self.data.get(key) is None:
            return None
        return self.mapping(key)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self.fail(key, "a list of strings", value)
        for index, entry in enumerate(value):
            if not isinstance(entry, str):
                raise self.fail(f"{key}[{index}]", "a string", entry)
        return tuple(value)

    def flag(self, key: str, data: Mapping[str, Any] | None = None, path: str = "") -> bool:
        value = (self.data if data is None else data).get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(path or key, "true or false", value)
        return value

    def annotations(self, key: str) -> Annotations:
        """``annotations: {read_only, idempotent}`` (SPEC §4.2, §13.5); both default false."""
        found = self.mapping(key)
        for name in found:
            if name not in ("read_only", "idempotent"):
                raise self.fail(f"{key}.{name}", "one of read_only, idempotent", name)
        return Annotations(
            read_only=self.flag("read_only", found, f"{key}.read_only"),
            idempotent=self.flag("idempotent", found, f"{key}.idempotent"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Annotations:
    """What a crashed thread may safely re-run (SPEC §13.5)."""

    read_only: bool = False
    idempotent: bool = False

    def to_dict(self) -> dict[str, bool]:
        return {"read_only": self.read_only, "idempotent": self.idempotent}


@dataclass(frozen=True, kw_only=True, slots=True)
class Tool:
    """A tool: one link of a chain (SPEC §4.2)."""

    id: str
    version: str
    tool_type: str
    executor_id: str | None
    description: str
    parameters: Mapping[str, Any]
    config: Mapping[str, Any]
    config_schema: Mapping[str, Any] | None = None
    requires: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    auth: Mapping[str, Any] | None = None
    env_config: Mapping[str, Any] = field(default_factory=dict)
    mutates_state: bool = False
    require_approval: bool = False
    annotations: Annotations = field(default_factory=Annotations)
    files: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    source_format: SourceFormat = "yaml"

    @property
    def is_primitive(self) -> bool:
        return self.id in PRIMITIVE_IDS

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        item_id: str,
        label: str,
        source_format: SourceFormat,
    ) -> Tool:
        """Build a tool from its parsed fields.

        Raises:
            ParseError: a field is missing or of the wrong type; the message names it.
        """
        f = _Fields(data, label)
        version = f.text("version", required=True)
        if not _SEMVER.match(version):
            raise f.fail("version", "a semantic version like '1.0.0'", version)
        executor_id = f.optional_text("executor_id")
        if executor_id is None and item_id not in PRIMITIVE_IDS:
            raise ParseError(
                f"{label}: executor_id: required field is missing",
                at=label,
                hint="Name the tool this one executes through, e.g. 'runtimes/python' "
                "or 'primitives/http_client'.",
            )
        tool_type = f.text("tool_type", default="tool")
        if tool_type == "primitive" and item_id not in PRIMITIVE_IDS:
            raise f.fail("tool_type", "a label other than 'primitive' (reserved)", tool_type)
        parameters = f.mapping("parameters") or {"type": "object"}
        if parameters.get("type", "object") != "object":
            raise f.fail("parameters.type", "'object' (the params root is an object)", parameters)
        config_schema = f.optional_mapping("config_schema")
        files = f.strings("files")
        for index, rel in enumerate(files):
            if rel.startswith(("/", "\\")) or ".." in rel.replace("\\", "/").split("/"):
                raise f.fail(f"files[{index}]", "a path inside the tool's folder", rel)
        auth = f.optional_mapping("auth")
        if auth is not None and not isinstance(auth.get("service"), str):
            raise f.fail("auth.service", "a string", auth.get("service"))
        if auth is not None and not isinstance(auth.get("per_origin", False), bool):
            raise f.fail("auth.per_origin", "true or false", auth.get("per_origin"))
        return cls(
            id=item_id,
            version=version,
            tool_type=tool_type,
            executor_id=executor_id,
            description=f.text("description"),
            parameters=parameters,
            config=f.mapping("config"),
            config_schema=config_schema or None,
            requires=f.strings("requires"),
            secrets=f.strings("secrets"),
            auth=auth,
            env_config=f.mapping("env_config"),
            mutates_state=f.flag("mutates_state"),
            require_approval=f.flag("require_approval"),
            annotations=f.annotations("annotations"),
            files=files,
            dependencies=f.strings("dependencies"),
            source_format=source_format,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "tool_type": self.tool_type,
            "executor_id": self.executor_id,
            "description": self.description,
            "parameters": dict(self.parameters),
            "config": dict(self.config),
            "config_schema": dict(self.config_schema) if self.config_schema else None,
            "requires": list(self.requires),
            "secrets": list(self.secrets),
            "auth": dict(self.auth) if self.auth else None,
            "env_config": dict(self.env_config),
            "mutates_state": self.mutates_state,
            "require_approval": self.require_approval,
            "annotations": self.annotations.to_dict(),
            "files": list(self.files),
            "dependencies": list(self.dependencies),
            "source_format": self.source_format,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectiveInput:
    name: str
    type: str
    required: bool
    default: str | None
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "description": self.description,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Directive:
    """A directive: instructions an LLM follows (SPEC §4.3)."""

    id: str
    name: str
    version: str
    description: str
    category: str
    author: str
    model: Mapping[str, str] | None
    permissions: tuple[tuple[str, Mapping[str, str]], ...]
    limits: Mapping[str, str]
    inputs: tuple[DirectiveInput, ...]
    outputs: tuple[str, ...]
    process: str
    #: ``<tools><tool id="…"/></tools>``: the tools a thread's LLM is offered besides Kiwi's
    tools: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "category": self.category,
            "author": self.author,
            "model": dict(self.model) if self.model else None,
            "permissions": [{"tag": tag, **dict(attrs)} for tag, attrs in self.permissions],
            "limits": dict(self.limits),
            "inputs": [entry.to_dict() for entry in self.inputs],
            "outputs": list(self.outputs),
            "process": self.process,
            "tools": list(self.tools),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Knowledge:
    """A knowledge entry (SPEC §4.4)."""

    id: str
    title: str
    entry_type: str
    version: str
    category: str
    tags: tuple[str, ...]
    references: tuple[str, ...]
    extends: tuple[str, ...]
    links: tuple[str, ...]
    body: str

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, item_id: str, label: str, body: str
    ) -> Knowledge:
        """Build from front matter. Raises ParseError naming the bad field."""
        f = _Fields(data, label)
        name = item_id.rsplit("/", 1)[-1]
        declared = f.text("id", default=name)
        if declared != name:
            raise f.fail("id", f"{name!r} (the file's name)", declared)
        category = item_id.rsplit("/", 1)[0] if "/" in item_id else ""
        declared_category = f.text("category", default=category)
        if declared_category != category:
            raise f.fail("category", f"{category!r} (the file's folder)", declared_category)
        links = tuple(dict.fromkeys(re.findall(r"\[\[([^\[\]|#]+)(?:[|#][^\]]*)?\]\]", body)))
        return cls(
            id=item_id,
            title=f.text("title", default=name),
            entry_type=f.text("entry_type", default="note"),
            version=f.text("version", default="1.0.0"),
            category=category,
            tags=f.strings("tags"),
            references=f.strings("references"),
            extends=f.strings("extends"),
            links=tuple(link.strip() for link in links),
            body=body,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "entry_type": self.entry_type,
            "version": self.version,
            "category": self.category,
            "tags": list(self.tags),
            "references": list(self.references),
            "extends": list(self.extends),
            "links": list(self.links),
            "body": self.body,
        }


Item = Tool | Directive | Knowledge
