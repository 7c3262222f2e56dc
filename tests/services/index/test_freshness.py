"""Which kinds changed since the index's last commit: a stat per folder once, and in a
process that asks again, nothing while the folder watch saw nothing (SPEC §15)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiwi_mcp.kernel.core.ids import Kind
from kiwi_mcp.kernel.services.index.freshness import FolderCheck
from kiwi_mcp.kernel.store.watch import FolderWatch


class Recorded:
    """The index's recorded folders, as ``State.folders`` gives them; counts the asks."""

    def __init__(self, folders: list[Path]) -> None:
        self.mtimes = {str(f): f.stat().st_mtime_ns for f in folders}
        self.asked = 0

    def __call__(self, kind: Kind) -> dict[str, int]:
        self.asked += 1
        return dict(self.mtimes) if kind == "tool" else {}


@pytest.fixture
def tools(tmp_path: Path) -> list[Path]:
    folders = [tmp_path / ".ai" / "tools", tmp_path / ".ai" / "tools" / "web"]
    folders[1].mkdir(parents=True)
    return folders


def test_a_one_shot_check_stats_and_never_opens_the_watch(tools: list[Path]) -> None:
    check = FolderCheck()
    recorded = Recorded(tools)
    assert check.changed(("tool",), recorded) == []
    assert check._watch is None  # one ask: no inotify queue for a one-shot command
    (tools[1] / "fetch.yaml").write_text("x")
    assert check.changed(("tool",), recorded) == ["tool"]  # found by the stat


@pytest.mark.skipif(not FolderWatch.shared().watching, reason="no inotify here")
def test_a_server_asks_nothing_while_nothing_changed_and_sees_a_new_file(
    tools: list[Path],
) -> None:
    check = FolderCheck()
    recorded = Recorded(tools)
    check.changed(("tool",), recorded)
    assert check.changed(("tool",), recorded) == []  # second ask: the folders are covered
    asked = recorded.asked
    for _ in range(3):
        assert check.changed(("tool",), recorded) == []
    assert recorded.asked == asked  # not even the recorded folders were read
    (tools[1] / "fetch.yaml").write_text("x")
    assert check.changed(("tool",), recorded) == ["tool"]
    assert recorded.asked == asked + 1


@pytest.mark.skipif(not FolderWatch.shared().watching, reason="no inotify here")
def test_a_folder_touched_back_in_time_is_still_a_change(tools: list[Path]) -> None:
    check = FolderCheck()
    recorded = Recorded(tools)
    check.changed(("tool",), recorded)
    check.changed(("tool",), recorded)
    os.utime(tools[1], ns=(10**9, 10**9))  # no entry changed: only the mtime, set back
    assert check.changed(("tool",), recorded) == ["tool"]


def test_a_kind_with_no_recorded_folders_is_always_changed(tools: list[Path]) -> None:
    check = FolderCheck()
    recorded = Recorded(tools)
    for _ in range(3):
        assert check.changed(("tool", "directive"), recorded) == ["directive"]
