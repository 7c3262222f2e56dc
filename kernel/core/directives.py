"""A directive's instructions in inline mode, and a knowledge entry, as result data. Pure.

Inline mode hands the calling agent the directive's process text with ``${inputs.x}``
filled in from the call's inputs; the agent follows it itself. ``$${`` stands for a
literal ``${``; any other ``${…}`` (shell examples, tool templates) is left as written
(``text_templates.render_instructions`` does the rendering).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kiwi_mcp.kernel.core import text_templates
from kiwi_mcp.kernel.core.items import Directive, DirectiveInput, Knowledge
from kiwi_mcp.kernel.errors import ParamsInvalid

__all__ = ["check_inputs", "directive_data", "knowledge_data", "render_instructions"]

_CHECKS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "string": (str, "a string"),
    "integer": (int, "an integer"),
    "number": ((int, float), "a number"),
    "boolean": (bool, "true or false"),
    "array": (list, "an array"),
    "object": (dict, "an object"),
}


def _type_problem(entry: DirectiveInput, value: Any) -> str | None:
    check = _CHECKS.get(entry.type)
    if check is None:
        return None  # a type this face does not know is the directive's business
    wanted, words = check
    is_bool = isinstance(value, bool)
    if (entry.type in ("integer", "number") and is_bool) or not isinstance(value, wanted):
        return f"expected {words}, got {json.dumps(value, default=str)[:60]}"
    return None


def check_inputs(directive: Directive, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs to use: the given ones checked, defaults filled in.

    Raises:
        ParamsInvalid: an unknown input, a missing required one, or a value of the wrong
            type; each is named (``inputs.topic``) in the message and ``details.errors``.
    """
    declared = {entry.name: entry for entry in directive.inputs}
    problems: list[dict[str, str]] = []
    for name in inputs:
        if name not in declared:
            allowed = ", ".join(declared) or "none"
            problems.append(
                {"path": f"inputs.{name}", "problem": f"unknown input (declared: {allowed})"}
            )
    resolved: dict[str, Any] = {}
    for name, entry in declared.items():
        if name in inputs:
            problem = _type_problem(entry, inputs[name])
            if problem:
                problems.append({"path": f"inputs.{name}", "problem": problem})
            resolved[name] = inputs[name]
        elif entry.default is not None:
            resolved[name] = entry.default
        elif entry.required:
            problems.append({"path": f"inputs.{name}", "problem": "required but missing"})
    if problems:
        text = "; ".join(f"{p['path']}: {p['problem']}" for p in problems)
        raise ParamsInvalid(
            f"invalid inputs for directive {directive.id}: {text}",
            item_id=directive.id,
            hint=f"Pass the directive's inputs in 'parameters'; load directive {directive.id} "
            "to see them.",
            details={"errors": problems},
        )
    return resolved


def render_instructions(directive: Directive, inputs: Mapping[str, Any]) -> str:
    """The process text with ``${inputs.x}`` replaced (an optional input left out → empty).

    Raises:
        TemplateError: the text names an input the directive does not declare.
    """
    return text_templates.render_instructions(
        directive.process,
        inputs,
        declared={entry.name for entry in directive.inputs},
        directive_id=directive.id,
    )


def directive_data(directive: Directive, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``data`` of an inline directive execution.

    Raises:
        ParamsInvalid, TemplateError: see ``check_inputs`` and ``render_instructions``.
    """
    resolved = check_inputs(directive, inputs)
    return {
        "kind": "directive",
        "id": directive.id,
        "mode": "inline",
        "description": directive.description,
        "inputs": resolved,
        "instructions": render_instructions(directive, resolved),
        "outputs": list(directive.outputs),
        "permissions": [{"tag": tag, **dict(attrs)} for tag, attrs in directive.permissions],
        "model": dict(directive.model) if directive.model else None,
        "limits": dict(directive.limits),
    }


def knowledge_data(entry: Knowledge) -> dict[str, Any]:
    """The ``data`` of executing a knowledge entry: the entry itself."""
    return {"kind": "knowledge", "id": entry.id, "entry": entry.to_dict()}
