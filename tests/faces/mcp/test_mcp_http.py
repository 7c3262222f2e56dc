"""``kiwi serve --http`` on loopback, driven by the official SDK client and raw HTTP."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from kiwi_mcp.kernel.faces.mcp.transports import security_settings
from tests.faces.mcp.conftest import ServedHttp, envelope_of
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
