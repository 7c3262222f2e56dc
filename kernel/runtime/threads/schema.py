"""The thread registry's file (SPEC §13.2): how it is opened, and its forward migrations.

``connect`` opens it in WAL mode with a busy timeout, so every process of a project can share
it. ``MIGRATIONS[i]`` takes a database at version ``i`` to version ``i + 1``; a step is a script
of ``;``-separated statements. Steps are only ever appended: a released step never changes, so
a registry written by an older kernel opens in a newer one.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Final

__all__ = ["BUSY_TIMEOUT_S", "MIGRATIONS", "connect", "migrate"]

BUSY_TIMEOUT_S: Final = 30.0

MIGRATIONS: Final[tuple[str, ...]] = (
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
    # approvals (SPEC §13.6): what a call (of which turn: providers may reuse call ids) or an
    # unknown outcome was asked about, and the operator's signed decision on it (edited
    # arguments, a message, for the rest of the thread)
    """
    ALTER TABLE approvals ADD COLUMN kind TEXT NOT NULL DEFAULT 'call';
    ALTER TABLE approvals ADD COLUMN turn INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE approvals ADD COLUMN arguments TEXT;
    ALTER TABLE approvals ADD COLUMN message TEXT;
    ALTER TABLE approvals ADD COLUMN for_thread INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX approvals_call ON approvals(thread_id, call_id);
    CREATE INDEX approvals_open ON approvals(decision, thread_id);
    """,
)


def migrate(db: sqlite3.Connection) -> None:
    """Run the steps the database has not seen, and record the new version.

    The caller holds a write transaction (``BEGIN IMMEDIATE``), so two processes opening one
    registry at once migrate it once.
    """
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM schema_version").fetchone()
    version = row[0] if row else 0
    for step in MIGRATIONS[version:]:
        for statement in step.split(";"):
            if statement.strip():
                db.execute(statement)
    if row is None:
        db.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS),))
    elif version < len(MIGRATIONS):
        db.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))


def connect(path: Path) -> sqlite3.Connection:
    """Open the registry file in autocommit mode: WAL, the busy timeout, FULL sync, rows as
    ``sqlite3.Row``.

    Two processes switching a new file to WAL at once deadlock on its lock, and SQLite answers
    one of them "database is locked" at once rather than waiting; that one tries again, for up
    to the busy timeout. Once the file is in WAL (it stays so), the switch is a no-op.

    Raises:
        sqlite3.OperationalError: the file stayed locked for the whole busy timeout.
    """
    db = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    give_up = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > give_up:
                db.close()
                raise
            time.sleep(0.01)
    # WAL + NORMAL: a commit is durable against any crash of a process (SIGKILL included),
    # and the database is never corrupted; only a power loss may drop the newest commits.
    db.execute("PRAGMA synchronous = NORMAL")
    return db
