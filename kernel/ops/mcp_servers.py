"""Upstream MCP servers as items (SPEC §14): ``kiwi mcp add|list|tools|refresh|remove``.

These are the operator's acts (SPEC §9.4): ungated by the agents' policy, items signed with
the operator's key. The server is reached the way every call reaches it — an audited
``execute`` of ``mcp/servers/<server>`` on an operator kernel, so the connect goes through
the plan (environment allow-list, secrets, ``process.exec``/``net.http``) and the pool — and
the pool's connection then gives the full definitions to pin.

Files (project space): ``.ai/tools/mcp/servers/<server>.yaml`` and one
``.ai/tools/mcp/<server>/<tool>.yaml`` per upstream tool (``ops/mcp_items.py`` renders them).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.ids import check_id
from kiwi_mcp.kernel.core.items import Tool
from kiwi_mcp.kernel.errors import ItemNotFound, KiwiError, UsageError, error_for_code
from kiwi_mcp.kernel.ops.lockfiles import refresh as relock
from kiwi_mcp.kernel.ops.mcp_items import render_server, render_tool, tool_id
from kiwi_mcp.kernel.ops.sign import sign_items
from kiwi_mcp.kernel.services.connectors.pins import diff, pin
from kiwi_mcp.kernel.store.fileio import atomic_write

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = [
    "RefreshReport",
    "add_server",
    "list_servers",
    "refresh_server",
    "remove_server",
    "server_tools",
]

SERVERS = "mcp/servers"


@dataclass(frozen=True, kw_only=True, slots=True)
class RefreshReport:
    """What a refresh found (and, unless ``dry_run``, wrote): tools ``added``, ``changed``
    (with the field diffs), ``removed``, and how many were ``unchanged``."""

    server: str
    dry_run: bool
    added: tuple[str, ...] = ()
    changed: Mapping[str, list[dict[str, str | None]]] = field(default_factory=dict)
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    #: tools whose frozen lockfiles were re-frozen with the new pin
    relocked: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "dry_run": self.dry_run,
            "added": list(self.added),
            "changed": {name: list(changes) for name, changes in self.changed.items()},
            "removed": list(self.removed),
            "unchanged": self.unchanged,
            "relocked": list(self.relocked),
        }


def _check_name(name: str) -> None:
    check_id(f"{SERVERS}/{name}")
    if "/" in name or name == "servers":
        raise UsageError(
            f"server name {name!r}: expected one id segment other than 'servers'",
            hint="e.g. 'kiwi mcp add time -- mcp-server-time'",
        )


def _tools_root(kernel: Kernel) -> Path:
    return kernel.settings.project_root / ".ai" / "tools"


def add_server(
    kernel: Kernel,
    name: str,
    *,
    command: Sequence[str] = (),
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Write and sign ``mcp/servers/<name>``. The caller then runs ``refresh_server``
    (it connects, so it is async). Returns the item's id and path.

    Raises:
        UsageError: a bad name, or neither/both of ``command`` and ``url``.
        KeyMissing: the operator has no key ('kiwi keys init').
    """
    _check_name(name)
    if bool(command) == bool(url):
        raise UsageError(
            "kiwi mcp add: give either -- COMMAND [ARG…] (stdio) or --url URL (Streamable HTTP)",
            hint="e.g. 'kiwi mcp add time -- mcp-server-time' or "
            "'kiwi mcp add docs --url https://example.test/mcp'",
        )
    text = render_server(
        name,
        command=list(command),
        url=url,
        env=dict(env or {}),
        secrets=list(secrets),
        headers=dict(headers or {}),
    )
    path = _tools_root(kernel) / SERVERS / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"))
    sign_items(kernel.store, kernel.settings.user_space, "tool", f"{SERVERS}/{name}", caps=None)
    return {"id": f"{SERVERS}/{name}", "path": str(path)}


async def _live_tools(kernel: Kernel, name: str) -> dict[str, dict[str, Any]]:
    """The server's tool definitions as it serves them now, through an audited execute."""
    envelope = await kernel.execute(f"{SERVERS}/{name}", {})
    if not envelope["ok"]:
        error = envelope["error"]
        cls = error_for_code(error["code"])
        raise cls(error["message"], hint=error.get("hint"), details=error.get("details") or {})
    connection = kernel.upstreams.peek(name)
    if connection is None:
        raise KiwiError(f"the session with upstream {name!r} ended right after the listing")
    return dict(connection.tools)


def _pinned_items(kernel: Kernel, name: str) -> dict[str, tuple[Path, dict[str, Any], str]]:
    """Upstream name → (file, pinned definition, pin) of the project's tool items of ``name``."""
    from kiwi_mcp.kernel.core.yaml_read import load_yaml_mapping

    kernel.store.refresh("tool")
    found: dict[str, tuple[Path, dict[str, Any], str]] = {}
    for file in kernel.store.iter_files("tool", ("project",)):
        if not file.id.startswith(f"mcp/{name}/") or file.id.count("/") != 2:
            continue
        try:
            located = kernel.store.locate("tool", file.id, within=("project",))
            loaded = kernel.store.load_located(located)
        except KiwiError:  # unreadable: refresh writes it anew (the live tool is "added")
            continue
        tool = loaded.item
        if not isinstance(tool, Tool) or tool.tool_type != "mcp_tool":
            continue
        data = load_yaml_mapping(loaded.data.decode("utf-8", errors="replace"), file.label)
        raw = data.get("upstream")
        upstream: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
        found[str(tool.config.get("tool"))] = (file.path, upstream, str(tool.config.get("pin")))
    return found


