"""What each MCP tool does: parse the checked arguments, call ``kernel/ops``, build the envelope.

Each tool's function returns its result data (``execute``: the envelope ``ops.execute``
built) and lets ``KiwiError`` through; ``run_tool`` wraps both into the result envelope
of SPEC §5.5. Nothing here knows about the MCP SDK.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from kiwi_mcp.kernel.core.envelope import error_envelope, ok_envelope
from kiwi_mcp.kernel.core.ids import parse_kind
from kiwi_mcp.kernel.errors import KiwiError, UsageError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.core.spaces import SpaceName
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts

__all__ = ["EventHook", "off_loop", "run_tool"]

EventHook = Callable[[dict[str, Any]], None]
T = TypeVar("T")
_SPACES: tuple[SpaceName, ...] = ("project", "user", "system")


def search_items(kernel: Kernel, args: Mapping[str, Any]) -> dict[str, Any]:
    from kiwi_mcp.kernel.core.ids import KINDS
    from kiwi_mcp.kernel.ops.search import left_out_count, search, skipped_entries

    kinds = (parse_kind(args["item_type"]),) if "item_type" in args else KINDS
    source = args["source"]
    if source == "registry":  # only the registry tier (``run_tool`` adds it)
        return {"query": args["query"], "hits": []}
    spaces = _SPACES if source == "all" else (cast("SpaceName", source),)
    hits = search(
        kernel,
        args["query"],
        kinds=kinds,
        spaces=spaces,
        limit=args["limit"],
        mode=args.get("mode", "hybrid"),
    )
    data: dict[str, Any] = {"query": args["query"], "hits": [hit.to_dict() for hit in hits]}
    skipped = skipped_entries(kernel, kinds=kinds, spaces=spaces)
    if skipped:
        data["skipped"] = skipped
    left_out = left_out_count(kernel, kinds=kinds, spaces=spaces)
    if left_out:  # missing for a reason, not absent: the operator can see which
        data["left_out"] = {
            "count": left_out,
            "why": f"they do not verify under KIWI_VERIFY={kernel.settings.verify}",
            "hint": "Ask the operator to run 'kiwi index status', which names each and why.",
        }
    return data


def load_item(kernel: Kernel, args: Mapping[str, Any]) -> dict[str, Any]:
    from kiwi_mcp.kernel.ops.load import load

    report = load(
        kernel,
        parse_kind(args["item_type"]),
        args["item_id"],
        within=(args["source"],) if "source" in args else _SPACES,
        destination=args.get("destination"),
    )
    return report.to_dict()


async def execute_item(
    kernel: Kernel, args: Mapping[str, Any], on_event: EventHook | None
) -> dict[str, Any]:
    from kiwi_mcp.kernel.ops.execute import execute

    if args["thread"]:
        return await _start_thread(kernel, args)

    return await execute(
        kernel,
        parse_kind(args["item_type"]),
        args["item_id"],
        args["parameters"],
        dry_run=args["dry_run"],
        thread=args["thread"],
        on_event=on_event,
    )


async def _start_thread(kernel: Kernel, args: Mapping[str, Any]) -> dict[str, Any]:
    """``execute(directive, thread: true)`` (SPEC §13.1): ``{thread_id, status}`` at once."""
    from kiwi_mcp.kernel.runtime.threads.start import start_thread

    started = time.perf_counter()
    meta: dict[str, Any] = {"tool": "execute"}
    if parse_kind(args["item_type"]) != "directive":
        raise UsageError(
            "arguments.thread: only a directive runs as a thread",
            hint="Call execute with item_type 'directive', or without 'thread'.",
        )
    try:
        data = await start_thread(
            kernel, args["item_id"], args["parameters"], caps=kernel.caps, caller="mcp"
        )
        meta["thread_id"] = data["thread_id"]
        envelope = ok_envelope(data, meta)
    except KiwiError as err:
        envelope = error_envelope(err, meta)
    meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return envelope


def sign_matching(kernel: Kernel, args: Mapping[str, Any]) -> dict[str, Any]:
    from kiwi_mcp.kernel.ops.sign import sign_items

    signed = sign_items(
        kernel.store,
        kernel.settings.user_space,
        parse_kind(args["item_type"]),
        args["item_id"],
        caps=kernel.caps,
    )
    # The signing key may be new since this kernel last read the trust store.
    kernel.verifier.forget_keys()
    return {"signed": [entry.to_dict() for entry in signed]}


def help_data(kernel: Kernel, args: Mapping[str, Any]) -> dict[str, Any]:
    from kiwi_mcp.kernel.ops.help import help_topic, record_signal

    action = args.get("action")
    if action is None:
        if "reason" in args:
            raise UsageError(
                "arguments.reason: only meaningful with 'action'",
                hint="Add action 'stuck', 'escalate' or 'checkpoint', or drop 'reason'.",
            )
        return help_topic(args.get("topic"))
    data = record_signal(kernel, action, args.get("reason"))
    if "topic" in args:
        data["help"] = help_topic(args["topic"])
    return data


#: The ``meta`` a model can use (SPEC §10): no response headers, no absolute paths.
_META_KEYS: Final = (
    "chain",
    "primitive",
    "duration_ms",
    "thread_id",
    "space",
    "lockfile",
    "warnings",
    "checkpoint_recommended",
    "progress_dropped",
)


def model_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """An execute envelope's ``meta`` trimmed for a model: the keys above, the HTTP status
    (and attempts, streamed events), a process's exit code and stderr tail."""
    out = {key: meta[key] for key in _META_KEYS if key in meta}
    http = meta.get("http")
    if isinstance(http, Mapping):
        out["http"] = {k: http[k] for k in ("status", "attempts", "events") if k in http}
    process = meta.get("process")
    if isinstance(process, Mapping):
        out["process"] = {
            k: process[k] for k in ("exit_code", "stderr", "truncated") if k in process
        }
    return out


