"""Approvals asked of an MCP client's user (SPEC §13.6): what to ask, and the answer.

A thread started over MCP (``caller == "mcp"`` on its root) may have its pending calls put
to the person at that client, through an elicitation request the MCP face sends when the
client supports it. This module is the part that knows threads: ``questions`` lists what may
be asked (the call's tool, its arguments as the model sent them, the capability, the
expiry), and ``answer`` turns the person's reply into the same signed decision ``kiwi
approve``/``kiwi reject`` record (``approval_ops.decide``). The agent never decides: an
elicitation reply is written by the client's user interface, outside the model's tool calls,
and the face accepts replies only to questions it asked in that very request (sealed
``requestState``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pathlib import Path

    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = ["ASKED_BY", "Question", "answer", "questions"]

#: the caller recorded on a thread started over MCP (``faces/mcp/actions.py``)
ASKED_BY: Final = "mcp"
_ARGS_SHOWN: Final = 2000
_DECLINED: Final = "The user declined this call when asked over MCP."


@dataclass(frozen=True, kw_only=True, slots=True)
class Question:
    """One pending call that may be put to the MCP client's user."""

    approval_id: int
    thread_id: str
    call_id: str
    tool: str
    capability: str | None
    arguments: dict[str, Any]
    expires_at: float

    def message(self) -> str:
        """What the user reads: which thread wants to run what, with which arguments."""
        shown = json.dumps(self.arguments, ensure_ascii=False, sort_keys=True)
        if len(shown) > _ARGS_SHOWN:
            shown = shown[: _ARGS_SHOWN - 1] + "…"
        needs = f", which needs {self.capability}" if self.capability else ""
        return (
            f"Kiwi thread {self.thread_id} wants to call {self.tool}{needs}, with arguments "
            f"{shown}. Approve this call (it runs once), or reject it with a message the "
            "model reads."
        )


def questions(project_root: Path, status: Mapping[str, Any]) -> list[Question]:
    """The pending calls of ``status`` (a ``threads/status`` record) that may be asked of an
    MCP client: none unless the thread's root was started over MCP; unknown outcomes after
    a crash are left to the operator's CLI."""
    from kiwi_mcp.kernel.runtime.threads.registry import Registry
    from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

    pending = [p for p in status.get("pending_approvals") or () if p.get("kind") == "call"]
    if not pending:
        return []
    root = str(status.get("root") or status.get("thread_id"))
    with Registry.for_project(project_root) as registry:
        if registry.get(root).caller != ASKED_BY:
            return []
        rows = [registry.get_approval(int(p["approval_id"])) for p in pending]
    out: list[Question] = []
    for row in rows:
        if row.decision is not None:
            continue  # decided since the status was read
        asked = _requested(Transcript.for_thread(project_root, row.thread_id), row.approval_id)
        out.append(
            Question(
                approval_id=row.approval_id,
                thread_id=row.thread_id,
                call_id=row.call_id,
                tool=row.tool,
                capability=row.capability,
                arguments=dict(asked.get("arguments") or {}),
                expires_at=row.expires_at,
            )
        )
    return out


def _requested(transcript: Any, approval_id: int) -> dict[str, Any]:
    for event in reversed(transcript.events()):
        payload = event.get("payload") or {}
        if event.get("type") == "approval_requested" and payload.get("approval_id") == approval_id:
            return dict(payload)
    return {}


async def answer(
    kernel: Kernel,
    project_root: Path,
    approval_id: int,
    *,
    action: str,
    content: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """Record the user's reply to the question about ``approval_id``: ``accept`` with
    ``decision: approve`` approves, ``accept`` with ``reject`` or a ``decline`` rejects (with
    the user's message, if any), ``cancel`` decides nothing (the call keeps waiting for the
    operator). Returns ``approval_ops.decide``'s result, or None when nothing was decided.

    Raises:
        ThreadState: the approval was decided, expired or cancelled meanwhile.
    """
    from kiwi_mcp.kernel.runtime.threads.approval_ops import decide
    from kiwi_mcp.kernel.runtime.threads.registry import Registry

    if action == "cancel":
        return None
    with Registry.for_project(project_root) as registry:
        row = registry.get_approval(approval_id)
    reply = dict(content or {})
    approve = action == "accept" and reply.get("decision") == "approve"
    text = str(reply.get("message") or "").strip()
    return await decide(
        kernel,
        row.thread_id,
        row.call_id,
        decision="approved" if approve else "rejected",
        message=None if approve else (text or _DECLINED),
    )
