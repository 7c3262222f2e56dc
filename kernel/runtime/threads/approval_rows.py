"""The registry's ``approvals`` table (SPEC §13.6): a mixin of ``registry.Registry``.

A row is asked for (``request_approval``), then decided once: ``decide_approval`` and
``expire_approval`` change only a row that is still pending (compare-and-set inside one
``BEGIN IMMEDIATE``), so an operator's decision and the runner's expiry cannot both land.
The signature is made and checked by ``approvals.py``; these methods store what they are
given.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from kiwi_mcp.kernel.runtime.threads.records import ApprovalRecord, approval_from_row
from kiwi_mcp.kernel.runtime.threads.row_host import RowHost

__all__ = ["ApprovalRows"]


class ApprovalRows(RowHost):
    """Approval rows; the connection, lock, clock and transactions are the registry's."""

    def request_approval(
        self,
        thread_id: str,
        *,
        call_id: str,
        tool: str,
        args_sha256: str,
        capability: str | None,
        turn: int,
        expires_at: float,
        kind: str = "call",
    ) -> ApprovalRecord:
        """A pending row for one call of a thread.

        Raises ThreadNotFound for an unknown thread.
        """
        with self._write() as db:
            self._row(db, thread_id)
            cursor = db.execute(
                "INSERT INTO approvals (thread_id, call_id, tool, args_sha256, capability, "
                "kind, turn, requested_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    thread_id,
                    call_id,
                    tool,
                    args_sha256,
                    capability,
                    kind,
                    turn,
                    self._clock(),
                    expires_at,
                ),
            )
            return self._approval(db, int(cursor.lastrowid or 0))

    def get_approval(self, approval_id: int) -> ApprovalRecord:
        with self._lock:
            return self._approval(self._db, approval_id)

    @staticmethod
    def _approval(db: sqlite3.Connection, approval_id: int) -> ApprovalRecord:
        row = db.execute("SELECT * FROM approvals WHERE id = ?", (approval_id,)).fetchone()
        if row is None:
            raise LookupError(f"no approval {approval_id}")
        return approval_from_row(row)

    def approval_for(
        self, thread_id: str, call_id: str, *, kind: str, turn: int | None = None
    ) -> ApprovalRecord | None:
        """The newest row of that kind for one call of a thread (of that turn), if any."""
        query = "SELECT * FROM approvals WHERE thread_id = ? AND call_id = ? AND kind = ?"
        args: list[Any] = [thread_id, call_id, kind]
        if turn is not None:
            query += " AND turn = ?"
            args.append(turn)
        with self._lock:
            row = self._db.execute(query + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return None if row is None else approval_from_row(row)

    def pending_approvals(self, under: str | None = None) -> list[ApprovalRecord]:
        """Undecided rows, oldest first: of a thread and, when it is a root, of every thread
        under it (a child's approvals show at the root), or of all threads. An expired row is
        listed until its runner records the expiry."""
        query, args = "SELECT * FROM approvals WHERE decision IS NULL", []
        if under is not None:
            query += (
                " AND (thread_id = ? OR thread_id IN "
                "(SELECT thread_id FROM threads WHERE root = ?))"
            )
            args += [under, under]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [approval_from_row(row) for row in rows]

    def thread_grants(self, thread_id: str) -> list[ApprovalRecord]:
        """The rows approved for the rest of the thread (``--for-thread``); the caller checks
        their signatures."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM approvals WHERE thread_id = ? AND decision = 'approved' "
                "AND for_thread = 1 ORDER BY id",
                (thread_id,),
            ).fetchall()
        return [approval_from_row(row) for row in rows]

    def decide_approval(
        self,
        approval_id: int,
        *,
        decision: str,
        decided_at: float,
        approver: str | None = None,
        signature: str | None = None,
        arguments: Mapping[str, Any] | None = None,
        message: str | None = None,
        for_thread: bool = False,
    ) -> bool:
        """Record the decision on a pending row; False when it was already decided."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE approvals SET decision = ?, decided_at = ?, approver = ?, "
                "signature = ?, arguments = ?, message = ?, for_thread = ? "
                "WHERE id = ? AND decision IS NULL",
                (
                    decision,
                    decided_at,
                    approver,
                    signature,
                    None if arguments is None else json.dumps(dict(arguments)),
                    message,
                    int(for_thread),
                    approval_id,
                ),
            )
            return cursor.rowcount == 1

    def expire_approval(self, approval_id: int) -> bool:
        """Mark a pending row expired; False when a decision came first."""
        return self.decide_approval(approval_id, decision="expired", decided_at=self._clock())

    def cancel_approvals(self, thread_id: str) -> list[str]:
        """Resolve every pending row of a cancelled thread; returns their call ids."""
        with self._write() as db:
            rows = db.execute(
                "SELECT call_id FROM approvals WHERE thread_id = ? AND decision IS NULL",
                (thread_id,),
            ).fetchall()
            db.execute(
                "UPDATE approvals SET decision = 'cancelled', decided_at = ? "
                "WHERE thread_id = ? AND decision IS NULL",
                (self._clock(), thread_id),
            )
        return [row["call_id"] for row in rows]
