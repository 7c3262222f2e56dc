"""Built-in, trusted parsers for every item format (SPEC §4).

None of them executes an item: YAML goes through the safe (C) loader, Python tools are read
with ``ast`` and ``ast.literal_eval``, shell/JS headers are YAML in comments, directives are
Markdown with one XML metadata block, knowledge is front matter plus a body. Parsed items
are memoized by the SHA-256 of the bytes read, so an unchanged file is parsed once.

Item files are untrusted input, so the parsers refuse what a few bytes could blow up: YAML
anchors and aliases (a "billion laughs" file of 500 bytes names 10^9 strings, and any
``repr`` or walk of them hangs), an XML DOCTYPE (entities expand the same way), a
``version`` over :data:`MAX_VERSION` characters, an ``executor_id`` that is no id, and a
``$ref`` in ``parameters`` or ``config_schema`` that is not local or points at nothing
(``core.params.check_schema_refs``). A file's size is capped where it is read
(``store.items.MAX_ITEM_BYTES``).
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.ids import Kind, check_id
from kiwi_mcp.kernel.core.items import (
    Directive,
    DirectiveInput,
    Item,
    Knowledge,
    SourceFormat,
    Tool,
)
from kiwi_mcp.kernel.core.params import check_schema_refs
from kiwi_mcp.kernel.core.signature_line import signature_span
from kiwi_mcp.kernel.core.yaml_read import load_yaml_mapping
from kiwi_mcp.kernel.errors import InvalidId, ParseError

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

__all__ = ["MAX_VERSION", "parse_item"]

#: The longest ``version`` of any item: SemVer's MAJOR.MINOR.PATCH with room for a
#: pre-release and build part, and short enough for ``<id>@<version>.lock.json``.
MAX_VERSION = 64
_VERSION_HINT = (
    f"Use a semantic version MAJOR.MINOR.PATCH, e.g. '1.2.0' (at most {MAX_VERSION} "
    "characters with any '-pre' or '+build' part)."
)

_PY_FIELDS = MappingProxyType(
    {
        "__version__": "version",
        "__tool_type__": "tool_type",
        "__executor_id__": "executor_id",
        "__description__": "description",
        "PARAMETERS": "parameters",
        "CONFIG": "config",
        "CONFIG_SCHEMA": "config_schema",
        "REQUIRES": "requires",
        "SECRETS": "secrets",
        "AUTH": "auth",
        "ENV_CONFIG": "env_config",
        "MUTATES_STATE": "mutates_state",
        "REQUIRE_APPROVAL": "require_approval",
        "ANNOTATIONS": "annotations",
        "FILES": "files",
        "DEPENDENCIES": "dependencies",
    }
)
_XML_BLOCK = re.compile(r"^```xml[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_CACHE_SIZE = 4096
_cache: OrderedDict[tuple[str, str, str, str], Item] = OrderedDict()


def parse_item(
    kind: Kind, item_id: str, ext: str, data: bytes, label: str, *, sha256: str | None = None
) -> Item:
    """Parse one item's bytes into its record.

    ``label`` names the file in errors (e.g. ``project:tools/weather.yaml``); ``sha256``
    is the bytes' digest when the caller already has it.

    Raises:
        ParseError: the file is not valid for its format; the message names file, line, field.
    """
    key = (kind, item_id, ext, sha256 or hashlib.sha256(data).hexdigest())
    cached = _cache.get(key)
    if cached is not None:
        _cache.move_to_end(key)
        return cached
    text = _body_text(data, ext, label)
    item: Item
    if kind == "tool":
        item = _parse_tool(item_id, ext, text, label)
    elif kind == "directive":
        item = _parse_directive(item_id, text, label)
    else:
        item = _parse_knowledge(item_id, text, label)
    _cache[key] = item
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return item


def item_among_files(tool_id: str, rel: str, data: bytes) -> str | None:
    """The id the store would read the extra file ``rel`` of the tool ``tool_id`` as — a
    tool of its own — or None. An item that arrives from elsewhere (a registry) may bring
    helper files but never another item: a file placed next to it that parses as a tool
    would be an id its publisher never published, and could shadow one."""
    from kiwi_mcp.kernel.core.ids import EXTENSIONS, is_item_name
    from kiwi_mcp.kernel.errors import KiwiError

    dot = rel.rfind(".")
    name, ext = (rel[:dot], rel[dot:]) if dot > rel.rfind("/") else (rel, "")
    if ext not in EXTENSIONS["tool"]:
        return None
    prefix = tool_id.rpartition("/")[0]
    candidate = f"{prefix}/{name}" if prefix else name
    if not all(is_item_name(segment) for segment in candidate.split("/")):
        return None  # not an id: the store's walk passes it by
    try:
        parse_item("tool", candidate, ext, data, f"{tool_id}: files: {rel}")
    except (KiwiError, ValueError):
        return None
    return candidate


def _body_text(data: bytes, ext: str, label: str) -> str:
    """The file's text without its signature line (``core/signature_line.py`` finds it)."""
    text = _decode(data, label)
    start, end = signature_span(data, ext)
    if end:
        # The span counts bytes and the text characters: convert through the lines before it.
        head = len(data[:start].decode("utf-8"))
        text = text[:head] + text[head + len(data[start:end].decode("utf-8")) :]
    return text


