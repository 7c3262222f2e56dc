"""What a thread's LLM is offered (SPEC §13.1) and how its calls run: Kiwi's ``search``,
``load``, ``execute`` and ``help``, and the directive's ``<tools>`` under wire-safe names
(``web/fetch`` → ``web__fetch``; an upstream MCP tool ``mcp/github/issues_list`` →
``mcp__github__issues_list``, SPEC §14). Every call is an ordinary op through the gate, on the
thread's kernel, whose capabilities are the thread's token; nothing here widens them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kiwi_mcp.kernel.core.envelope import error_envelope, ok_envelope
from kiwi_mcp.kernel.core.ids import KINDS, parse_kind
from kiwi_mcp.kernel.core.thread_plan import wire_name
from kiwi_mcp.kernel.errors import KiwiError, UsageError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = ["KIWI_TOOLS", "Offer", "offer", "run_call", "safe_to_repeat"]

_KIND = {"type": "string", "enum": list(KINDS)}
KIWI_TOOLS: Final[tuple[dict[str, Any], ...]] = (
    {
        "name": "search",
        "description": "Find Kiwi items (tools, directives, knowledge) by keywords.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "item_type": _KIND,
                "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            },
            "required": ["query"],
        },
    },
    {
        "name": "load",
        "description": "Read an item: its parsed metadata and text.",
        "parameters": {
            "type": "object",
            "properties": {"item_type": _KIND, "item_id": {"type": "string"}},
            "required": ["item_type", "item_id"],
        },
    },
    {
        "name": "execute",
        "description": "Run a tool with parameters (or get a directive's instructions, a "
        "knowledge entry); returns the result envelope. With thread: true a directive runs "
        "as a child thread (within your own permissions and budget): you get its thread_id "
        "at once, and threads/status with wait_s waits for it.",
        "parameters": {
            "type": "object",
            "properties": {
                "item_type": _KIND,
                "item_id": {"type": "string"},
                "parameters": {"type": "object"},
                "thread": {"type": "boolean"},
            },
            "required": ["item_type", "item_id"],
        },
    },
    {
        "name": "help",
        "description": "Guidance on Kiwi, or a signal to the operator: action 'stuck', "
        "'escalate' (a human should look) or 'checkpoint', with a reason.",
        "parameters": {
            "type": "object",
            "properties": {
                "topic": {"type": "string"},
                "action": {"type": "string", "enum": ["stuck", "escalate", "checkpoint"]},
                "reason": {"type": "string"},
            },
        },
    },
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Offer:
    """The tool definitions sent to the LLM and what each wire name stands for."""

    tools: tuple[Mapping[str, Any], ...]
    #: wire name → ("kiwi", name) or ("tool", tool id)
    names: Mapping[str, tuple[str, str]]


def offer(kernel: Kernel, directive_tools: Sequence[str]) -> Offer:
    """Kiwi's four tools and the directive's ``<tools>`` (each resolved: its description and
    ``parameters``; one that cannot be loaded is offered by id with an open schema)."""
    tools: list[Mapping[str, Any]] = list(KIWI_TOOLS)
    names: dict[str, tuple[str, str]] = {t["name"]: ("kiwi", t["name"]) for t in KIWI_TOOLS}
    for tool_id in _expanded(kernel, directive_tools):
        name = wire_name(tool_id)
        if name in names:
            continue
        description, parameters = f"Kiwi tool {tool_id}", {"type": "object"}
        try:
            chain = kernel.resolve(tool_id)
            description = chain.asked.description or description
            parameters = dict(chain.asked.parameters)
        except KiwiError:
            pass  # the call will say why, through the gate
        tools.append({"name": name, "description": description, "parameters": parameters})
        names[name] = ("tool", tool_id)
    return Offer(tools=tuple(tools), names=names)


def _expanded(kernel: Kernel, directive_tools: Sequence[str]) -> list[str]:
    """The directive's tool ids with each glob (``git/*``, ``mcp/github/issues_*`` from an
    ``<mcp server tools>`` entry) replaced by the ids it matches, sorted; a glob matching
    nothing is dropped (there is nothing to offer)."""
    from kiwi_mcp.kernel.trust.globs import glob_covers

    out: list[str] = []
    for tool_id in directive_tools:
        if "*" not in tool_id:
            out.append(tool_id)
            continue
        kernel.store.refresh("tool")
        ids = {file.id for file in kernel.store.iter_files("tool")}
        out.extend(sorted(i for i in ids if glob_covers(tool_id, i, "path")))
    return out


def _text(envelope: Mapping[str, Any]) -> str:
    """What the LLM reads back: ``data`` as JSON, or ``CODE: message. hint``."""
    if envelope.get("ok"):
        return json.dumps(envelope.get("data"), ensure_ascii=False, default=str)
    error = envelope.get("error") or {}
    hint = f" {error.get('hint')}" if error.get("hint") else ""
    return f"{error.get('code')}: {error.get('message')}.{hint}"


async def run_call(
    kernel: Kernel, offer_: Offer, name: str, arguments: Mapping[str, Any], *, thread_id: str
) -> tuple[dict[str, Any], str]:
    """Run one tool call of the LLM; returns (the envelope, the text the LLM gets back)."""
    target = offer_.names.get(name)
    try:
        if target is None:
            raise UsageError(
                f"no tool {name!r} is offered to this thread",
                hint=f"Use one of: {', '.join(sorted(offer_.names))}.",
            )
        kind, ident = target
        if kind == "tool":
            envelope = await kernel.execute(ident, arguments, thread_id=thread_id)
        elif ident == "execute":
            envelope = await _execute(kernel, arguments, thread_id)
        else:
            envelope = ok_envelope(_sync(kernel, ident, arguments), {"tool": ident})
    except KiwiError as err:
        envelope = error_envelope(err, {"tool": name})
    return envelope, _text(envelope)


async def _execute(kernel: Kernel, args: Mapping[str, Any], thread_id: str) -> dict[str, Any]:
    from kiwi_mcp.kernel.ops.execute import execute

    kind = parse_kind(str(args.get("item_type", "")))
    params = args.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise UsageError("arguments.parameters: wanted an object")
    if kind == "tool":
        return await kernel.execute(str(args.get("item_id", "")), params, thread_id=thread_id)
    if args.get("thread") is True:
        if kind != "directive":
            raise UsageError("arguments.thread: only a directive runs as a thread")
        from kiwi_mcp.kernel.runtime.threads.start import start_thread

        data = await start_thread(
            kernel,
            str(args.get("item_id", "")),
            params,
            caps=kernel.caps,
            caller=f"thread:{thread_id}",
            parent=thread_id,
        )
        return ok_envelope(data, {"tool": "execute", "thread_id": data["thread_id"]})
    return await execute(kernel, kind, str(args.get("item_id", "")), params)


def _sync(kernel: Kernel, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    if name == "search":
        from kiwi_mcp.kernel.ops.search import search

        kinds = (parse_kind(str(args["item_type"])),) if "item_type" in args else KINDS
        hits = search(
            kernel, str(args.get("query", "")), kinds=kinds, limit=int(args.get("limit", 20))
        )
        return {"hits": [hit.to_dict() for hit in hits]}
    if name == "load":
        from kiwi_mcp.kernel.ops.load import load

        report = load(
            kernel, parse_kind(str(args.get("item_type", ""))), str(args.get("item_id", ""))
        )
        return report.to_dict()
    from kiwi_mcp.kernel.ops.help import help_topic, record_signal

    action = args.get("action")
    if action is None:
        return help_topic(args.get("topic"))
    return record_signal(kernel, str(action), args.get("reason"))


def safe_to_repeat(kernel: Kernel, offer_: Offer, name: str, arguments: Mapping[str, Any]) -> bool:
    """Whether running this call again cannot repeat an effect (SPEC §13.5): Kiwi's reads,
    a refused name, or a tool annotated ``read_only`` or ``idempotent``."""
    target = offer_.names.get(name)
    if target is None:
        return True  # it was refused: running the refusal again changes nothing
    kind, ident = target
    if kind == "kiwi" and ident in ("search", "load"):
        return True
    if kind == "kiwi" and ident == "execute":
        if arguments.get("thread") is True:
            return False  # a child thread: starting it again would be a second child
        if arguments.get("item_type") != "tool":
            return True  # a directive's text or a knowledge entry
        ident = str(arguments.get("item_id", ""))
    elif kind == "kiwi":
        return False  # help: a signal is recorded once
    try:
        annotations = kernel.resolve(ident).asked.annotations
    except KiwiError:
        return True  # it cannot run at all now
    return annotations.read_only or annotations.idempotent
