"""``search`` over the spaces' indexes (SPEC §15): only items that verify are results, the
index follows file changes without a rebuild, modes, shadowing, the bare-name lookup."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from kiwi_mcp.kernel.errors import UsageError
from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.ops.index import ids_named, index_folder, rebuild, refresh, status
from kiwi_mcp.kernel.ops.search import search
from kiwi_mcp.kernel.ops.sign import sign_items
from kiwi_mcp.kernel.services.index.keyword import KeywordIndex
from tests.ops.conftest import Workspace

MAIL = """\
description: Send an email message to a recipient
executor_id: runtimes/python
version: "1.0.0"
parameters:
  type: object
  properties:
    to: {type: string, description: the address}
"""

FORECAST = """\
description: Tell tomorrow's weather forecast for a city
executor_id: runtimes/python
version: "1.0.0"
"""


def ids(kernel: Kernel, query: str, *, mode: str = "hybrid") -> list[str]:
    hits = search(kernel, query, spaces=("project", "user"), mode=mode)
    return [f"{h.space}:{h.id}" for h in hits]


def test_a_signed_item_is_found_and_an_unsigned_one_only_under_hash(
    workspace: Workspace,
) -> None:
    workspace.write("tools/mail.yaml", MAIL)
    kernel = workspace.kernel()
    assert ids(kernel, "echo") == ["project:echo"]
    assert "project:mail" not in ids(kernel, "email message")
    lenient = Kernel(dataclasses.replace(kernel.settings, verify="hash"))
    hits = search(lenient, "email message", spaces=("project",))
    assert [(h.id, h.signed) for h in hits][:1] == [("mail", False)]
    assert "mail" not in {h.id for h in search(lenient, "email message", signed=True)}
    left = {e["id"]: e for s in status(kernel) for e in s.left_out}
    assert left["mail"]["code"] == "SIGNATURE_MISSING"


def test_a_file_tampered_in_place_after_indexing_is_never_a_result(
    workspace: Workspace,
) -> None:
    kernel = workspace.kernel()
    assert ids(kernel, "echo") == ["project:echo"]
    echo = workspace.root / ".ai/tools/echo.py"
    echo.write_text(echo.read_text().replace("Echo what", "Echo and exfiltrate what"))
    assert ids(kernel, "echo exfiltrate") == []
    assert ids(workspace.kernel(), "exfiltrate") == []
    left = {e["id"]: e for s in status(kernel) for e in s.left_out}
    assert left["echo"]["code"] == "INTEGRITY_FAILED"


def test_a_new_file_is_found_and_a_deleted_one_disappears_without_a_rebuild(
    workspace: Workspace,
) -> None:
    kernel = workspace.kernel()
    assert ids(kernel, "forecast") == []
    path = workspace.write("tools/weather/forecast.yaml", FORECAST)
    workspace.sign()
    assert ids(kernel, "forecast", mode="keyword") == ["project:weather/forecast"]
    path.unlink()
    assert ids(kernel, "forecast", mode="keyword") == []
    assert ids(workspace.kernel(), "forecast", mode="keyword") == []


def test_modes_keyword_semantic_and_hybrid(workspace: Workspace) -> None:
    workspace.write("tools/mail.yaml", MAIL)
    workspace.write("tools/forecast.yaml", FORECAST)
    workspace.sign()
    kernel = workspace.kernel()
    # no word of the query is in the mail tool: only meaning finds it
    assert ids(kernel, "letters", mode="keyword") == []
    assert ids(kernel, "letters", mode="semantic")[0] == "project:mail"
    assert ids(kernel, "weather forecast tomorrow", mode="hybrid")[0] == "project:forecast"
    keyword = search(kernel, "weather", mode="keyword", spaces=("project",))
    assert [h.id for h in keyword] == ["forecast"] and keyword[0].score > 0
    with pytest.raises(UsageError, match="'fuzzy' is not one of hybrid, keyword, semantic"):
        search(kernel, "x", mode="fuzzy")


def test_a_shadowed_item_is_shown_once_as_the_winner_with_what_it_shadows(
    workspace: Workspace,
) -> None:
    workspace.write("tools/forecast.yaml", FORECAST, space="user")
    workspace.write("tools/forecast.yaml", FORECAST.replace("weather", "climate"))
    workspace.sign()
    kernel = workspace.kernel()
    # only the user's copy says "weather"; the project's wins the id
    hits = search(kernel, "weather forecast", spaces=("project", "user"))
    forecast = [h for h in hits if h.id == "forecast"]
    assert len(forecast) == 1
    assert forecast[0].space == "project"
    assert forecast[0].shadowed == (f"user:{workspace.user / 'tools/forecast.yaml'}",)
    assert "climate" in forecast[0].description


def test_an_unverifiable_winner_hides_the_id_instead_of_offering_the_shadowed_file(
    workspace: Workspace,
) -> None:
    workspace.write("tools/forecast.yaml", FORECAST, space="user")
    workspace.sign()
    workspace.write("tools/forecast.yaml", FORECAST)  # unsigned project copy wins the id
    assert "forecast" not in [h.id for h in search(workspace.kernel(), "forecast")]


def test_an_empty_query_lists_what_verifies_and_the_system_space_is_indexed(
    workspace: Workspace,
) -> None:
    kernel = workspace.kernel()
    listed = search(kernel, "", limit=100)
    assert {"echo", "review", "style", "runtimes/python"} <= {h.id for h in listed}
    assert search(kernel, "python", kinds=("tool",), spaces=("system",))[0].id == "runtimes/python"
    space = kernel.store.space("system")
    assert space is not None
    assert index_folder(kernel.settings, space).parent == workspace.user / "index" / "system"


def test_the_bare_name_lookup_answers_per_space_from_the_index(workspace: Workspace) -> None:
    workspace.write("tools/a/echo.yaml", FORECAST, space="user")
    kernel = workspace.kernel()
    assert ids_named(kernel, "tool", "echo") == {"project": ["echo"], "user": ["a/echo"]}
    assert ids_named(kernel, "tool", "python")["system"] == ["runtimes/python"]
    assert ids_named(kernel, "tool", "nothing") == {}


def test_refresh_indexes_only_what_changed_and_rebuild_everything(workspace: Workspace) -> None:
    kernel = workspace.kernel()
    # a file changed within the settle window is read again by the next refresh, as git does
    deadline = time.monotonic() + 10
    while refresh(kernel)["project"].added and time.monotonic() < deadline:
        pass
    assert refresh(kernel)["project"].added == 0
    workspace.write("tools/forecast.yaml", FORECAST)
    sign_items(kernel.store, workspace.user, "tool", "forecast", caps=None)
    done = refresh(kernel)["project"]
    assert (done.added, done.removed) == (1, 0)
    assert rebuild(kernel, ("project",))["project"].added == 4


CRASHER = """\
import sys
from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.ops.index import refresh
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.store.paths import system_space_root
from pathlib import Path
settings = Settings(project_root=Path(sys.argv[1]), user_space=Path(sys.argv[2]),
                    system_root=system_space_root())
