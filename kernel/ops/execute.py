"""Executing an item (MCP ``execute``, ``kiwi run``; SPEC §5, §6.2, §10).

A tool runs through the kernel's executor. A directive executes inline — its instructions,
rendered from the inputs, go back to the caller to follow — and a knowledge entry returns
itself; both are verified like a tool's links and leave one audit line. Thread mode needs
the thread runtime, which a later release adds: it is ``NOT_AVAILABLE`` for every kind.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from kiwi_mcp.kernel.core.envelope import error_envelope, ok_envelope
from kiwi_mcp.kernel.core.ids import Kind
from kiwi_mcp.kernel.errors import KiwiError, NotAvailable

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.executor import EventHook
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = ["execute"]


async def execute(
    kernel: Kernel,
    kind: Kind,
    item_id: str,
    parameters: Mapping[str, Any],
    *,
    dry_run: bool = False,
    thread: bool = False,
    locked: bool = False,
    on_event: EventHook | None = None,
) -> dict[str, Any]:
    """Execute an item and return its result envelope (SPEC §5.5).

    ``locked`` refuses a tool chain that drifted from its lockfile; ``on_event`` receives a
    tool's streamed events.

    Raises:
        NotAvailable: ``thread`` was asked for. Every other failure is an error envelope.
    """
    if thread:
        raise NotAvailable(
            "threads are not available yet: execute with thread: true needs the thread "
            "runtime, which a later Kiwi release adds",
            hint="Call execute without 'thread' (inline mode) and follow the returned "
            "instructions yourself.",
            details={"feature": "threads"},
        )
    if kind == "tool":
        return await kernel.execute(
            item_id, parameters, dry_run=dry_run, locked=locked, on_event=on_event
        )
    async with kernel.guard:
        return _execute_inline(kernel, kind, item_id, parameters, dry_run=dry_run)


def _execute_inline(
    kernel: Kernel,
    kind: Kind,
    item_id: str,
    parameters: Mapping[str, Any],
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """A directive (inline mode) or a knowledge entry as an envelope, verified like a tool's
    links, with one audit line; never raises ``KiwiError``."""
    from kiwi_mcp.kernel.core.directives import directive_data, knowledge_data
    from kiwi_mcp.kernel.core.items import Directive, Knowledge
    from kiwi_mcp.kernel.exec.executor import record_call
    from kiwi_mcp.kernel.ops.load import load_verified

    started = time.perf_counter()
    meta: dict[str, Any] = {"chain": [], "primitive": None}
    envelope: dict[str, Any]
    try:
        kernel.audit.require_writable()
        verified = load_verified(kernel, kind, item_id)
        loaded = verified.loaded
        meta.update(chain=[loaded.file.id], space=loaded.file.space)
        if verified.warning:
            meta["warnings"] = [verified.warning]
        item = loaded.item
        if isinstance(item, Directive):
            data = directive_data(item, parameters)
            if dry_run:
                data["dry_run"] = True
        else:
            data = knowledge_data(cast(Knowledge, item))
        envelope = ok_envelope(data, meta)
    except KiwiError as err:
        envelope = error_envelope(err, meta)
    meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    envelope["meta"] = meta
    record_call(
        kernel, item=f"{kind}:{item_id}", params=parameters, caps_used=[], envelope=envelope
    )
    return envelope
