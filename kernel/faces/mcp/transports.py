"""Serving Kiwi over stdio and Streamable HTTP (SPEC §10).

stdio (``stdio_channel``): nothing but MCP on stdout (fd 1 points at stderr while serving,
so stray prints and children cannot corrupt the channel), logs on stderr, and the server
exits on stdin EOF, cancelling what still runs. A line that is not a message the server
takes is answered with a JSON-RPC error carrying the request's id when it can be read
(``jsonrpc_input``) and the server reads on.

HTTP: the SDK's Streamable HTTP app at ``/mcp`` under uvicorn, bound to loopback unless
told otherwise, behind two checks of ours: Host and Origin parsed and compared exactly
against DNS rebinding (``http_guard``), then POST bodies read as stdio lines are
(``http_bodies``). The SDK's own, looser Host/Origin check stays as a second wall.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

import anyio

from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts
from kiwi_mcp.kernel.faces.mcp.exposed import ExposedTool
from kiwi_mcp.kernel.faces.mcp.server import build_server

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "security_settings", "serve_http", "serve_stdio"]

logger = logging.getLogger("kiwi.mcp")

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8765
_PATH: Final = "/mcp"
_LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost", "[::1]")


async def serve_stdio(contexts: ProjectContexts, exposed: Sequence[ExposedTool] = ()) -> None:
    """Serve MCP on stdin/stdout until stdin closes; then close every project's kernel.

    ``exposed``: tools listed next to the five (``kiwi serve --expose``).
    """
    from kiwi_mcp.kernel.faces.mcp.keeper import keep_indexes_current
    from kiwi_mcp.kernel.faces.mcp.stdio_channel import stdio_channel

    server = build_server(contexts, exposed)
    try:
        async with stdio_channel() as (read_stream, write_stream), anyio.create_task_group() as tg:
            tg.start_soon(keep_indexes_current)
            await server.run(read_stream, write_stream, server.create_initialization_options())
            tg.cancel_scope.cancel()
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
    """The SDK's Host/Origin check, kept behind ours (``http_guard``) as a second wall: loopback
    names always, plus ``host`` itself when it is another address (a wildcard bind such as
    0.0.0.0 adds nothing: it is never a Host header). Alone it would pass
    ``127.0.0.1:<port>.evil.test`` (it matches by prefix, any port); behind ours it can only
    refuse more (a name not spelled as given here), never let anything else through."""
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
    from kiwi_mcp.kernel.faces.mcp.http_bodies import JsonRpcBodies
    from kiwi_mcp.kernel.faces.mcp.http_guard import HostOriginGuard, allowed_hosts

    server = build_server(contexts, exposed)
    sdk_app = server.streamable_http_app(
        streamable_http_path=_PATH, host=host, transport_security=security_settings(host)
    )
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    url = f"http://{_url_host(host)}:{bound_port}{_PATH}"
    app = HostOriginGuard(
        JsonRpcBodies(sdk_app, path=_PATH), hosts=allowed_hosts(host), port=bound_port
    )
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, lifespan="on"
    )
    from kiwi_mcp.kernel.faces.mcp.keeper import keep_indexes_current

    try:
        (announce or _announce)(url)
        async with anyio.create_task_group() as tg:
            tg.start_soon(keep_indexes_current)
            await uvicorn.Server(config).serve(sockets=[sock])
            tg.cancel_scope.cancel()
    finally:
        sock.close()
        with anyio.CancelScope(shield=True):
            await contexts.aclose()


def _announce(url: str) -> None:
    print(f"kiwi: serving MCP (Streamable HTTP) at {url}", file=sys.stderr, flush=True)
