"""Finding and reading items in the three spaces (SPEC §3).

``ItemStore.locate`` finds an id's files where its path says they are
(``store/direct.py``): the cost does not grow with the space, and a prepared chain's
witness sees only the files and folders on its own path. Listing is for what needs every
item (search, ``iter_files``, bare names that are not top-level ids) and for a symlink on the
way: ``ItemStore`` indexes each space's ``<kind>s/`` folder once and keeps the index while
no folder's mtime changes (``refresh`` checks, once per operation; a folder whose mtime has
not settled, by ``store.files.settled``, is listed again). The bytes of an item are read on
every load — integrity is always checked on what was actually read; parsing is memoized by
content hash in ``kiwi_mcp.kernel.core.parse``.

Folders are listed by ``store/index_walk.py`` (loops, dangling links and FIFOs are left
out, kept as :class:`SkippedFile`: ``ItemStore.skipped``). A file symlink that resolves
outside the space stays in the index marked ``escapes`` and is refused by ``locate``. An
item file over :data:`MAX_ITEM_BYTES` is a ``PARSE_ERROR`` when loaded, read no further
than the limit.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final

from kiwi_mcp.kernel.core.ids import Kind, check_id
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
from kiwi_mcp.kernel.store.direct import direct_files
from kiwi_mcp.kernel.store.files import FileCache, FileTooLarge
from kiwi_mcp.kernel.store.index_walk import SkippedFile, SpaceIndex, build_index

__all__ = ["MAX_ITEM_BYTES", "ItemStore", "SkippedFile"]

#: The largest item file read: far above any real item (the system's biggest is ~2 KB), far
#: below what would stall a parse or a client that lists items.
MAX_ITEM_BYTES: Final = 1024 * 1024


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
        # A folder given as two spaces is searched once, as the later one: inside the source
        # tree the project's .ai is the system space, and only as that does it hold the
        # primitives and verify by its manifest (as it does seen from any other folder).
        unique: list[Space] = []
        seen: set[Path] = set()
        for space in reversed(spaces):
            real = space.root.resolve() if space.root.exists() else space.root.absolute()
            if real in seen:
                continue
            seen.add(real)
            unique.append(space)
        self.spaces: tuple[Space, ...] = tuple(reversed(unique))
        self._index: dict[tuple[SpaceName, Kind], SpaceIndex] = {}

    def space(self, name: SpaceName) -> Space | None:
        return next((s for s in self.spaces if s.name == name), None)

    def refresh(self, kind: Kind | None = None) -> None:
        """Drop every index (of ``kind``, or all) whose folders changed since it was built."""
        for key, index in list(self._index.items()):
            if kind is not None and key[1] != kind:
                continue
            if not self._mtimes_match(index.folder_mtimes):
                del self._index[key]

    def _space_index(self, space: Space, kind: Kind) -> SpaceIndex:
        key = (space.name, kind)
        index = self._index.get(key)
        if index is None:
            index = build_index(space, kind, self.files, self.clock_ns)
            self._index[key] = index
        return index

    def _current_index(self, space: Space, kind: Kind) -> SpaceIndex:
        """The space's listed index, listed again if a folder changed since."""
        index = self._index.get((space.name, kind))
        if index is not None and not self._mtimes_match(index.folder_mtimes):
            del self._index[(space.name, kind)]
        return self._space_index(space, kind)

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
            files = direct_files(space, kind, item_id, self.files)
            if files is None:  # a symlink on the way: the listing applies the walk's rules
                files = self._current_index(space, kind).files.get(item_id)
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

    def exact(self, kind: Kind, item_id: str, space: SpaceName) -> ItemFile | None:
        """The one file of exactly ``item_id`` in ``space`` (no bare-name matching, no
        listing unless a symlink is on the way), or None.

        Raises:
            InvalidId: a bad id. AmbiguousId: the space holds two files for it.
        """
        check_id(item_id)
        found = self.space(space)
        if found is None:
            return None
        files = direct_files(found, kind, item_id, self.files)
        if files is None:
            files = self._current_index(found, kind).files.get(item_id)
        if files and len(files) > 1:
            raise AmbiguousId(
                f"{space} space holds several files for {kind} {item_id!r}: "
                + ", ".join(f.path.name for f in files),
                item_id=item_id,
                hint="Keep one file per id in a space; remove or rename the others.",
                details={"candidates": [str(f.path) for f in files]},
            )
        return files[0] if files else None

    def _resolve_bare(self, kind: Kind, name: str, within: Sequence[SpaceName]) -> str:
        """An exact top-level id wins; otherwise the one id whose last segment is ``name``:
        in the project and user spaces from their persistent name index
        (``store/name_index.py``), in the system space (small, shipped) from its listing."""
        from kiwi_mcp.kernel.store.name_index import NameIndex

        spaces = [space for space in self.spaces if space.name in within]
        for space in spaces:
            files = direct_files(space, kind, name, self.files)
            if files is None:
                files = self._current_index(space, kind).files.get(name)
            if files:
                return name
        found: set[str] = set()
        for space in spaces:
            if space.name == "system":
                listed = self._current_index(space, kind).files
                found.update(i for i in listed if i.rsplit("/", 1)[-1] == name)
            else:
                listing = functools.partial(self._current_index, space, kind)
                found.update(NameIndex(space, kind, self.files).ids_named(name, listing))
        ids = sorted(found)
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
