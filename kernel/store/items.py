"""Finding and reading items in the three spaces (SPEC §3).

``ItemStore`` indexes each space's ``<kind>s/`` folder once, keeps the index while no
folder's mtime changes (``refresh`` checks, once per operation; a folder whose mtime has
not settled, by ``store.files.settled``, is listed again), and reads the bytes of an item
on every load — integrity is always checked on what was actually read; parsing is
memoized by content hash in ``kiwi_mcp.kernel.core.parse``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
from kiwi_mcp.kernel.store.files import FileCache, settled

__all__ = ["ItemStore"]

_UNSETTLED = -2


@dataclass(kw_only=True, slots=True)
class _SpaceIndex:
    files: dict[str, list[ItemFile]] = field(default_factory=dict)
    folder_mtimes: dict[str, int] = field(default_factory=dict)


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
            read = self.files.read(file.path)
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
    extensions = EXTENSIONS[kind]
    try:
        real_base = base.resolve(strict=True)
    except OSError:
        # No folder for this kind yet: watch the space's root for it to appear.
        index.folder_mtimes[str(space.root)] = _folder_mtime(files, space.root, clock_ns)
        index.folder_mtimes[str(base)] = -1
        return index
    stack: list[tuple[Path, str]] = [(base, "")]
    while stack:
        folder, prefix = stack.pop()
        # The mtime is taken before listing: an entry added after it changes it.
        index.folder_mtimes[str(folder)] = _folder_mtime(files, folder, clock_ns)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=True):
                if is_item_name(name) and name != "__pycache__":
                    stack.append((Path(entry.path), f"{prefix}{name}/"))
                continue
            stem, dot, ext = name.rpartition(".")
            if not dot or f".{ext}" not in extensions or not is_item_name(stem):
                continue
            item_id = prefix + stem
            try:
                check_id(item_id)
            except InvalidId:
                continue
            path = Path(entry.path)
            escapes = not path.resolve().is_relative_to(real_base)
            index.files.setdefault(item_id, []).append(
                ItemFile(
                    kind=kind,
                    id=item_id,
                    space=space.name,
                    path=path,
                    ext=f".{ext}",
                    escapes=escapes,
                )
            )
    return index
