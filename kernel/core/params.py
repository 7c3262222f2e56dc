"""Caller params: defaults and JSON Schema validation (SPEC §5.2). Pure.

Each schema is compiled once by ``kiwi_mcp.kernel.core.schemafast`` into a validity
predicate, cached by the schema object's identity: schemas are parts of memoized parsed
items and are never mutated, and
the cache holds a reference to each so an id is not reused while its entry lives. A valid value
costs only that predicate. jsonschema is imported only to say what is wrong with an invalid
value, or for a schema outside the compiled subset; its validators are cached by the schema's
canonical JSON.

Schemas come from item files, so no schema ever makes the kernel fetch anything:
``check_schema_refs`` admits only local ``$ref``s that point at a schema in the same
document (and refuses loops that never descend into the value, on which jsonschema would
recurse forever), and every jsonschema validator is built over an empty ``referencing``
registry, which retrieves nothing.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from kiwi_mcp.kernel.core.schemafast import Check, compile_schema, passes
from kiwi_mcp.kernel.errors import ConfigInvalid, ParamsInvalid, ParseError

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

__all__ = [
    "apply_defaults",
    "check_config",
    "check_schema_refs",
    "validate_params",
    "validator_for",
]

_validators: dict[str, Draft202012Validator] = {}
_Compiled = tuple[Mapping[str, Any], Check | None, "Draft202012Validator | None"]
_compiled: dict[int, _Compiled] = {}
# Enough for every schema of every item a long-lived server sees; a caller building a fresh
# schema per call only costs a recompile after the reset.
_MAX_COMPILED = 4096

# The 2020-12 keywords whose values are subschemas (those ``referencing`` crawls), and of
# them the ones applied to the same value: a loop of those alone never ends.
_SUB_ONE = frozenset(
    {"additionalProperties", "contains", "contentSchema", "else", "if", "items", "not"}
    | {"propertyNames", "then", "unevaluatedItems", "unevaluatedProperties"}
)
_SUB_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUB_MAP = frozenset(
    {"$defs", "definitions", "dependentSchemas", "patternProperties", "properties"}
)
_IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas")
_DATA = frozenset({"const", "default", "enum", "examples"})
_REFS = ("$ref", "$dynamicRef")
_CONTAINERS = (dict, list, tuple)  # a tuple, not a union: isinstance is 3x faster
_INDEX = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_REF_HINT = (
    "Put the schema under '$defs' in this file and refer to it as '#/$defs/<name>'; "
    "schemas are never fetched."
)


def check_schema_refs(schema: Mapping[str, Any], *, field: str, label: str) -> None:
    """Refuse every reference jsonschema would have to fetch or could not resolve.

    Allowed: ``$ref``/``$dynamicRef`` values starting with ``#`` that name the root (``#``),
    a JSON pointer to a schema (``#/$defs/city``) or an ``$anchor``; ``$id`` only at the
    root (a nested one would move the base of the refs below it). ``field`` is the schema's
    name in the item (``parameters``), the root of every path in a message.

    Raises:
        ParseError: naming the path (``parameters.properties.x.$ref``) of a non-local or
            unresolvable reference, a nested ``$id``, or references that loop back to
            themselves without descending into the value.
    """
    try:
        if not _mentions_refs(schema):
            return
    except RecursionError:
        pass  # the walk below keeps its own stack
    paths: dict[int, str] = {id(schema): field}
    refs: list[tuple[Mapping[str, Any], str, str]] = []  # holder, the ref's path, the ref
    anchors: dict[str, Any] = {}
    stack: list[tuple[Any, str, bool]] = [(schema, field, True)]
    while stack:
        node, path, is_schema = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend((sub, f"{path}[{i}]", False) for i, sub in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        paths.setdefault(id(node), path)
        for key, sub in node.items():
            where = f"{path}.{key}"
            if key in _REFS and isinstance(sub, str):
                if not sub.startswith("#"):
                    raise _ref_error(
                        label,
                        where,
                        f"only local references ('#/$defs/...') are allowed, got {_shown(sub)}",
                    )
                refs.append((node, where, sub))
            elif key == "$id" and node is not schema:
                raise _ref_error(label, where, "only the schema's root may have an $id")
            elif key in ("$anchor", "$dynamicAnchor") and isinstance(sub, str) and is_schema:
                anchors.setdefault(sub, node)
            elif key in _DATA:
                continue
            elif key in _SUB_LIST and isinstance(sub, list | tuple):
                stack.extend((item, f"{where}[{i}]", True) for i, item in enumerate(sub))
            elif key in _SUB_MAP and isinstance(sub, dict):
                stack.extend((item, f"{where}.{name}", True) for name, item in sub.items())
            else:
                stack.append((sub, where, key in _SUB_ONE))
    targets: dict[int, list[tuple[Any, str]]] = {}
    for holder, where, ref in refs:
        target = _resolve_local(schema, anchors, ref)
        if target is None:
            raise _ref_error(label, where, f"{_shown(ref)} points at nothing in the schema")
        if not isinstance(target, dict | bool):
            kind = type(target).__name__
            raise _ref_error(label, where, f"{_shown(ref)} points at a {kind}, not a schema")
        targets.setdefault(id(holder), []).append((target, where))
    _refuse_loops(schema, paths, targets, label)


def _mentions_refs(node: Any) -> bool:
    """Whether any mapping in ``node`` has a key that makes jsonschema resolve something: the
    cheap test most schemas stop at."""
    if isinstance(node, dict):
        if "$ref" in node or "$dynamicRef" in node or "$id" in node:
            return True
        values: Any = node.values()
    elif isinstance(node, _CONTAINERS):
        values = node
    else:
        return False
    for value in values:  # noqa: SIM110 - a loop, not any(): no generator frame per mapping
        if isinstance(value, _CONTAINERS) and _mentions_refs(value):
            return True
    return False


def _resolve_local(root: Mapping[str, Any], anchors: Mapping[str, Any], ref: str) -> Any:
    """The value a local ref names, or None (the way ``referencing`` reads pointers)."""
    fragment = ref[1:]
    if not fragment:
        return root
    if not fragment.startswith("/"):
        return anchors.get(fragment)
    node: Any = root
    for part in unquote(fragment[1:]).split("/"):
        if isinstance(node, list) and _INDEX.match(part) and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and (key := part.replace("~1", "/").replace("~0", "~")) in node:
            node = node[key]
        else:
            return None
    return node


def _in_place(
    node: Any, path: str, targets: Mapping[int, list[tuple[Any, str]]]
) -> Iterator[tuple[Any, str]]:
    """The schemas ``node`` applies to the very value it is checking, with their paths."""
    if not isinstance(node, dict):
        return
    for key in _IN_PLACE:
        sub = node.get(key)
        if key == "dependentSchemas" and isinstance(sub, dict):
            yield from ((item, f"{path}.{key}.{name}") for name, item in sub.items())
        elif isinstance(sub, list) and key in _SUB_LIST:
            yield from ((item, f"{path}.{key}[{i}]") for i, item in enumerate(sub))
        elif isinstance(sub, dict):
            yield sub, f"{path}.{key}"
    yield from targets.get(id(node), ())


def _refuse_loops(
    root: Mapping[str, Any],
    paths: Mapping[int, str],
    targets: Mapping[int, list[tuple[Any, str]]],
    label: str,
) -> None:
    """A depth-first walk over the in-place edges; meeting a schema on the current path again
    is a loop jsonschema would follow until its stack ran out."""
    if not targets:
        return  # without a reference the schema is a tree
    done: set[int] = set()
    for start in [root, *(t for found in targets.values() for t, _ in found)]:
        if id(start) in done:
            continue
        on_path = {id(start)}
        walk = [(start, _in_place(start, paths.get(id(start), ""), targets))]
        while walk:
            node, edges = walk[-1]
            step = next(edges, None)
            if step is None:
                walk.pop()
                on_path.discard(id(node))
                done.add(id(node))
                continue
            child, where = step
            if id(child) in on_path:
                raise _ref_error(
                    label, where, "loops back to itself without descending into the value"
                )
            if isinstance(child, dict) and id(child) not in done:
                on_path.add(id(child))
                walk.append((child, _in_place(child, paths.get(id(child), where), targets)))


def _ref_error(label: str, where: str, problem: str) -> ParseError:
    return ParseError(f"{label}: {where}: {problem}", at=label, hint=_REF_HINT)


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:80]) + f"… ({len(text)} characters)"


def validator_for(
    schema: Mapping[str, Any], label: str, *, field: str = "schema"
) -> Draft202012Validator:
    """A jsonschema validator for ``schema`` (imports jsonschema on first use) that never
    retrieves a remote schema.

    Raises:
        ParseError: the schema itself is not valid JSON Schema 2020-12, or has a reference
            ``check_schema_refs`` refuses; ``field`` names it in the message.
    """
    try:
        key = json.dumps(schema, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ParseError(
            f"{label}: {field}: not a JSON document ({str(exc)[:100]})", at=label
        ) from None
    found = _validators.get(key)
    if found is None:
        check_schema_refs(schema, field=field, label=label)
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError
        from referencing import Registry

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = ".".join(str(p) for p in exc.path) or "(root)"
            raise ParseError(
                f"{label}: invalid JSON Schema at {where}: {exc.message}", at=label
            ) from None
        except RecursionError:
            raise ParseError(f"{label}: {field}: nested too deeply", at=label) from None
        found = Draft202012Validator(schema, registry=Registry())
        _validators[key] = found
    return found


def _compiled_for(schema: Mapping[str, Any], label: str, field: str) -> _Compiled:
    """The predicate for ``schema``, or (outside the subset) its checked jsonschema validator.

    A schema ``compile_schema`` accepts is valid by construction (it refuses every value
    ``check_schema`` would), so only the others go through ``check_schema``.

    Raises:
        ParseError: the schema itself is not valid JSON Schema 2020-12.
    """
    found = _compiled.get(id(schema))
    if found is not None and found[0] is schema:
        return found
    check = compile_schema(schema)
    validator = validator_for(schema, label, field=field) if check is None else None
    if len(_compiled) >= _MAX_COMPILED:
        _compiled.clear()
    found = (schema, check, validator)
    _compiled[id(schema)] = found
    return found


def _problems_against(
    schema: Mapping[str, Any], value: Any, root: str, label: str, field: str
) -> list[dict[str, str]]:
    _, check, validator = _compiled_for(schema, label, field)
    if passes(check, value):
        return []
    if validator is None:
        validator = validator_for(schema, label, field=field)
    from referencing.exceptions import Unresolvable

    try:
        return _problems(validator, value, root)
    except Unresolvable as exc:  # check_schema_refs lets none through; never an internal error
        raise _ref_error(label, field, f"a reference cannot be resolved: {exc}") from None


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """A copy of ``value`` with ``default``s of object properties filled in, recursively."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for name, sub in properties.items():
            if not isinstance(sub, Mapping):
                continue
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            if name in out:
                out[name] = apply_defaults(sub, out[name])
    return out


def _problems(validator: Draft202012Validator, value: Any, root: str) -> list[dict[str, str]]:
    problems = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path))):
        path = ".".join([root, *(str(p) for p in error.absolute_path)])
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [n for n in error.validator_value if n not in error.instance]
            for name in missing:
                problems.append({"path": f"{path}.{name}", "problem": "required but missing"})
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            for name in error.instance:
                if name not in known:
                    problems.append({"path": f"{path}.{name}", "problem": "unknown field"})
            continue
        problems.append({"path": path, "problem": error.message})
    return problems


