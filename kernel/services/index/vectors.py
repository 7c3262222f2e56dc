"""The semantic half's ANN index: usearch HNSW over sign bits, rescored exactly (SPEC §15).

A serving process maps the committed graph file (``view``: no load, shared pages) and every
page a query touches stays resident, so the graph's size is the semantic half's share of the
process's memory. The graph therefore holds one bit per dimension (Hamming distance, 32
bytes a 256-d item) with a low connectivity; it proposes :data:`RESCORE` × the wanted
candidates, and those are ranked by the cosine of their int8 vectors, read per candidate
(``pread``, never mapped whole) from a rows file beside it: ``dim`` bytes per key at
``(key - base) × dim`` after a header, written once per key (keys are never reused, so a
row is never rewritten; a removed key's row is left unread until the next rebuild).

A writer loads the graph, adds and removes, and saves a new file that replaces the old one
atomically, after the rows file is synced, so a crash leaves the last committed graph and
every row it names. Keys are the index's item keys.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["FORMAT", "VectorIndex", "int8_rows", "rescore"]

#: Names the graph's layout (bits, metric, connectivity) and the rows file's: recorded in
#: the state's meta, so an index of another format is rebuilt, never read.
FORMAT: Final = "b1-hamming-m8+i8-rows-file"
#: Neighbours per node (twice that on the base layer): 8 keeps the 1M graph near 110 MiB.
_CONNECTIVITY: Final = 8
_EXPANSION_ADD: Final = 128
#: Candidates proposed per wanted result; the exact cosine ranks them.
RESCORE: Final = 8
_MIN_CANDIDATES: Final = 128
#: The rows file's header: a magic, the row size and the first key it holds.
_HEADER: Final = struct.Struct("<6sHQ")
_MAGIC: Final = b"kiwiv1"


def _bits(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    import numpy as np

    return np.packbits(vectors > 0, axis=1)


def int8_rows(vectors: npt.NDArray[np.float32]) -> list[bytes]:
    """Each vector scaled so its largest component is ±127 and rounded: the cosine between
    two such rows is within about 1 % of their floats' (a zero vector stays zero)."""
    import numpy as np

    peak = np.abs(vectors).max(axis=1, keepdims=True)
    scaled = np.divide(vectors * 127.0, peak, out=np.zeros_like(vectors), where=peak > 0)
    quantised = np.rint(scaled).astype(np.int8)
    return [row.tobytes() for row in quantised]


def rescore(
    vector: npt.NDArray[np.float32], rows: Mapping[int, bytes], limit: int
) -> list[tuple[int, float]]:
    """(key, cosine) of the ``limit`` rows nearest ``vector``, best first (ties by key)."""
    import numpy as np

    if not rows:
        return []
    keys = list(rows)
    matrix = np.frombuffer(b"".join(rows[k] for k in keys), dtype=np.int8)
    matrix = matrix.reshape(len(keys), -1).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    dots = matrix @ vector.astype(np.float32)
    sims = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    ranked = sorted(zip(keys, sims.tolist(), strict=True), key=lambda t: (-t[1], t[0]))
    return [(int(k), float(s)) for k, s in ranked[:limit]]


