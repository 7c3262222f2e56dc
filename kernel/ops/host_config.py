"""``kiwi mcp config <host> [--write]``: the exact entry an MCP host needs to start Kiwi.

The entry names this ``kiwi`` by its absolute path (hosts start servers without the user's
shell, so a bare ``kiwi`` on a virtualenv's PATH is not found), the project by its absolute
path, and the variables the host must pass (hosts forward few of the user's): each ``KIWI_*``
setting that differs from its default. Written, it is merged into the host's file: other
servers there are kept, the file is replaced atomically.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kiwi_mcp.kernel.errors import ParseError, UsageError

__all__ = ["HOSTS", "HostEntry", "host_entry", "write_entry"]

HOSTS: Final = ("claude-code", "claude-desktop", "cursor", "vscode")
_SERVER: Final = "kiwi"
#: The settings a host must pass on, when set to something other than the default.
_PASSED: Final = ("KIWI_USER_SPACE", "KIWI_VERIFY", "KIWI_LOCKFILE", "KIWI_AUTH_BACKEND")


@dataclass(frozen=True, kw_only=True, slots=True)
class HostEntry:
    """What to put where: the host's file, the key holding servers, and the server entry."""

    host: str
    path: Path
    servers_key: str
    server: dict[str, Any]
    command_line: str | None = None

    def document(self) -> dict[str, Any]:
        """The smallest file holding just this entry."""
        return {self.servers_key: {_SERVER: self.server}}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"host": self.host, "path": str(self.path), **self.document()}
        if self.command_line:
            out["command_line"] = self.command_line
        return out


def kiwi_command() -> str:
    """The absolute path of the running ``kiwi`` (the console script next to this Python)."""
    beside = Path(sys.executable).with_name("kiwi")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return str(Path(sys.argv[0]).resolve())


def host_entry(
    host: str, project_root: Path, *, env: dict[str, str], home: Path | None = None
) -> HostEntry:
    """The entry for ``host`` serving ``project_root``.

    Raises:
        UsageError: an unknown host (the hint lists the known ones).
    """
    if host not in HOSTS:
        raise UsageError(
            f"unknown MCP host {host!r}",
            hint=f"Use one of: {', '.join(HOSTS)}.",
        )
    home = home or Path.home()
    command = kiwi_command()
    args = ["--project", str(project_root), "serve"]
    passed = {
        name: env[name] for name in _PASSED if env.get(name) and not _default(name, env, home)
    }
    server: dict[str, Any] = {"command": command, "args": args}
    if passed:
        server["env"] = passed
    if host == "vscode":
        return HostEntry(
            host=host,
            path=project_root / ".vscode" / "mcp.json",
            servers_key="servers",
            server={"type": "stdio", **server},
        )
    if host == "cursor":
        return HostEntry(
            host=host,
            path=project_root / ".cursor" / "mcp.json",
            servers_key="mcpServers",
            server=server,
        )
    if host == "claude-desktop":
        base = (
            home / "Library" / "Application Support"
            if sys.platform == "darwin"
            else Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        )
        return HostEntry(
            host=host,
            path=base / "Claude" / "claude_desktop_config.json",
            servers_key="mcpServers",
            server=server,
        )
    flags = "".join(f" -e {name}={value}" for name, value in passed.items())
    return HostEntry(
        host=host,
        path=project_root / ".mcp.json",
        servers_key="mcpServers",
        server={"type": "stdio", **server},
        command_line=f"claude mcp add {_SERVER} --scope project{flags} -- {command} "
        + " ".join(args),
    )


def _default(name: str, env: dict[str, str], home: Path) -> bool:
    value = env[name]
    if name == "KIWI_USER_SPACE":
        return Path(value).expanduser().resolve() == (home / ".ai").resolve()
    return value == {
        "KIWI_VERIFY": "signed",
        "KIWI_LOCKFILE": "warn",
        "KIWI_AUTH_BACKEND": "auto",
    }.get(name)


def write_entry(entry: HostEntry) -> bool:
    """Merge the entry into its file (other servers kept); returns whether the file changed.

    Raises:
        ParseError: the file exists but is not a JSON object (nothing is written).
    """
    from kiwi_mcp.kernel.store.fileio import atomic_write

    try:
        current: Any = json.loads(entry.path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        current = {}
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ParseError(
            f"{entry.path} is not valid JSON ({err}), so Kiwi's entry was not written",
            hint="Fix the file (or move it away), then run the command again.",
            at=str(entry.path),
        ) from None
    servers = current.get(entry.servers_key) if isinstance(current, dict) else None
    if not isinstance(current, dict) or not isinstance(servers, dict | None):
        raise ParseError(
            f"{entry.path}: expected a JSON object with '{entry.servers_key}' as an object",
            hint="Fix the file (or move it away), then run the command again.",
            at=str(entry.path),
        )
    merged = {**current, entry.servers_key: {**(servers or {}), _SERVER: entry.server}}
    if merged == current:
        return False
    entry.path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(entry.path, (json.dumps(merged, indent=2) + "\n").encode("utf-8"))
    return True
