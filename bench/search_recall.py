"""Recall of the semantic half against exact search (bench helper for bench_search.py).

The graph proposes candidates and their int8 rows rank them; this asks how many of the
exact 10 nearest (cosine over every embedded item's int8 row, brute force) the index's
top 10 holds, as ``search`` reads it (``nearest(vector, 100)``). Run in its own process:
the brute force reads every row, which a serving process never does.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def dense_recall(folder: Path, queries: list[str]) -> tuple[float, int]:
    """(mean recall@10, number of items) over ``queries`` for the index in ``folder``."""
    import numpy as np

    from kiwi_mcp.kernel.services.index.embedder import default_embedder
    from kiwi_mcp.kernel.services.index.vectors import VectorIndex

    db = sqlite3.connect(folder / "state.sqlite")
    keys = sorted(int(k) for (k,) in db.execute("SELECT key FROM items WHERE level >= 0"))
    db.close()
    vectors = VectorIndex(folder / "vectors.usearch", 256)
    rows = vectors.rows(keys)
    live = [k for k in keys if k in rows]
    matrix = np.frombuffer(b"".join(rows[k] for k in live), dtype=np.int8)
    matrix = matrix.reshape(len(live), -1).astype(np.float32)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)
    ids = np.asarray(live)
    total = 0.0
    embedded = default_embedder().embed(queries)
    for vector in embedded:
        exact = set(ids[np.argsort(-(matrix @ vector))[:10]].tolist())
        found = {key for key, _ in vectors.search(vector, 100)[:10]}
        total += len(exact & found) / 10
    return total / len(queries), len(live)