def validate_params(
    schema: Mapping[str, Any], params: Any, *, tool_id: str, label: str
) -> dict[str, Any]:
    """Apply defaults and validate; returns the params to use.

    Raises:
        ParamsInvalid: each bad field is named with its path (``params.city``) in the
            message and in ``details.errors``.
    """
    if not isinstance(params, dict):
        raise ParamsInvalid(
            f"params must be a JSON object, got {type(params).__name__}", item_id=tool_id
        )
    filled = apply_defaults(schema, params)
    problems = _problems_against(schema, filled, "params", label, "parameters")
    if problems:
        text = "; ".join(f"{p['path']}: {p['problem']}" for p in problems)
        raise ParamsInvalid(
            f"invalid params for {tool_id}: {text}",
            item_id=tool_id,
            hint=f"Run 'kiwi show tool {tool_id}' to see its parameters.",
            details={"errors": problems},
        )
    result: dict[str, Any] = filled
    return result


def check_config(schema: Mapping[str, Any], config: Any, *, link_id: str, label: str) -> None:
    """Check the final config against one link's ``config_schema``.

    Raises:
        ConfigInvalid: naming each bad field and the link whose schema refused it.
    """
    problems = _problems_against(schema, config, "config", label, "config_schema")
    if problems:
        text = "; ".join(f"{p['path']}: {p['problem']}" for p in problems)
        raise ConfigInvalid(
            f"the final config does not satisfy {link_id}'s config_schema: {text}",
            at=link_id,
            details={"errors": problems},
        )
