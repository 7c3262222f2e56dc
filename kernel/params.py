"""Caller params: defaults and JSON Schema validation (SPEC §5.2). Pure.

Validators are compiled once per schema and cached by the schema's canonical JSON.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from kernel.errors import ConfigInvalid, ParamsInvalid, ParseError

__all__ = ["apply_defaults", "check_config", "validate_params", "validator_for"]

_validators: dict[str, Draft202012Validator] = {}


def validator_for(schema: Mapping[str, Any], label: str) -> Draft202012Validator:
    """A compiled validator for ``schema``.

    Raises:
        ParseError: the schema itself is not valid JSON Schema 2020-12.
    """
    key = json.dumps(schema, sort_keys=True, default=str)
    found = _validators.get(key)
    if found is None:
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
    problems = _problems(validator_for(schema, label), filled, "params")
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
    problems = _problems(validator_for(schema, label), config, "config")
    if problems:
        text = "; ".join(f"{p['path']}: {p['problem']}" for p in problems)
        raise ConfigInvalid(
            f"the final config does not satisfy {link_id}'s config_schema: {text}",
            at=link_id,
            details={"errors": problems},
        )
