"""What each MCP tool does: parse the checked arguments, call the kernel, build the envelope.

Each tool's function returns its result data (``execute`` of a tool: the kernel's own
envelope) and lets ``KiwiError`` through; ``run_tool`` wraps both into the result envelope
of SPEC §5.5. Nothing here knows about the MCP SDK.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kiwi_mcp.kernel.core.envelope import error_envelope, ok_envelope
from kiwi_mcp.kernel.core.ids import Kind, folder_for, parse_kind
from kiwi_mcp.kernel.errors import KiwiError, NotAvailable, PermissionDenied, UsageError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.core.spaces import LoadedItem, SpaceName
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts

__all__ = ["EventHook", "load_verified", "run_tool"]

EventHook = Callable[[dict[str, Any]], None]
_SPACES: tuple[SpaceName, ...] = ("project", "user", "system")


def _require(kernel: Kernel, cap: str) -> None:
    if not kernel.caps.covers(cap):
        raise PermissionDenied(
            f"missing capability {cap}",
            hint=f"Grant '{cap}' in .ai/config/policy.yaml.",
            details={"missing": [cap]},
        )


def _load_cap(kind: Kind, item_id: str) -> str:
    # directive.execute and tool.execute imply the matching .load (SPEC §9.1)
    return f"{kind}.load:{item_id}"


def _integrity(kernel: Kernel, loaded: LoadedItem) -> dict[str, Any]:
    try:
        warning = kernel.verifier.check(loaded)
    except KiwiError as err:
        return {"status": "failed", "code": err.code, "message": err.message}
    if warning:
        return {"status": "unverified", "warning": warning}
    return {"status": "verified"}


def search_items(kernel: Kernel, args: Mapping[str, Any]) -> dict[str, Any]:
    from kiwi_mcp.kernel.core.ids import KINDS
    from kiwi_mcp.kernel.ops.search import search

    kinds = (parse_kind(args["item_type"]),) if "item_type" in args else KINDS
    source = args["source"]
    spaces = _SPACES if source == "all" else (cast("SpaceName", source),)
    hits = search(kernel.store, args["query"], kinds=kinds, spaces=spaces, limit=args["limit"])
    return {"query": args["query"], "hits": [hit.to_dict() for hit in hits]}


def load_item(kernel: Kernel, args: Mapping[str, Any]) -> dict[str, Any]:
    kind = parse_kind(args["item_type"])
    within = (args["source"],) if "source" in args else _SPACES
    kernel.store.refresh()
    loaded = kernel.store.load(kind, args["item_id"], within=within)
    _require(kernel, _load_cap(kind, loaded.file.id))
    located = loaded.located
    data: dict[str, Any] = {
        "kind": kind,
        "id": loaded.file.id,
        "space": loaded.file.space,
        "path": str(loaded.file.path),
        "shadowed": [f.to_dict() for f in located.shadowed],
        "ignored": [f.to_dict() for f in located.ignored],
        "item": loaded.item.to_dict(),
        "raw": loaded.data.decode("utf-8", errors="replace"),
        "sha256": loaded.sha256,
        "integrity": _integrity(kernel, loaded),
    }
    if "destination" in args:
        data["copied_to"] = _copy(kernel, loaded, args["destination"])
    return data


def _copy(kernel: Kernel, loaded: LoadedItem, destination: SpaceName) -> dict[str, Any]:
    """Copy an item file (and a tool's extra files) into another space; never overwrite."""
    from kiwi_mcp.kernel.trust.verifier import extra_files_of

    file = loaded.file
    if destination == file.space:
        raise UsageError(
            f"{file.kind} {file.id} already lives in the {destination} space",
            hint="Pick the other writable space, or edit the file where it is.",
        )
    space = kernel.store.space(destination)
    if space is None:
        raise UsageError(f"this server has no {destination} space")
    rel = Path(folder_for(file.kind)) / f"{file.id}{file.ext}"
    if destination == "project":
        _require(kernel, f"fs.write:.ai/{rel.as_posix()}")
    target = space.root / rel
    extras = extra_files_of(loaded)
    targets = [target, *(target.parent / name for name, _ in extras)]
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        raise UsageError(
            f"refusing to overwrite {', '.join(existing)}",
            hint="Delete or rename the existing file first, or load it instead.",
            details={"existing": existing},
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(file.path, target)
    for name, data in extras:
        extra = target.parent / name
        extra.parent.mkdir(parents=True, exist_ok=True)
        extra.write_bytes(data)
    return {"space": destination, "path": str(target), "files": [str(p) for p in targets]}


async def execute_item(
    kernel: Kernel, args: Mapping[str, Any], on_event: EventHook | None
) -> dict[str, Any]:
    kind = parse_kind(args["item_type"])
    if args["thread"]:
        raise NotAvailable(
            "threads are not available yet: execute with thread: true needs the thread "
            "runtime, which a later Kiwi release adds",
            hint="Call execute without 'thread' (inline mode) and follow the returned "
            "instructions yourself.",
            details={"feature": "threads"},
        )
    if kind == "tool":
        return await kernel.execute(
            args["item_id"], args["parameters"], dry_run=args["dry_run"], on_event=on_event
        )
    return _execute_inline(kernel, kind, args)


def load_verified(kernel: Kernel, kind: Kind, item_id: str) -> tuple[LoadedItem, str | None]:
    """Load a directive or knowledge entry for use: capability checked, file verified.

    Returns the item and the verification warning (``hash``/``off`` policies), if any.

    Raises:
        KiwiError: not found, ambiguous, unparsable, PERMISSION_DENIED
            (``directive.execute`` / ``knowledge.load``), or a signature/integrity error.
    """
    kernel.store.refresh()
    loaded = kernel.store.load(kind, item_id)
    action = "directive.execute" if kind == "directive" else "knowledge.load"
    _require(kernel, f"{action}:{loaded.file.id}")
    return loaded, kernel.verifier.check(loaded)


def _execute_inline(kernel: Kernel, kind: Kind, args: Mapping[str, Any]) -> dict[str, Any]:
    """A directive (inline mode) or a knowledge entry, verified like a tool's links."""
    from kiwi_mcp.kernel.core.directives import directive_data, knowledge_data
    from kiwi_mcp.kernel.core.items import Directive, Knowledge
    from kiwi_mcp.kernel.trust.audit.log import call_record

    started = time.perf_counter()
    meta: dict[str, Any] = {"chain": [], "primitive": None}
    envelope: dict[str, Any]
    try:
        loaded, warning = load_verified(kernel, kind, args["item_id"])
        meta.update(chain=[loaded.file.id], space=loaded.file.space)
        if warning:
            meta["warnings"] = [warning]
        item = loaded.item
        if isinstance(item, Directive):
            data = directive_data(item, args["parameters"])
            if args["dry_run"]:
                data["dry_run"] = True
        else:
            data = knowledge_data(cast(Knowledge, item))
        envelope = ok_envelope(data, meta)
    except KiwiError as err:
        envelope = error_envelope(err, meta)
    meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    envelope["meta"] = meta
    kernel.audit.append(
        call_record(
            session=kernel.session,
            thread=None,
            item=f"{kind}:{args['item_id']}",
            params=args["parameters"],
            caps_used=[],
            envelope=envelope,
        )
    )
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
        meta["project"] = str(kernel.settings.project_root)
        if name == "execute":
            envelope = await execute_item(kernel, args, on_event)
            envelope["meta"].setdefault("project", meta["project"])
            return envelope
        if name == "search":
            data = search_items(kernel, args)
        elif name == "load":
            data = load_item(kernel, args)
        elif name == "sign":
            data = sign_matching(kernel, args)
        else:
            data = help_data(kernel, args)
        envelope = ok_envelope(data, meta)
    except KiwiError as err:
        envelope = error_envelope(err, meta)
    meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    envelope["meta"] = meta
    return envelope
