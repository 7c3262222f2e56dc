"""The semantic half's ANN index: usearch HNSW over int8 vectors (SPEC §15).

Readers open the committed file as a memory map (``view``: no load, shared pages); a writer
loads it, adds and removes, and saves a new file that replaces the old one atomically, so a
crash leaves the last committed file. Keys are the index's item keys.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["VectorIndex"]

_CONNECTIVITY: Final = 16
_EXPANSION_ADD: Final = 128
#: Recall on near-tied static embeddings grows with ef; 128 costs about 1 ms at 1M here.
_EXPANSION_SEARCH: Final = 128


class VectorIndex:
    """The vectors of one space's index, in ``path``."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self._view: Any = None
        self._view_stamp: tuple[int, int] | None = None
        self._writable: Any = None
        self._writable_stamp: tuple[int, int] | None = None

    def _new(self) -> Any:
        from usearch.index import Index

        return Index(
            ndim=self.dim,
            metric="cos",
            dtype="i8",
            connectivity=_CONNECTIVITY,
            expansion_add=_EXPANSION_ADD,
            expansion_search=_EXPANSION_SEARCH,
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
            index = self._new()
            index.view(str(self.path))
            index.expansion_search = _EXPANSION_SEARCH
            self._view, self._view_stamp = index, stamp
        return self._view

    def writable(self) -> Any:
        """The index loaded in memory for changes, kept by a long-lived writer while no
        other process replaced the file (then it is loaded again)."""
        stamp = self._stamp()
        if self._writable is None or stamp != self._writable_stamp:
            index = self._new()
            if stamp is not None:
                index.load(str(self.path))
            self._writable, self._writable_stamp = index, stamp
            self._view = None
        return self._writable

    def remove(self, keys: Sequence[int]) -> None:
        import numpy as np

        if keys:
            self.writable().remove(np.asarray(keys, dtype=np.uint64))

    def add(self, keys: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
        import numpy as np

        if keys:
            self.writable().add(np.asarray(keys, dtype=np.uint64), vectors, threads=2)

    def commit(self) -> None:
        """Write the changes to a temp file, fsync it and rename it over the committed one."""
        if self._writable is None:
            return
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

    def search(self, vector: npt.NDArray[np.float32], limit: int) -> list[tuple[int, float]]:
        """(key, cosine similarity) of the ``limit`` nearest vectors."""
        index = self._reader()
        if index is None or len(index) == 0:
            return []
        found = index.search(vector, limit)
        return [
            (int(k), 1.0 - float(d))
            for k, d in zip(found.keys, found.distances, strict=True)
            if int(k) >= 0
        ]

    def count(self) -> int:
        index = self._reader()
        return 0 if index is None else len(index)