async def off_loop(kernel: Kernel, fn: Callable[..., T], *args: Any) -> T:
    """Run a synchronous kernel op (reading and parsing item files) in a worker thread, so
    one slow file never stalls the server's other clients; ``kernel.guard`` keeps the
    kernel's calls one at a time (its stores are not shared across threads otherwise)."""
    import anyio.to_thread

    async with kernel.guard:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args))


def _sync_tool(kernel: Kernel, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """``search``, ``load``, ``sign`` or ``help``: their data (runs in a worker thread)."""
    if name == "help":
        return help_data(kernel, args)
    # an unsigned or changed policy refuses every agent call (SPEC §9.4)
    kernel.caps  # noqa: B018
    if name == "search":
        return search_items(kernel, args)
    if name == "load":
        return load_item(kernel, args)
    return sign_matching(kernel, args)


async def _with_registry_tier(
    kernel: Kernel, args: Mapping[str, Any], data: dict[str, Any]
) -> None:
    """``search(source: registry|all)``: the registry's hits after the local ones, each with
    ``tier: registry`` (SPEC §16); ``all`` only when the server has ``KIWI_REGISTRY``."""
    from kiwi_mcp.kernel.ops.registry import search_tier

    tier = await search_tier(
        kernel,
        args["query"],
        kind=args.get("item_type"),
        limit=args["limit"],
        required=args["source"] == "registry",
    )
    if tier is None:
        return
    data["hits"] = [*data["hits"], *tier["hits"]]
    data["registry"] = tier["registry"]
    if "warning" in tier:
        data["registry_warning"] = tier["warning"]


async def run_tool(
    contexts: ProjectContexts,
    name: str,
    args: Mapping[str, Any],
    *,
    on_event: EventHook | None = None,
) -> dict[str, Any]:
    """Run one checked tool call and return its envelope; never raises ``KiwiError``."""
    started = time.perf_counter()
    meta: dict[str, Any] = {"tool": name}
    try:
        kernel = contexts.kernel(args.get("project_path"))
        if name == "execute":
            envelope = await execute_item(kernel, args, on_event)
            envelope["meta"] = model_meta(envelope["meta"])
            return envelope
        data = await off_loop(kernel, _sync_tool, kernel, name, args)
        if name == "search" and args.get("source") in ("registry", "all"):
            await _with_registry_tier(kernel, args, data)
        envelope = ok_envelope(data, meta)
    except KiwiError as err:
        envelope = error_envelope(err, meta)
    meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    envelope["meta"] = meta
    return envelope
