"""The http_client primitive's ``session`` mode: a kept HTTP client for Streamable HTTP
MCP sessions (SPEC §14; ``session: {protocol: mcp-streamable-http}``).

The MCP SDK's Streamable HTTP transport drives the protocol; this module builds the client
it sends through, with the primitive's rules: the configured headers, timeouts, redirects
never followed by the client itself, and every request confined to the origin (scheme, host,
port) that the kernel's gate allowed (``net.http:<host>``) — a request anywhere else is
refused before it is sent.

The SDK's transport needs an ``httpx2`` client (the SDK's own fork of httpx), which is why this
is not ``HttpClient``'s ``httpx`` one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx2

from .errors import PrimitiveError

__all__ = ["session_client"]


def _origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


@asynccontextmanager
async def session_client(
    *, url: str, headers: Mapping[str, str], timeout: float
) -> AsyncIterator[httpx2.AsyncClient]:
    """An ``httpx2.AsyncClient`` for one MCP session with ``url``'s server, closed on exit.

    Raises:
        PrimitiveError: ``CONFIG_INVALID`` for a URL that is not http(s);
            ``EXECUTION_FAILED`` (from a request) when a request would leave ``url``'s origin.
    """
    allowed = httpx2.URL(url)
    if allowed.scheme not in ("http", "https") or not allowed.host:
        raise PrimitiveError("CONFIG_INVALID", f"url: expected an http(s) URL, got {url!r}")

    async def confine(request: httpx2.Request) -> None:
        if _origin(request.url) != _origin(allowed):
            raise PrimitiveError(
                "EXECUTION_FAILED",
                f"refused a request to {request.url.host!r}: the session may only reach "
                f"{allowed.host!r}",
            )

    hooks: dict[str, Any] = {"request": [confine]}
    client = httpx2.AsyncClient(
        headers=dict(headers),
        timeout=httpx2.Timeout(min(timeout, 30.0), read=timeout),
        follow_redirects=False,
        event_hooks=hooks,
    )
    async with client:
        yield client