async def refresh_server(kernel: Kernel, name: str, *, dry_run: bool = False) -> RefreshReport:
    """Connect, list, and compare with the pinned items; unless ``dry_run``, write the new and
    changed tools' items (re-pinned), delete those the server no longer serves, sign, and
    re-freeze the lockfiles of the changed tools.

    Raises:
        ItemNotFound: no ``mcp/servers/<name>``.
        KiwiError: the server could not be reached (the execute's error).
    """
    _check_name(name)
    live = await _live_tools(kernel, name)
    pinned = _pinned_items(kernel, name)
    added = sorted(set(live) - set(pinned))
    removed = sorted(set(pinned) - set(live))
    changed = {
        tool: diff(pinned[tool][1], live[tool])
        for tool in sorted(set(live) & set(pinned))
        if pin(live[tool]) != pinned[tool][2]
    }
    report = RefreshReport(
        server=name,
        dry_run=dry_run,
        added=tuple(added),
        changed=changed,
        removed=tuple(removed),
        unchanged=len(set(live) & set(pinned)) - len(changed),
    )
    if dry_run:
        return report
    root = _tools_root(kernel)
    for tool in (*added, *changed):
        path = root / f"{tool_id(name, tool)}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, render_tool(name, live[tool]).encode("utf-8"))
    for tool in removed:
        pinned[tool][0].unlink(missing_ok=True)
    if added or changed:
        sign_items(kernel.store, kernel.settings.user_space, "tool", f"mcp/{name}/*", caps=None)
    relocked: list[str] = []
    for tool in changed:  # the operator accepted the new pin: so do the frozen lockfiles
        relocked.extend(frozen.id for frozen in relock(kernel, tool_id(name, tool)))
    return dataclasses.replace(report, relocked=tuple(relocked))


def list_servers(kernel: Kernel) -> list[dict[str, Any]]:
    """The project's and user's ``mcp/servers/*`` items: name, space, transport, target and
    how many upstream tool items each has."""
    kernel.store.refresh("tool")
    servers: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for file in kernel.store.iter_files("tool", ("project", "user")):
        parts = file.id.split("/")
        if len(parts) == 3 and parts[0] == "mcp" and parts[1] != "servers":
            counts[parts[1]] = counts.get(parts[1], 0) + 1
        if len(parts) != 3 or file.id.rsplit("/", 1)[0] != SERVERS or parts[2] in servers:
            continue
        located = kernel.store.locate("tool", file.id, within=(file.space,))
        tool = kernel.store.load_located(located).item
        if not isinstance(tool, Tool):
            continue
        config = tool.config
        http = "url" in config
        servers[parts[2]] = {
            "server": parts[2],
            "space": file.space,
            "transport": "http" if http else "stdio",
            "target": str(config.get("url") if http else config.get("command", "")),
        }
    return [dict(entry, tools=counts.get(key, 0)) for key, entry in sorted(servers.items())]


def server_tools(kernel: Kernel, name: str) -> list[dict[str, Any]]:
    """The pinned tool items of ``name``: id, upstream name, pin, description.

    Raises ItemNotFound when the server has no item.
    """
    _check_name(name)
    kernel.store.locate("tool", f"{SERVERS}/{name}")
    out = []
    for tool, (_path, upstream, tool_pin) in sorted(_pinned_items(kernel, name).items()):
        out.append(
            {
                "id": tool_id(name, tool),
                "tool": tool,
                "pin": tool_pin,
                "description": str(upstream.get("description", "")).split("\n", 1)[0],
                "capability": f"mcp.call:{name}/{tool_id(name, tool).rsplit('/', 1)[-1]}",
            }
        )
    return out


async def remove_server(kernel: Kernel, name: str) -> dict[str, Any]:
    """Delete ``mcp/servers/<name>`` and its tool items from the project; close its session.

    Raises ItemNotFound when the project has no such server.
    """
    _check_name(name)
    root = _tools_root(kernel)
    server = root / SERVERS / f"{name}.yaml"
    if not server.is_file():
        raise ItemNotFound(
            f"the project has no upstream server {name!r} ({SERVERS}/{name})",
            hint="'kiwi mcp list' shows the servers.",
        )
    await kernel.upstreams.drop(name)
    tools = sorted(_pinned_items(kernel, name))
    server.unlink()
    folder = root / "mcp" / name
    if folder.is_dir():
        shutil.rmtree(folder)
    return {"server": name, "removed": [f"{SERVERS}/{name}", *(tool_id(name, t) for t in tools)]}
