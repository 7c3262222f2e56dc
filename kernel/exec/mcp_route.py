"""Upstream MCP tools planned (SPEC §14): ``mcp/<server>/<tool>`` → ``runtimes/mcp`` → the
server's own item ``mcp/servers/<server>`` → its primitive.

The tool's chain (the tool, ``runtimes/mcp``) is resolved, verified and lockfile-checked as
any other; the caller must hold what it requires plus ``mcp.call:<server>/<tool>``. The
server item is then planned as an ordinary chain with no params — verified, its environment
resolved under the allow-list (SPEC §8.1), its declared secrets read, templated,
``config_schema``-checked and gated (``process.exec:<command>`` for stdio,
``net.http:<host>`` for Streamable HTTP) — and the two chains are joined, so the envelope's
chain, the audit line and the capabilities checked name every link. Running a server item
itself (``kiwi run mcp/servers/<server>``) is the same plan without a tool: it lists what the
server serves against the pins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.chain import Chain
from kiwi_mcp.kernel.core.params import validate_params
from kiwi_mcp.kernel.errors import ConfigInvalid
from kiwi_mcp.kernel.exec.gate import require
from kiwi_mcp.kernel.exec.plan import Plan, Prepared, finish
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.llm_route import Routes

__all__ = ["MCP_SERVERS", "is_mcp", "plan_mcp", "server_of"]

MCP_SERVERS = "mcp/servers/"
_TOOL_TYPES = frozenset({"mcp_runtime", "mcp_server"})


def is_mcp(chain: Chain) -> bool:
    """Whether ``chain`` is an upstream tool's or a server item's."""
    return any(tool.tool_type in _TOOL_TYPES for tool in chain.tools)


def server_of(item_id: str) -> str:
    return item_id.removeprefix(MCP_SERVERS)


def _tool_config(prepared: Prepared) -> tuple[str, str, str]:
    asked = prepared.chain.asked
    config = asked.config
    values = [config.get(key) for key in ("server", "tool", "pin")]
    if not all(isinstance(value, str) and value for value in values):
        raise ConfigInvalid(
            f"{asked.id}: config needs server, tool and pin (strings)",
            hint="Re-create the upstream tool items with 'kiwi mcp refresh <server>'.",
            details={"field": "config"},
        )
    server, tool, pin = (str(value) for value in values)
    return server, tool, pin


async def plan_mcp(
    kernel: Routes,
    prepared: Prepared,
    params: Mapping[str, Any],
    caps: CapabilitySet,
    *,
    thread_id: str | None,
    locked: bool,
    fetch_auth: bool,
) -> Plan:
    """The joined plan (see the module docstring); ``plan.mcp`` says what to call.

    Raises what ``finish`` raises, for the tool or the server, and ConfigInvalid for an
    upstream tool item without its server, tool name and pin.
    """
    # here, not at the top: every plan asks ``is_mcp``, and only an MCP plan needs these
    from kiwi_mcp.kernel.services.connectors.records import McpCall, ServerSpec

    asked = prepared.chain.asked
    if asked.tool_type == "mcp_server":
        plan = await finish(
            kernel, prepared, params, caps, thread_id=thread_id, fetch_auth=fetch_auth
        )
        spec = ServerSpec.from_config(server_of(asked.id), plan.config, env=plan.env)
        return dataclasses.replace(plan, mcp=McpCall(server=spec))
    link = prepared.chain.links[0]
    checked = validate_params(
        asked.parameters, dict(params), tool_id=asked.id, label=link.file.label
    )
    server, tool, pin = _tool_config(prepared)
    segment = asked.id.rsplit("/", 1)[-1]
    required = (*prepared.required, f"mcp.call:{server}/{segment}")
    require(caps, required, f"needed to run {asked.id}")
    if prepared.failed is not None:
        raise prepared.failed
    server_prepared = kernel.prepare(MCP_SERVERS + server, locked=locked)
    server_plan = await finish(
        kernel, server_prepared, {}, caps, thread_id=thread_id, fetch_auth=fetch_auth
    )
    spec = ServerSpec.from_config(server, server_plan.config, env=server_plan.env)
    assert prepared.lock is not None
    chain = Chain(links=(*prepared.chain.links[:-1], *server_plan.chain.links))
    return dataclasses.replace(
        server_plan,
        chain=chain,
        params=checked,
        caps_used=tuple(dict.fromkeys([*required, *server_plan.caps_used])),
        warnings=(*prepared.warnings, *server_plan.warnings),
        lockfile=prepared.lock,
        mcp=McpCall(server=spec, tool=tool, pin=pin, item=link.data, label=link.file.label),
    )
