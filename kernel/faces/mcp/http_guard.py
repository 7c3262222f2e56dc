"""Host and Origin checks in front of ``kiwi serve --http``, against DNS rebinding (SPEC §10).

Both headers are parsed with one grammar and compared exactly, never by prefix:

* ``Host`` is ``host[:port]``: an IPv4 address, a name, or an IPv6 address in brackets;
  the port, when given, 1-65535 without leading zeros. The host must be a loopback name
  (``localhost``, ``127.0.0.1``, ``[::1]``) or the bound address itself when it is a
  specific one, and the port the bound port; a Host without a port means port 80, as that
  is when a client leaves it out. Names compare case-insensitively (RFC 9110), addresses as
  addresses (``[0::1]`` is ``[::1]``).
* ``Origin`` may be absent (non-browser clients send none). When present it is exactly
  ``http://`` or ``https://`` and such an authority: no userinfo, path, query, fragment,
  ``null`` or anything else; a missing port means the scheme's default (80, 443).
* A request with more than one Host or Origin header is refused: which one counts would be
  a guess.

Not ``urllib.parse``: it drops tabs and newlines inside a URL, accepts userinfo and paths,
so exactness would need a second check of its output; one regex over the header is that check.
A refused Host is 421, a refused Origin 403, each with a short plain body and one log line
that names the header only, never its value.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "LOOPBACK",
    "Authority",
    "HostName",
    "HostOriginGuard",
    "allowed_hosts",
    "host_allowed",
    "origin_allowed",
    "parse_authority",
    "parse_origin",
    "respond",
]

logger = logging.getLogger("kiwi.mcp")

HostName = str | ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK: Final[frozenset[HostName]] = frozenset(
    {"localhost", ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1")}
)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_AUTHORITY: Final = re.compile(
    r"(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>[1-9][0-9]{0,4}))?",
    re.ASCII,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Authority:
    """A parsed ``host[:port]``: a lower-case name or an address, and the port if given."""

    host: HostName
    port: int | None


def parse_authority(text: str) -> Authority | None:
    """``text`` as ``host[:port]`` (a Host header, an origin's authority); None if it is not one."""
    found = _AUTHORITY.fullmatch(text)
    if found is None:
        return None
    port = int(found["port"]) if found["port"] else None
    if port is not None and port > 65535:
        return None
    if found["ip6"] is not None:
        try:
            return Authority(host=ipaddress.IPv6Address(found["ip6"]), port=port)
        except ValueError:
            return None
    name = found["name"]
    try:
        return Authority(host=ipaddress.IPv4Address(name), port=port)
    except ValueError:
        return Authority(host=name.lower(), port=port)


def parse_origin(text: str) -> tuple[str, Authority] | None:
    """``text`` as ``scheme://host[:port]`` with scheme http or https; None if it is not one."""
    scheme, separator, rest = text.partition("://")
    if not separator or scheme not in _DEFAULT_PORTS:
        return None
    authority = parse_authority(rest)
    return None if authority is None else (scheme, authority)


def allowed_hosts(bind_host: str) -> frozenset[HostName]:
    """The hosts a request may name: loopback, plus ``bind_host`` when it is a specific
    address or a name (a wildcard such as 0.0.0.0 is never a Host header)."""
    try:
        address = ipaddress.ip_address(bind_host)
    except ValueError:
        return LOOPBACK | {bind_host.lower()}
    return LOOPBACK if address.is_unspecified else LOOPBACK | {address}


def host_allowed(header: str, *, hosts: frozenset[HostName], port: int) -> bool:
    """Whether a Host header names one of ``hosts`` on ``port`` (no port: 80)."""
    authority = parse_authority(header)
    return (
        authority is not None
        and authority.host in hosts
        and (80 if authority.port is None else authority.port) == port
    )


def origin_allowed(header: str, *, hosts: frozenset[HostName], port: int) -> bool:
    """Whether an Origin header is http(s) on one of ``hosts`` and ``port`` (no port: the
    scheme's default)."""
    origin = parse_origin(header)
    if origin is None:
        return False
    scheme, authority = origin
    effective = _DEFAULT_PORTS[scheme] if authority.port is None else authority.port
    return authority.host in hosts and effective == port


class HostOriginGuard:
    """ASGI middleware: a request passes to ``app`` only with an allowed Host and Origin."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[HostName], port: int) -> None:
        self._app = app
        self._hosts = hosts
        self._port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        refused = self._refusal(scope["headers"])
        if refused is None:
            await self._app(scope, receive, send)
            return
        status, header = refused
        logger.warning("refused an HTTP request: bad %s header", header)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await respond(
            send, status, "text/plain; charset=utf-8", f"Invalid {header} header".encode()
        )

    def _refusal(self, headers: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
        hosts = [value for name, value in headers if name == b"host"]
        origins = [value for name, value in headers if name == b"origin"]
        ok = len(hosts) == 1 and host_allowed(
            hosts[0].decode("latin-1"), hosts=self._hosts, port=self._port
        )
        if not ok:
            return 421, "Host"
        if origins and not (
            len(origins) == 1
            and origin_allowed(origins[0].decode("latin-1"), hosts=self._hosts, port=self._port)
        ):
            return 403, "Origin"
        return None


async def respond(send: Send, status: int, content_type: str, body: bytes) -> None:
    """Send a whole HTTP response of ``status`` with ``body``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
