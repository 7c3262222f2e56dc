"""The semantic half's graph (SPEC §15): sign bits propose candidates, their int8 rows rank
them by exact cosine, and a graph file of another format is never read as this one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from usearch.index import Index

from kiwi_mcp.kernel.services.index.vectors import VectorIndex, int8_rows, rescore


def unit(rows: list[list[float]]) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_rescoring_returns_the_exact_nearest_where_the_sign_bits_rank_another_first(
    tmp_path: Path,
) -> None:
    # B has the query's signs everywhere (Hamming 0) but points elsewhere; A flips four
    # near-zero components (Hamming 4) and is almost the query itself.
    query, near, same_signs = unit(
        [
            [1, 1, 1, 1, 0.01, 0.01, 0.01, 0.01],
            [1, 1, 1, 1, -0.01, -0.01, -0.01, -0.01],
            [0.1, 0.1, 0.1, 0.1, 1, 1, 1, 1],
        ]
    )
    vectors = VectorIndex(tmp_path / "vectors.usearch", 8)
    vectors.add([1, 2], np.stack([near, same_signs]))
    vectors.commit()
    vectors.release()
    assert vectors.candidates(query, 2) == [2, 1]
    found = vectors.search(query, 2)
    assert [key for key, _ in found] == [1, 2]
    assert found[0][1] > 0.99 > 0.2 > found[1][1]


def test_rows_are_read_back_per_key_and_a_cleared_or_foreign_rows_file_starts_again(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(7)
    items = unit(rng.normal(size=(6, 16)).tolist())
    vectors = VectorIndex(tmp_path / "vectors.usearch", 16)
    vectors.add([10, 11, 13], items[:3])
    vectors.add([20, 21], items[3:5])
    vectors.commit()
    expected = int8_rows(items[:5])
    # 9 is below the first key, 99 past the end (12, a gap, is never in the graph)
    assert vectors.rows([21, 10, 13, 9, 99]) == {
        10: expected[0],
        13: expected[2],
        21: expected[4],
    }
    vectors.clear()
    assert vectors.rows([10]) == {} and vectors.count() == 0
    (tmp_path / "vectors.i8").write_bytes(b"not a rows file")
    vectors.add([30], items[5:])
    vectors.commit()
    assert vectors.rows([10, 30]) == {30: int8_rows(items[5:])[0]}
    assert (tmp_path / "vectors.i8").stat().st_size < 100


def test_int8_rows_keep_every_cosine_within_a_hundredth_of_the_floats() -> None:
    rng = np.random.default_rng(19)
    items = unit(rng.normal(size=(200, 256)).tolist())
    query = unit(rng.normal(size=(1, 256)).tolist())[0]
    exact = items @ query
    found = dict(rescore(query, dict(enumerate(int8_rows(items))), 200))
    assert max(abs(found[i] - float(exact[i])) for i in range(200)) < 0.01
    best = sorted(range(200), key=lambda i: -exact[i])[:5]
    assert [k for k, _ in rescore(query, dict(enumerate(int8_rows(items))), 5)] == best


def test_a_graph_file_of_another_format_is_read_as_empty_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "vectors.usearch"
    old = Index(ndim=256, metric="cos", dtype="i8")
    old.add(np.asarray([7], dtype=np.uint64), np.ones((1, 256), dtype=np.float32))
    old.save(str(path))
    vectors = VectorIndex(path, 256)
    query = unit([[1.0] * 256])[0]
    assert vectors.count() == 0
    assert vectors.candidates(query, 5) == []
    vectors.add([3], query.reshape(1, -1))
    vectors.commit()
    vectors.release()
    assert vectors.candidates(query, 5) == [3]
    assert [key for key, _ in vectors.search(query, 5)] == [3]
    assert Index.metadata(str(path))["dimensions"] == 256
