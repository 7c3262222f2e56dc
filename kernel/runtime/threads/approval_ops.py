"""The operator's side of approvals (SPEC §13.6, §13.5): ``kiwi approve`` and ``kiwi reject``.

``decide`` finds what the operator means — the call waiting in an ``approvals`` row (of the
thread or a thread under it), or a call whose outcome is unknown after a crash (the thread
paused on it) — signs the decision with the operator's key (``records.decision_bytes``) and
writes it to the row, once: a row already decided or expired is refused. A waiting runner
picks the decision up within a poll; a thread without a live runner is resumed, and its
runner acts on the decision (``approvals.Approvals``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from kiwi_mcp.kernel.core.thread_plan import args_sha256, unanswered
from kiwi_mcp.kernel.errors import ThreadState, UsageError
from kiwi_mcp.kernel.runtime.threads.records import TERMINAL, ApprovalRecord, decision_bytes

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.runtime.threads.registry import Registry, ThreadRecord

__all__ = ["DECISIONS", "decide", "parse_arguments"]

DECISIONS: Final = ("approved", "rejected")
_ARGS_HINT: Final = (
    "Give the call's arguments as the model sent them (see 'kiwi threads tail'), edited, as "
    'one JSON object, e.g. --args \'{"text": "hello"}\'.'
)


def parse_arguments(text: str) -> dict[str, Any]:
    """``--args`` as the call's new arguments.

    Raises:
        UsageError: not JSON (where it broke), or JSON that is not an object.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(
            f"--args: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            "wanted the call's arguments as a JSON object",
            hint=_ARGS_HINT,
        ) from None
    if not isinstance(value, dict):
        raise UsageError(
            f"--args: wanted a JSON object of the call's arguments, got {type(value).__name__}",
            hint=_ARGS_HINT,
        )
    return value


async def decide(
    kernel: Kernel,
    thread_id: str,
    call_id: str | None,
    *,
    decision: str,
    arguments: Mapping[str, Any] | None = None,
    message: str | None = None,
    for_thread: bool = False,
) -> dict[str, Any]:
    """Sign and record the operator's decision on one call; resume the thread when its runner
    is gone. Returns ``{thread_id, call_id, decision, kind, args_sha256, for_thread,
    capability, resumed}``.

    Raises:
        ThreadNotFound: no such thread.
        ThreadState: the thread ended; nothing is pending; the approval expired or was
            decided already.
        UsageError: several calls are pending and none was named; ``--for-thread`` or
            ``--args`` where they do not apply.
        KeyMissing: the operator has no signing key (``kiwi keys init``).
    """
    from kiwi_mcp.kernel.runtime.threads.registry import Registry
    from kiwi_mcp.kernel.runtime.threads.signer import Signer
    from kiwi_mcp.kernel.runtime.threads.start import _alive, resume_thread

    if decision not in DECISIONS:
        raise UsageError(f"decision: wanted one of {', '.join(DECISIONS)}, got {decision!r}")
    now = time.time()
    signer = Signer(kernel.user_space)
    with Registry.for_project(kernel.project_root) as registry:
        registry.mark_orphans(_alive)
        record = registry.get(thread_id)
        if record.status in TERMINAL:
            raise ThreadState(
                f"thread {thread_id} already ended {record.status}: there is nothing to decide",
                details={"thread_id": thread_id, "status": record.status},
            )
        row = _target(kernel, registry, record, call_id, now)
        if for_thread and row.kind == "unknown":
            raise UsageError(
                "--for-thread: call "
                f"{row.call_id} is an unknown outcome, not a capability waiting for approval",
                hint=f"Run 'kiwi approve {thread_id} {row.call_id}' to run it again.",
            )
        decided = dataclasses.replace(
            row,
            decision=decision,
            decided_at=now,
            arguments=None if arguments is None else dict(arguments),
            message=message,
            for_thread=for_thread,
            approver=signer.key_id,
        )
        signature = signer.sign(decision_bytes(decided))
        if not registry.decide_approval(
            row.approval_id,
            decision=decision,
            decided_at=now,
            approver=signer.key_id,
            signature=signature,
            arguments=arguments,
            message=message,
            for_thread=for_thread,
        ):
            raise ThreadState(
                f"call {row.call_id} of {row.thread_id} was decided meanwhile",
                hint=f"See 'kiwi threads tail {row.thread_id}'.",
                details={"thread_id": row.thread_id, "call_id": row.call_id},
            )
        owner = registry.get(row.thread_id)
        live = owner.pid is not None and _alive(owner.pid)
        resume = not (live and owner.status in ("running", "waiting_approval"))
        if resume and owner.status == "waiting_approval":  # its runner died while it waited
            registry.set_status(row.thread_id, "paused", expect=("waiting_approval",))
    if resume:
        await resume_thread(kernel, row.thread_id)
    return {
        "thread_id": row.thread_id,
        "call_id": row.call_id,
        "decision": decision,
        "kind": row.kind,
        "tool": row.tool,
        "args_sha256": row.args_sha256 if arguments is None else args_sha256(arguments),
        "edited": arguments is not None,
        "for_thread": row.capability if for_thread else None,
        "resumed": resume,
    }


