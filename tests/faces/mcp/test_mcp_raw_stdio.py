"""Raw JSON-RPC over ``kiwi serve``'s pipes: bad input never kills the server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.faces.mcp.conftest import KIWI, Lines, McpProject


class RawServer:
    """``kiwi serve`` on stdio with its pipes in the test's hands."""

    def __init__(self, project: McpProject) -> None:
        self.process = subprocess.Popen(
            [KIWI, "--project", str(project.root), "serve"],
            env=project.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stdout = Lines(self.process.stdout)
        self.stderr = Lines(self.process.stderr)

    def send_line(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data + b"\n")
        self.process.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_line(json.dumps(message).encode())

    def receive(self) -> dict[str, Any]:
        line = self.stdout.next(timeout=30)
        assert line, "the server closed stdout"
        message: dict[str, Any] = json.loads(line)  # every stdout line is one JSON-RPC message
        return message

    def request(
        self, id_: int, method: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        self.send({"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {}})
        return self.receive()


@pytest.fixture
def raw(mcp_project: McpProject) -> Iterator[RawServer]:
    server = RawServer(mcp_project)
    try:
        answer = server.request(
            1,
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "1"},
            },
        )
        assert answer["id"] == 1
        assert answer["result"]["serverInfo"]["name"] == "kiwi"
        server.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(timeout=15)


def test_a_garbage_line_gets_a_parse_error_and_the_next_request_is_answered(
    raw: RawServer,
) -> None:
    raw.send_line(b"this is not json {")
    error = raw.receive()
    assert error == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error: the line is not JSON"},
    }
    raw.send_line(b'{"hello": "world"}')
    assert raw.receive()["error"]["code"] == -32600
    answer = raw.request(2, "tools/list")
    assert answer["id"] == 2
    assert len(answer["result"]["tools"]) == 5


def test_an_unknown_method_is_method_not_found_and_the_server_goes_on(raw: RawServer) -> None:
    answer = raw.request(2, "tools/destroy")
    assert answer["id"] == 2
    assert answer["error"]["code"] == -32601
    answer = raw.request(3, "ping")
    assert answer == {"jsonrpc": "2.0", "id": 3, "result": {}}


def test_a_huge_request_is_refused_by_the_schema_and_the_server_goes_on(raw: RawServer) -> None:
    query = "word " * 1_000_000  # 5 MB on one line
    answer = raw.request(2, "tools/call", {"name": "search", "arguments": {"query": query}})
    assert answer["id"] == 2
    result = answer["result"]
    assert result["isError"] is True
    assert result["structuredContent"]["error"]["message"] == (
        "bad arguments for 'search': arguments.query: expected a string of at most 1000 "
        "characters, got 5000000 characters"
    )
    answer = raw.request(3, "tools/call", {"name": "help", "arguments": {}})
    assert answer["result"]["structuredContent"]["data"]["topic"] == "overview"


def test_a_tool_run_prints_nothing_but_json_rpc_on_stdout(raw: RawServer) -> None:
    arguments = {"item_type": "tool", "item_id": "greet", "parameters": {"name": "Ada"}}
    answer = raw.request(2, "tools/call", {"name": "execute", "arguments": arguments})
    assert answer["result"]["structuredContent"]["data"] == {"greeting": "Hello, Ada!"}
    answer = raw.request(3, "ping")  # receive() already parsed every line as JSON
    assert answer["id"] == 3


def test_the_server_exits_when_stdin_closes(raw: RawServer) -> None:
    assert raw.process.stdin is not None
    raw.process.stdin.close()
    assert raw.process.wait(timeout=20) == 0
    assert raw.stdout.next(timeout=5) == b""
