"""What ``kiwi serve`` advertises, seen by the official SDK client over stdio.

Kiwi sends no log messages to clients (it logs to stderr or ``KIWI_LOG_FILE``), so it does
not advertise ``logging`` and has no ``logging/setLevel`` handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.faces.mcp.conftest import McpProject


def run_client(
    project: McpProject, body: Callable[[Client], Awaitable[Any]], mode: str = "legacy"
) -> Any:
    async def main() -> Any:
        async with Client(project.stdio(), read_timeout_seconds=60, mode=mode) as client:
            return await body(client)

    return anyio.run(main)


def test_initialize_advertises_tools_prompts_and_resources_but_not_logging(
    mcp_project: McpProject,
) -> None:
    async def body(client: Client) -> Any:
        initialized = client.session.initialize_result
        templates = await client.list_resource_templates()
        return initialized, templates

    initialized, templates = run_client(mcp_project, body)
    assert initialized is not None
    capabilities = initialized.capabilities
    assert capabilities.tools is not None
    assert capabilities.prompts is not None
    assert capabilities.resources is not None
    assert capabilities.logging is None
    # every knowledge entry is a concrete resource, so the template list answers, empty
    assert templates.resource_templates == []


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_no_protocol_era_advertises_logging(mcp_project: McpProject, mode: str) -> None:
    async def body(client: Client) -> Any:
        return client.server_capabilities

    capabilities = run_client(mcp_project, body, mode=mode)
    assert capabilities.tools is not None
    assert capabilities.logging is None


def test_logging_set_level_is_method_not_found(mcp_project: McpProject) -> None:
    async def body(client: Client) -> Any:
        request = types.SetLevelRequest(params=types.SetLevelRequestParams(level="debug"))
        with pytest.raises(MCPError) as caught:
            await client.session.send_request(request, types.EmptyResult)
        return caught.value

    error = run_client(mcp_project, body)
    assert error.error.code == types.METHOD_NOT_FOUND
