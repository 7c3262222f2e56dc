"""The thread registry (SPEC §13.2, §13.3): SQLite in WAL mode, shared by every process of a
project — runners, the CLI, the server.

Tables (``schema.py``): ``threads`` (one row per thread: directive, lineage, status, pid, turn,
limits and the ledger's running totals), ``ledger`` (each reservation and its settlement),
``controls`` (requests to a runner: cancel, pause, inject), ``approvals`` (SPEC §13.6; its
methods are the mixin ``approval_rows.ApprovalRows``), ``events_index`` (for the next
issues), ``schema_version`` (migrations run forward, in order, on open). The records and the
budget rule live in ``records.py`` and are re-exported here. Reservation is SPEC §13.3's
rule: the worst case is checked against the thread and every ancestor and written to all of
them in one ``BEGIN IMMEDIATE`` transaction, so concurrent children can never overspend the
root. Money is ``Decimal``, stored as text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from kiwi_mcp.kernel.errors import LimitExceeded, ThreadNotFound, ThreadState
from kiwi_mcp.kernel.runtime.threads.approval_rows import ApprovalRows
from kiwi_mcp.kernel.runtime.threads.ledger_rows import LedgerRows, set_columns
from kiwi_mcp.kernel.runtime.threads.records import (
    LIVE,
    STATUSES,
    TERMINAL,
    ApprovalRecord,
    Limits,
    Reservation,
    ThreadRecord,
    record_from_row,
)
from kiwi_mcp.kernel.runtime.threads.schema import connect, migrate

__all__ = [
    "STATUSES",
    "TERMINAL",
    "ApprovalRecord",
    "Limits",
    "Registry",
    "Reservation",
    "ThreadRecord",
]

_UNSET: Any = object()


class Registry(ApprovalRows, LedgerRows):
    """One connection to a project's registry; safe across threads of one process."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._clock = clock
        self._lock = threading.RLock()
        self._db = connect(path)
        self._migrate()

    @classmethod
    def for_project(cls, project_root: Path, **kw: Any) -> Registry:
        return cls(project_root / ".ai" / "threads" / "registry.db", **kw)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: read-modify-write without a lost update."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as db:
            migrate(db)

    # --- threads -------------------------------------------------------------------------

    def _row(self, db: sqlite3.Connection, thread_id: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
        if row is None:
            raise ThreadNotFound(
                f"no thread {thread_id!r} in this project", details={"thread_id": thread_id}
            )
        return row  # type: ignore[no-any-return]

    def create(
        self,
        *,
        directive: str,
        directive_sha256: str,
        limits: Limits,
        inputs: Mapping[str, Any],
        parent: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        caller: str | None = None,
    ) -> ThreadRecord:
        """Register a thread as ``created``; its id is ``<directive>_<YYYYMMDD_HHMMSS>``."""
        now = self._clock()
        base = (
            directive.replace("/", "_")
            + "_"
            + datetime.fromtimestamp(now, UTC).strftime("%Y%m%d_%H%M%S")
        )
        with self._write() as db:
            root = None
            if parent is not None:
                up = record_from_row(self._row(db, parent))
                if up.status in TERMINAL:
                    raise ThreadState(f"parent {parent} is {up.status}")
                if up.limits.spawns is not None and up.spawned >= up.limits.spawns:
                    raise LimitExceeded(
                        f"thread {parent} may start {up.limits.spawns} children",
                        details={"limit": "spawns", "thread_id": parent},
                    )
                if up.limits.depth is not None and up.limits.depth < 1:
                    raise LimitExceeded(
                        f"thread {parent} may not nest deeper",
                        details={"limit": "depth", "thread_id": parent},
                    )
                db.execute(
                    "UPDATE threads SET spawned = spawned + 1 WHERE thread_id = ?", (parent,)
                )
                root = up.root
            thread_id, n = base, 1
            while db.execute("SELECT 1 FROM threads WHERE thread_id = ?", (thread_id,)).fetchone():
                n += 1
                thread_id = f"{base}_{n}"
            deadline = None if limits.duration_s is None else now + limits.duration_s
            db.execute(
                "INSERT INTO threads (thread_id, directive, directive_sha256, parent, root, "
                "status, created_at, updated_at, deadline, model, provider, limits, inputs, "
                "caller) VALUES (?, ?, ?, ?, ?, 'created', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    thread_id,
                    directive,
                    directive_sha256,
                    parent,
                    root or thread_id,
                    now,
                    now,
                    deadline,
                    model,
                    provider,
                    json.dumps(limits.to_dict()),
                    json.dumps(dict(inputs), default=str),
                    caller,
                ),
            )
            return record_from_row(self._row(db, thread_id))

    def get(self, thread_id: str) -> ThreadRecord:
        with self._lock:
            return record_from_row(self._row(self._db, thread_id))

    def list_threads(
        self, *, status: str | None = None, root: str | None = None
    ) -> list[ThreadRecord]:
        query, args = "SELECT * FROM threads WHERE 1=1", []
        if status is not None:
            query += " AND status = ?"
            args.append(status)
        if root is not None:
            query += " AND root = ?"
            args.append(root)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_at DESC, thread_id DESC", args)
            return [record_from_row(row) for row in rows.fetchall()]

    def set_status(
        self,
        thread_id: str,
        status: str,
        *,
        expect: Collection[str] | None = None,
        result: Any = _UNSET,
        error: Any = _UNSET,
    ) -> ThreadRecord:
        """Compare-and-set the status; a terminal status is left only if ``expect`` names it."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._write() as db:
            current = self._row(db, thread_id)["status"]
            if expect is not None and current not in expect:
                raise ThreadState(
                    f"thread {thread_id} is {current}, not {' or '.join(expect)}",
                    details={"thread_id": thread_id, "status": current},
                )
            if current in TERMINAL and (expect is None or current not in expect):
                raise ThreadState(
                    f"thread {thread_id} already ended {current}",
                    details={"thread_id": thread_id, "status": current},
                )
            now = self._clock()
            sets = {
                "status": status,
                "updated_at": now,
                "finished_at": now if status in TERMINAL else None,
            }
            if result is not _UNSET:
                sets["result"] = None if result is None else json.dumps(result, default=str)
            if error is not _UNSET:
                sets["error"] = None if error is None else json.dumps(error, default=str)
            self._set(db, thread_id, sets)
            return record_from_row(self._row(db, thread_id))

    def update(
        self,
        thread_id: str,
        *,
        pid: Any = _UNSET,
        turn: Any = _UNSET,
        model: Any = _UNSET,
        provider: Any = _UNSET,
        token_id: Any = _UNSET,
    ) -> ThreadRecord:
        given = {
            "pid": pid,
            "turn": turn,
            "model": model,
            "provider": provider,
            "token_id": token_id,
        }
        sets = {k: v for k, v in given.items() if v is not _UNSET}
        sets["updated_at"] = self._clock()
        with self._write() as db:
            self._row(db, thread_id)
            self._set(db, thread_id, sets)
            return record_from_row(self._row(db, thread_id))

    _set = staticmethod(set_columns)

    def add_flag(self, thread_id: str, flag: str) -> None:
        with self._write() as db:
            flags = json.loads(self._row(db, thread_id)["flags"])
            if flag not in flags:
                flags.append(flag)
                self._set(db, thread_id, {"flags": json.dumps(flags)})

    def mark_orphans(self, alive: Callable[[int], bool]) -> list[str]:
        """Live threads whose runner is gone become ``orphaned``; overdue ones get a flag."""
        found: list[str] = []
        now = self._clock()
        with self._write() as db:
            rows = db.execute(
                f"SELECT * FROM threads WHERE status IN ({','.join('?' * len(LIVE))})", LIVE
            ).fetchall()
            for row in rows:
                waiting = row["status"] in ("running", "waiting_approval")
                if waiting and (row["pid"] is None or not alive(row["pid"])):
                    self._set(db, row["thread_id"], {"status": "orphaned", "updated_at": now})
                    found.append(row["thread_id"])
                if row["deadline"] is not None and row["deadline"] < now:
                    flags = json.loads(row["flags"])
                    if "overdue" not in flags:
                        self._set(db, row["thread_id"], {"flags": json.dumps([*flags, "overdue"])})
        return found

    # --- controls ------------------------------------------------------------------------

    def add_control(self, thread_id: str, op: str, payload: Mapping[str, Any] | None = None) -> int:
        with self._write() as db:
            self._row(db, thread_id)
            cursor = db.execute(
                "INSERT INTO controls (thread_id, op, payload, created_at) VALUES (?, ?, ?, ?)",
                (thread_id, op, json.dumps(dict(payload or {})), self._clock()),
            )
            return int(cursor.lastrowid or 0)

    def pending_controls(self, thread_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, op, payload FROM controls WHERE thread_id = ? "
                "AND done_at IS NULL ORDER BY id",
                (thread_id,),
            ).fetchall()
        return [(row["id"], row["op"], json.loads(row["payload"])) for row in rows]

    def done_control(self, control_id: int) -> None:
        with self._write() as db:
            db.execute("UPDATE controls SET done_at = ? WHERE id = ?", (self._clock(), control_id))
