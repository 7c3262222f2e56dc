"""``kiwi serve --http`` on loopback, driven by the official SDK client and raw HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from kiwi_mcp.kernel.faces.mcp.transports import security_settings
from tests.faces.mcp.conftest import KIWI, Lines, ServedHttp, envelope_of
from tests.faces.mcp.jsonrpc_cases import INVALID, MALFORMED_LINES, PARSE_ERROR
from tests.support.http_server import LoopbackServer, Response

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-http", "version": "1"},
    },
}
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def test_the_sdk_client_lists_and_executes_over_streamable_http(served_http: ServedHttp) -> None:
    with LoopbackServer() as weather:
        weather.route("GET", "/weather", Response.json({"temp": 7}))

        async def main() -> Any:
            async with Client(served_http.url, read_timeout_seconds=60) as client:
                listed = await client.list_tools()
                greeted = await client.call_tool(
                    "execute",
                    {"item_type": "tool", "item_id": "greet", "parameters": {"name": "Bo"}},
                )
                forecast = await client.call_tool(
                    "execute",
                    {
                        "item_type": "tool",
                        "item_id": "weather",
                        "parameters": {"base": weather.url, "city": "Bergen"},
                    },
                )
                return listed, greeted, forecast

        listed, greeted, forecast = anyio.run(main)
    assert [tool.name for tool in listed.tools] == ["search", "load", "execute", "sign", "help"]
    assert envelope_of(greeted)["data"] == {"greeting": "Hello, Bo!"}
    assert envelope_of(forecast)["data"] == {"temp": 7}


def test_progress_reaches_an_http_client(served_http: ServedHttp) -> None:
    seen: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    async def main() -> Any:
        async with Client(served_http.url, read_timeout_seconds=60) as client:
            return await client.call_tool(
                "execute",
                {"item_type": "tool", "item_id": "streamer"},
                progress_callback=on_progress,
            )

    assert envelope_of(anyio.run(main))["ok"] is True
    assert seen == ["line 0", "line 1", "line 2"]


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({"Host": "evil.example.com"}, 421, "Invalid Host header"),
        ({"Origin": "http://evil.example.com"}, 403, "Invalid Origin header"),
    ],
)
def test_requests_with_a_foreign_host_or_origin_are_refused(
    served_http: ServedHttp, headers: dict[str, str], status: int, body: str
) -> None:
    answer = httpx.post(served_http.url, json=INITIALIZE, headers={**HEADERS, **headers})
    assert answer.status_code == status
    assert answer.text == body


def test_a_local_origin_is_accepted(served_http: ServedHttp) -> None:
    port = served_http.url.split(":")[2].split("/")[0]
    answer = httpx.post(
        served_http.url,
        json=INITIALIZE,
        headers={**HEADERS, "Origin": f"http://localhost:{port}"},
    )
    assert answer.status_code == 200
    assert "serverInfo" in answer.text


def test_binding_another_address_adds_it_to_the_allowed_hosts() -> None:
    settings = security_settings("10.1.2.3")
    assert settings.enable_dns_rebinding_protection is True
    assert "10.1.2.3:*" in settings.allowed_hosts
    assert "http://10.1.2.3:*" in settings.allowed_origins
    wildcard = security_settings("0.0.0.0")
    assert wildcard.allowed_hosts == ["127.0.0.1:*", "localhost:*", "[::1]:*"]


@pytest.fixture(scope="module")
def shared_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedHttp]:
    """One ``kiwi serve --http`` for the tables below: they need no items, only a live server."""
    base = tmp_path_factory.mktemp("http")
    (base / "project" / ".ai").mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base),
        "KIWI_USER_SPACE": str(base / "user"),
        "KIWI_AUTH_BACKEND": "file",
        "KIWI_WARM": "0",  # in-process: tests/faces/cli/test_warm.py runs the warm process
    }
    process = subprocess.Popen(
        [KIWI, "--project", str(base / "project"), "serve", "--http", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    lines = Lines(process.stderr)
    try:
        found = None
        while found is None:
            line = lines.next(timeout=30).decode()
            assert line, "kiwi serve --http exited before announcing its URL"
            found = re.search(r"at (http://127\.0\.0\.1:\d+/mcp)$", line.strip())
        yield ServedHttp(process=process, url=found.group(1), stderr=lines)
    finally:
        process.terminate()
        process.wait(timeout=15)


def _port(served: ServedHttp) -> int:
    return int(served.url.split(":")[2].split("/")[0])


def _post(served: ServedHttp, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(served.url, content=body, headers={**HEADERS, **(headers or {})}, timeout=30)


@pytest.mark.parametrize(
    ("body", "owed"),
    [case for case in MALFORMED_LINES if _is_utf8(case[0])],
    ids=[case[0].decode() for case in MALFORMED_LINES if _is_utf8(case[0])],
)
def test_a_post_body_with_a_bad_shape_is_answered_with_its_own_id_or_null(
    shared_http: ServedHttp, body: bytes, owed: str | int | None
) -> None:
    answer = _post(shared_http, body)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()
    assert error["id"] == owed
    assert type(error["id"]) is type(owed)
    assert error["error"]["code"] == INVALID


def test_a_post_with_an_id_of_the_wrong_type_is_refused_not_accepted_as_a_notification(
    shared_http: ServedHttp,
) -> None:
    answer = _post(shared_http, b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}')
    assert answer.status_code == 400
    assert answer.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": INVALID,
            "message": 'Invalid Request: "id" must be a string or an integer',
        },
    }


def test_a_posted_batch_is_refused_with_one_answer_per_request(shared_http: ServedHttp) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": "b", "method": 5},
    ]
    answer = _post(shared_http, json.dumps(batch).encode())
    assert answer.status_code == 400
    assert [(a["id"], a["error"]["code"]) for a in answer.json()] == [(1, INVALID), ("b", INVALID)]


@pytest.mark.parametrize("body", [b"", b"{", b'{"jsonrpc":"2.0","id":', b"\xff"])
def test_a_post_body_that_is_not_json_is_a_parse_error_with_id_null(
    shared_http: ServedHttp, body: bytes
) -> None:
    answer = _post(shared_http, body)
    assert answer.status_code == 400
    assert answer.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": PARSE_ERROR, "message": "Parse error: the body is not JSON"},
    }


def test_a_post_body_the_parser_refuses_is_still_answered_with_its_readable_id(
    shared_http: ServedHttp,
) -> None:
    body = b'{"jsonrpc":"2.0","id":"deep","method":"ping","params":' + b"[" * 3000
    answer = _post(shared_http, body + b"]" * 3000 + b"}")
    assert answer.status_code == 400
    assert (answer.json()["id"], answer.json()["error"]["code"]) == ("deep", PARSE_ERROR)


def test_a_good_post_still_reaches_the_server(shared_http: ServedHttp) -> None:
    answer = _post(shared_http, json.dumps(INITIALIZE).encode())
    assert answer.status_code == 200
    assert "serverInfo" in answer.text


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}.evil.test",
        "localhost:{port}.evil.test",
        "127.0.0.1:{port}0",
        "127.0.0.1:1",
        "127.0.0.1",
        "localhost:{port}@evil.test",
        "evil.test:{port}",
        "127.0.0.1.evil.test:{port}",
        "[::1]:{port}.evil.test",
        "::1:{port}",
        "",
    ],
)
def test_a_host_header_is_compared_exactly_never_by_prefix(
    shared_http: ServedHttp, host: str
) -> None:
    answer = _post(
        shared_http, json.dumps(INITIALIZE).encode(), {"Host": host.format(port=_port(shared_http))}
    )
    assert answer.status_code == 421
    assert answer.text == "Invalid Host header"


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:{port}.evil.test",
        "http://localhost:{port}.evil.test",
        "http://127.0.0.1:{port}0",
        "http://localhost:1",
        "http://localhost",
        "http://user@localhost:{port}",
        "http://localhost:{port}/",
        "http://localhost:{port}/mcp",
        "ftp://localhost:{port}",
        "http://evil.test:{port}",
        "null",
        "garbage",
    ],
)
def test_an_origin_header_is_compared_exactly_never_by_prefix(
    shared_http: ServedHttp, origin: str
) -> None:
    headers = {"Origin": origin.format(port=_port(shared_http))}
    answer = _post(shared_http, json.dumps(INITIALIZE).encode(), headers)
    assert answer.status_code == 403
    assert answer.text == "Invalid Origin header"


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "localhost:{port}"},
        {"Host": "127.0.0.1:{port}", "Origin": "https://127.0.0.1:{port}"},
        {"Host": "[::1]:{port}", "Origin": "http://[::1]:{port}"},
    ],
)
def test_loopback_names_on_the_bound_port_are_accepted(
    shared_http: ServedHttp, headers: dict[str, str]
) -> None:
    port = _port(shared_http)
    sent = {name: value.format(port=port) for name, value in headers.items()}
    answer = _post(shared_http, json.dumps(INITIALIZE).encode(), sent)
    assert answer.status_code == 200
    assert "serverInfo" in answer.text


def test_a_refusal_is_logged_without_the_header_value(served_http: ServedHttp) -> None:
    answer = _post(served_http, b"{}", {"Host": "refused-7f3a.evil.test"})
    assert answer.status_code == 421
    line = served_http.stderr.next(timeout=30).decode()
    while "Host" not in line:
        line = served_http.stderr.next(timeout=30).decode()
    assert "refused" in line
    assert "7f3a" not in line
