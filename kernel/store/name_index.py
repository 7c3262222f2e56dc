"""Bare names without listing a space: a persistent name index kept fresh by folder stamps.

``kiwi run weather`` names no path, so finding ``tools/forecast/weather.yaml`` needs every
id of the space. Listing the space per command costs one entry per item; this index keeps
what the listing found — each id under its last segment — in ``<space>/index/names-<kind>.db``
(SQLite) with the mtime of every folder that listing walked. An entry can only appear, go or
be renamed by changing its folder, so while every recorded folder keeps its mtime the names
are what a new listing would give: a lookup costs one ``stat`` per folder and one indexed
query, never one per item. A changed folder is listed again by itself (``_patch``: its
files, its new sub-folders walked, its vanished ones dropped), in one transaction; anything
the walk's rules would have to judge — a symlink, a folder that was missing, an unsettled
mtime — means a whole new listing instead, written to a temp file renamed over the old one,
so a reader sees one index or the other.

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
import stat
from collections.abc import Callable
from typing import Final

from kiwi_mcp.kernel.core.ids import Kind
from kiwi_mcp.kernel.core.spaces import Space
from kiwi_mcp.kernel.store.files import FileCache
from kiwi_mcp.kernel.store.index_walk import SpaceIndex, names_of

__all__ = ["FOLDER", "NameIndex"]

#: the folder below a space's root that holds its indexes (``.ai/index/`` of a project)
FOLDER: Final = "index"
_VERSION: Final = 2
_SCHEMA: Final = (
    "CREATE TABLE meta (version INTEGER NOT NULL);"
    "CREATE TABLE folders (path TEXT PRIMARY KEY, mtime INTEGER NOT NULL);"
    "CREATE TABLE names (name TEXT NOT NULL, id TEXT NOT NULL, folder TEXT NOT NULL);"
    "CREATE INDEX names_by_name ON names(name);"
    "CREATE INDEX names_by_folder ON names(folder);"
)


class _Unsure(Exception):
    """Something only the full walk may judge: list the space again."""


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
            db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=5.0)
        except sqlite3.Error:
            return None
        try:
            with contextlib.closing(db):
                (version,) = db.execute("SELECT version FROM meta").fetchone()
                if version != _VERSION:
                    return None
                recorded = dict(db.execute("SELECT path, mtime FROM folders").fetchall())
                changed = {}
                for folder, mtime in recorded.items():
                    st = self.files.stat(folder)
                    now = -1 if st is None else st.st_mtime_ns
                    if now != mtime:
                        changed[folder] = now
                if changed:
                    with db:  # one transaction: the patch lands whole or not at all
                        self._patch(db, recorded, changed)
                rows = db.execute("SELECT id FROM names WHERE name = ?", (name,)).fetchall()
        except (_Unsure, sqlite3.Error, TypeError, ValueError, OSError):
            return None  # missing, damaged, of another version, or for the walk to judge
        return sorted({row[0] for row in rows})

    def _patch(
        self, db: sqlite3.Connection, recorded: dict[str, int], changed: dict[str, int]
    ) -> None:
        """List each changed folder again by itself (see the module docstring).

        Raises:
            _Unsure: a folder that was missing, is not one now, or has not settled, or a
                symlink: only a whole listing applies the walk's rules to those.
        """
        from kiwi_mcp.kernel.core.ids import folder_for

        base = os.path.join(self.space.root, folder_for(self.kind))
        for folder, now in sorted(changed.items()):
            if folder not in recorded:
                continue  # dropped with a parent already
            if recorded[folder] < 0 or now < 0 or not folder.startswith(base):
                raise _Unsure(folder)  # appeared, vanished, or the space's own root
            self._relist(db, base, folder, recorded)

    def _relist(
        self, db: sqlite3.Connection, base: str, folder: str, recorded: dict[str, int]
    ) -> None:
        from kiwi_mcp.kernel.core.ids import check_id
        from kiwi_mcp.kernel.store.files import settled

        prefix = os.path.relpath(folder, base)
        prefix = "" if prefix == "." else prefix + "/"
        st = os.lstat(folder)
        if stat.S_ISLNK(st.st_mode) or not settled(st.st_mtime_ns, self.files.clock_ns()):
            raise _Unsure(folder)
        ids: list[str] = []
        subfolders: list[str] = []
        for entry in os.scandir(folder):
            if entry.is_symlink():
                raise _Unsure(entry.path)
            as_item, as_folder = names_of(self.kind, entry.name)
            if entry.is_dir(follow_symlinks=False):
                if as_folder:
                    subfolders.append(entry.path)
            elif entry.is_file(follow_symlinks=False) and as_item:
                try:
                    ids.append(check_id(prefix + entry.name.rpartition(".")[0]))
                except ValueError:
                    continue  # the walk leaves it out too (an id too long)
        db.execute("DELETE FROM names WHERE folder = ?", (folder,))
        db.executemany(
            "INSERT INTO names VALUES (?, ?, ?)", ((i.rsplit("/", 1)[-1], i, folder) for i in ids)
        )
        db.execute("UPDATE folders SET mtime = ? WHERE path = ?", (st.st_mtime_ns, folder))
        recorded[folder] = st.st_mtime_ns
        present = set(subfolders)
        for known in [p for p in recorded if os.path.dirname(p) == folder and p not in present]:
            self._forget(db, known, recorded)  # a sub-folder that went away, with its tree
        for sub in subfolders:
            if sub not in recorded:  # a new sub-folder: walk it whole
                db.execute("INSERT INTO folders VALUES (?, ?)", (sub, -3))
                recorded[sub] = -3
                self._relist(db, base, sub, recorded)

    @staticmethod
    def _forget(db: sqlite3.Connection, folder: str, recorded: dict[str, int]) -> None:
        for path in [p for p in recorded if p == folder or p.startswith(folder + os.sep)]:
            db.execute("DELETE FROM names WHERE folder = ?", (path,))
            db.execute("DELETE FROM folders WHERE path = ?", (path,))
            del recorded[path]

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
                    "INSERT INTO names VALUES (?, ?, ?)",
                    (
                        (i.rsplit("/", 1)[-1], i, str(files[0].path.parent))
                        for i, files in index.files.items()
                    ),
                )
                db.commit()
            os.replace(temp, self.path)
        except (OSError, sqlite3.Error):
            with contextlib.suppress(OSError):
                temp.unlink()
