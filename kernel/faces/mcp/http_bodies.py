"""POST bodies of ``kiwi serve --http`` read as stdio lines are (SPEC §10, ``jsonrpc_input``).

The SDK's Streamable HTTP transport answers a malformed body with id null (and code -32602
with the validation errors, which quote the input), and takes ``"id": 1.5`` for a
notification (202, never run, never answered). So a JSON POST to the MCP path is read here
first: a body that is not one message the server takes is answered with HTTP 400 and the
JSON-RPC error(s) ``read_message`` says it is owed, the request's own id included; any other
request reaches the SDK unchanged, its body replayed. Bodies over the SDK's limit are 413,
as the SDK would answer them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE

from kiwi_mcp.kernel.faces.mcp.http_guard import respond
from kiwi_mcp.kernel.faces.mcp.jsonrpc_input import Refusal, read_message

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["JsonRpcBodies"]

logger = logging.getLogger("kiwi.mcp")

_TOO_LARGE: Final = b"Request body too large"


class JsonRpcBodies:
    """ASGI middleware: answers an unreadable JSON-RPC POST body at ``path`` itself."""

    def __init__(
        self, app: ASGIApp, *, path: str, max_body: int = DEFAULT_MAX_REQUEST_BODY_SIZE
    ) -> None:
        self._app = app
        self._path = path
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._is_json_post(scope):
            await self._app(scope, receive, send)
            return
        body = await self._body(scope, receive, send)
        if body is None:
            return
        found = read_message(body, what="body")
        if isinstance(found, Refusal):
            # The body itself is not logged: it may hold anything the client sent.
            logger.warning("answered an unreadable POST body with a JSON-RPC error")
            await respond(send, 400, "application/json", found.to_json().encode())
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._app(scope, replay, send)

    def _is_json_post(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self._path:
            return False
        types = [value for name, value in scope["headers"] if name == b"content-type"]
        # The SDK's own test: other content types are refused by it, untouched here.
        return len(types) == 1 and types[0].lower().startswith(b"application/json")

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body; None when it was answered (413) or the client left."""
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self._max_body:
                await respond(send, 413, "text/plain; charset=utf-8", _TOO_LARGE)
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # http.disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                await respond(send, 413, "text/plain; charset=utf-8", _TOO_LARGE)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
