"""Bare names without listing a space: a persistent name index kept fresh by folder stamps.

``kiwi run weather`` names no path, so finding ``tools/forecast/weather.yaml`` needs every
id of the space. Listing the space per command costs one entry per item; this index keeps
what the listing found — each id under its last segment — in ``<space>/index/names-<kind>.db``
(SQLite) with the mtime of every folder that listing walked. An entry can only appear, go or
be renamed by changing its folder, so while every recorded folder keeps its mtime the names
are what a new listing would give: a lookup costs one ``stat`` per folder and one indexed
query, never one per item. A changed (or unsettled) folder means a new listing, written
again — to a temp file renamed over the old one, so a reader sees one index or the other.

The folder stats go through the kernel's ``FileCache``, so a prepared chain asked for by a
bare name is kept only while those folders are unchanged. An index that cannot be read or
written (a read-only space, a damaged file) only costs the listing; it is never trusted
over the folders.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Callable
from typing import Final

from kiwi_mcp.kernel.core.ids import Kind
from kiwi_mcp.kernel.core.spaces import Space
from kiwi_mcp.kernel.store.files import FileCache
from kiwi_mcp.kernel.store.index_walk import SpaceIndex

__all__ = ["FOLDER", "NameIndex"]

#: the folder below a space's root that holds its indexes (``.ai/index/`` of a project)
FOLDER: Final = "index"
_VERSION: Final = 1
_SCHEMA: Final = (
    "CREATE TABLE meta (version INTEGER NOT NULL);"
    "CREATE TABLE folders (path TEXT PRIMARY KEY, mtime INTEGER NOT NULL);"
    "CREATE TABLE names (name TEXT NOT NULL, id TEXT NOT NULL);"
    "CREATE INDEX names_by_name ON names(name);"
)


class NameIndex:
    """The persistent bare-name index of one space and kind."""

    def __init__(self, space: Space, kind: Kind, files: FileCache) -> None:
        self.space = space
        self.kind = kind
        self.files = files
        self.path = space.root / FOLDER / f"names-{kind}.db"

    def ids_named(self, name: str, listing: Callable[[], SpaceIndex]) -> list[str]:
        """The ids whose last segment is ``name`` (an id equal to it included), from the
        index while its folders are unchanged, else from ``listing()`` (then saved)."""
        found = self._lookup(name)
        if found is not None:
            return found
        index = listing()
        self._save(index)
        return sorted({i for i in index.files if i == name or i.rsplit("/", 1)[-1] == name})

    def _lookup(self, name: str) -> list[str] | None:
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        except sqlite3.Error:
            return None
        try:
            with contextlib.closing(db):
                (version,) = db.execute("SELECT version FROM meta").fetchone()
                if version != _VERSION:
                    return None
                for folder, mtime in db.execute("SELECT path, mtime FROM folders"):
                    st = self.files.stat(folder)
                    if (-1 if st is None else st.st_mtime_ns) != mtime:
                        return None
                rows = db.execute("SELECT id FROM names WHERE name = ?", (name,)).fetchall()
        except (sqlite3.Error, TypeError, ValueError, OSError):
            return None  # missing, damaged or of another version: list instead
        return sorted({row[0] for row in rows})

    def _save(self, index: SpaceIndex) -> None:
        """Write ``index``'s names and folder stamps, unless a folder was unsettled (then the
        next lookup lists again) or the space cannot be written (then every lookup does)."""
        if any(mtime < -1 for mtime in index.folder_mtimes.values()):
            return
        folder = self.path.parent
        temp = folder / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(sqlite3.connect(temp)) as db:
                db.executescript(_SCHEMA)
                db.execute("INSERT INTO meta VALUES (?)", (_VERSION,))
                db.executemany("INSERT INTO folders VALUES (?, ?)", index.folder_mtimes.items())
                db.executemany(
                    "INSERT INTO names VALUES (?, ?)",
                    ((i.rsplit("/", 1)[-1], i) for i in index.files),
                )
                db.commit()
            os.replace(temp, self.path)
        except (OSError, sqlite3.Error):
            with contextlib.suppress(OSError):
                temp.unlink()
