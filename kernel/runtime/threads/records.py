"""The thread registry's records and the pure rules over them (SPEC §13.2, §13.3).

``ThreadRecord`` is one row of ``threads``; ``Limits`` a thread's ``<limits>``; ``Reservation``
one row of the ledger; ``ApprovalRecord`` one row of ``approvals``, and ``decision_bytes``
what the operator's key signs for its decision. ``check_reserve`` is the budget rule for one
thread of a lineage: it reads a record and raises, and touches no database —
``Registry.reserve`` calls it for the thread and every ancestor inside one transaction. Money
is ``Decimal``, written as text by ``money``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from kiwi_mcp.kernel.core.thread_plan import args_sha256
from kiwi_mcp.kernel.errors import LimitExceeded
from kiwi_mcp.kernel.trust.encoding import compact_json

__all__ = [
    "LIVE",
    "STATUSES",
    "TERMINAL",
    "ApprovalRecord",
    "Limits",
    "Reservation",
    "ThreadRecord",
    "approval_from_row",
    "check_reserve",
    "decimal_or_none",
    "decision_bytes",
    "money",
    "record_from_row",
]

STATUSES: Final = (
    "created",
    "running",
    "paused",
    "waiting_approval",
    "completed",
    "failed",
    "cancelled",
    "limit_exceeded",
    "orphaned",
)
TERMINAL: Final = frozenset({"completed", "failed", "cancelled", "limit_exceeded"})
LIVE: Final = ("running", "paused", "waiting_approval")


def decimal_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def money(value: Decimal) -> str:
    """A USD amount as stored: plain notation, no trailing zeros, ``"0"`` for zero."""
    return format(value.normalize(), "f") if value else "0"


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """A thread's ``<limits>``; None is no limit."""

    turns: int | None = None
    tokens: int | None = None
    spend_usd: Decimal | None = None
    duration_s: float | None = None
    spawns: int | None = None
    depth: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "tokens": self.tokens,
            "spend_usd": None if self.spend_usd is None else money(self.spend_usd),
            "duration_s": self.duration_s,
            "spawns": self.spawns,
            "depth": self.depth,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Limits:
        spend = data.get("spend_usd")
        return cls(
            turns=data.get("turns"),
            tokens=data.get("tokens"),
            spend_usd=None if spend is None else Decimal(str(spend)),
            duration_s=data.get("duration_s"),
            spawns=data.get("spawns"),
            depth=data.get("depth"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadRecord:
    thread_id: str
    directive: str
    directive_sha256: str
    parent: str | None
    root: str
    token_id: str | None
    status: str
    pid: int | None
    turn: int
    created_at: float
    updated_at: float
    finished_at: float | None
    deadline: float | None
    model: str | None
    provider: str | None
    result: Any
    error: dict[str, Any] | None
    limits: Limits
    spent_tokens: int
    spent_usd: Decimal
    reserved_tokens: int
    reserved_usd: Decimal
    spawned: int
    flags: tuple[str, ...]
    inputs: dict[str, Any]
    caller: str | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__slots__}
        out["limits"] = self.limits.to_dict()
        out["flags"] = list(self.flags)
        for name in ("spent_usd", "reserved_usd"):
            out[name] = money(out[name])
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Reservation:
    reservation_id: int
    thread_id: str
    chain: tuple[str, ...]
    tokens: int
    usd: Decimal | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalRecord:
    """One row of ``approvals`` (SPEC §13.6): a call (``kind="call"``) or an unknown outcome
    (``kind="unknown"``) the operator is asked about, bound to the thread, the call id, the
    tool, the SHA-256 of the call's canonical arguments and the capability that needs the
    approval. ``decision`` is None while pending, then ``approved``, ``rejected`` (signed:
    ``approver`` is the key's fingerprint), ``expired`` or ``cancelled``."""

    approval_id: int
    thread_id: str
    call_id: str
    tool: str
    args_sha256: str
    capability: str | None
    kind: str
    #: the thread's turn when it was asked (a call id is unique only within a turn)
    turn: int
    requested_at: float
    expires_at: float
    decision: str | None
    approver: str | None
    signature: str | None
    decided_at: float | None
    #: the operator's edited arguments (approved with ``--args``), else None
    arguments: dict[str, Any] | None
    message: str | None
    for_thread: bool

    def pending_view(self) -> dict[str, Any]:
        """The entry of ``pending_approvals`` in ``kiwi threads show`` (SPEC §13.9)."""
        return {
            "approval_id": self.approval_id,
            "thread_id": self.thread_id,
            "call_id": self.call_id,
            "tool": self.tool,
            "args_sha256": self.args_sha256,
            "capability": self.capability,
            "kind": self.kind,
            "expires_at": self.expires_at,
        }

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def decision_bytes(record: ApprovalRecord) -> bytes:
    """What the operator's key signs for a decision: everything it binds and decides, as
    compact JSON. A row whose columns were changed afterwards no longer verifies."""
    edited = None if record.arguments is None else args_sha256(record.arguments)
    return compact_json(
        {
            "v": 1,
            "thread_id": record.thread_id,
            "call_id": record.call_id,
            "kind": record.kind,
            "turn": record.turn,
            "tool": record.tool,
            "args_sha256": record.args_sha256,
            "capability": record.capability,
            "decision": record.decision,
            "edited_args_sha256": edited,
            "message": record.message,
            "for_thread": record.for_thread,
            "decided_at": record.decided_at,
        }
    )


def approval_from_row(row: sqlite3.Row) -> ApprovalRecord:
    return ApprovalRecord(
        approval_id=row["id"],
        thread_id=row["thread_id"],
        call_id=row["call_id"],
        tool=row["tool"],
        args_sha256=row["args_sha256"],
        capability=row["capability"],
        kind=row["kind"],
        turn=row["turn"],
        requested_at=row["requested_at"],
        expires_at=row["expires_at"],
        decision=row["decision"],
        approver=row["approver"],
        signature=row["signature"],
        decided_at=row["decided_at"],
        arguments=None if row["arguments"] is None else json.loads(row["arguments"]),
        message=row["message"],
        for_thread=bool(row["for_thread"]),
    )


def record_from_row(row: sqlite3.Row) -> ThreadRecord:
    """A ``threads`` row as a record (JSON and money columns decoded)."""
    return ThreadRecord(
        thread_id=row["thread_id"],
        directive=row["directive"],
        directive_sha256=row["directive_sha256"],
        parent=row["parent"],
        root=row["root"],
        token_id=row["token_id"],
        status=row["status"],
        pid=row["pid"],
        turn=row["turn"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        deadline=row["deadline"],
        model=row["model"],
        provider=row["provider"],
        result=None if row["result"] is None else json.loads(row["result"]),
        error=None if row["error"] is None else json.loads(row["error"]),
        limits=Limits.from_dict(json.loads(row["limits"])),
        spent_tokens=row["spent_tokens"],
        spent_usd=Decimal(row["spent_usd"]),
        reserved_tokens=row["reserved_tokens"],
        reserved_usd=Decimal(row["reserved_usd"]),
        spawned=row["spawned"],
        flags=tuple(json.loads(row["flags"])),
        inputs=json.loads(row["inputs"]),
        caller=row["caller"],
    )


def check_reserve(
    record: ThreadRecord, *, tokens: int, usd: Decimal | None, now: float, turn: bool
) -> None:
    """Whether one thread of a lineage can take a call's worst case (``turn``: and one turn).

    Raises:
        LimitExceeded: ``details["limit"]`` is ``duration``, ``turns``, ``tokens`` or
            ``spend`` (with ``reason="price unknown"`` when spend is limited and ``usd`` is
            None), and ``details["thread_id"]`` the thread whose limit it is.
    """
    limits = record.limits

    def over(limit: str, message: str, **details: Any) -> LimitExceeded:
        return LimitExceeded(
            f"thread {record.thread_id}: {message}",
            details={"limit": limit, "thread_id": record.thread_id, **details},
        )

    if record.deadline is not None and now >= record.deadline:
        raise over("duration", f"its deadline passed ({limits.duration_s:g} s)")
    if turn and limits.turns is not None and record.turn + 1 > limits.turns:
        raise over("turns", f"{limits.turns} turns used", needed=1, remaining=0)
    if limits.tokens is not None:
        left = limits.tokens - record.spent_tokens - record.reserved_tokens
        if tokens > left:
            raise over(
                "tokens",
                f"the next call may use {tokens} tokens, {max(left, 0)} left",
                needed=tokens,
                remaining=max(left, 0),
            )
    if limits.spend_usd is not None:
        if usd is None:
            raise over(
                "spend",
                "the model's price is unknown, and spend is limited",
                reason="price unknown",
            )
        left_usd = limits.spend_usd - record.spent_usd - record.reserved_usd
        if usd > left_usd:
            raise over(
                "spend",
                f"the next call may cost ${money(usd)}, ${money(max(left_usd, Decimal(0)))} left",
                needed=money(usd),
                remaining=money(max(left_usd, Decimal(0))),
            )
