"""Finding and reading items in the three spaces (SPEC §3).

``ItemStore`` indexes each space's ``<kind>s/`` folder once, keeps the index while no
folder's mtime changes (``refresh`` checks, once per operation; a folder whose mtime has
not settled, by ``store.files.settled``, is listed again), and reads the bytes of an item
on every load — integrity is always checked on what was actually read; parsing is
memoized by content hash in ``kiwi_mcp.kernel.core.parse``.

A folder is hostile input too. The walk lists each real folder once: a folder symlink is
followed only to a folder inside the space's ``<kind>s/`` folder that was not listed yet
(so no loop, no alias, nothing outside); symlink loops, dangling symlinks, FIFOs and
devices are not items. Each such entry is left out of the index and kept as a
:class:`SkippedFile` (``ItemStore.skipped``) for search and listings to report; every
other item is unaffected. A file symlink that resolves outside the space stays in the index
marked ``escapes`` and is refused by ``locate``. An item file over :data:`MAX_ITEM_BYTES`
is a ``PARSE_ERROR`` when loaded, read no further than the limit.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from kiwi_mcp.kernel.core.ids import EXTENSIONS, Kind, check_id, folder_for, is_item_name
from kiwi_mcp.kernel.core.parse import parse_item
from kiwi_mcp.kernel.core.spaces import (
    SPACE_ORDER,
    ItemFile,
    LoadedItem,
    Located,
    Space,
    SpaceName,
)
from kiwi_mcp.kernel.errors import AmbiguousId, InvalidId, ItemNotFound, ParseError
from kiwi_mcp.kernel.store.files import FileCache, FileTooLarge, settled

__all__ = ["MAX_ITEM_BYTES", "ItemStore", "SkippedFile"]

#: The largest item file read: far above any real item (the system's biggest is ~2 KB), far
#: below what would stall a parse or a client that lists items.
MAX_ITEM_BYTES: Final = 1024 * 1024

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


@dataclass(kw_only=True, slots=True)
class _SpaceIndex:
    files: dict[str, list[ItemFile]] = field(default_factory=dict)
    folder_mtimes: dict[str, int] = field(default_factory=dict)
    folders: list[Path] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


class ItemStore:
    """Locates and loads items across spaces, project first.

    ``clock_ns`` is the clock the index's folder mtimes are judged settled by.
    """

    def __init__(
        self,
        spaces: Sequence[Space],
        *,
        files: FileCache | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.files = files or FileCache(clock_ns=clock_ns)
        self.clock_ns = clock_ns
        unique: list[Space] = []
        seen: set[Path] = set()
        for space in spaces:
            real = space.root.resolve() if space.root.exists() else space.root.absolute()
            if real in seen:
                continue  # e.g. running inside the source tree: project .ai == system .ai
            seen.add(real)
            unique.append(space)
        self.spaces: tuple[Space, ...] = tuple(unique)
        self._index: dict[tuple[SpaceName, Kind], _SpaceIndex] = {}

    def space(self, name: SpaceName) -> Space | None:
        return next((s for s in self.spaces if s.name == name), None)

    def refresh(self, kind: Kind | None = None) -> None:
        """Drop every index (of ``kind``, or all) whose folders changed since it was built."""
        for key, index in list(self._index.items()):
            if kind is not None and key[1] != kind:
                continue
            if not self._mtimes_match(index.folder_mtimes):
                del self._index[key]

    def _space_index(self, space: Space, kind: Kind) -> _SpaceIndex:
        key = (space.name, kind)
        index = self._index.get(key)
        if index is None:
            index = _build_index(space, kind, self.files, self.clock_ns)
            self._index[key] = index
        return index

    def _mtimes_match(self, mtimes: dict[str, int]) -> bool:
        for folder, mtime in mtimes.items():
            try:
                st = self.files.stat(folder)
            except OSError:
                return False
            if (-1 if st is None else st.st_mtime_ns) != mtime:
                return False
        return True

    def iter_files(
        self, kind: Kind, spaces: Sequence[SpaceName] = SPACE_ORDER
    ) -> Iterator[ItemFile]:
        """Every item file of ``kind`` in the given spaces (shadowed ones included)."""
        for space in self.spaces:
            if space.name in spaces:
                for files in self._space_index(space, kind).files.values():
                    yield from files

    def skipped(self, kind: Kind, spaces: Sequence[SpaceName] = SPACE_ORDER) -> list[SkippedFile]:
        """The entries of ``kind``'s folders in ``spaces`` left out of the index, and why
        (symlink loops, dangling or escaping folder symlinks, FIFOs, unreadable folders)."""
        return [
            skipped
            for space in self.spaces
            if space.name in spaces
            for skipped in self._space_index(space, kind).skipped
        ]

    def folders(self, kind: Kind, spaces: Sequence[SpaceName] = SPACE_ORDER) -> list[Path]:
        """Every folder the index of ``kind`` listed in ``spaces`` (where writers' temp
        files would be)."""
        return [
            folder
            for space in self.spaces
            if space.name in spaces
            for folder in self._space_index(space, kind).folders
        ]

    def locate(
        self, kind: Kind, item_id: str, *, within: Sequence[SpaceName] = SPACE_ORDER
    ) -> Located:
        """Resolve an id (or a unique bare name) to a file.

        Raises:
            InvalidId: the id's form is unsafe, or its file resolves outside its space.
            ItemNotFound: no space in ``within`` holds it.
            AmbiguousId: a bare name matches several ids, or one space holds two files for it.
        """
        check_id(item_id)
        if item_id.startswith("primitives/") and kind == "tool":
            within = ("system",)
        if "/" not in item_id:
            item_id = self._resolve_bare(kind, item_id, within)
        hits: list[ItemFile] = []
        ignored: list[ItemFile] = []
        for space in self.spaces:
            files = self._space_index(space, kind).files.get(item_id)
            if not files:
                continue
            if space.name not in within:
                if item_id.startswith("primitives/"):
                    ignored.extend(files)
                continue
            if len(files) > 1:
                raise AmbiguousId(
                    f"{space.name} space holds several files for {kind} {item_id!r}: "
                    + ", ".join(f.path.name for f in files),
                    item_id=item_id,
                    hint="Keep one file per id in a space; remove or rename the others.",
                    details={"candidates": [str(f.path) for f in files]},
                )
            hits.append(files[0])
        if not hits:
            raise ItemNotFound(
                f"no {kind} {item_id!r} in the {'/'.join(within)} space"
                + ("s" if len(within) > 1 else ""),
                item_id=item_id,
            )
        first = hits[0]
        if first.escapes:
            raise InvalidId(
                f"{first.label} resolves outside its space (symlink escape); refused",
                item_id=item_id,
                hint="Replace the symlink with a real file inside the space.",
            )
        return Located(file=first, shadowed=tuple(hits[1:]), ignored=tuple(ignored))

    def _resolve_bare(self, kind: Kind, name: str, within: Sequence[SpaceName]) -> str:
        """An exact top-level id wins; otherwise the one id whose last segment is ``name``."""
        for space in self.spaces:
            if space.name in within and name in self._space_index(space, kind).files:
                return name
        ids = sorted(
            {
                f.id
                for f in self.iter_files(kind, within)
                if f.id == name or f.id.rsplit("/", 1)[-1] == name
            }
        )
        if len(ids) > 1:
            raise AmbiguousId(
                f"the name {name!r} matches several {kind}s: {', '.join(ids)}",
                item_id=name,
                details={"candidates": ids},
            )
        return ids[0] if ids else name

    def load(
        self, kind: Kind, item_id: str, *, within: Sequence[SpaceName] = SPACE_ORDER
    ) -> LoadedItem:
        """Locate, read and parse an item.

        Raises:
            the errors of ``locate``, and ParseError when the file cannot be read or parsed.
        """
        located = self.locate(kind, item_id, within=within)
        return self.load_located(located)

    def load_located(self, located: Located) -> LoadedItem:
        file = located.file
        try:
            read = self.files.read(file.path, max_bytes=MAX_ITEM_BYTES)
        except FileTooLarge as exc:
            raise ParseError(
                f"{file.label}: item file is {exc.size} bytes; the limit is {MAX_ITEM_BYTES} "
                "bytes (1 MiB)",
                at=file.label,
                hint="Item files hold metadata and code; move large data into a file the "
                "tool reads when it runs.",
            ) from None
        except OSError as exc:
            raise ParseError(f"{file.label}: cannot read: {exc.strerror}", at=file.label) from None
        if read is None:
            raise ParseError(f"{file.label}: cannot read: it was removed", at=file.label)
        data, digest = read.data, read.sha256
        item = parse_item(file.kind, file.id, file.ext, data, file.label, sha256=digest)
        return LoadedItem(located=located, item=item, data=data, sha256=digest)


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


def _build_index(
    space: Space, kind: Kind, files: FileCache, clock_ns: Callable[[], int]
) -> _SpaceIndex:
    index = _SpaceIndex()
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

    index: _SpaceIndex
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
        stem, dot, ext = name.rpartition(".")
        as_item = bool(dot) and f".{ext}" in EXTENSIONS[self.kind] and is_item_name(stem)
        as_folder = is_item_name(name) and name != "__pycache__"
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