def _decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{label}: not UTF-8 text (byte {exc.start})", at=label) from None


def _check_version(value: Any, label: str) -> None:
    """Refuse an over-long ``version`` before anything formats or stores it."""
    if isinstance(value, str) and len(value) > MAX_VERSION:
        raise ParseError(
            f"{label}: version: expected a semantic version of at most {MAX_VERSION} "
            f"characters, got {len(value)} characters",
            at=label,
            hint=_VERSION_HINT,
        )


def _check_executor_id(value: Any, label: str) -> None:
    """An ``executor_id`` that could never name a tool is the file's fault, so say so here
    (naming the field) rather than as an ``INVALID_ID`` while the chain is resolved."""
    if isinstance(value, str):
        try:
            check_id(value)
        except InvalidId as exc:
            raise ParseError(
                f"{label}: executor_id: {exc.message}", at=label, hint=exc.hint
            ) from None


def _parse_tool(item_id: str, ext: str, text: str, label: str) -> Tool:
    fmt: SourceFormat
    if ext in (".yaml", ".yml"):
        fields, fmt = load_yaml_mapping(text, label), "yaml"
    elif ext == ".py":
        fields, fmt = _python_fields(text, label), "python"
    elif ext == ".sh":
        fields, fmt = _header_fields(text, "#", label), "shell"
    elif ext == ".js":
        fields, fmt = _header_fields(text, "//", label), "js"
    else:
        raise ParseError(f"{label}: unknown tool extension {ext!r}", at=label)
    _check_version(fields.get("version"), label)
    _check_executor_id(fields.get("executor_id"), label)
    tool = Tool.from_mapping(fields, item_id=item_id, label=label, source_format=fmt)
    check_schema_refs(tool.parameters, field="parameters", label=label)
    if tool.config_schema is not None:
        check_schema_refs(tool.config_schema, field="config_schema", label=label)
    return tool


def _python_fields(text: str, label: str) -> dict[str, Any]:
    try:
        module = ast.parse(text, filename=label)
    except SyntaxError as exc:
        raise ParseError(
            f"{label}: line {exc.lineno}: Python syntax error: {exc.msg}", at=label
        ) from None
    fields: dict[str, Any] = {}
    doc = ast.get_docstring(module)
    if doc:
        fields["description"] = doc.strip().splitlines()[0]
    for node in module.body:
        targets: list[ast.expr]
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if not isinstance(target, ast.Name) or target.id not in _PY_FIELDS:
                continue
            try:
                fields[_PY_FIELDS[target.id]] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise ParseError(
                    f"{label}: line {node.lineno}: {target.id} must be a literal "
                    "(strings, numbers, lists, dicts, True/False/None)",
                    at=label,
                    hint="Tool metadata is read without running the file; "
                    "replace the expression with its literal value.",
                ) from None
    return fields


def _header_fields(text: str, prefix: str, label: str) -> dict[str, Any]:
    lines = text.split("\n")
    start = 1 if lines and lines[0].startswith("#!") else 0
    marker = f"{prefix} kiwi:"
    if start >= len(lines) or lines[start].rstrip() != marker:
        raise ParseError(
            f"{label}: line {start + 1}: expected the metadata header {marker!r}",
            at=label,
            hint=f"Start the file (after any shebang) with '{marker}' followed by "
            f"'{prefix} key: value' comment lines.",
        )
    body: list[str] = []
    for line in lines[start + 1 :]:
        if not line.startswith(prefix):
            break
        content = line[len(prefix) :]
        body.append(content[1:] if content.startswith(" ") else content)
    return load_yaml_mapping("\n".join(body), label, line_offset=start + 1)


