"""One space's index on disk: the state database, the keyword and the vector engines.

``refresh`` keeps it current: folders whose mtime changed since the last commit are listed
again (``store.index_walk``, the same walk as the item store's), each file is compared by
stat signature with the row it was indexed at, and only new, changed or removed files are
verified, embedded and written, in batches of :data:`BATCH` files, one commit each.

A batch is crash-safe in three steps: its keys are written to ``pending``; the engines
delete and add and commit (tantivy atomically, the vectors by a rename, once every
:data:`VECTOR_EVERY` batches); one transaction then records the rows, and clears
``pending`` once the vectors are committed too. A process killed anywhere leaves every
engine's last commit readable; the next writer finds ``pending`` non-empty, removes those
keys from both engines and lists the space again (:meth:`SpaceIndex.recover`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from kiwi_mcp.kernel.core.ids import KINDS, Kind
from kiwi_mcp.kernel.core.spaces import ItemFile, Located, Space
from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.services.index.embedder import Embedder
from kiwi_mcp.kernel.services.index.entries import Gate, description_of, item_text
from kiwi_mcp.kernel.services.index.freshness import FolderCheck
from kiwi_mcp.kernel.services.index.keyword import KeywordDoc, KeywordIndex
from kiwi_mcp.kernel.services.index.state import LEFT_OUT, SCHEMA_VERSION, Row, State
from kiwi_mcp.kernel.services.index.vectors import FORMAT, VectorIndex
from kiwi_mcp.kernel.store.fileio import exclusive_lock
from kiwi_mcp.kernel.store.files import FileCache, settled, signature_of
from kiwi_mcp.kernel.store.index_walk import build_index
from kiwi_mcp.kernel.store.items import ItemStore

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["BATCH", "Change", "SpaceIndex", "Updated"]

#: Files per commit: large enough that a commit's fixed cost (a tantivy segment) is
#: spread, small enough that a crash loses little work.
BATCH: Final = 5000
#: The vector file is rewritten whole at a commit, so a long refresh commits it once every
#: this many batches (and at its end); the keys in between stay ``pending`` until then.
VECTOR_EVERY: Final = 20


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One file to (re)index, or an old row to remove (``file`` None)."""

    old: Row | None
    file: ItemFile | None


@dataclass(kw_only=True, slots=True)
class Updated:
    """What one refresh did."""

    added: int = 0
    removed: int = 0
    batches: int = 0
    recovered: int = 0
    listed: list[str] = field(default_factory=list)


def _signature(path: str, clock_ns: Callable[[], int]) -> tuple[list[int] | None, bool]:
    """The file's stat signature, and whether it is racy: changed too recently for a later
    change in the same clock tick to show (such a file is read again by the next refresh)."""
    try:
        st = os.stat(path)
    except OSError:
        return None, True
    now = clock_ns()
    racy = not settled(st.st_mtime_ns, now) or not settled(st.st_ctime_ns, now)
    return list(signature_of(st)), racy


def still_valid(row: Row, *, strict: bool = False) -> bool:
    """Whether every file ``row`` was indexed from still has its signature: a hit's check
    (a file changed in place, which no folder mtime shows, is not shown as indexed) and,
    ``strict``, the refresh's (a racy signature counts as changed)."""
    for path, sig, racy in row.signatures():
        if sig is None or (strict and racy):
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False
        if list(signature_of(st)) != sig:
            return False
    return True


