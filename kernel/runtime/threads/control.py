"""Thread control (SPEC §13.4): pause, resume, inject, cancel — requests a runner takes at
its next turn boundary (rows in the registry's ``controls`` table), except an immediate
cancel, which also signals the runner (``start.cancel_thread``).

The same functions serve the operator's CLI (``kiwi threads pause|inject|…``) and the MCP
tool ``threads/control`` (which the gate lets through only with ``thread.control:<id>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kiwi_mcp.kernel.errors import ThreadState, UsageError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.runtime.threads.outcomes import Outcome
    from kiwi_mcp.kernel.runtime.threads.registry import Registry
    from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

__all__ = ["OPS", "control_thread", "request", "take_controls"]

OPS: Final = ("pause", "resume", "inject", "cancel")
#: control rows a runner acts on at a turn boundary, with the thread still live
_LIVE: Final = ("created", "running", "paused", "waiting_approval", "orphaned")


def request(
    project_root: Path,
    thread_id: str,
    op: str,
    *,
    text: str | None = None,
    expect_turn: int | None = None,
    after_turn: bool = False,
) -> dict[str, Any]:
    """Record a control request that needs no new runner (pause, inject, cancel).

    Raises:
        UsageError: an unknown op, or inject without text.
        ThreadState: the thread ended, is not in a state the op applies to, or (inject with
            ``expect_turn``) has moved past that turn.
    """
    from kiwi_mcp.kernel.runtime.threads.registry import Registry
    from kiwi_mcp.kernel.runtime.threads.start import _alive, cancel_thread

    if op == "cancel" and not after_turn:
        return cancel_thread(project_root, thread_id)
    if op not in OPS or op == "resume":
        raise UsageError(f"op: wanted one of {', '.join(OPS)}, got {op!r}")
    with Registry.for_project(project_root) as registry:
        registry.mark_orphans(_alive)
        record = registry.get(thread_id)
        if record.status not in _LIVE:
            raise ThreadState(
                f"thread {thread_id} already ended {record.status}",
                details={"thread_id": thread_id, "status": record.status},
            )
        payload: dict[str, Any] = {}
        if op == "pause" and record.status == "paused":
            return {"thread_id": thread_id, "status": "paused"}
        if op == "inject":
            if not text or not text.strip():
                raise UsageError(
                    "inject: the text to send is empty",
                    hint="Give the message for the model, e.g. inject <id> 'use the cache'.",
                )
            if expect_turn is not None and record.turn != expect_turn:
                raise ThreadState(
                    f"thread {thread_id} is at turn {record.turn}, not {expect_turn}: "
                    "the message was not sent",
                    hint="Read the thread again ('kiwi threads tail') and inject for its turn.",
                    details={"thread_id": thread_id, "turn": record.turn},
                )
            payload = {"text": text, "expect_turn": expect_turn}
        name = "cancel_after_turn" if op == "cancel" else op
        control_id = registry.add_control(thread_id, name, payload)
        return {"thread_id": thread_id, "status": record.status, "control": name, "id": control_id}


async def control_thread(kernel: Kernel, thread_id: str, op: str, **kw: Any) -> dict[str, Any]:
    """Any control op; ``resume`` starts a runner for a paused or orphaned thread."""
    from kiwi_mcp.kernel.runtime.threads.start import resume_thread

    if op == "resume":
        return await resume_thread(kernel, thread_id)
    return request(kernel.project_root, thread_id, op, **kw)


def take_controls(registry: Registry, transcript: Transcript, thread_id: str) -> Outcome | None:
    """The runner's side: take the pending requests at a turn boundary (SPEC §13.4), in order.
    An inject whose ``expect_turn`` is not the thread's turn is recorded as refused; a cancel
    or a pause ends the turn loop with that outcome."""
    from kiwi_mcp.kernel.runtime.threads.outcomes import Outcome

    for control_id, op, payload in registry.pending_controls(thread_id):
        registry.done_control(control_id)
        if op == "inject":
            turn = registry.get(thread_id).turn
            expected = payload.get("expect_turn")
            refused = expected is not None and expected != turn
            transcript.append("control", {"op": op, **payload, "refused": refused})
            if not refused:
                transcript.append("user_message", {"text": str(payload["text"]), "injected": True})
            continue
        transcript.append("control", {"op": op, **payload})
        if op in ("cancel", "cancel_after_turn"):
            return Outcome(
                status="cancelled",
                error={"code": "CANCELLED", "message": "cancelled by the operator"},
            )
        if op == "pause":
            return Outcome(status="paused")
    return None