class VectorIndex:
    """The graph of one space's index, in ``path``, over ``dim``-dimensional vectors."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.rows_path = path.with_suffix(".i8")
        self.dim = dim
        self._rows_fd: int | None = None
        self._rows_stamp: tuple[int, int] | None = None
        self._rows_base = 0
        self._view: Any = None
        self._view_stamp: tuple[int, int] | None = None
        self._writable: Any = None
        self._writable_stamp: tuple[int, int] | None = None

    def _new(self, *, lookups: bool = True) -> Any:
        """An empty graph of this format; ``lookups`` (key → node, which ``remove`` and
        ``in`` need) costs a hash table of every key, 33 MB at 1M, so readers go without."""
        from usearch.index import Index

        return Index(
            ndim=self.dim,
            metric="hamming",
            dtype="b1",
            connectivity=_CONNECTIVITY,
            expansion_add=_EXPANSION_ADD,
            expansion_search=_MIN_CANDIDATES,
            enable_key_lookups=lookups,
        )

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def _reader(self) -> Any:
        stamp = self._stamp()
        if self._writable is not None and stamp == self._writable_stamp:
            return self._writable
        self._writable = None
        if stamp is None:
            return None
        if stamp != self._view_stamp:
            index = self._new(lookups=False)
            index.view(str(self.path))
            self._view, self._view_stamp = (index if self._fits(index) else None), stamp
        return self._view

    def _fits(self, index: Any) -> bool:
        """Whether a file read is a graph of this format: usearch adopts whatever a file
        says, and an old int8 graph searched with sign bits would answer nonsense."""
        from usearch.compiled import MetricKind, ScalarKind

        return bool(
            index.dtype == ScalarKind.B1
            and index.metric_kind == MetricKind.Hamming
            and index.ndim == self.dim
        )

    def writable(self) -> Any:
        """The graph loaded in memory for changes, kept by a long-lived writer while no
        other process replaced the file (then it is loaded again)."""
        stamp = self._stamp()
        if self._writable is None or stamp != self._writable_stamp:
            index = self._new()
            if stamp is not None:
                index.load(str(self.path))
                if not self._fits(index):
                    index = self._new()
            self._writable, self._writable_stamp = index, stamp
            self._view = None
        return self._writable

    def remove(self, keys: Sequence[int]) -> None:
        import numpy as np

        if keys:
            self.writable().remove(np.asarray(keys, dtype=np.uint64))

    def add(self, keys: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
        """Add ``keys`` (each higher than every key added before) to the graph and their
        int8 rows to the rows file."""
        import numpy as np

        if not keys:
            return
        self._write_rows(keys, int8_rows(vectors))
        self.writable().add(np.asarray(keys, dtype=np.uint64), _bits(vectors), threads=2)

    def _write_rows(self, keys: Sequence[int], rows: Sequence[bytes]) -> None:
        """Write ``rows`` at their keys' places. A file that is not a rows file of this
        dimension, or starts above ``keys`` (neither happens but by hand), is started
        again: the rows it held are no longer proposed, until a rebuild."""
        low, high = min(keys), max(keys)
        fd = os.open(self.rows_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            header = os.pread(fd, _HEADER.size, 0)
            magic, dim, base = (
                _HEADER.unpack(header) if len(header) == _HEADER.size else (b"", 0, 0)
            )
            if (magic, dim) != (_MAGIC, self.dim) or low < base:
                os.ftruncate(fd, 0)
                base = low
                os.pwrite(fd, _HEADER.pack(_MAGIC, self.dim, base), 0)
            span = bytearray((high - low + 1) * self.dim)
            for key, row in zip(keys, rows, strict=True):
                at = (key - low) * self.dim
                span[at : at + self.dim] = row
            os.pwrite(fd, bytes(span), _HEADER.size + (low - base) * self.dim)
        finally:
            os.close(fd)

    def rows(self, keys: Sequence[int]) -> dict[int, bytes]:
        """The int8 row of each of ``keys`` the rows file holds (one ``pread`` each)."""
        fd = self._rows_reader()
        out: dict[int, bytes] = {}
        if fd is None:
            return out
        base, dim = self._rows_base, self.dim
        for key in sorted(keys):
            if key >= base:
                row = os.pread(fd, dim, _HEADER.size + (key - base) * dim)
                if len(row) == dim:
                    out[key] = row
        return out

    def _rows_reader(self) -> int | None:
        try:
            st = os.stat(self.rows_path)
        except FileNotFoundError:
            self._close_rows()
            return None
        stamp = (st.st_ino, st.st_dev)
        if self._rows_fd is None or stamp != self._rows_stamp:
            self._close_rows()
            fd = os.open(self.rows_path, os.O_RDONLY)
            header = os.pread(fd, _HEADER.size, 0)
            if len(header) < _HEADER.size or _HEADER.unpack(header)[:2] != (_MAGIC, self.dim):
                os.close(fd)
                return None
            self._rows_fd, self._rows_stamp = fd, stamp
            self._rows_base = _HEADER.unpack(header)[2]
        return self._rows_fd

    def _close_rows(self) -> None:
        if self._rows_fd is not None:
            os.close(self._rows_fd)
        self._rows_fd = self._rows_stamp = None

    def commit(self) -> None:
        """Sync the rows file, then write the graph to a temp file, fsync it and rename it
        over the committed one."""
        if self._writable is None:
            return
        if self.rows_path.exists():
            fd = os.open(self.rows_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._writable.save(str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._writable_stamp = self._stamp()

    def release(self) -> None:
        """Forget the writable copy: the next read maps the committed file."""
        self._writable = None
        self._view_stamp = None

    def clear(self) -> None:
        """Delete the graph and the rows (the index starts again)."""
        self.release()
        self._view = None
        self._close_rows()
        self.path.unlink(missing_ok=True)
        self.rows_path.unlink(missing_ok=True)

    def candidates(self, vector: npt.NDArray[np.float32], count: int) -> list[int]:
        """The keys of about ``count`` items whose sign bits are nearest ``vector``'s."""
        index = self._reader()
        if index is None or len(index) == 0:
            return []
        index.expansion_search = max(_MIN_CANDIDATES, count)
        found = index.search(_bits(vector.reshape(1, -1))[0], count)
        return [int(k) for k in found.keys if int(k) >= 0]

    def search(self, vector: npt.NDArray[np.float32], limit: int) -> list[tuple[int, float]]:
        """(key, cosine similarity) of the ``limit`` nearest items: :data:`RESCORE` ×
        ``limit`` candidates from the graph, ranked by their int8 rows."""
        keys = self.candidates(vector, max(_MIN_CANDIDATES, RESCORE * limit))
        return rescore(vector, self.rows(keys), limit)

    def count(self) -> int:
        index = self._reader()
        return 0 if index is None else len(index)