class SpaceIndex:
    """The index of ``space`` in ``folder`` (see the module docstring)."""

    def __init__(
        self,
        space: Space,
        folder: Path,
        *,
        gate: Gate,
        embedder: Callable[[], Embedder],
        dim: int = 256,
        model: str = "wordllama-l2_supercat-256",
        files: FileCache | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.space = space
        self.folder = folder
        self.gate = gate
        self._embedder = embedder
        self.model = model
        self.clock_ns = clock_ns
        self.files = files or FileCache(clock_ns=clock_ns)
        self.store = ItemStore([space], files=self.files, clock_ns=clock_ns)
        self._folders = FolderCheck()
        folder.mkdir(parents=True, exist_ok=True)
        self.state = State(folder / "state.sqlite")
        self.vectors = VectorIndex(folder / "vectors.usearch", dim)
        try:
            if self.state.meta("schema") not in (None, SCHEMA_VERSION):
                raise ValueError("made by another version")
            self.keyword = KeywordIndex(folder / "keyword")
        except ValueError:
            # another schema, or damaged: start again (the files are the truth)
            with exclusive_lock(folder / ".lock"):
                shutil.rmtree(folder / "keyword", ignore_errors=True)
                self.keyword = KeywordIndex(folder / "keyword")
                self._reset()

    # --- reading -------------------------------------------------------------------------

    def changed_kinds(self, kinds: Sequence[Kind] = KINDS) -> list[Kind]:
        """The kinds whose folders changed since the last commit (``freshness.py``: a stat
        per folder, or none in a server while the folder watch saw nothing)."""
        return self._folders.changed(kinds, self.state.folders)

    def stale(self) -> bool:
        """Whether the index was made for other trusted keys, another model, schema or
        vector format (an old graph file is rebuilt, never read as this one)."""
        return (
            self.state.meta("schema") != SCHEMA_VERSION
            or self.state.meta("vectors") != FORMAT
            or self.state.meta("model") != self.model
            or self.state.meta("trust") != self.gate.fingerprint()
        )

    def nearest(self, vector: npt.NDArray[np.float32], limit: int) -> list[tuple[int, float]]:
        """(key, cosine) of the ``limit`` embedded items nearest ``vector`` (every kind and
        level: the caller filters), ranked by their int8 vectors."""
        return self.vectors.search(vector, limit)

    # --- writing -------------------------------------------------------------------------

    def refresh(self, kinds: Sequence[Kind] = KINDS, *, full: bool = False) -> Updated:
        """Bring the index up to date with the files of ``kinds`` (all listed when
        ``full``, else only kinds whose folders changed). Holds the index's lock."""
        done = Updated()
        if not full and not self.stale() and not self.state.pending():
            kinds = self.changed_kinds(kinds)
            if not kinds:
                return done
        with exclusive_lock(self.folder / ".lock"):
            done.recovered = self.recover()
            if self.stale():
                self._reset()
                kinds = KINDS
            elif not full:
                kinds = self.changed_kinds(kinds)
            for kind in kinds:
                self._refresh_kind(kind, done)
        return done

    def update_rows(self, rows: Sequence[Row]) -> Updated:
        """Re-index the files of ``rows`` now (hits whose files changed in place)."""
        done = Updated()
        with exclusive_lock(self.folder / ".lock"):
            self.recover()
            changes = []
            for row in rows:
                current = self.state.by_keys([row.key]).get(row.key)
                if current is None:
                    continue
                exists = os.path.lexists(current.path)
                file = ItemFile(
                    kind=current.kind,
                    id=current.id,
                    space=self.space.name,
                    path=Path(current.path),
                    ext=current.ext,
                )
                changes.append(Change(old=current, file=file if exists else None))
            self._apply(changes, {}, {}, done)
        return done

    def rebuild(self) -> Updated:
        """Throw the index away and index every file again."""
        with exclusive_lock(self.folder / ".lock"):
            self._reset()
            done = Updated()
            for kind in KINDS:
                self._refresh_kind(kind, done)
            return done

    def recover(self) -> int:
        """Undo what a killed writer may have left half-done (see the module docstring)."""
        keys = self.state.pending()
        if not keys:
            return 0
        self.keyword.delete(keys)
        self.keyword.commit()
        self.vectors.remove([k for k in keys if k in self.vectors.writable()])
        self.vectors.commit()
        self.state.forget(keys)
        return len(keys)

    def _reset(self) -> None:
        self.keyword.rollback()
        shutil.rmtree(self.folder / "keyword", ignore_errors=True)
        self.keyword = KeywordIndex(self.folder / "keyword")
        self.keyword.commit()
        self.vectors.clear()
        self.state.clear()
        self.state.set_meta(
            {
                "schema": SCHEMA_VERSION,
                "vectors": FORMAT,
                "model": self.model,
                "trust": self.gate.fingerprint(),
            }
        )

    def _refresh_kind(self, kind: Kind, done: Updated) -> None:
        listing = build_index(self.space, kind, self.files, self.clock_ns)
        done.listed.append(kind)
        rows = self.state.rows(kind)
        changes: list[Change] = []
        seen: set[str] = set()
        for files in listing.files.values():
            for file in files:
                path = str(file.path)
                seen.add(path)
                old = rows.get(path)
                if old is None or not still_valid(old, strict=True):
                    changes.append(Change(old=old, file=file))
        changes.extend(Change(old=row, file=None) for path, row in rows.items() if path not in seen)
        root = self.space.root
        skipped = [(_shown(s.path, root), s.reason) for s in listing.skipped]
        self._apply(changes, {kind: dict(listing.folder_mtimes)}, {kind: skipped}, done)

    def _apply(
        self,
        changes: list[Change],
        folders: dict[Kind, dict[str, int]],
        skipped: dict[Kind, list[tuple[str, str]]],
        done: Updated,
    ) -> None:
        for n, start in enumerate(range(0, max(len(changes), 1), BATCH)):
            last = start + BATCH >= len(changes)
            self._batch(
                changes[start : start + BATCH],
                folders if last else {},
                skipped,
                done,
                vectors_too=last or (n + 1) % VECTOR_EVERY == 0,
            )
        if len(changes) > BATCH:
            self.state.checkpoint()

    def _batch(
        self,
        changes: list[Change],
        folders: dict[Kind, dict[str, int]],
        skipped: dict[Kind, list[tuple[str, str]]],
        done: Updated,
        *,
        vectors_too: bool,
    ) -> None:
        rows: list[Row] = []
        docs: list[KeywordDoc] = []
        texts: list[str] = []
        files = [c.file for c in changes if c.file is not None]
        keys = iter(self.state.next_keys(len(files)))
        for change in changes:
            if change.file is not None:
                row, doc, text = self._entry(change.file, next(keys))
                rows.append(row)
                if doc is not None:
                    docs.append(doc)
                    texts.append(text)
        self.gate.forget()
        removed = [c.old.key for c in changes if c.old is not None]
        if not changes and not folders and not skipped:
            return
        self.state.mark_pending([*removed, *(r.key for r in rows)])
        _failpoint("pending")
        if removed or docs:
            self.keyword.delete(removed)
            self.keyword.add(docs)
            self.keyword.commit()
            vectors = self.vectors
            gone = [k for k in removed if k in vectors.writable()]
            vectors.remove(gone)
            if docs:
                vectors.add([d.key for d in docs], self._embedder().embed(texts))
        if vectors_too:
            self.vectors.commit()
        _failpoint("engines")
        self.state.record(
            removed=removed, added=rows, folders=folders, skipped=skipped, settled=vectors_too
        )
        done.added += len(docs)
        done.removed += len(removed)
        done.batches += 1

    def _entry(self, file: ItemFile, key: int) -> tuple[Row, KeywordDoc | None, str]:
        sigs: list[tuple[str, list[int] | None, bool]] = [
            (str(file.path), *_signature(str(file.path), self.clock_ns))
        ]
        name = file.id.rsplit("/", 1)[-1]

        def row_of(level: int, code: str | None, reason: str | None, description: str) -> Row:
            return Row(
                key=key,
                kind=file.kind,
                id=file.id,
                name=name,
                path=str(file.path),
                ext=file.ext,
                sigs=json.dumps(sigs),
                level=level,
                code=code,
                reason=reason,
                description=description,
            )

        try:
            if file.escapes:
                raise KiwiError(f"{file.label} resolves outside its space (symlink escape)")
            loaded = self.store.load_located(Located(file=file))
        except KiwiError as err:
            return row_of(LEFT_OUT, err.code, err.message, ""), None, ""
        verdict = self.gate.check(loaded)
        for extra in getattr(loaded.item, "files", ()):
            extra_path = str(file.path.parent / extra)
            sigs.append((extra_path, *_signature(extra_path, self.clock_ns)))
        row = row_of(verdict.level, verdict.code, verdict.reason, description_of(loaded))
        if verdict.level < 0:
            return row, None, ""
        text = item_text(loaded)
        doc = KeywordDoc(
            key=key,
            kind=file.kind,
            level=verdict.level,
            exact=name.lower(),
            name=text.name,
            description=text.description,
            tags=text.tags,
            body=text.body,
        )
        return row, doc, text.embedded()

    def close(self) -> None:
        self.keyword.rollback()
        self.state.close()


def _failpoint(step: str) -> None:
    """``KIWI_INDEX_CRASH_AT=<step>`` makes a writer SIGKILL itself after that step of a
    batch (``pending``: keys marked; ``engines``: both engines committed, rows not yet
    recorded): the crash tests' cue, as the thread runner's ``KIWI_THREAD_CRASH_AFTER``."""
    if os.environ.get("KIWI_INDEX_CRASH_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name
