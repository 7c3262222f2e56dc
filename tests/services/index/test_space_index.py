"""One space's index as a service (SPEC §15): a damaged or foreign index is started again,
never an error, and the bare-name rows answer without a listing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kiwi_mcp.kernel.core.spaces import Space
from kiwi_mcp.kernel.services.index.embedder import default_embedder
from kiwi_mcp.kernel.services.index.entries import Gate
from kiwi_mcp.kernel.services.index.space_index import SpaceIndex
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
