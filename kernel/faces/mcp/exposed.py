"""Exposed tools: Kiwi tools the operator lists as MCP tools of their own (``kiwi serve --expose``).

Some hosts work better with direct tools than with ``execute``. An exposed tool is listed
next to the five (its name is its id with ``/`` → ``.``, its input schema its ``parameters``)
and a call to it runs exactly what ``execute`` with ``item_type: tool`` runs, in the server's
default project. Exposure is chosen by the operator when the server starts, never by an agent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kiwi_mcp.kernel.errors import KiwiError, UsageError
from kiwi_mcp.kernel.faces.mcp.schemas import TOOL_SPECS, ToolSpec

if TYPE_CHECKING:
    from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts

__all__ = ["ExposedTool", "expose_tools", "mcp_name"]

#: The input schema of a tool that declares no parameters.
NO_PARAMETERS: Final[Mapping[str, Any]] = {"type": "object", "additionalProperties": False}
#: MCP's tool-name charset and length (SEP-986).
_MCP_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,128}\Z")


def mcp_name(tool_id: str) -> str:
    """The MCP tool name of a Kiwi tool id: ``/`` becomes ``.`` (``web/fetch`` → ``web.fetch``)."""
    return tool_id.replace("/", ".")


@dataclass(frozen=True, kw_only=True, slots=True)
class ExposedTool:
    """One Kiwi tool listed as an MCP tool of its own."""

    tool_id: str
    spec: ToolSpec

    @property
    def name(self) -> str:
        return self.spec.name

    def execute_arguments(self, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        """The checked ``execute`` arguments a call with ``arguments`` stands for."""
        return {
            "item_type": "tool",
            "item_id": self.tool_id,
            "parameters": dict(arguments or {}),
            "dry_run": False,
            "thread": False,
        }


def _input_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    # The parser fills in a bare object schema when a tool declares no parameters.
    if dict(parameters) == {"type": "object"}:
        return dict(NO_PARAMETERS)
    return dict(parameters)


def _resolve(contexts: ProjectContexts, asked: str) -> ExposedTool:
    kernel = contexts.kernel()
    try:
        chain = kernel.resolve(asked)
        kernel.verify_chain(chain)
    except KiwiError as err:
        raise UsageError(
            f"--expose {asked}: cannot expose it: [{err.code}] {err.message}",
            hint=f"{err.hint} Or drop '--expose {asked}'.",
            item_id=asked,
            chain=err.chain,
            at=err.at,
            details={"code": err.code},
        ) from None
    tool = chain.asked
    name = mcp_name(tool.id)
    if not _MCP_NAME.match(name):
        raise UsageError(
            f"--expose {asked}: its MCP name {name!r} is longer than MCP's 128 characters",
            hint=f"Call it through 'execute' (item_id '{tool.id}') instead of exposing it.",
            item_id=tool.id,
        )
    spec = ToolSpec(
        name=name,
        title=tool.id,
        description=tool.description or f"Run the Kiwi tool '{tool.id}'.",
        input_schema=_input_schema(tool.parameters),
        destructive=True,
        open_world=True,
    )
    return ExposedTool(tool_id=tool.id, spec=spec)


def expose_tools(contexts: ProjectContexts, tool_ids: Iterable[str]) -> tuple[ExposedTool, ...]:
    """Resolve and verify each tool in the default project, and name it as an MCP tool.

    A bare name is resolved as ``execute`` resolves it; the exposed tool is named (and
    called) by its full id. Calls resolve and verify the tool again, so a file that changes
    while the server runs is checked as for ``execute``.

    Raises:
        UsageError: a tool that does not resolve or verify (the message carries its error
            code and hint), or an MCP name that clashes with one of the five tools or with
            another exposed tool.
    """
    own = {spec.name for spec in TOOL_SPECS}
    exposed: dict[str, ExposedTool] = {}
    for asked in tool_ids:
        tool = _resolve(contexts, asked)
        if tool.name in own:
            raise UsageError(
                f"--expose {asked}: its MCP name {tool.name!r} is one of Kiwi's own tools "
                f"({', '.join(spec.name for spec in TOOL_SPECS)})",
                hint=f"Call it through 'execute' (item_id '{tool.tool_id}'), or move it into "
                f"a folder (e.g. .ai/tools/<folder>/{tool.tool_id}) so its name differs.",
                item_id=tool.tool_id,
            )
        other = exposed.get(tool.name)
        if other is not None and other.tool_id == tool.tool_id:
            raise UsageError(
                f"--expose {asked}: tool '{tool.tool_id}' is exposed twice",
                hint="Give each tool one --expose.",
                item_id=tool.tool_id,
            )
        if other is not None:
            raise UsageError(
                f"--expose {asked}: tools '{other.tool_id}' and '{tool.tool_id}' would both "
                f"be named {tool.name!r}",
                hint="Expose only one of them; call the other through 'execute'.",
                item_id=tool.tool_id,
            )
        exposed[tool.name] = tool
    return tuple(exposed.values())
