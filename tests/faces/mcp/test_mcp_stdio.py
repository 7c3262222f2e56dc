"""``kiwi serve`` over a real stdio subprocess, driven by the official SDK client."""

from __future__ import annotations

import json
import os
import select
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.faces.mcp.conftest import McpProject, envelope_of
from tests.support.http_server import LoopbackServer, Response


def run_client(
    project: McpProject, body: Callable[[Client], Awaitable[Any]], mode: str = "auto"
) -> Any:
    async def main() -> Any:
        async with Client(project.stdio(), read_timeout_seconds=60, mode=mode) as client:
            return await body(client)

    return anyio.run(main)


def test_tools_list_offers_the_five_tools_with_closed_schemas(mcp_project: McpProject) -> None:
    async def body(client: Client) -> Any:
        return await client.list_tools()

    listed = run_client(mcp_project, body)
    assert [tool.name for tool in listed.tools] == ["search", "load", "execute", "sign", "help"]
    for tool in listed.tools:
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False
        assert tool.output_schema is not None
    execute = next(tool for tool in listed.tools if tool.name == "execute")
    assert execute.input_schema["required"] == ["item_type", "item_id"]
    assert set(execute.input_schema["properties"]) == {
        "item_type",
        "item_id",
        "parameters",
        "dry_run",
        "thread",
        "project_path",
    }


def test_a_signed_python_tool_runs_and_its_prints_stay_off_the_channel(
    mcp_project: McpProject,
) -> None:
    async def body(client: Client) -> Any:
        return await client.call_tool(
            "execute", {"item_type": "tool", "item_id": "greet", "parameters": {"name": "Ada"}}
        )

    envelope = envelope_of(run_client(mcp_project, body))
    assert envelope["ok"] is True
    assert envelope["data"] == {"greeting": "Hello, Ada!"}
    assert envelope["meta"]["chain"] == ["greet", "runtimes/python", "primitives/subprocess"]
    assert "never onto the MCP channel" in envelope["meta"]["process"]["stderr"]
    # SPEC §10: meta holds what a model can use, never an absolute path or response headers
    assert set(envelope["meta"]) <= {"chain", "primitive", "duration_ms", "lockfile", "process"}


def test_an_http_tool_calls_the_loopback_server_and_search_finds_it(
    mcp_project: McpProject,
) -> None:
    with LoopbackServer() as server:
        server.route("GET", "/weather", Response.json({"temp": 21, "unit": "C"}))

        async def body(client: Client) -> Any:
            found = await client.call_tool("search", {"query": "weather", "item_type": "tool"})
            ran = await client.call_tool(
                "execute",
                {
                    "item_type": "tool",
                    "item_id": "weather",
                    "parameters": {"base": server.url, "city": "Oslo"},
                },
            )
            return found, ran

        found, ran = run_client(mcp_project, body)
        assert [r.query for r in server.requests] == [{"city": "Oslo"}]
    hits = envelope_of(found)["data"]["hits"]
    assert hits[0]["id"] == "weather"
    assert hits[0]["space"] == "project"
    envelope = envelope_of(ran)
    assert envelope["data"] == {"temp": 21, "unit": "C"}
    assert envelope["meta"]["http"]["status"] == 200
    assert "headers" not in envelope["meta"]["http"]  # SPEC §10: trimmed for a model


def test_bad_arguments_and_unknown_ids_are_error_results_with_codes(
    mcp_project: McpProject,
) -> None:
    async def body(client: Client) -> Any:
        bad = await client.call_tool("search", {"query": "x", "limit": 0, "colour": "red"})
        missing = await client.call_tool("execute", {"item_type": "tool", "item_id": "no-such"})
        return bad, missing

    bad, missing = run_client(mcp_project, body)
    error = envelope_of(bad)["error"]
    assert error["code"] == "USAGE_ERROR"
    assert error["message"] == (
        "bad arguments for 'search': arguments.colour: unknown argument (allowed: item_type, "
        "limit, mode, project_path, query, source); arguments.limit: expected an integer ≥ 1, "
        "got 0"
    )
    error = envelope_of(missing)["error"]
    assert error["code"] == "ITEM_NOT_FOUND"
    assert error["message"] == "no tool 'no-such' in the project/user/system spaces"


def test_an_unknown_tool_name_is_a_protocol_error(mcp_project: McpProject) -> None:
    async def body(client: Client) -> Any:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("delete_everything", {})
        return caught.value

    error = run_client(mcp_project, body)
    assert error.error.code == -32602
    assert error.error.message == "Unknown tool: 'delete_everything'"


# "auto" speaks the newest protocol era; "legacy" the initialize handshake most hosts use.
ERAS = pytest.mark.parametrize("mode", ["auto", "legacy"])


@ERAS
def test_a_streaming_tool_reports_each_line_as_progress(mcp_project: McpProject, mode: str) -> None:
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async def body(client: Client) -> Any:
        return await client.call_tool(
            "execute", {"item_type": "tool", "item_id": "streamer"}, progress_callback=on_progress
        )

    envelope = envelope_of(run_client(mcp_project, body, mode))
    assert envelope["ok"] is True
    assert envelope["data"] == {"stdout": "line 0\nline 1\nline 2\n"}
    assert seen == [(1.0, "line 0"), (2.0, "line 1"), (3.0, "line 2")]


def _wait_gone(pid: int, timeout: float) -> bool:
    """True once ``pid`` has exited (a pidfd becomes readable) within ``timeout``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@ERAS
def test_cancelling_a_call_kills_the_tool_and_its_children(
    mcp_project: McpProject, mode: str
) -> None:
    pids: dict[str, int] = {}

    async def body(client: Client) -> Any:
        started = anyio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            pids.update(json.loads(message or "{}"))
            started.set()

        async def call(scope: anyio.CancelScope) -> None:
            with scope:
                await client.call_tool(
                    "execute",
                    {"item_type": "tool", "item_id": "sleeper"},
                    progress_callback=on_progress,
                )

        scope = anyio.CancelScope()
        async with anyio.create_task_group() as group:
            group.start_soon(call, scope)
            with anyio.fail_after(30):
                await started.wait()
            scope.cancel()
        # While the server still runs (no EOF yet), the tool and its child both exit.
        gone = [
            await anyio.to_thread.run_sync(_wait_gone, pids[name], 20.0)
            for name in ("pid", "child")
        ]
        # And the server answers the next call.
        return gone, await client.list_tools()

    try:
        gone, listed = run_client(mcp_project, body, mode)
        assert gone == [True, True], "the tool or its child survived the cancellation"
        assert not _running(pids["pid"])
        assert not _running(pids["child"])
        assert len(listed.tools) == 5
    finally:
        for pid in pids.values():
            if _running(pid):
                os.kill(pid, 9)
