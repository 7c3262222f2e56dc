"""Argument checking and inline directive rendering: pure functions, no server."""

from __future__ import annotations

from typing import Any

import pytest

from kiwi_mcp.kernel.core.directives import directive_data, render_instructions
from kiwi_mcp.kernel.core.items import Directive, DirectiveInput
from kiwi_mcp.kernel.errors import ParamsInvalid, TemplateError, UsageError
from kiwi_mcp.kernel.faces.mcp.arguments import check_arguments
from kiwi_mcp.kernel.faces.mcp.schemas import TOOL_SPECS, tool_spec


def spec(name: str) -> Any:
    found = tool_spec(name)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        (
            "load",
            {"item_type": "script", "item_id": "x"},
            'arguments.item_type: expected one of "tool", "directive", "knowledge", got "script"',
        ),
        ("load", {"item_type": "tool"}, "arguments.item_id: required but missing"),
        (
            "execute",
            {"item_type": "tool", "item_id": ""},
            'arguments.item_id: expected a non-empty string, got ""',
        ),
        (
            "execute",
            {"item_type": "tool", "item_id": "x", "parameters": [1]},
            "arguments.parameters: expected an object, got [1]",
        ),
        (
            "search",
            {"query": "x", "limit": 101},
            "arguments.limit: expected an integer ≤ 100, got 101",
        ),
        (
            "help",
            {"action": "panic"},
            'arguments.action: expected one of "stuck", "escalate", "checkpoint", got "panic"',
        ),
    ],
)
def test_each_bad_argument_is_named_with_what_was_wanted(
    tool: str, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        check_arguments(spec(tool), arguments)
    assert caught.value.message == f"bad arguments for '{tool}': {message}"
    assert caught.value.details["errors"][0]["field"] == message.split(":")[0]


def test_defaults_are_filled_in_and_given_values_kept() -> None:
    checked = check_arguments(spec("execute"), {"item_type": "tool", "item_id": "a/b"})
    assert checked == {
        "item_type": "tool",
        "item_id": "a/b",
        "parameters": {},
        "dry_run": False,
        "thread": False,
    }
    assert check_arguments(spec("search"), {"query": "q", "limit": 3})["limit"] == 3


def test_every_schema_is_closed_and_every_required_field_is_declared() -> None:
    for tool in TOOL_SPECS:
        schema = tool.input_schema
        assert schema["additionalProperties"] is False
        assert set(schema.get("required", ())) <= set(schema["properties"])


DIRECTIVE = Directive(
    id="ops/deploy",
    name="deploy",
    version="1.0.0",
    description="Deploy",
    category="ops",
    author="",
    model=None,
    permissions=(),
    limits={},
    inputs=(
        DirectiveInput(name="env", type="string", required=True, default=None, description=""),
        DirectiveInput(name="hosts", type="array", required=False, default=None, description=""),
    ),
    outputs=(),
    process="Deploy to ${inputs.env} on ${inputs.hosts}; keep $${inputs.env} and ${PATH}.\n",
)


def test_instructions_fill_inputs_and_keep_other_placeholders() -> None:
    text = render_instructions(DIRECTIVE, {"env": "prod", "hosts": ["a", "b"]})
    assert text == 'Deploy to prod on ["a", "b"]; keep ${inputs.env} and ${PATH}.\n'


def test_a_placeholder_for_an_undeclared_input_is_a_template_error() -> None:
    broken = Directive(**{**_fields(DIRECTIVE), "process": "Use ${inputs.region}.\n"})
    with pytest.raises(TemplateError) as caught:
        render_instructions(broken, {})
    assert caught.value.message == (
        "directive ops/deploy uses ${inputs.region} but declares no input 'region'"
    )


def test_inputs_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(ParamsInvalid) as caught:
        directive_data(DIRECTIVE, {"env": "prod", "hosts": "a,b"})
    assert caught.value.details["errors"] == [
        {"path": "inputs.hosts", "problem": 'expected an array, got "a,b"'}
    ]


def _fields(directive: Directive) -> dict[str, Any]:
    return {name: getattr(directive, name) for name in Directive.__dataclass_fields__}
