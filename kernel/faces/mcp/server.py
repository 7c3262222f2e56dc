"""Kiwi's MCP face on the SDK's low-level ``Server`` (SPEC §10): parse, call, translate.

* ``tools/list`` offers ``search``, ``load``, ``execute``, ``sign`` and ``help`` with their
  exact schemas, then the tools the operator exposed (``kiwi serve --expose``); ``tools/call``
  validates arguments itself and answers with the result envelope as ``structuredContent``
  plus the same JSON as text (``isError`` when ``ok`` is false). A call to an exposed tool is
  an ``execute`` of it. An unknown tool name is a protocol error.
* Directives are offered as prompts and knowledge entries as ``kiwi://knowledge/<id>``
  resources of the default project.
* While ``execute`` runs, streamed events become progress notifications when the client
  sent a progress token; a client's cancellation cancels the handler task, which stops
  the primitive (the subprocess primitive kills its process group).
* No traceback reaches a client: unexpected exceptions are logged to stderr and answered
  with an ``INTERNAL_ERROR`` envelope naming only the exception type.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from kiwi_mcp.kernel._version import __version__
from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.faces.mcp import elicit
from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts
from kiwi_mcp.kernel.faces.mcp.exposed import ExposedTool
from kiwi_mcp.kernel.faces.mcp.results import internal_error, tool_result
from kiwi_mcp.kernel.faces.mcp.schemas import ENVELOPE_SCHEMA, TOOL_SPECS, ToolSpec, tool_spec

__all__ = ["KNOWLEDGE_URI", "KiwiServer", "build_server"]

logger = logging.getLogger("kiwi.mcp")

KNOWLEDGE_URI: Final = "kiwi://knowledge/"
#: MCP's code for a resource that does not exist.
RESOURCE_NOT_FOUND: Final = -32002
#: Streamed events kept waiting for the client before newer ones are dropped.
_PROGRESS_BUFFER: Final = 256
_PROGRESS_TEXT: Final = 200
#: calls answered inline by the client's user (protocols before 2026-07-28) before the record
_ASK_ROUNDS: Final = 4
_EXECUTE: Final = next(spec for spec in TOOL_SPECS if spec.name == "execute")
_INSTRUCTIONS: Final = (
    "Kiwi serves an agent's tools, directives and knowledge from .ai/ folders (project, "
    "user, system). Use 'search' to find items, 'load' to read one, 'execute' to run a tool "
    "or get a directive's instructions, 'sign' to sign reviewed items, and 'help' for "
    "guidance or to signal that you are stuck. Every result is an envelope "
    "{ok, data, error, meta}; error.hint says what to do next."
)


def _tool(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=dict(spec.input_schema),
        output_schema=dict(ENVELOPE_SCHEMA),
        annotations=types.ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=spec.open_world,
        ),
    )


def _describe(event: Mapping[str, Any]) -> str:
    data = event.get("data")
    if event.get("event") in ("llm.text_delta", "llm.thinking_delta") and isinstance(data, dict):
        return str(data.get("text", ""))[:_PROGRESS_TEXT]  # an LLM's text as it is written
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    name = str(event.get("event", "event"))
    if name not in ("stdout", "message"):
        text = f"{name}: {text}"
    text = text.rstrip("\n")
    return text if len(text) <= _PROGRESS_TEXT else text[: _PROGRESS_TEXT - 1] + "…"


def _kiwi_error(err: KiwiError, code: int = types.INVALID_PARAMS) -> MCPError:
    from kiwi_mcp.kernel.faces.mcp.hints import for_mcp

    return MCPError(code=code, message=f"[{err.code}] {err.message} (hint: {for_mcp(err.hint)})")


def _coerce(text: str, kind: str) -> Any:
    """A prompt argument (always a string on the wire) as its declared input type."""
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind in ("array", "object"):
            return json.loads(text)
    except ValueError:
        pass
    return text  # left as given: the input check names the field and the wanted type


class KiwiServer:
    """The handlers, bound to the per-project kernels they serve (and the exposed tools)."""

    def __init__(self, contexts: ProjectContexts, exposed: Sequence[ExposedTool] = ()) -> None:
        self.contexts = contexts
        self._exposed = {tool.name: tool for tool in exposed}
        specs = [*TOOL_SPECS, *(tool.spec for tool in exposed)]
        self._tools = types.ListToolsResult(tools=[_tool(spec) for spec in specs])

    def build(self) -> Server[Any]:
        """The SDK server with every handler registered."""
        # No logging/setLevel handler: Kiwi sends no log messages to clients (it logs to
        # stderr or KIWI_LOG_FILE), so it does not advertise the logging capability.
        server: Server[Any] = Server(
            "kiwi",
            version=__version__,
            title="Kiwi",
            instructions=_INSTRUCTIONS,
            get_tool_input_schema=self._input_schema,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_list_resources=self._list_resources,
            on_read_resource=self._read_resource,
            on_list_resource_templates=self._list_resource_templates,
        )
        # Approvals asked through elicitation name their rows in requestState: sealed under a
        # key of this process and bound to the request, so a client cannot widen what it may
        # answer (faces/mcp/elicit.py).
        from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity

        security = RequestStateSecurity.ephemeral(ttl=3600.0)
        server.middleware.append(RequestStateBoundary(security, default_audience="kiwi"))
        return server

    # --- tools ------------------------------------------------------------------------

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        spec = tool_spec(name)
        if spec is None and name in self._exposed:
            spec = self._exposed[name].spec
        return spec.input_schema if spec else None

    async def _list_tools(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return self._tools

    async def _call_tool(
        self, ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        spec = tool_spec(params.name)
        exposed = self._exposed.get(params.name) if spec is None else None
        if exposed is not None:
            spec = _EXECUTE
        if spec is None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"Unknown tool: {params.name!r}",
                data={"tools": [s.name for s in TOOL_SPECS] + list(self._exposed)},
            )
        from kiwi_mcp.kernel.core.envelope import error_envelope
        from kiwi_mcp.kernel.faces.mcp.actions import run_tool
        from kiwi_mcp.kernel.faces.mcp.arguments import check_arguments

        if exposed is not None:
            # Exactly an execute of the tool; the kernel checks its params (PARAMS_INVALID).
            args = exposed.execute_arguments(params.arguments)
        else:
            try:
                args = check_arguments(spec, params.arguments)
            except KiwiError as err:
                return tool_result(error_envelope(err, {"tool": spec.name}))
        token = (ctx.meta or {}).get("progress_token")
        try:
            if spec.name != "execute":
                return tool_result(await run_tool(self.contexts, spec.name, args))
            replied = await elicit.apply_replies(self.contexts, args, params)
            for _ in range(_ASK_ROUNDS):
                if token is not None:
                    envelope = await self._execute_with_progress(ctx, args)
                else:
                    envelope = await run_tool(self.contexts, spec.name, args)
                asked = await elicit.ask(self.contexts, ctx, args, envelope, replied=replied)
                if asked is not True:
                    break
            if isinstance(asked, types.InputRequiredResult):
                return asked
        except Exception as exc:  # the face catches broadly; cancellation still propagates
            logger.exception("tool %r failed", params.name)
            envelope = internal_error(params.name, exc)
        finally:
            await self.contexts.reap()
        return tool_result(envelope)

    async def _execute_with_progress(self, ctx: Any, args: Mapping[str, Any]) -> dict[str, Any]:
        """Run ``execute`` while a pump turns its events into progress notifications."""
        from kiwi_mcp.kernel.faces.mcp.actions import run_tool

        send, receive = anyio.create_memory_object_stream[dict[str, Any]](_PROGRESS_BUFFER)
        dropped = 0

        def on_event(event: dict[str, Any]) -> None:
            nonlocal dropped
            try:
                send.send_nowait(event)
            except anyio.WouldBlock:
                dropped += 1  # a slow client loses progress lines, never the run

        async def pump() -> None:
            count = 0
            async with receive:
                async for event in receive:
                    count += 1
                    try:
                        await ctx.session.report_progress(float(count), None, _describe(event))
                    except Exception:
                        logger.debug("progress notification not sent", exc_info=True)

        async with anyio.create_task_group() as group:
            group.start_soon(pump)
            with send:
                envelope = await run_tool(self.contexts, "execute", args, on_event=on_event)
        if dropped:
            envelope["meta"]["progress_dropped"] = dropped
        return envelope

    # --- prompts (directives) and resources (knowledge) -----------------------------------

    async def _winners(self, kind: Any) -> list[Any]:
        """The loadable item of each id of ``kind`` in the default project (first space wins)."""
        from kiwi_mcp.kernel.faces.mcp.actions import off_loop
        from kiwi_mcp.kernel.ops.load import offered

        kernel = self.contexts.kernel()
        found = await off_loop(kernel, offered, kernel, kind)
        for item_id, err in found.skipped:
            logger.debug("%s %s not offered: %s", kind, item_id, err.message)
        return list(found.items)

    async def _list_prompts(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        prompts = []
        for loaded in await self._winners("directive"):
            directive = loaded.item
            prompts.append(
                types.Prompt(
                    name=directive.id,
                    title=directive.name,
                    description=directive.description or None,
                    arguments=[
                        types.PromptArgument(
                            name=entry.name,
                            description=entry.description or None,
                            required=entry.required and entry.default is None,
                        )
                        for entry in directive.inputs
                    ],
                )
            )
        return types.ListPromptsResult(prompts=prompts)

    async def _get_prompt(
        self, ctx: Any, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        from kiwi_mcp.kernel.faces.mcp.actions import off_loop, run_tool
        from kiwi_mcp.kernel.ops.load import read

        kernel = self.contexts.kernel()
        try:
            directive = (await off_loop(kernel, read, kernel, "directive", params.name)).item
        except KiwiError as err:
            raise _kiwi_error(err) from None
        declared = {e.name: e.type for e in getattr(directive, "inputs", ())}
        inputs = {
            name: _coerce(value, declared.get(name, "string"))
            for name, value in (params.arguments or {}).items()
        }
        args = {
            "item_type": "directive",
            "item_id": params.name,
            "parameters": inputs,
            "dry_run": False,
            "thread": False,
        }
        envelope = await run_tool(self.contexts, "execute", args)
        if not envelope["ok"]:
            error = envelope["error"]
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"[{error['code']}] {error['message']} (hint: {error['hint']})",
            )
        data = envelope["data"]
        return types.GetPromptResult(
            description=data["description"] or None,
            messages=[
                types.PromptMessage(
                    role="user",
                    content=types.TextContent(type="text", text=data["instructions"]),
                )
            ],
        )

    async def _list_resources(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        resources = []
        for loaded in await self._winners("knowledge"):
            entry = loaded.item
            resources.append(
                types.Resource(
                    uri=f"{KNOWLEDGE_URI}{entry.id}",
                    name=entry.id,
                    title=entry.title,
                    description=", ".join(entry.tags) or None,
                    mime_type="text/markdown",
                    size=len(loaded.data),
                )
            )
        return types.ListResourcesResult(resources=resources)

    async def _list_resource_templates(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        """Answered, empty: every knowledge entry is listed as a concrete resource (SPEC §10)."""
        return types.ListResourceTemplatesResult(resource_templates=[])

    async def _read_resource(
        self, ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        from kiwi_mcp.kernel.faces.mcp.actions import off_loop
        from kiwi_mcp.kernel.ops.load import read_knowledge

        uri = str(params.uri)
        item_id = uri[len(KNOWLEDGE_URI) :] if uri.startswith(KNOWLEDGE_URI) else None
        if not item_id:
            raise MCPError(
                code=RESOURCE_NOT_FOUND,
                message=f"Resource not found: {uri} (Kiwi serves {KNOWLEDGE_URI}<id>)",
                data={"uri": uri},
            )
        try:
            kernel = self.contexts.kernel()
            text = await off_loop(kernel, read_knowledge, kernel, item_id)
        except KiwiError as err:
            missing = err.code in ("ITEM_NOT_FOUND", "INVALID_ID")
            code = RESOURCE_NOT_FOUND if missing else types.INVALID_PARAMS
            raise _kiwi_error(err, code) from None
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="text/markdown", text=text)]
        )


def build_server(contexts: ProjectContexts, exposed: Sequence[ExposedTool] = ()) -> Server[Any]:
    """The SDK server for ``contexts`` (its handlers are bound to them), listing ``exposed``
    next to the five tools."""
    return KiwiServer(contexts, exposed).build()