refresh(Kernel(settings))
"""


@pytest.mark.parametrize("step", ["pending", "engines"])
def test_a_sigkill_during_an_update_leaves_a_working_index(workspace: Workspace, step: str) -> None:
    kernel = workspace.kernel()
    assert ids(kernel, "echo") == ["project:echo"]
    for n in range(30):
        workspace.write(f"tools/many/forecast_{n}.yaml", FORECAST)
    workspace.sign()
    env = {**os.environ, "KIWI_INDEX_CRASH_AT": step}
    done = subprocess.run(
        [sys.executable, "-c", CRASHER, str(workspace.root), str(workspace.user)],
        env=env,
        timeout=120,
        capture_output=True,
    )
    assert done.returncode == -9, done.stderr
    folder = workspace.root / ".ai/index"
    pending = sqlite3.connect(folder / "state.sqlite").execute("SELECT count(*) FROM pending")
    assert pending.fetchone()[0] > 0
    # the last commit still answers as it is, before any repair
    committed = KeywordIndex(folder / "keyword")
    assert committed.search(["echo"], kinds=("tool",), min_level=2, limit=5)
    # and the next refresh repairs and completes the update
    fresh = workspace.kernel()
    found = search(fresh, "forecast", mode="keyword", spaces=("project",), limit=100)
    assert len(found) == 30
    assert len({h.id for h in found}) == 30
    assert ids(fresh, "echo") == ["project:echo"]
    counts = {s.space: s.searchable for s in status(fresh)}
    assert counts["project"]["tool"] == 31
