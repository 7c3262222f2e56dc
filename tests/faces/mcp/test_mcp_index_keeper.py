"""``kiwi serve`` keeps the search indexes it opened current between calls (SPEC §15): a
tool written while the server runs is in the project's index before anyone searches again."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from kiwi_mcp.kernel.trust.keys import KeyStore
from kiwi_mcp.kernel.trust.signing import sign_item
from tests.faces.mcp.conftest import KIWI, envelope_of
from tests.support.project import Project, project  # noqa: F401 - a fixture

TOOL = """\
version: "1.0.0"
executor_id: primitives/subprocess
description: {description}
config: {{command: echo, args: [ok]}}
"""


def _write_signed(project: Project, item_id: str, description: str) -> None:  # noqa: F811
    """Signed in-process, so no ``kiwi`` command touches the index meanwhile."""
    data = sign_item(
        TOOL.format(description=description).encode(),
        ext=".yaml",
        kind="tool",
        item_id=item_id,
        key=KeyStore(project.user).private_key(),
        now=datetime.now(UTC),
    )
    project.write_tool(f"{item_id}.yaml", data.decode())


def _indexed(project: Project, item_id: str) -> bool:  # noqa: F811
    path = project.root / ".ai" / "index" / "state.sqlite"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT level FROM items WHERE id = ?", (item_id,)).fetchone()
    except sqlite3.Error:
        return False
    return row is not None and row[0] >= 2  # verified as signed


def test_a_tool_written_while_serving_is_indexed_without_a_search(
    project: Project,  # noqa: F811
) -> None:
    _write_signed(project, "weather", "Tell the weather forecast for a city")
    server = StdioServerParameters(
        command=KIWI, args=["--project", str(project.root), "serve"], env=project.env
    )

    async def main() -> tuple[bool, list[str]]:
        async with Client(server, read_timeout_seconds=120) as client:
            first = envelope_of(await client.call_tool("search", {"query": "weather"}))
            assert [h["id"] for h in first["data"]["hits"]][:1] == ["weather"], first
            _write_signed(project, "tides", "Tide tables for a harbour")
            deadline = time.monotonic() + 60  # a hang guard, not a timing check
            while not _indexed(project, "tides") and time.monotonic() < deadline:
                await anyio.sleep(0.05)
            seen = _indexed(project, "tides")
            found: dict[str, Any] = envelope_of(
                await client.call_tool("search", {"query": "tide harbour"})
            )
            return seen, [h["id"] for h in found["data"]["hits"]]

    seen, hits = anyio.run(main)
    assert seen, "the server did not index the new tool by itself"
    assert hits[:1] == ["tides"]
