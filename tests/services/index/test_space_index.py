"""One space's index as a service (SPEC §15): a damaged, foreign or older-format index is
started again, never an error nor misread, and the bare-name rows answer without a listing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from usearch.index import Index, ScalarKind

from kiwi_mcp.kernel.core.spaces import Space
from kiwi_mcp.kernel.services.index.embedder import default_embedder
from kiwi_mcp.kernel.services.index.entries import Gate
from kiwi_mcp.kernel.services.index.space_index import SpaceIndex
from kiwi_mcp.kernel.services.index.state import SCHEMA_VERSION
from kiwi_mcp.kernel.store.files import FileCache
from kiwi_mcp.kernel.store.paths import system_space_root
from kiwi_mcp.kernel.store.settings import Settings

TOOL = """\
version: "1.0.0"
executor_id: primitives/subprocess
description: Tell the weather forecast for a city
config: {command: echo, args: [sunny]}
"""


def open_index(tmp_path: Path) -> SpaceIndex:
    settings = Settings(
        project_root=tmp_path, user_space=tmp_path / "user", system_root=system_space_root()
    )
    space = Space(name="project", root=tmp_path / ".ai")
    gate = Gate(settings, FileCache())
    return SpaceIndex(space, tmp_path / ".ai/index", gate=gate, embedder=default_embedder)


def test_an_index_of_another_schema_or_damaged_is_rebuilt_from_the_files(tmp_path: Path) -> None:
    (tmp_path / ".ai/tools/sub").mkdir(parents=True)
    (tmp_path / ".ai/tools/sub/forecast.yaml").write_text(TOOL)
    index = open_index(tmp_path)
    assert index.refresh().added == 1
    assert [k for k, _ in index.keyword.search(["forecast"], kinds=("tool",), min_level=0, limit=5)]
    assert [r.id for r in index.state.by_name("tool", "forecast")] == ["sub/forecast"]
    index.close()
    db = sqlite3.connect(tmp_path / ".ai/index/state.sqlite")
    db.execute("UPDATE meta SET value='0' WHERE key='schema'")
    db.commit()
    db.close()
    (tmp_path / ".ai/index/keyword/meta.json").write_text("{not json")
    again = open_index(tmp_path)
    assert again.refresh().added == 1
    found = again.keyword.search(["forecast"], kinds=("tool",), min_level=0, limit=5)
    assert len(found) == 1
    assert again.vectors.count() == 1


@pytest.mark.parametrize(
    ("schema", "vectors"),
    [("3", None), (SCHEMA_VERSION, "i8-cos-m16")],
    ids=["older-schema", "other-vector-format"],
)
def test_an_index_in_an_old_vector_format_is_rebuilt_not_misread(
    tmp_path: Path, schema: str, vectors: str | None
) -> None:
    (tmp_path / ".ai/tools/sub").mkdir(parents=True)
    (tmp_path / ".ai/tools/sub/forecast.yaml").write_text(TOOL)
    index = open_index(tmp_path)
    assert index.refresh().added == 1
    index.close()
    folder = tmp_path / ".ai/index"
    db = sqlite3.connect(folder / "state.sqlite")
    db.execute("UPDATE meta SET value=? WHERE key='schema'", (schema,))
    db.execute("DELETE FROM meta WHERE key='vectors'")
    if vectors is not None:
        db.execute("INSERT INTO meta VALUES ('vectors', ?)", (vectors,))
    db.commit()
    db.close()
    # the int8 cosine graph an older version wrote, under a key the state never gave out
    old = Index(ndim=256, metric="cos", dtype="i8")
    old.add(np.asarray([999], dtype=np.uint64), np.ones((1, 256), dtype=np.float32))
    old.save(str(folder / "vectors.usearch"))
    again = open_index(tmp_path)
    assert again.refresh().added == 1
    assert not again.stale()
    assert Index.metadata(str(folder / "vectors.usearch"))["kind_scalar"] == ScalarKind.B1
    query = default_embedder().embed(["weather forecast for a city"])[0]
    (key, similarity), *_ = again.nearest(query, 5)
    assert again.state.by_keys([key])[key].id == "sub/forecast"
    assert similarity > 0.5