def _parse_directive(item_id: str, text: str, label: str) -> Directive:
    # imported here, not at the top: a tool's chain (``kiwi run``) never reads XML
    import xml.etree.ElementTree as ET

    found = _XML_BLOCK.search(text)
    if found is None:
        raise ParseError(
            f"{label}: no ```xml metadata block found",
            at=label,
            hint="Add one fenced ```xml block holding <directive name=… version=…>.",
        )
    if _XML_BLOCK.search(text, found.end()) is not None:
        raise ParseError(f"{label}: more than one ```xml block; keep exactly one", at=label)
    block = found.group(1)
    dtd = block.find("<!DOCTYPE")
    if dtd >= 0:
        # Entities expand like YAML aliases (expat's amplification limit trips only after a
        # second of work, on every read), and a directive's metadata needs none.
        line = text[: found.start(1) + dtd].count("\n") + 1
        raise ParseError(
            f"{label}: line {line}: a DOCTYPE (and its entities) is not allowed in item files",
            at=label,
            hint="Remove the <!DOCTYPE …> declaration and write the text out in full.",
        )
    try:
        root = ET.fromstring(block)
    except ET.ParseError as exc:
        line = text[: found.start(1)].count("\n") + exc.position[0]
        raise ParseError(f"{label}: line {line}: invalid XML: {exc}", at=label) from None
    if root.tag != "directive":
        raise ParseError(f"{label}: the XML root must be <directive>, got <{root.tag}>", at=label)
    name = item_id.rsplit("/", 1)[-1]
    category = item_id.rsplit("/", 1)[0] if "/" in item_id else ""
    declared = root.get("name", "")
    if declared != name:
        raise ParseError(
            f"{label}: directive name={declared!r} must equal the file's name {name!r}",
            at=label,
        )
    meta = root.find("metadata")
    meta_text = _child_texts(meta)
    declared_category = meta_text.get("category", category)
    if declared_category != category:
        raise ParseError(
            f"{label}: <category>{declared_category}</category> must equal the folder {category!r}",
            at=label,
        )
    model = meta.find("model") if meta is not None else None
    permissions = meta.find("permissions") if meta is not None else None
    limits = meta.find("limits") if meta is not None else None
    _check_version(root.get("version"), label)
    inputs = [_directive_input(node, label) for node in root.iterfind("inputs/input")]
    outputs = tuple(
        node.get("name") or (node.text or "").strip() for node in root.iterfind("outputs/*")
    )
    return Directive(
        id=item_id,
        name=name,
        version=root.get("version", "1.0.0"),
        description=meta_text.get("description", ""),
        category=category,
        author=meta_text.get("author", ""),
        model=dict(model.attrib) if model is not None else None,
        permissions=tuple((node.tag, dict(node.attrib)) for node in permissions or ()),
        limits=dict(limits.attrib) if limits is not None else {},
        inputs=tuple(inputs),
        outputs=outputs,
        process=(text[: found.start()] + text[found.end() :]).strip() + "\n",
        tools=_directive_tools(root, meta, label),
    )


def _directive_tools(root: ET.Element, meta: ET.Element | None, label: str) -> tuple[str, ...]:
    """The ids of ``<tools><tool id="…"/></tools>`` (in ``<metadata>`` or at the root), then
    those of ``<mcp server="…" tools="…"/>`` as ``mcp/<server>/<tool glob>``."""
    found: list[str] = []
    for holder in (meta, root):
        for node in holder.iterfind("tools/tool") if holder is not None else ():
            tool_id = node.get("id", "")
            if not tool_id:
                raise ParseError(f'{label}: <tools>: a <tool> needs id="…"', at=label)
            if tool_id not in found:
                found.append(tool_id)
        # <mcp server="github" tools="issues_*,pulls_get"/>: upstream tools (SPEC §14), as
        # id globs the runner expands and offers as mcp__<server>__<tool>
        for node in holder.iterfind("tools/mcp") if holder is not None else ():
            server = node.get("server", "")
            if not server or "/" in server:
                raise ParseError(f'{label}: <tools>: an <mcp> needs server="…"', at=label)
            for pattern in (node.get("tools") or "*").split(","):
                tool_id = f"mcp/{server}/{pattern.strip() or '*'}"
                if tool_id not in found:
                    found.append(tool_id)
    return tuple(found)


def _child_texts(node: ET.Element | None) -> dict[str, str]:
    if node is None:
        return {}
    return {child.tag: (child.text or "").strip() for child in node if len(child) == 0}


def _directive_input(node: ET.Element, label: str) -> DirectiveInput:
    name = node.get("name")
    if not name:
        raise ParseError(f"{label}: an <input> has no name attribute", at=label)
    required = node.get("required", "false").lower()
    if required not in ("true", "false"):
        raise ParseError(
            f"{label}: <input name={name!r}> required={required!r}: expected true or false",
            at=label,
        )
    return DirectiveInput(
        name=name,
        type=node.get("type", "string"),
        required=required == "true",
        default=node.get("default"),
        description=(node.text or "").strip(),
    )


def _parse_knowledge(item_id: str, text: str, label: str) -> Knowledge:
    front: Mapping[str, Any] = {}
    body = text
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end < 0:
            raise ParseError(f"{label}: front matter opened with '---' but never closed", at=label)
        front = load_yaml_mapping(text[4:end], label, line_offset=1)
        _check_version(front.get("version"), label)
        after = text.find("\n", end + 4)
        body = text[after + 1 :] if after >= 0 else ""
    return Knowledge.from_mapping(front, item_id=item_id, label=label, body=body)
