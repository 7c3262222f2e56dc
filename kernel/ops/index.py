"""The search indexes of a kernel's spaces (SPEC §15): where they live, keeping them current,
``kiwi index status|refresh|rebuild``, and the bare-name lookup the store will use.

Indexes are opened once per process and kept (a long-lived server answers from warm
engines); each is refreshed at the start of an operation, which costs a stat per folder
when nothing changed (none in a server while its folder watch saw nothing), and a server
also refreshes the ones it has opened a few times a second (``refresh_open``). The system
space's index is built once per installed version (named by the hash of its
``manifest.json``) under the user space, which is writable.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.ids import KINDS, Kind
from kiwi_mcp.kernel.core.spaces import SPACE_ORDER, Space, SpaceName
from kiwi_mcp.kernel.services.index.embedder import default_embedder
from kiwi_mcp.kernel.services.index.entries import Gate, min_level
from kiwi_mcp.kernel.services.index.space_index import SpaceIndex, Updated
from kiwi_mcp.kernel.services.index.state import LEFT_OUT
from kiwi_mcp.kernel.store.files import FileCache

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.store.settings import Settings

__all__ = [
    "IndexStatus",
    "Updated",
    "ids_named",
    "index_folder",
    "indexes",
    "load_model",
    "rebuild",
    "refresh",
    "refresh_open",
    "status",
]

_open: dict[Path, tuple[SpaceIndex, threading.RLock]] = {}
_open_lock = threading.Lock()


def index_folder(settings: Settings, space: Space) -> Path:
    """Where ``space``'s index lives: ``<project>/.ai/index``, ``<user>/index``, and
    ``<user>/index/system/<manifest hash>`` for the system space."""
    if space.name == "system":
        try:
            stamp = hashlib.sha256((space.root / "manifest.json").read_bytes()).hexdigest()
        except OSError:
            stamp = hashlib.sha256(str(space.root).encode()).hexdigest()
        return settings.user_space / "index" / "system" / stamp[:16]
    return space.root / "index"


@contextmanager
def _held(kernel: Kernel, space: Space) -> Iterator[SpaceIndex]:
    folder = index_folder(kernel.settings, space)
    with _open_lock:
        found = _open.get(folder)
        if found is None or found[0].space != space:
            # its own file cache: the index outlives this kernel and serves others' threads
            files = FileCache()
            gate = Gate(kernel.settings, files)
            index = SpaceIndex(space, folder, gate=gate, embedder=default_embedder, files=files)
            found = (index, threading.RLock())
            _open[folder] = found
    with found[1]:
        yield found[0]


@contextmanager
def indexes(
    kernel: Kernel, spaces: Sequence[SpaceName] = SPACE_ORDER, *, fresh: bool = True
) -> Iterator[list[SpaceIndex]]:
    """The indexes of the kernel's ``spaces``, in precedence order, each refreshed (unless
    ``fresh`` is false) and held for the block (one operation per index at a time)."""
    with _all_held(kernel, [s for s in kernel.store.spaces if s.name in spaces]) as held:
        if fresh:
            for index in held:
                index.refresh()
        yield held


@contextmanager
def _all_held(kernel: Kernel, spaces: list[Space]) -> Iterator[list[SpaceIndex]]:
    if not spaces:
        yield []
        return
    with _held(kernel, spaces[0]) as first, _all_held(kernel, spaces[1:]) as rest:
        yield [first, *rest]


def refresh(kernel: Kernel, *, full: bool = False) -> dict[SpaceName, Updated]:
    """Index what changed since the last commit (every file compared when ``full``)."""
    out: dict[SpaceName, Updated] = {}
    with indexes(kernel, fresh=False) as held:
        for index in held:
            out[index.space.name] = index.refresh(full=full)
    return out


def refresh_open() -> int:
    """Bring every index this process has opened up to date: what ``kiwi serve`` runs a few
    times a second (SPEC §15: a long-lived kernel keeps its indexes current, one commit per
    beat of changes), so a changed file is indexed before anyone searches for it. An index
    a search holds is passed by (that search refreshes it). Returns how many took changes.

    Raises:
        KiwiError / OSError: a refresh failed (the index keeps its last commit).
    """
    with _open_lock:
        held = list(_open.values())
    changed = 0
    for index, lock in held:
        if not lock.acquire(blocking=False):
            continue
        try:
            done = index.refresh()
        finally:
            lock.release()
        changed += bool(done.added or done.removed or done.recovered)
    return changed


def rebuild(kernel: Kernel, spaces: Sequence[SpaceName] = SPACE_ORDER) -> dict[SpaceName, Updated]:
    """Index the ``spaces`` from scratch."""
    with indexes(kernel, spaces, fresh=False) as held:
        return {index.space.name: index.rebuild() for index in held}


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexStatus:
    """One space's index: where, how many items of each kind are searchable under the
    current policy, and each file left out with why."""

    space: SpaceName
    folder: Path
    searchable: dict[Kind, int]
    left_out: tuple[dict[str, str], ...]
    skipped: tuple[dict[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "folder": str(self.folder),
            "searchable": dict(self.searchable),
            "left_out": [dict(e) for e in self.left_out],
            "skipped": [dict(e) for e in self.skipped],
        }


def status(kernel: Kernel) -> list[IndexStatus]:
    """Each space's :class:`IndexStatus`, after a refresh."""
    floor = min_level(kernel.settings.verify)
    out: list[IndexStatus] = []
    with indexes(kernel) as held:
        for index in held:
            counts = index.state.counts()
            searchable = {
                kind: sum(n for (k, lv), n in counts.items() if k == kind and lv >= floor)
                for kind in KINDS
            }
            left = tuple(
                {
                    "kind": row.kind,
                    "id": row.id,
                    "path": _relative(row.path, index.space.root),
                    "code": row.code or "",
                    "reason": _why(row.level, row.reason),
                }
                for row in index.state.left_out(floor)
            )
            skipped = tuple(
                {"kind": k, "path": p, "reason": r} for k, p, r in index.state.skipped()
            )
            out.append(
                IndexStatus(
                    space=index.space.name,
                    folder=index.folder,
                    searchable=searchable,
                    left_out=left,
                    skipped=skipped,
                )
            )
    return out


def ids_named(
    kernel: Kernel, kind: Kind, name: str, spaces: Sequence[SpaceName] = SPACE_ORDER
) -> dict[SpaceName, list[str]]:
    """The bare-name lookup (SPEC §15: O(1) in the number of items): per space, the ids of
    ``kind`` that are ``name`` or end in ``/name``, whether or not they verify (locating
    comes before verifying). A cost of one indexed query per space, after a refresh."""
    out: dict[SpaceName, list[str]] = {}
    with indexes(kernel, spaces) as held:
        for index in held:
            ids = sorted({row.id for row in index.state.by_name(kind, name)})
            if ids:
                out[index.space.name] = ids
    return out


def _why(level: int, reason: str | None) -> str:
    if level == LEFT_OUT:
        return reason or "cannot be read"
    return reason or "does not verify under the current KIWI_VERIFY"


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).name


def load_model() -> None:
    """Load the bundled embedding model now (the warm process does, before any search):
    its table is mapped and its tokenizer read, nothing is embedded.

    Raises:
        NotAvailable: the model is not installed or damaged.
    """
    default_embedder()
