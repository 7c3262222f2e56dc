"""Checking a tool call's arguments against its input schema, with messages that say what to fix.

Each problem names the argument (``arguments.limit``) and what was wanted (``an integer ≥ 1,
got 0``), so an agent can correct the call without reading the schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.schemafast import Check, compile_schema, passes
from kiwi_mcp.kernel.errors import UsageError
from kiwi_mcp.kernel.faces.mcp.schemas import ToolSpec

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

__all__ = ["check_arguments"]

_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "an array",
    "null": "null",
}
_validators: dict[str, Draft202012Validator] = {}
_checks: dict[str, Check | None] = {}
_default_lists: dict[str, list[tuple[str, Any]]] = {}


def _valid(spec: ToolSpec, arguments: Mapping[str, Any]) -> bool:
    """The compiled fast path: ``True`` means jsonschema would find no problem either."""
    if spec.name not in _checks:
        _checks[spec.name] = compile_schema(dict(spec.input_schema))
    return passes(_checks[spec.name], arguments)


def _validator(spec: ToolSpec) -> Draft202012Validator:
    found = _validators.get(spec.name)
    if found is None:
        # Imported on first use: jsonschema is not needed to start the server and list tools.
        from jsonschema import Draft202012Validator
        from referencing import Registry

        # an empty registry: a schema's $ref is never fetched (exposed tools' parameters)
        found = Draft202012Validator(dict(spec.input_schema), registry=Registry())
        _validators[spec.name] = found
    return found


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _wanted(error: ValidationError) -> str:
    """What the schema wanted, in words."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    kind = error.validator
    value: Any = error.validator_value
    if kind == "type":
        names = value if isinstance(value, list) else [value]
        return " or ".join(_JSON_TYPES.get(str(n), str(n)) for n in names)
    if kind == "enum":
        return "one of " + ", ".join(_shown(v) for v in value)
    if kind == "minimum":
        return f"{_JSON_TYPES.get(str(schema.get('type')), 'a number')} ≥ {value}"
    if kind == "maximum":
        return f"{_JSON_TYPES.get(str(schema.get('type')), 'a number')} ≤ {value}"
    if kind == "minLength":
        return "a non-empty string" if value == 1 else f"a string of at least {value} characters"
    if kind == "maxLength":
        return f"a string of at most {value} characters"
    return str(error.message)


def _problems(
    validator: Draft202012Validator, arguments: Mapping[str, Any]
) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    errors = sorted(validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.path])
    for error in errors:
        field = ".".join(["arguments", *(str(p) for p in error.absolute_path)])
        if error.validator == "required" and isinstance(error.instance, Mapping):
            for name in error.validator_value:
                if name not in error.instance:
                    problems.append({"field": f"{field}.{name}", "problem": "required but missing"})
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            known = (
                sorted(error.schema.get("properties", {}))
                if isinstance(error.schema, Mapping)
                else []
            )
            for name in error.instance:
                if name not in known:
                    problems.append(
                        {
                            "field": f"{field}.{name}",
                            "problem": f"unknown argument (allowed: {', '.join(known)})",
                        }
                    )
            continue
        if error.validator == "maxLength":
            got = f"{len(error.instance)} characters" if isinstance(error.instance, str) else ""
        else:
            got = _shown(error.instance)
        problems.append({"field": field, "problem": f"expected {_wanted(error)}, got {got}"})
    return problems


def check_arguments(spec: ToolSpec, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``arguments`` for ``spec`` and return them with schema defaults filled in.

    Raises:
        UsageError: one or more arguments are wrong; the message names each one and what
            was wanted, ``details.errors`` lists them as ``{field, problem}``.
    """
    given = dict(arguments or {})
    if given.get("destination") == "system" and spec.name == "load":
        raise UsageError(
            "arguments.destination: the system space is read-only (it ships with Kiwi)",
            hint="Copy into 'project' or 'user', then edit and sign the copy there; "
            "a project item shadows the system item of the same id.",
            details={"errors": [{"field": "arguments.destination", "problem": "read-only"}]},
        )
    problems = [] if _valid(spec, given) else _problems(_validator(spec), given)
    if problems:
        text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise UsageError(
            f"bad arguments for '{spec.name}': {text}",
            hint=f"Fix the arguments named above; call 'help' with topic '{spec.name}' "
            "for examples.",
            details={"errors": problems},
        )
    for name, default in _defaults(spec):
        if name not in given:
            # Scalars are shared as they are; a container is copied for each call.
            given[name] = default if not isinstance(default, dict | list) else _copy(default)
    return given


def _defaults(spec: ToolSpec) -> list[tuple[str, Any]]:
    found = _default_lists.get(spec.name)
    if found is None:
        properties = spec.input_schema.get("properties", {})
        found = [
            (name, schema["default"])
            for name, schema in properties.items()
            if isinstance(schema, Mapping) and "default" in schema
        ]
        _default_lists[spec.name] = found
    return found


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))
