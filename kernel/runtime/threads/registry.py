"""The thread registry (SPEC §13.2, §13.3): SQLite in WAL mode, shared by every process of a
project — runners, the CLI, the server.

Tables: ``threads`` (one row per thread: directive, lineage, status, pid, turn, limits and
the ledger's running totals), ``ledger`` (each reservation and its settlement), ``controls``
(requests to a runner: cancel, and later pause/inject), ``approvals`` and ``events_index``
(for the next issues), ``schema_version`` (migrations run forward, in order, on open).
Reservation is SPEC §13.3's rule: the worst case is checked against the thread and every
ancestor and written to all of them in one ``BEGIN IMMEDIATE`` transaction, so concurrent
children can never overspend the root. Money is ``Decimal``, stored as text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from kiwi_mcp.kernel.errors import LimitExceeded, ThreadNotFound, ThreadState

__all__ = ["STATUSES", "TERMINAL", "Limits", "Registry", "Reservation", "ThreadRecord"]

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
_LIVE: Final = ("running", "paused", "waiting_approval")
_UNSET: Any = object()

_MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE threads (
        thread_id TEXT PRIMARY KEY, directive TEXT NOT NULL, directive_sha256 TEXT NOT NULL,
        parent TEXT, root TEXT NOT NULL, token_id TEXT, status TEXT NOT NULL, pid INTEGER,
        turn INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        finished_at REAL, deadline REAL, model TEXT, provider TEXT, result TEXT, error TEXT,
        limits TEXT NOT NULL, spent_tokens INTEGER NOT NULL DEFAULT 0,
        spent_usd TEXT NOT NULL DEFAULT '0', reserved_tokens INTEGER NOT NULL DEFAULT 0,
        reserved_usd TEXT NOT NULL DEFAULT '0', spawned INTEGER NOT NULL DEFAULT 0,
        flags TEXT NOT NULL DEFAULT '[]', inputs TEXT NOT NULL DEFAULT '{}', caller TEXT);
    CREATE INDEX threads_root ON threads(root);
    CREATE INDEX threads_status ON threads(status);
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id TEXT NOT NULL, chain TEXT NOT NULL,
        tokens INTEGER NOT NULL, usd TEXT, created_at REAL NOT NULL, settled_at REAL,
        settled_tokens INTEGER, settled_usd TEXT);
    CREATE TABLE controls (
        id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id TEXT NOT NULL, op TEXT NOT NULL,
        payload TEXT NOT NULL, created_at REAL NOT NULL, done_at REAL);
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id TEXT NOT NULL, call_id TEXT NOT NULL,
        tool TEXT NOT NULL, args_sha256 TEXT NOT NULL, capability TEXT,
        requested_at REAL NOT NULL, expires_at REAL NOT NULL, decision TEXT, approver TEXT,
        signature TEXT, decided_at REAL);
    CREATE TABLE events_index (
        thread_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, ts REAL NOT NULL,
        PRIMARY KEY (thread_id, seq));
    """,
)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _money(value: Decimal) -> str:
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
            "spend_usd": None if self.spend_usd is None else _money(self.spend_usd),
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
            out[name] = _money(out[name])
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Reservation:
    reservation_id: int
    thread_id: str
    chain: tuple[str, ...]
    tokens: int
    usd: Decimal | None


def _record(row: sqlite3.Row) -> ThreadRecord:
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


class Registry:
    """One connection to a project's registry; safe across threads of one process."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
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
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            for step in _MIGRATIONS[version:]:
                for statement in step.split(";"):
                    if statement.strip():
                        db.execute(statement)
            if row is None:
                db.execute("INSERT INTO schema_version VALUES (?)", (len(_MIGRATIONS),))
            elif version < len(_MIGRATIONS):
                db.execute("UPDATE schema_version SET version = ?", (len(_MIGRATIONS),))

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
                up = _record(self._row(db, parent))
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
            return _record(self._row(db, thread_id))

    def get(self, thread_id: str) -> ThreadRecord:
        with self._lock:
            return _record(self._row(self._db, thread_id))

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
            return [_record(row) for row in rows.fetchall()]

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
            return _record(self._row(db, thread_id))

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
            return _record(self._row(db, thread_id))

    @staticmethod
    def _set(db: sqlite3.Connection, thread_id: str, sets: Mapping[str, Any]) -> None:
        columns = ", ".join(f"{name} = ?" for name in sets)
        db.execute(
            f"UPDATE threads SET {columns} WHERE thread_id = ?",
            (*sets.values(), thread_id),
        )

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
                f"SELECT * FROM threads WHERE status IN ({','.join('?' * len(_LIVE))})", _LIVE
            ).fetchall()
            for row in rows:
                if row["status"] == "running" and (row["pid"] is None or not alive(row["pid"])):
                    self._set(db, row["thread_id"], {"status": "orphaned", "updated_at": now})
                    found.append(row["thread_id"])
                if row["deadline"] is not None and row["deadline"] < now:
                    flags = json.loads(row["flags"])
                    if "overdue" not in flags:
                        self._set(db, row["thread_id"], {"flags": json.dumps([*flags, "overdue"])})
        return found

    # --- the ledger ----------------------------------------------------------------------

    def _lineage(self, db: sqlite3.Connection, thread_id: str) -> list[ThreadRecord]:
        chain = [_record(self._row(db, thread_id))]
        while chain[-1].parent is not None:
            chain.append(_record(self._row(db, chain[-1].parent)))
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
                _check(
                    record,
                    tokens=tokens,
                    usd=usd,
                    now=now,
                    turn=turn and record.thread_id == thread_id,
                )
            for record in chain:
                sets: dict[str, Any] = {
                    "reserved_tokens": record.reserved_tokens + tokens,
                    "reserved_usd": _money(record.reserved_usd + (usd or Decimal(0))),
                    "updated_at": now,
                }
                if turn and record.thread_id == thread_id:
                    sets["turn"] = record.turn + 1
                self._set(db, record.thread_id, sets)
            ids = tuple(record.thread_id for record in chain)
            cursor = db.execute(
                "INSERT INTO ledger (thread_id, chain, tokens, usd, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (thread_id, json.dumps(ids), tokens, None if usd is None else _money(usd), now),
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
                record = _record(self._row(db, thread_id))
                self._set(
                    db,
                    thread_id,
                    {
                        "reserved_tokens": max(0, record.reserved_tokens - reservation.tokens),
                        "reserved_usd": _money(
                            max(Decimal(0), record.reserved_usd - (reservation.usd or Decimal(0)))
                        ),
                        "spent_tokens": record.spent_tokens + spent_tokens,
                        "spent_usd": _money(record.spent_usd + spent_usd),
                    },
                )
            db.execute(
                "UPDATE ledger SET settled_at = ?, settled_tokens = ?, settled_usd = ? "
                "WHERE id = ?",
                (self._clock(), spent_tokens, _money(spent_usd), reservation.reservation_id),
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
                usd=_dec(row["usd"]),
            )
            for row in rows
        ]

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


def _check(
    record: ThreadRecord, *, tokens: int, usd: Decimal | None, now: float, turn: bool
) -> None:
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
                f"the next call may cost ${_money(usd)}, ${_money(max(left_usd, Decimal(0)))} left",
                needed=_money(usd),
                remaining=_money(max(left_usd, Decimal(0))),
            )
