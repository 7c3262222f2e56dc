"""Serving Kiwi over stdio and Streamable HTTP (SPEC §10).

stdio: nothing but MCP on stdout (the SDK points fd 1 at stderr while it serves, so stray
prints and children cannot corrupt the channel), logs on stderr, and the server exits on
stdin EOF, cancelling what still runs. A line that is not JSON-RPC is answered with a
JSON-RPC error (id null) and the server reads on.

HTTP: the SDK's Streamable HTTP app at ``/mcp`` under uvicorn, with Host/Origin checks
against DNS rebinding, bound to loopback unless told otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import logging
import socket
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import anyio

from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts
from kiwi_mcp.kernel.faces.mcp.exposed import ExposedTool
from kiwi_mcp.kernel.faces.mcp.server import build_server

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings
    from mcp.shared._stream_protocols import ReadStream
    from mcp.shared.message import SessionMessage

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "security_settings", "serve_http", "serve_stdio"]

logger = logging.getLogger("kiwi.mcp")

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8765
_LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost", "[::1]")


def _bad_line_error(exc: Exception) -> SessionMessage:
    """The JSON-RPC error for a line that could not be read as a message (id unknown: null)."""
    import mcp_types as types
    from mcp.shared.message import SessionMessage
    from pydantic import ValidationError

    not_json = isinstance(exc, ValidationError) and any(
        e.get("type") == "json_invalid" for e in exc.errors()
    )
    error = (
        types.ErrorData(code=types.PARSE_ERROR, message="Parse error: the line is not JSON")
        if not_json
        else types.ErrorData(
            code=types.INVALID_REQUEST,
            message="Invalid Request: not a JSON-RPC 2.0 request, notification or response",
        )
    )
    return SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=None, error=error))


class _AnsweringStream:
    """The server's read stream: unreadable lines are answered here and never reach it.

    A wrapper rather than a relay task, so each message costs no extra task switch.
    """

    def __init__(self, inner: ReadStream[SessionMessage | Exception], replies: Any) -> None:
        self._inner = inner
        self._replies = replies

    @property
    def last_context(self) -> contextvars.Context | None:
        # The SDK restores each message's sender context from here (duck-typed).
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, Exception):
                return item
            # The line itself is not logged: it may hold anything the client sent.
            logger.warning("answered an unreadable line with a JSON-RPC error")
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                await self._replies.send(_bad_line_error(item))

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _AnsweringStream:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _AnsweringStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def serve_stdio(contexts: ProjectContexts, exposed: Sequence[ExposedTool] = ()) -> None:
    """Serve MCP on stdin/stdout until stdin closes; then close every project's kernel.

    ``exposed``: tools listed next to the five (``kiwi serve --expose``).
    """
    from mcp.server.stdio import stdio_server

    server = build_server(contexts, exposed)
    try:
        async with stdio_server() as (read_stream, write_stream):
            reader = _AnsweringStream(read_stream, write_stream)
            await server.run(reader, write_stream, server.create_initialization_options())
    finally:
        with anyio.CancelScope(shield=True):
            await contexts.aclose()


def _url_host(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def security_settings(host: str) -> TransportSecuritySettings:
    """Host/Origin checks: loopback names always, plus ``host`` itself when it is another
    address (a wildcard bind such as 0.0.0.0 adds nothing: it is never a Host header)."""
    from mcp.server.transport_security import TransportSecuritySettings

    names = list(_LOOPBACK_NAMES)
    shown = _url_host(host)
    if shown not in names and host not in ("0.0.0.0", "::"):
        names.append(shown)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names],
        allowed_origins=[
            origin
            for name in names
            for scheme in ("http", "https")
            for origin in (f"{scheme}://{name}", f"{scheme}://{name}:*")
        ],
    )


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one).

    Raises:
        OSError: the address cannot be bound (in use, not local…).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def serve_http(
    contexts: ProjectContexts,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    announce: Callable[[str], None] | None = None,
    exposed: Sequence[ExposedTool] = (),
) -> None:
    """Serve Streamable HTTP at ``http://<host>:<port>/mcp`` until interrupted.

    ``announce`` gets the URL once the socket listens (default: one line on stderr);
    ``exposed``: tools listed next to the five (``kiwi serve --expose``).

    Raises:
        OSError: the address cannot be bound.
    """
    import uvicorn

    if not _is_loopback(host):
        logger.warning(
            "serving on %s, beyond loopback: anyone who can reach it can run your tools "
            "(Kiwi's HTTP transport has no authentication)",
            host,
        )
    server = build_server(contexts, exposed)
    app = server.streamable_http_app(
        streamable_http_path="/mcp", host=host, transport_security=security_settings(host)
    )
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    url = f"http://{_url_host(host)}:{bound_port}/mcp"
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, lifespan="on"
    )
    try:
        (announce or _announce)(url)
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        sock.close()
        with anyio.CancelScope(shield=True):
            await contexts.aclose()


def _announce(url: str) -> None:
    print(f"kiwi: serving MCP (Streamable HTTP) at {url}", file=sys.stderr, flush=True)
