"""The registry's ``ledger`` (SPEC §13.3, §13.7): a mixin of ``registry.Registry``.

A call's worst case is reserved on the thread and on every ancestor in one ``BEGIN
IMMEDIATE`` (so concurrent children never overspend a root), then settled to the actual use.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kiwi_mcp.kernel.runtime.threads.records import (
    Reservation,
    ThreadRecord,
    check_reserve,
    decimal_or_none,
    money,
    record_from_row,
)
from kiwi_mcp.kernel.runtime.threads.row_host import RowHost

__all__ = ["LedgerRows", "set_columns"]


def set_columns(db: sqlite3.Connection, thread_id: str, sets: Mapping[str, Any]) -> None:
    """``UPDATE threads SET …`` of one thread (the column names are the code's, never input)."""
    columns = ", ".join(f"{name} = ?" for name in sets)
    db.execute(f"UPDATE threads SET {columns} WHERE thread_id = ?", (*sets.values(), thread_id))


class LedgerRows(RowHost):
    """Reservations; the connection, lock, clock and transactions are the registry's."""

    def _lineage(self, db: sqlite3.Connection, thread_id: str) -> list[ThreadRecord]:
        chain = [record_from_row(self._row(db, thread_id))]
        while chain[-1].parent is not None:
            chain.append(record_from_row(self._row(db, chain[-1].parent)))
        return chain

    def reserve(
        self, thread_id: str, *, tokens: int, usd: Decimal | None, turn: bool = True
    ) -> Reservation:
        """Reserve one call's worst case on the thread and every ancestor, or nothing.

        Raises:
            LimitExceeded: naming the limit (turns, tokens, spend, duration) and the thread.
        """
        now = self._clock()
        with self._write() as db:
            chain = self._lineage(db, thread_id)
            for record in chain:
                check_reserve(
                    record,
                    tokens=tokens,
                    usd=usd,
                    now=now,
                    turn=turn and record.thread_id == thread_id,
                )
            for record in chain:
                sets: dict[str, Any] = {
                    "reserved_tokens": record.reserved_tokens + tokens,
                    "reserved_usd": money(record.reserved_usd + (usd or Decimal(0))),
                    "updated_at": now,
                }
                if turn and record.thread_id == thread_id:
                    sets["turn"] = record.turn + 1
                set_columns(db, record.thread_id, sets)
            ids = tuple(record.thread_id for record in chain)
            cursor = db.execute(
                "INSERT INTO ledger (thread_id, chain, tokens, usd, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (thread_id, json.dumps(ids), tokens, None if usd is None else money(usd), now),
            )
            return Reservation(
                reservation_id=int(cursor.lastrowid or 0),
                thread_id=thread_id,
                chain=ids,
                tokens=tokens,
                usd=usd,
            )

    def settle(self, reservation: Reservation, *, tokens: int | None, usd: Decimal | None) -> None:
        """Release the reservation and book the actual use (None: the reserved amount)."""
        spent_tokens = reservation.tokens if tokens is None else tokens
        spent_usd = (reservation.usd or Decimal(0)) if usd is None else usd
        with self._write() as db:
            row = db.execute(
                "SELECT settled_at FROM ledger WHERE id = ?", (reservation.reservation_id,)
            ).fetchone()
            if row is None or row["settled_at"] is not None:
                return
            for thread_id in reservation.chain:
                record = record_from_row(self._row(db, thread_id))
                set_columns(
                    db,
                    thread_id,
                    {
                        "reserved_tokens": max(0, record.reserved_tokens - reservation.tokens),
                        "reserved_usd": money(
                            max(Decimal(0), record.reserved_usd - (reservation.usd or Decimal(0)))
                        ),
                        "spent_tokens": record.spent_tokens + spent_tokens,
                        "spent_usd": money(record.spent_usd + spent_usd),
                    },
                )
            db.execute(
                "UPDATE ledger SET settled_at = ?, settled_tokens = ?, settled_usd = ? "
                "WHERE id = ?",
                (self._clock(), spent_tokens, money(spent_usd), reservation.reservation_id),
            )

    def open_reservations(self, thread_id: str) -> list[Reservation]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM ledger WHERE thread_id = ? AND settled_at IS NULL", (thread_id,)
            ).fetchall()
        return [
            Reservation(
                reservation_id=row["id"],
                thread_id=row["thread_id"],
                chain=tuple(json.loads(row["chain"])),
                tokens=row["tokens"],
                usd=decimal_or_none(row["usd"]),
            )
            for row in rows
        ]
