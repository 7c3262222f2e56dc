"""What one space's index knows of its files: the state database (SQLite, WAL).

A row per item file: its key in both engines, id, the stat signatures it was indexed at,
its trust level (or why it was left out) and what a hit shows. ``pending`` holds the keys a
batch is changing in the engines: written before the engines are touched and cleared in
the same transaction that records the batch, so after a crash the keys still listed are
exactly those an engine may hold wrongly (:meth:`SpaceIndex.recover` removes them).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kiwi_mcp.kernel.core.ids import Kind

__all__ = ["LEFT_OUT", "Row", "State"]

#: The level of a file that is in no engine (unparsable, unreadable).
LEFT_OUT: Final = -1
#: 4: the graph holds sign bits and the int8 rows live beside it (meta ``vectors`` names
#: that format); an older writer resets such an index instead of reading it.
SCHEMA_VERSION: Final = "4"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items(
  key INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  path TEXT NOT NULL UNIQUE,
  ext TEXT NOT NULL,
  sigs TEXT NOT NULL,
  level INTEGER NOT NULL,
  code TEXT,
  reason TEXT,
  description TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_name ON items(kind, name);
CREATE INDEX IF NOT EXISTS items_id ON items(kind, id);
CREATE INDEX IF NOT EXISTS items_level ON items(level, kind);
CREATE TABLE IF NOT EXISTS folders(kind TEXT NOT NULL, path TEXT NOT NULL, mtime INTEGER NOT NULL,
  PRIMARY KEY(kind, path));
CREATE TABLE IF NOT EXISTS skipped(kind TEXT NOT NULL, path TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending(key INTEGER PRIMARY KEY);
"""
_COLUMNS: Final = "key, kind, id, name, path, ext, sigs, level, code, reason, description"


@dataclass(frozen=True, kw_only=True, slots=True)
class Row:
    """One item file as the index recorded it. ``sigs``: JSON ``[[path, signature|null,
    racy]…]``, the item file first, then a tool's extra files; ``null`` (unreadable) never
    matches, and a racy one (changed too recently to trust) makes the next refresh re-read."""

    key: int
    kind: Kind
    id: str
    name: str
    path: str
    ext: str
    sigs: str
    level: int
    code: str | None
    reason: str | None
    description: str

    @classmethod
    def from_tuple(cls, t: tuple[object, ...]) -> Row:
        key, kind, id_, name, path, ext, sigs, level, code, reason, description = t
        return cls(
            key=int(str(key)),
            kind=kind,  # type: ignore[arg-type]
            id=str(id_),
            name=str(name),
            path=str(path),
            ext=str(ext),
            sigs=str(sigs),
            level=int(str(level)),
            code=None if code is None else str(code),
            reason=None if reason is None else str(reason),
            description=str(description),
        )

    def astuple(self) -> tuple[object, ...]:
        return (
            self.key,
            self.kind,
            self.id,
            self.name,
            self.path,
            self.ext,
            self.sigs,
            self.level,
            self.code,
            self.reason,
            self.description,
        )

    def signatures(self) -> list[tuple[str, list[int] | None, bool]]:
        return [(str(p), s, bool(r)) for p, s, r in json.loads(self.sigs)]


