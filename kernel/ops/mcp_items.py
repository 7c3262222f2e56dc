"""The YAML of upstream MCP items (SPEC §14): ``mcp/servers/<server>`` and ``mcp/<server>/<tool>``.

Deterministic text for the same input (keys in a fixed order, no timestamps), so a refresh
that finds nothing new rewrites nothing and a re-sign keeps the signature line.

An upstream tool's item keeps the pinned definition under ``upstream:`` (a field tools do not
otherwise have; the signature covers it), which is what a ``PIN_MISMATCH`` diffs against. Its
``config`` holds only the server, the upstream name and the pin, so no upstream text is ever
templated; ``parameters`` is the upstream ``inputSchema``. Upstream annotations are kept as
pinned data, never mapped onto Kiwi's own ``annotations`` (they are hints, never trust).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from kiwi_mcp.kernel.services.connectors.pins import definition, pin, tool_segment

__all__ = ["render_server", "render_tool", "tool_id"]

_HEADER = "# Written by 'kiwi mcp {verb}'; 'kiwi mcp refresh {server}' rewrites it.\n"


def tool_id(server: str, tool: str) -> str:
    return f"mcp/{server}/{tool_segment(tool)}"


class _NoAliases(yaml.SafeDumper):
    """Item files may not hold anchors (``core/yaml_read``): a value used twice (the input
    schema is both ``parameters`` and pinned) is written out twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(document: Mapping[str, Any]) -> str:
    return yaml.dump(
        dict(document), Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=100
    )


def render_server(
    name: str,
    *,
    command: list[str],
    url: str | None,
    env: Mapping[str, str],
    secrets: list[str],
    headers: Mapping[str, str],
) -> str:
    """``mcp/servers/<name>``: stdio (``command``: argv) or Streamable HTTP (``url``)."""
    config: dict[str, Any]
    if url is not None:
        executor = "primitives/http_client"
        config = {"url": url, "session": {"protocol": "mcp-streamable-http"}}
        if headers:
            config["headers"] = dict(sorted(headers.items()))
        what = f"Streamable HTTP at {url}"
    else:
        executor = "primitives/subprocess"
        config = {"command": command[0], "args": command[1:]}
        if env:
            config["env"] = dict(sorted(env.items()))
        config["session"] = {"protocol": "jsonrpc-lines"}
        what = "stdio: " + " ".join(command)
    document: dict[str, Any] = {
        "version": "1.0.0",
        "tool_type": "mcp_server",
        "executor_id": executor,
        "description": f"Upstream MCP server {name} ({what})",
        "parameters": {"type": "object", "additionalProperties": False},
        "config": config,
        "requires": [],
    }
    if secrets:
        document["secrets"] = sorted(set(secrets))
    return _HEADER.format(verb="add", server=name) + _dump(document)


def render_tool(server: str, tool: Mapping[str, Any]) -> str:
    """``mcp/<server>/<tool>`` for one ``tools/list`` entry (wire names)."""
    defined = definition(tool)
    schema = defined.get("inputSchema")
    parameters = dict(schema) if isinstance(schema, Mapping) else {"type": "object"}
    parameters.setdefault("type", "object")
    document = {
        "version": "1.0.0",
        "tool_type": "mcp_tool",
        "executor_id": "runtimes/mcp",
        "description": str(defined.get("description") or defined.get("title") or defined["name"]),
        "parameters": parameters,
        "config": {"server": server, "tool": str(defined["name"]), "pin": pin(defined)},
        "requires": [],
        "upstream": defined,
    }
    return _HEADER.format(verb="refresh", server=server) + _dump(document)
