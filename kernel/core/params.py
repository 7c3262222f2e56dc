"""Caller params: defaults and JSON Schema validation (SPEC §5.2). Pure.

Each schema is compiled once by ``kiwi_mcp.kernel.core.schemafast`` into a validity
predicate, cached by the schema object's identity: schemas are parts of memoized parsed
items and are never mutated, and
the cache holds a reference to each so an id is not reused while its entry lives. A valid value
costs only that predicate. jsonschema is imported only to say what is wrong with an invalid
value, or for a schema outside the compiled subset; its validators are cached by the schema's
canonical JSON.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.schemafast import Check, compile_schema, passes
from kiwi_mcp.kernel.errors import ConfigInvalid, ParamsInvalid, ParseError

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

__all__ = ["apply_defaults", "check_config", "validate_params", "validator_for"]

_validators: dict[str, Draft202012Validator] = {}
_Compiled = tuple[Mapping[str, Any], Check | None, "Draft202012Validator | None"]
_compiled: dict[int, _Compiled] = {}
# Enough for every schema of every item a long-lived server sees; a caller building a fresh
# schema per call only costs a recompile after the reset.
_MAX_COMPILED = 4096


def validator_for(schema: Mapping[str, Any], label: str) -> Draft202012Validator:
    """A jsonschema validator for ``schema`` (imports jsonschema on first use).

    Raises:
        ParseError: the schema itself is not valid JSON Schema 2020-12.
    """
    key = json.dumps(schema, sort_keys=True, default=str)
    found = _validators.get(key)
    if found is None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = ".".join(str(p) for p in exc.path) or "(root)"
            raise ParseError(
                f"{label}: invalid JSON Schema at {where}: {exc.message}", at=label
            ) from None
        found = Draft202012Validator(schema)
        _validators[key] = found
    return found


def _compiled_for(schema: Mapping[str, Any], label: str) -> _Compiled:
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
    validator = validator_for(schema, label) if check is None else None
    if len(_compiled) >= _MAX_COMPILED:
        _compiled.clear()
    found = (schema, check, validator)
    _compiled[id(schema)] = found
    return found


def _problems_against(
    schema: Mapping[str, Any], value: Any, root: str, label: str
) -> list[dict[str, str]]:
    _, check, validator = _compiled_for(schema, label)
    if passes(check, value):
        return []
    if validator is None:
        validator = validator_for(schema, label)
    return _problems(validator, value, root)


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
    problems = _problems_against(schema, filled, "params", label)
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
    problems = _problems_against(schema, config, "config", label)
    if problems:
        text = "; ".join(f"{p['path']}: {p['problem']}" for p in problems)
        raise ConfigInvalid(
            f"the final config does not satisfy {link_id}'s config_schema: {text}",
            at=link_id,
            details={"errors": problems},
        )