def _target(
    kernel: Kernel, registry: Registry, record: ThreadRecord, call_id: str | None, now: float
) -> ApprovalRecord:
    """The row the operator decides: a pending call, else a new row for an unknown outcome."""
    pending = [r for r in registry.pending_approvals(record.thread_id) if r.kind == "call"]
    if call_id is not None:
        pending = [r for r in pending if r.call_id == call_id]
    live = [r for r in pending if r.expires_at > now]
    if len(live) == 1:
        return live[0]
    if len(live) > 1:
        listed = ", ".join(f"{r.call_id} ({r.tool}, thread {r.thread_id})" for r in live)
        raise UsageError(
            f"{len(live)} calls wait for approval under {record.thread_id}: {listed}",
            hint=f"Name one: 'kiwi approve {record.thread_id} <call-id>'.",
            details={"calls": [r.pending_view() for r in live]},
        )
    if pending:
        gone = pending[-1]
        raise ThreadState(
            f"the approval of call {gone.call_id} ({gone.tool}) expired; the model was told it "
            "was rejected",
            hint=f"Read what it did next with 'kiwi threads tail {gone.thread_id}'.",
            details={"thread_id": gone.thread_id, "call_id": gone.call_id, "reason": "expired"},
        )
    unknown = _unknown_calls(kernel, record)
    if call_id is not None:
        unknown = [i for i in unknown if str(i.get("call_id")) == call_id]
    if len(unknown) == 1:
        intent = unknown[0]
        return registry.request_approval(
            record.thread_id,
            call_id=str(intent["call_id"]),
            tool=str(intent.get("tool")),
            args_sha256=args_sha256(dict(intent.get("arguments") or {})),
            capability=None,
            turn=record.turn,
            expires_at=now,
            kind="unknown",
        )
    if len(unknown) > 1:
        listed = ", ".join(f"{i['call_id']} ({i.get('tool')})" for i in unknown)
        raise UsageError(
            f"{len(unknown)} calls of {record.thread_id} have an unknown outcome: {listed}",
            hint=f"Name one: 'kiwi approve {record.thread_id} <call-id>'.",
        )
    decided = (
        None if call_id is None else registry.approval_for(record.thread_id, call_id, kind="call")
    )
    if decided is not None and decided.decision is not None:
        raise ThreadState(
            f"call {call_id} of {record.thread_id} was already {decided.decision}",
            hint=f"See 'kiwi threads tail {record.thread_id}'.",
            details={"thread_id": record.thread_id, "call_id": call_id, "reason": "decided"},
        )
    what = "nothing" if call_id is None else f"no call {call_id}"
    raise ThreadState(
        f"{what} of thread {record.thread_id} waits for a decision (it is {record.status})",
        hint="'kiwi threads list --status waiting_approval' lists the threads that wait; "
        "'kiwi threads show <id>' their pending_approvals.",
        details={"thread_id": record.thread_id, "reason": "nothing_pending"},
    )


def _unknown_calls(kernel: Kernel, record: ThreadRecord) -> list[dict[str, Any]]:
    """The journaled calls without a result that the runner paused on (``outcome_unknown``)."""
    from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

    if record.status not in ("paused", "orphaned"):
        return []
    events = Transcript.for_thread(kernel.project_root, record.thread_id).events()
    flagged = {
        str((e.get("payload") or {}).get("call_id"))
        for e in events
        if e.get("type") == "outcome_unknown"
    }
    return [i for i in unanswered(events) if str(i.get("call_id")) in flagged]
