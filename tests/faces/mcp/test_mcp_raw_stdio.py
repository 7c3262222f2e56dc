"""Raw JSON-RPC over ``kiwi serve``'s pipes: bad input never kills the server."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faces.mcp.conftest import KIWI, Lines, McpProject
from tests.faces.mcp.jsonrpc_cases import INVALID, MALFORMED_LINES, PARSE_ERROR


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

    def receive(self) -> Any:
        line = self.stdout.next(timeout=30)
        assert line, "the server closed stdout"
        return json.loads(line)  # every stdout line is one JSON-RPC message (or a batch's answer)

    def request(
        self, id_: int, method: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        self.send({"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {}})
        answer: dict[str, Any] = self.receive()
        return answer


def _initialized(server: RawServer) -> RawServer:
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
    return server


@pytest.fixture
def raw(mcp_project: McpProject) -> Iterator[RawServer]:
    server = RawServer(mcp_project)
    try:
        yield _initialized(server)
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


@pytest.fixture(scope="module")
def shared_raw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    """One server for the table below: bad lines need no items, only a live server."""
    base = tmp_path_factory.mktemp("raw")
    (base / "project" / ".ai").mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base),
        "KIWI_USER_SPACE": str(base / "user"),
        "KIWI_AUTH_BACKEND": "file",
        "KIWI_WARM": "0",  # in-process: tests/faces/cli/test_warm.py runs the warm process
    }
    server = RawServer(McpProject(root=base / "project", user=base / "user", env=env))
    try:
        yield _initialized(server)
    finally:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(timeout=15)


_pings = itertools.count(10_000)


def answers_before_a_ping(server: RawServer, line: bytes) -> list[Any]:
    """What the server writes for ``line``: everything before the answer to a ping sent after it.

    The ping makes silence visible (an empty list) instead of a hang.
    """
    server.send_line(line)
    ping = next(_pings)
    server.send({"jsonrpc": "2.0", "id": ping, "method": "ping"})
    seen: list[Any] = []
    while (message := server.receive()) != {"jsonrpc": "2.0", "id": ping, "result": {}}:
        seen.append(message)
    return seen


@pytest.mark.parametrize(
    ("line", "owed"), MALFORMED_LINES, ids=[c[0].decode(errors="replace") for c in MALFORMED_LINES]
)
def test_a_line_with_a_bad_shape_is_answered_once_with_its_own_id_or_null(
    shared_raw: RawServer, line: bytes, owed: str | int | None
) -> None:
    answers = answers_before_a_ping(shared_raw, line)
    assert len(answers) == 1, answers
    assert answers[0]["id"] == owed
    assert type(answers[0]["id"]) is type(owed)
    assert answers[0]["error"]["code"] == INVALID


def test_a_request_with_a_bad_shape_is_answered_with_its_own_id(shared_raw: RawServer) -> None:
    answers = answers_before_a_ping(shared_raw, b'{"jsonrpc":"2.0","id":7,"method":5}')
    assert answers == [
        {
            "jsonrpc": "2.0",
            "id": 7,
            "error": {"code": INVALID, "message": 'Invalid Request: "method" must be a string'},
        }
    ]


def test_an_id_of_the_wrong_type_is_answered_with_null_and_never_run(
    shared_raw: RawServer,
) -> None:
    # The SDK's notification model ignores an unknown member, so this used to run silently.
    line = b'{"jsonrpc":"2.0","id":1.5,"method":"tools/call","params":{"name":"help"}}'
    assert answers_before_a_ping(shared_raw, line) == [
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": INVALID,
                "message": 'Invalid Request: "id" must be a string or an integer',
            },
        }
    ]


def test_a_batch_is_refused_with_one_answer_per_element_owed_one(shared_raw: RawServer) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "b", "method": 5},
        {"jsonrpc": "2.0", "id": True, "method": "ping"},
        7,
    ]
    answers = answers_before_a_ping(shared_raw, json.dumps(batch).encode())
    assert len(answers) == 1
    (array,) = answers
    assert isinstance(array, list)
    assert [(a["id"], a["error"]["code"]) for a in array] == [
        (1, INVALID),
        ("b", INVALID),
        (None, INVALID),
        (None, INVALID),
    ]
    assert "batches" in array[0]["error"]["message"]


def test_a_batch_of_notifications_still_gets_one_answer(shared_raw: RawServer) -> None:
    batch = [{"jsonrpc": "2.0", "method": "notifications/initialized"}]
    answers = answers_before_a_ping(shared_raw, json.dumps(batch).encode())
    assert [(a["id"], a["error"]["code"]) for a in answers] == [(None, INVALID)]


@pytest.mark.parametrize("line", [b"", b"   ", b"\t", b"\r"])
def test_a_blank_line_is_ignored_and_the_server_reads_on(
    shared_raw: RawServer, line: bytes
) -> None:
    assert answers_before_a_ping(shared_raw, line) == []


def test_a_line_that_is_not_json_is_a_parse_error_with_id_null(shared_raw: RawServer) -> None:
    for line in (b'{"id":"\\ud800"}', b"NaN", b'{"method":"ping"'):
        answers = answers_before_a_ping(shared_raw, line)
        assert [(a["id"], a["error"]["code"]) for a in answers] == [(None, PARSE_ERROR)], line


@pytest.mark.parametrize(
    "line",
    [
        b'{"jsonrpc":"2.0","id":7,"method":"ping"',
        b'{"jsonrpc":"2.0","id":7,"method":"ping","params":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"jsonrpc":"2.0","id":7,"method":"ping","params":{"a":"\\ud800"}}',
        b'{"jsonrpc":"2.0","method":"ping","params":{"n":' + b"9" * 5000 + b'},"id":7}',
    ],
    ids=["cut-short", "too-deep", "lone-surrogate", "long-number"],
)
def test_a_line_the_parser_refuses_is_still_answered_with_its_readable_id(
    shared_raw: RawServer, line: bytes
) -> None:
    answers = answers_before_a_ping(shared_raw, line)
    assert [(a["id"], a["error"]["code"]) for a in answers] == [(7, PARSE_ERROR)]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_while_serving_fd_0_reads_nothing_and_fd_1_is_stderr(shared_raw: RawServer) -> None:
    # What keeps a stray read or print (ours or a child's) off the MCP channel.
    fds = Path(f"/proc/{shared_raw.process.pid}/fd")
    assert os.readlink(fds / "0") == os.devnull
    assert os.readlink(fds / "1") == os.readlink(fds / "2")
