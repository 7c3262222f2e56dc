"""Over MCP a hint says what the agent can do (SPEC §10): an MCP call where there is one, and
"ask the operator" for what only the operator's CLI does — never a bare ``kiwi …`` to run."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from kiwi_mcp.kernel.faces.mcp.hints import for_mcp
from tests.faces.mcp.conftest import McpProject, envelope_of


@pytest.mark.parametrize(
    ("hint", "wanted"),
    [
        (
            "Run 'kiwi search <words>' to find the item's id.",
            'Call search(query: "<words>") to find the item\'s id.',
        ),
        (
            "Run 'kiwi show tool greet' to see its parameters.",
            'Call load(item_type: "tool", item_id: "greet") to see its parameters.',
        ),
        (
            "Check the executor_id of the last link shown; run 'kiwi resolve x'.",
            "Check the executor_id of the last link shown; "
            'Call execute(item_type: "tool", item_id: "x", dry_run: true).',
        ),
        ("Run 'kiwi --help' for usage.", "Call help() for usage."),
    ],
)
def test_a_command_with_an_mcp_call_becomes_that_call(hint: str, wanted: str) -> None:
    assert for_mcp(hint) == wanted


@pytest.mark.parametrize(
    "hint",
    [
        "Sign it with 'kiwi sign tool greet', or run with KIWI_VERIFY=hash.",
        "Trust the signer with 'kiwi trust add <public-key-file>'.",
        "Re-freeze with 'kiwi lockfile freeze greet'.",
        "Run 'kiwi auth signin weather'.",
    ],
)
def test_an_operator_command_is_kept_and_the_hint_says_to_ask_the_operator(hint: str) -> None:
    text = for_mcp(hint)
    assert text is not None and text.endswith(hint)
    assert text.startswith("Only the operator can do this")


def test_hints_without_a_command_or_already_for_the_operator_stay_as_they_are() -> None:
    plain = "Use one of: overview, tools."
    operator = "Signing is the operator's act: ask the operator to run 'kiwi sign tool x'."
    assert for_mcp(plain) == plain
    assert for_mcp(operator) == operator
    assert for_mcp(None) is None


def _call(project: McpProject, arguments: dict[str, Any]) -> tuple[dict[str, Any], str]:
    async def main() -> tuple[dict[str, Any], str]:
        async with Client(project.stdio(), read_timeout_seconds=60) as client:
            result = await client.call_tool("execute", arguments)
            return envelope_of(result), result.content[0].text  # type: ignore[union-attr]

    return anyio.run(main)


def test_over_mcp_a_missing_tool_hints_the_search_call(mcp_project: McpProject) -> None:
    envelope, text = _call(mcp_project, {"item_type": "tool", "item_id": "no-such-tool"})
    assert envelope["error"]["code"] == "ITEM_NOT_FOUND"
    assert "search(query:" in envelope["error"]["hint"]
    assert "'kiwi " not in text and "search(query:" in text


def test_over_mcp_an_unsigned_tool_hints_asking_the_operator(mcp_project: McpProject) -> None:
    mcp_project.write(
        "tools/fresh.yaml",
        "version: '1.0.0'\nexecutor_id: primitives/subprocess\n"
        "description: Not signed yet\nconfig: {command: 'true'}\n",
    )
    mcp_project.env["KIWI_VERIFY"] = "signed"
    envelope, text = _call(mcp_project, {"item_type": "tool", "item_id": "fresh"})
    assert envelope["error"]["code"] == "SIGNATURE_MISSING"
    assert envelope["error"]["hint"].startswith("Only the operator can do this")
    assert "operator" in text
