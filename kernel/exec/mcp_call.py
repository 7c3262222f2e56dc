"""One upstream MCP call (SPEC §14): the pooled session, the pin check, ``tools/call``, and
the upstream result mapped into the envelope's ``data``.

* The live definition (from the connect's or the last ``list_changed`` re-listing) must
  have the item's pin; otherwise the call fails ``PIN_MISMATCH`` naming what changed, and
  nothing is sent upstream.
* ``data`` is the ``structuredContent``; else the parsed JSON of a single text block; else
  the content list. ``isError`` fails the call ``UPSTREAM_ERROR`` with the upstream's text.
* Progress notifications become ``{"event": "progress", …}`` events (MCP progress over
  ``kiwi serve``); cancelling the call sends ``notifications/cancelled`` upstream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import mcp_types

from kiwi_mcp.kernel.core.yaml_read import load_yaml_mapping
from kiwi_mcp.kernel.errors import PinMismatch, UpstreamError
from kiwi_mcp.kernel.services.connectors.pins import diff
from kiwi_mcp.kernel.services.connectors.pool import Connection, UpstreamPool
from kiwi_mcp.kernel.services.connectors.records import McpCall

__all__ = ["check_pin", "map_result", "run_mcp"]

EventHook = Callable[[dict[str, Any]], None]


def _text(result: mcp_types.CallToolResult) -> str:
    texts = [block.text for block in result.content if isinstance(block, mcp_types.TextContent)]
    return "\n".join(texts).strip()


def map_result(result: mcp_types.CallToolResult) -> Any:
    """The envelope's ``data`` for an upstream result (see the module docstring).

    Raises UpstreamError for an ``isError`` result.
    """
    if result.is_error:
        text = _text(result) or "the upstream tool reported an error without text"
        raise UpstreamError(text[:4000], details={"content": _content(result)})
    if result.structured_content is not None:
        return result.structured_content
    blocks = result.content
    if len(blocks) == 1 and isinstance(blocks[0], mcp_types.TextContent):
        try:
            return json.loads(blocks[0].text)
        except ValueError:
            pass
    return _content(result)


def _content(result: mcp_types.CallToolResult) -> list[dict[str, Any]]:
    return [
        block.model_dump(by_alias=True, exclude_none=True, mode="json") for block in result.content
    ]


def _pinned_definition(call: McpCall) -> dict[str, Any]:
    try:
        data = load_yaml_mapping(call.item.decode("utf-8", errors="replace"), call.label)
    except Exception:  # the diff is a courtesy; the mismatch stands without it
        return {}
    upstream = data.get("upstream")
    return dict(upstream) if isinstance(upstream, dict) else {}


def check_pin(call: McpCall, connection: Connection) -> dict[str, Any]:
    """The live definition of ``call.tool``, which must carry the item's pin.

    Raises PinMismatch when the tool is gone upstream or its definition changed.
    """
    assert call.tool is not None
    server = call.server.name
    live = connection.tools.get(call.tool)
    if live is None:
        raise PinMismatch(
            f"upstream {server!r} no longer serves the tool {call.tool!r}",
            details={"server": server, "tool": call.tool, "changes": [{"field": "name"}]},
        )
    if connection.pins.get(call.tool) != call.pin:
        changes = diff(_pinned_definition(call), live)
        fields = ", ".join(str(change["field"]) for change in changes) or "the definition"
        raise PinMismatch(
            f"upstream {server!r} changed the tool {call.tool!r} since it was pinned "
            f"({fields} changed); it stays disabled until the operator accepts the change",
            details={"server": server, "tool": call.tool, "changes": changes},
        )
    return live


def _listing(call: McpCall, connection: Connection) -> dict[str, Any]:
    tools = [
        {
            "name": name,
            "pin": connection.pins[name],
            "description": definition.get("description", ""),
        }
        for name, definition in sorted(connection.tools.items())
    ]
    return {"server": call.server.name, "tools": tools}


async def run_mcp(
    call: McpCall,
    params: Mapping[str, Any],
    pool: UpstreamPool,
    *,
    on_event: EventHook | None,
) -> tuple[Any, dict[str, Any]]:
    """Run ``call``; returns (data, meta.mcp).

    Raises:
        PinMismatch: the live definition is not the pinned one.
        UpstreamError: the upstream answered ``isError``.
        ExecutionFailed | ExecutionTimeout: no session, or no answer in time.
    """
    started = time.perf_counter()
    reused = pool.peek(call.server.name) is not None
    connection = await pool.connection(call.server)
    meta: dict[str, Any] = {
        "server": call.server.name,
        "transport": call.server.transport,
        "connected": not reused,
    }
    if call.tool is None:
        return _listing(call, connection), meta
    if connection.pins.get(call.tool) != call.pin:
        # judged on a current listing: the server may have changed back, or the operator
        # re-pinned from a newer listing than this session's (a server that never sent
        # list_changed)
        await connection.relist()
    check_pin(call, connection)
    meta["tool"] = call.tool

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        if on_event is not None:
            on_event(
                {"event": "progress", "progress": progress, "total": total, "message": message}
            )

    result = await connection.call(
        call.tool, params, on_progress=progress if on_event is not None else None
    )
    meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return map_result(result), meta
