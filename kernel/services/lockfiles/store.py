"""Lockfiles: chains pinned by version and content hash, and their folders (SPEC §8.3).

A lockfile is ``<root>/<id>@<version>.lock.json`` (the id's ``/`` kept as sub-folders).
Its bytes are deterministic — sorted keys, two-space indent, a trailing newline, no
timestamps — so re-freezing an unchanged chain changes nothing. When each was frozen lives
only in the root's ``.index.json``::

    {"index_version": 1,
     "entries": {"llm/anthropic@1.0.0.lock.json": {"frozen_at": "2026-01-02T03:04:05Z",
                                                   "root_id": "llm/anthropic",
                                                   "version": "1.0.0"}}}

Writes are atomic (see :mod:`kiwi_mcp.kernel.store.fileio`) and serialised per root by an
exclusive ``flock`` on ``.index.lock``, so concurrent freezes and crashed writers never
leave a torn lockfile or index.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.errors import InvalidId
from kiwi_mcp.kernel.services.lockfiles.records import LOCKFILE_VERSION, LockedLink, Lockfile
from kiwi_mcp.kernel.store.fileio import atomic_write, clean_stale_temps, exclusive_lock

if TYPE_CHECKING:
    from kiwi_mcp.kernel.services.lockfiles.diff import Drift, compare

__all__ = [
    "LOCKFILE_VERSION",
    "Drift",
    "LockedLink",
    "Lockfile",
    "LockfileEntry",
    "LockfileStore",
    "compare",
]


def __getattr__(name: str) -> Any:
    # ``Drift`` and ``compare`` are re-exported on first use: a run without a lockfile
    # never compares (``policy.check_lockfile``), so ``kiwi run`` does not import ``diff``
    if name in ("Drift", "compare"):
        from kiwi_mcp.kernel.services.lockfiles import diff

        return getattr(diff, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_INDEX_VERSION = 1
_SUFFIX = ".lock.json"
_SEGMENT = re.compile(r"[a-z0-9][a-z0-9_.-]*\Z")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]*\Z")
# LockfileStore.list shadows the builtin inside the class body; these aliases sidestep it.
_PathList = list[Path]
_LockfileList = list["Lockfile"]


@dataclass(frozen=True, kw_only=True, slots=True)
class LockfileEntry:
    """One lockfile on disk as ``list()`` reports it."""

    id: str
    version: str
    path: Path
    root: Path
    frozen_at: str | None
    shadowed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "path": str(self.path),
            "frozen_at": self.frozen_at,
            "shadowed": self.shadowed,
        }


class LockfileStore:
    """Lockfile folders in read order (project's ``.ai/lockfiles``, then ``<user>/lockfiles``).

    Writes go to the first root. ``clock`` returns epoch seconds (for ``frozen_at``).
    """

    def __init__(
        self,
        roots: Sequence[Path],
        *,
        clock: Callable[[], float] = time.time,
        read_bytes: Callable[[Path], bytes | None] | None = None,
    ) -> None:
        if not roots:
            raise ValueError("LockfileStore needs at least one root")
        self.roots = tuple(roots)
        self._clock = clock
        self._read_bytes = read_bytes or _read_bytes_or_none

    def path_for(self, tool_id: str, version: str, *, root: Path | None = None) -> Path:
        """Where ``tool_id@version`` lives under ``root`` (default: the write root).

        Raises:
            InvalidId: an id or version that could leave the folder.
        """
        return (root or self.roots[0]) / _relative(tool_id, version)

    def freeze(self, lockfile: Lockfile) -> Path:
        """Write ``lockfile`` into the write root and record it in the index; returns its path.

        Raises:
            InvalidId: an id or version unusable as a file name.
            LockfileError: the record is not a valid lockfile (e.g. an integrity that is not
                a sha256 hex digest).
            OSError: the folder cannot be written.
        """
        root = self.roots[0]
        relative = _relative(lockfile.id, lockfile.version)
        path = root / relative
        # Never write what load() would refuse: check the record the way a reader will.
        Lockfile.from_dict(lockfile.to_dict(), where=f"lockfile for {lockfile.id}")
        data = lockfile.to_bytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self._lock_path(root)):
            clean_stale_temps(root)
            clean_stale_temps(path.parent)
            if not _same_bytes(path, data):
                atomic_write(path, data)
            index = self._read_index(root)
            index[relative] = {
                "frozen_at": _iso(self._clock()),
                "root_id": lockfile.id,
                "version": lockfile.version,
            }
            self._write_index(root, index)
        return path

    def load(self, tool_id: str, version: str) -> Lockfile | None:
        """The lockfile for ``tool_id@version`` (project root first), or None.

        Raises:
            InvalidId: an id or version unusable as a file name.
            LockfileError: the file exists but is not a valid lockfile.
        """
        relative = _relative(tool_id, version)
        for root in self.roots:
            path = root / relative
            data = self._read_bytes(path)
            if data is None:
                continue
            return Lockfile.from_bytes(data, source=str(path))
        return None

    def list(self) -> list[LockfileEntry]:
        """Every lockfile in every root (project first, sorted by path within a root)."""
        entries: list[LockfileEntry] = []
        seen: set[str] = set()
        for root in self.roots:
            index = self._read_index(root)
            for path in sorted(root.rglob(f"*{_SUFFIX}")):
                relative = path.relative_to(root).as_posix()
                name = relative[: -len(_SUFFIX)]
                tool_id, at, version = name.rpartition("@")
                if not at or path.name.startswith("."):
                    continue
                meta = index.get(relative)
                frozen_at = meta.get("frozen_at") if isinstance(meta, dict) else None
                entries.append(
                    LockfileEntry(
                        id=tool_id,
                        version=version,
                        path=path,
                        root=root,
                        frozen_at=frozen_at if isinstance(frozen_at, str) else None,
                        shadowed=relative in seen,
                    )
                )
                seen.add(relative)
        return entries

    def prune(self, older_than_days: float, now: float | None = None) -> _PathList:
        """Delete the write root's lockfiles frozen more than ``older_than_days`` ago.

        A lockfile missing from the index is aged by its modification time. Returns the
        removed paths.
        """
        root = self.roots[0]
        cutoff = (self._clock() if now is None else now) - older_than_days * 86400.0
        removed: _PathList = []
        if not root.is_dir():
            return removed
        with exclusive_lock(self._lock_path(root)):
            index = self._read_index(root)
            for entry in self.list():
                if entry.root != root:
                    continue
                relative = entry.path.relative_to(root).as_posix()
                stamp = _parse_iso(entry.frozen_at) if entry.frozen_at else None
                if stamp is None:
                    stamp = entry.path.stat().st_mtime
                if stamp >= cutoff:
                    continue
                entry.path.unlink()
                index.pop(relative, None)
                removed.append(entry.path)
                _remove_empty_parents(entry.path.parent, root)
            self._write_index(root, index)
        return removed

    def dependants(self, link_id: str) -> _LockfileList:
        """Every (unshadowed) lockfile whose chain contains ``link_id`` — what a refresh re-freezes.

        Raises:
            LockfileError: one of the lockfiles is not valid.
        """
        out: _LockfileList = []
        for entry in self.list():
            if entry.shadowed:
                continue
            lockfile = Lockfile.from_bytes(entry.path.read_bytes(), source=str(entry.path))
            if any(link.id == link_id for link in lockfile.chain):
                out.append(lockfile)
        return out

    # -- index ------------------------------------------------------------------------------

    @staticmethod
    def _lock_path(root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        return root / ".index.lock"

    @staticmethod
    def _read_index(root: Path) -> dict[str, Any]:
        # The index only holds timestamps: a missing or foreign one is rebuilt, never fatal.
        try:
            data = json.loads((root / ".index.json").read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("index_version") != _INDEX_VERSION:
            return {}
        entries = data.get("entries")
        return dict(entries) if isinstance(entries, dict) else {}

    @staticmethod
    def _write_index(root: Path, entries: Mapping[str, Any]) -> None:
        document = {"index_version": _INDEX_VERSION, "entries": dict(entries)}
        data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
        atomic_write(root / ".index.json", data)


def _relative(tool_id: str, version: str) -> str:
    segments = tool_id.split("/")
    if not tool_id or not all(_SEGMENT.match(segment) for segment in segments):
        raise InvalidId(f"invalid tool id {tool_id!r} for a lockfile", item_id=tool_id)
    if not _VERSION.match(version) or ".." in version:
        raise InvalidId(
            f"invalid version {version!r} for a lockfile name",
            hint="Versions are semver strings such as '1.2.0'.",
            item_id=tool_id,
        )
    return f"{tool_id}@{version}{_SUFFIX}"


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _read_bytes_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
