"""Listing one space's ``<kind>s/`` folder into an index, safely (SPEC §3).

A folder is hostile input too. The walk lists each real folder once: a folder symlink is
followed only to a folder inside the space's ``<kind>s/`` folder that was not listed yet
(so no loop, no alias, nothing outside); symlink loops, dangling symlinks, FIFOs and
devices are not items. Each such entry is left out and kept as a :class:`SkippedFile` for
search and listings to report. The index records every folder's settled mtime, so
``store.items.ItemStore`` can tell when to list again.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kiwi_mcp.kernel.core.ids import EXTENSIONS, Kind, check_id, folder_for, is_item_name
from kiwi_mcp.kernel.core.spaces import ItemFile, Space, SpaceName
from kiwi_mcp.kernel.errors import InvalidId
from kiwi_mcp.kernel.store.files import FileCache, settled

__all__ = ["SkippedFile", "SpaceIndex", "build_index", "names_of"]

_UNSETTLED = -2
_LOOP = "a symlink loop"
_DANGLING = "a dangling symlink (its target does not exist)"
_LEAVES = "a folder symlink that leaves the space"


@dataclass(frozen=True, kw_only=True, slots=True)
class SkippedFile:
    """An entry of a ``<kind>s/`` folder that is not an item, and why."""

    kind: Kind
    space: SpaceName
    path: Path
    reason: str


def names_of(kind: Kind, name: str) -> tuple[bool, bool]:
    """Whether an entry called ``name`` may be an item file of ``kind`` (a valid stem and one
    of its extensions) and whether it may be a folder of ids (shared with ``name_index``)."""
    stem, dot, ext = name.rpartition(".")
    as_item = bool(dot) and f".{ext}" in EXTENSIONS[kind] and is_item_name(stem)
    return as_item, is_item_name(name) and name != "__pycache__"


@dataclass(kw_only=True, slots=True)
class SpaceIndex:
    files: dict[str, list[ItemFile]] = field(default_factory=dict)
    folder_mtimes: dict[str, int] = field(default_factory=dict)
    folders: list[Path] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def _folder_mtime(files: FileCache, folder: Path, clock_ns: Callable[[], int]) -> int:
    """The folder's mtime to compare later: -1 when missing; ``_UNSETTLED`` (which no later
    stat matches) when it changed too recently to tell a change in the same clock tick."""
    try:
        st = files.stat(folder)
    except OSError:
        return _UNSETTLED
    if st is None:
        return -1
    if not settled(st.st_mtime_ns, clock_ns()):
        return _UNSETTLED
    return st.st_mtime_ns


def build_index(
    space: Space, kind: Kind, files: FileCache, clock_ns: Callable[[], int]
) -> SpaceIndex:
    index = SpaceIndex()
    base = space.root / folder_for(kind)
    try:
        real_base = Path(os.path.realpath(base, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            index.skipped.append(SkippedFile(kind=kind, space=space.name, path=base, reason=_LOOP))
        # No folder for this kind yet: watch the space's root for it to appear.
        index.folder_mtimes[str(space.root)] = _folder_mtime(files, space.root, clock_ns)
        index.folder_mtimes[str(base)] = -1
        return index
    _Walker(index=index, space=space, kind=kind, files=files, clock_ns=clock_ns).walk(real_base)
    return index


@dataclass(kw_only=True, slots=True)
class _Walker:
    """One listing of a space's ``<kind>s/`` folder (see the module docstring).

    Real folders are walked first, depth first in name order; folder symlinks wait until
    every real folder is listed, so a link to a folder that is also reachable directly never
    wins over it. A folder's real path is its parent's plus its name unless it is a symlink,
    so only symlinks cost a ``realpath``.
    """

    index: SpaceIndex
    space: Space
    kind: Kind
    files: FileCache
    clock_ns: Callable[[], int]
    real_base: Path = Path("/")
    listed: dict[str, Path] = field(default_factory=dict)  # real folder → path listed as
    linked: list[tuple[Path, str, str]] = field(default_factory=list)  # path, prefix, real

    def walk(self, real_base: Path) -> None:
        self.real_base = real_base
        self._tree(self.space.root / folder_for(self.kind), "", str(real_base))
        while self.linked:
            path, prefix, real = self.linked.pop(0)
            if real in self.listed:
                shown = os.path.relpath(self.listed[real], self.space.root)
                self._skip(path, f"a folder symlink to a folder already listed ({shown})")
            else:
                self._tree(path, prefix, real)

    def _skip(self, path: Path, reason: str) -> None:
        self.index.skipped.append(
            SkippedFile(kind=self.kind, space=self.space.name, path=path, reason=reason)
        )

    def _tree(self, top: Path, top_prefix: str, top_real: str) -> None:
        stack = [(top, top_prefix, top_real)]
        while stack:
            folder, prefix, real = stack.pop()
            self.listed[real] = folder
            self.index.folders.append(folder)
            # The mtime is taken before listing: an entry added after it changes it.
            self.index.folder_mtimes[str(folder)] = _folder_mtime(self.files, folder, self.clock_ns)
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
            except OSError as exc:
                self._skip(folder, f"cannot list the folder: {exc.strerror}")
                continue
            for entry in entries:
                found = self._entry(entry, prefix, real)
                if found is not None:
                    stack.append(found)

    def _entry(
        self, entry: os.DirEntry[str], prefix: str, real: str
    ) -> tuple[Path, str, str] | None:
        """Index one entry; a real sub-folder to walk is returned."""
        name = entry.name
        stem, _, ext = name.rpartition(".")
        as_item, as_folder = names_of(self.kind, name)
        if not as_item and not as_folder:
            return None  # dot files, writers' temp files, editors' backups: not ours
        path = Path(entry.path)
        try:
            link = entry.is_symlink()
            if link:
                mode = entry.stat(follow_symlinks=True).st_mode  # a loop or dangling: raises
            elif entry.is_dir(follow_symlinks=False):  # from the listing: no system call
                mode = stat.S_IFDIR
            elif entry.is_file(follow_symlinks=False):
                mode = stat.S_IFREG
            else:
                mode = entry.stat(follow_symlinks=False).st_mode
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self._skip(path, _LOOP)
            elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
                self._skip(path, _DANGLING)
                self._watch_target(path)
            else:
                self._skip(path, f"cannot read: {exc.strerror}")
            return None
        target = os.path.realpath(path) if link else os.path.join(real, name)
        if stat.S_ISDIR(mode):
            if not as_folder:
                return None
            if not link:
                return (path, f"{prefix}{name}/", target)
            if not Path(target).is_relative_to(self.real_base):
                self._skip(path, _LEAVES)
            else:
                self.linked.append((path, f"{prefix}{name}/", target))
            return None
        if not as_item:
            return None
        if not stat.S_ISREG(mode):
            self._skip(path, "not a regular file (a FIFO, socket or device)")
            return None
        item_id = prefix + stem
        try:
            check_id(item_id)
        except InvalidId as exc:
            self._skip(path, exc.message)
            return None
        escapes = link and not Path(target).is_relative_to(self.real_base)
        self.index.files.setdefault(item_id, []).append(
            ItemFile(
                kind=self.kind,
                id=item_id,
                space=self.space.name,
                path=path,
                ext=f".{ext}",
                escapes=escapes,
            )
        )
        return None

    def _watch_target(self, link: Path) -> None:
        """Note the folder a dangling symlink's target would appear in, so the index is
        built again when it does."""
        parent = os.path.dirname(os.path.realpath(link))
        self.index.folder_mtimes.setdefault(
            parent, _folder_mtime(self.files, Path(parent), self.clock_ns)
        )
