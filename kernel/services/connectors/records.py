"""What the pool needs to reach one upstream server, decided by the kernel's plan of its
``mcp/servers/<server>`` item (SPEC §14): the final config, the environment handed to a stdio
child (the allow-list of SPEC §8.1 and the declared secrets), the timeouts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from kiwi_mcp.kernel.core.canonical import canonical_hash
from kiwi_mcp.kernel.errors import ConfigInvalid

__all__ = ["McpCall", "ServerSpec"]

Transport = Literal["stdio", "http"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerSpec:
    """One upstream: ``stdio`` (command, args, cwd, env) or ``http`` (url, headers)."""

    name: str
    transport: Transport
    command: str | None = None
    args: tuple[str, ...] = ()
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout: float = 30.0
    call_timeout: float = 300.0
    #: changes whenever anything that reaches the server does (a changed item, env or
    #: secret): the pool then opens a new session instead of reusing the old one
    fingerprint: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        object.__setattr__(self, "fingerprint", self._fingerprint())

    def _fingerprint(self) -> str:
        return canonical_hash(
            {
                "transport": self.transport,
                "command": self.command,
                "args": list(self.args),
                "cwd": self.cwd,
                "env": dict(self.env),
                "url": self.url,
                "headers": dict(self.headers),
            }
        )

    @classmethod
    def from_config(
        cls, name: str, config: Mapping[str, Any], *, env: Mapping[str, str]
    ) -> ServerSpec:
        """From a server item's final (merged, templated, checked) config.

        Raises ConfigInvalid naming the field when the config cannot reach a server.
        """
        session = config.get("session") or {}
        if not isinstance(session, Mapping):
            raise ConfigInvalid("session: expected a mapping", details={"field": "session"})
        connect_timeout = float(session.get("connect_timeout", 30))
        call_timeout = float(config.get("timeout", 300))
        if "url" in config:
            return cls(
                name=name,
                transport="http",
                url=str(config["url"]),
                headers={str(k): str(v) for k, v in (config.get("headers") or {}).items()},
                connect_timeout=connect_timeout,
                call_timeout=call_timeout,
            )
        if not config.get("command"):
            raise ConfigInvalid(
                f"mcp/servers/{name}: neither command (stdio) nor url (http) is set",
                hint="Re-add the server: 'kiwi mcp add <server> -- COMMAND [ARG…]' or --url URL.",
                details={"field": "command"},
            )
        child_env = dict(env)
        child_env.update({str(k): str(v) for k, v in (config.get("env") or {}).items()})
        return cls(
            name=name,
            transport="stdio",
            command=str(config["command"]),
            args=tuple(str(a) for a in config.get("args") or ()),
            cwd=config.get("cwd"),
            env=child_env,
            connect_timeout=connect_timeout,
            call_timeout=call_timeout,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class McpCall:
    """One upstream call: the server to reach, the upstream tool's name (None: list the
    server's tools) and the item's pin; ``item`` is the tool item's bytes, read for the
    pinned definition only when a pin does not match."""

    server: ServerSpec
    tool: str | None = None
    pin: str | None = None
    item: bytes = b""
    label: str = ""
