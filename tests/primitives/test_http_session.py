"""The http_client primitive's session client (Streamable HTTP upstreams, SPEC §14): requests
stay on the origin the gate allowed, and redirects are never followed."""

from __future__ import annotations

import asyncio

import pytest

from kiwi_mcp.primitives.errors import PrimitiveError
from kiwi_mcp.primitives.http_session import session_client
from tests.support.http_server import LoopbackServer, Response


def test_the_session_client_reaches_its_origin_only_and_follows_no_redirect() -> None:
    with LoopbackServer() as server:
        server.route("GET", "/mcp", Response.json({"ok": True}))
        server.route("GET", "/moved", Response(status=307, headers={"Location": "/mcp"}))

        async def go() -> None:
            url = f"{server.url}/mcp"
            async with session_client(url=url, headers={"X-Kiwi": "1"}, timeout=10) as client:
                assert (await client.get(url)).json() == {"ok": True}
                assert (await client.get(f"{server.url}/moved")).status_code == 307
                with pytest.raises(PrimitiveError, match="may only reach"):
                    await client.get("http://localhost.invalid:1/mcp")

        asyncio.run(go())


def test_a_url_that_is_not_http_is_refused() -> None:
    async def go() -> None:
        async with session_client(url="file:///etc/passwd", headers={}, timeout=1):
            pass

    with pytest.raises(PrimitiveError, match="expected an http"):
        asyncio.run(go())