class State:
    """The state database of one index (``state.sqlite`` in its folder)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database and truncate it: after a refresh of
        many batches it would otherwise stay as large as everything written."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def meta(self, key: str) -> str | None:
        found = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if found is None else str(found[0])

    def set_meta(self, values: dict[str, str]) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    def next_keys(self, count: int) -> list[int]:
        """Reserve ``count`` keys never used before (the counter lives in ``meta``)."""
        start = int(self.meta("next_key") or "1")
        self.set_meta({"next_key": str(start + count)})
        return list(range(start, start + count))

    def folders(self, kind: Kind) -> dict[str, int]:
        rows = self.db.execute("SELECT path, mtime FROM folders WHERE kind=?", (kind,))
        return {str(p): int(m) for p, m in rows}

    def rows(self, kind: Kind) -> dict[str, Row]:
        query = f"SELECT {_COLUMNS} FROM items WHERE kind=?"
        return {str(t[4]): Row.from_tuple(t) for t in self.db.execute(query, (kind,))}

    def by_keys(self, keys: Sequence[int]) -> dict[int, Row]:
        out: dict[int, Row] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {_COLUMNS} FROM items WHERE key IN ({marks})"
            for t in self.db.execute(query, chunk):
                row = Row.from_tuple(t)
                out[row.key] = row
        return out

    def briefs(self, keys: Sequence[int]) -> dict[int, tuple[Kind, str, int]]:
        """(kind, id, level) of each of ``keys``: what ranking needs, without the row."""
        out: dict[int, tuple[Kind, str, int]] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, kind, id, level FROM items WHERE key IN ({marks})"
            for key, kind, id_, level in self.db.execute(query, chunk):
                out[int(key)] = (kind, str(id_), int(level))
        return out

    def by_id(self, kind: Kind, item_id: str) -> list[Row]:
        query = f"SELECT {_COLUMNS} FROM items WHERE kind=? AND id=? ORDER BY path"
        return [Row.from_tuple(t) for t in self.db.execute(query, (kind, item_id))]

    def by_name(self, kind: Kind, name: str) -> list[Row]:
        query = f"SELECT {_COLUMNS} FROM items WHERE kind=? AND name=? ORDER BY id, path"
        return [Row.from_tuple(t) for t in self.db.execute(query, (kind, name))]

    def listing(self, kind: Kind, min_level: int, limit: int) -> list[Row]:
        """The first ``limit`` rows of ``kind`` by id at ``min_level`` or above."""
        query = f"SELECT {_COLUMNS} FROM items WHERE kind=? AND level>=? ORDER BY id LIMIT ?"
        return [Row.from_tuple(t) for t in self.db.execute(query, (kind, min_level, limit))]

    def left_out(self, min_level: int) -> list[Row]:
        query = f"SELECT {_COLUMNS} FROM items WHERE level<? ORDER BY kind, id, path"
        return [Row.from_tuple(t) for t in self.db.execute(query, (min_level,))]

    def left_out_count(self, min_level: int, kinds: Sequence[str]) -> int:
        """How many rows of ``kinds`` are below ``min_level`` (through ``items_level``: the
        rows left out, not the million that are in)."""
        marks = ",".join("?" * len(kinds))
        # INDEXED BY: without statistics the planner would scan every row of a kind instead
        query = (
            f"SELECT count(*) FROM items INDEXED BY items_level WHERE level<? AND kind IN ({marks})"
        )
        return int(self.db.execute(query, (min_level, *kinds)).fetchone()[0])

    def counts(self) -> dict[tuple[str, int], int]:
        query = "SELECT kind, level, count(*) FROM items GROUP BY kind, level"
        return {(str(k), int(lv)): int(n) for k, lv, n in self.db.execute(query)}

    def skipped(self) -> list[tuple[str, str, str]]:
        query = "SELECT kind, path, reason FROM skipped ORDER BY kind, path"
        return [(str(k), str(p), str(r)) for k, p, r in self.db.execute(query)]

    def pending(self) -> list[int]:
        return [int(k) for (k,) in self.db.execute("SELECT key FROM pending")]

    def mark_pending(self, keys: Iterable[int]) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR IGNORE INTO pending VALUES (?)", ((k,) for k in keys))

    def record(
        self,
        *,
        removed: Iterable[int],
        added: Iterable[Row],
        folders: dict[Kind, dict[str, int]],
        skipped: dict[Kind, list[tuple[str, str]]],
        settled: bool,
    ) -> None:
        """One batch, in one transaction: rows out and in, the folders listed, and
        ``pending`` cleared when every engine has committed (``settled``)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("DELETE FROM items WHERE key=?", ((k,) for k in removed))
            self.db.executemany(
                f"INSERT OR REPLACE INTO items ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (row.astuple() for row in added),
            )
            for kind, mtimes in folders.items():
                self.db.execute("DELETE FROM folders WHERE kind=?", (kind,))
                self.db.executemany(
                    "INSERT INTO folders VALUES (?, ?, ?)",
                    ((kind, p, m) for p, m in mtimes.items()),
                )
            for kind, entries in skipped.items():
                self.db.execute("DELETE FROM skipped WHERE kind=?", (kind,))
                self.db.executemany(
                    "INSERT INTO skipped VALUES (?, ?, ?)", ((kind, p, r) for p, r in entries)
                )
            if settled:
                self.db.execute("DELETE FROM pending")

    def forget(self, keys: Sequence[int]) -> None:
        """After a crash: drop the rows of ``keys`` (the engines no longer hold them) and
        every folder mark, so the next refresh lists and compares again."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("DELETE FROM items WHERE key=?", ((k,) for k in keys))
            self.db.execute("DELETE FROM folders")
            self.db.execute("DELETE FROM pending")

    def clear(self) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for table in ("items", "folders", "skipped", "pending"):
                self.db.execute(f"DELETE FROM {table}")
