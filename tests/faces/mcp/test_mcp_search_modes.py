"""MCP ``search`` over the indexes (SPEC §10, §15): ``mode``, only verified items, shadowing."""

from __future__ import annotations

from typing import Any

import anyio
from mcp import Client

from kiwi_mcp.kernel.faces.mcp.server import build_server
from tests.faces.mcp.conftest import McpProject, envelope_of

FORECAST = """\
version: "1.0.0"
executor_id: primitives/subprocess
description: Tell tomorrow's weather forecast for a city
config: {command: echo, args: [sunny]}
"""


def search(project: McpProject, **arguments: Any) -> dict[str, Any]:
    async def main() -> Any:
        async with Client(build_server(project.contexts())) as client:
            return await client.call_tool("search", arguments)

    return envelope_of(anyio.run(main))


def test_each_mode_answers_and_an_unsigned_copy_is_never_a_hit(mcp_project: McpProject) -> None:
    mcp_project.write("tools/forecast.yaml", FORECAST)
    mcp_project.sign_all()
    mcp_project.write("tools/unsigned_forecast.yaml", FORECAST)
    for mode in ("hybrid", "keyword", "semantic"):
        envelope = search(mcp_project, query="forecast for tomorrow", mode=mode)
        hits = envelope["data"]["hits"]
        assert hits[0]["id"] == "forecast", mode
        assert hits[0]["space"] == "project" and hits[0]["signed"] is True
        assert "unsigned_forecast" not in {h["id"] for h in hits}, mode
    bad = search(mcp_project, query="x", mode="fuzzy")
    assert bad["error"]["code"] == "USAGE_ERROR"
    assert "arguments.mode" in bad["error"]["message"]
