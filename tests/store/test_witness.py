"""The witness: what a preparation saw on disk, frozen, and re-checked with one stat each."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiwi_mcp.kernel.store.files import FileCache
from tests.support.clocks import SettleClock


def test_reads_and_stats_are_noted_and_missing_paths_become_their_nearest_folder(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.txt").write_text("a")
    clock = SettleClock()
    files = FileCache(clock_ns=clock)
    with files.witnessing() as witness:
        assert files.read_bytes(tmp_path / "a.txt") == b"a"
        assert files.stat(tmp_path / "gone" / "deeper" / "x") is None
        assert files.read(tmp_path / "b.txt") is None
    assert files.witness is None
    clock.settle()
    observed = witness.freeze()
    assert observed is not None
    assert sorted(path for path, _ in observed.checks) == [str(tmp_path), str(tmp_path / "a.txt")]
    assert observed.fresh()
    (tmp_path / "gone").mkdir()  # the missing path's nearest folder changes
    assert not observed.fresh()


def test_a_changed_file_is_no_longer_fresh(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("a")
    clock = SettleClock()
    files = FileCache(clock_ns=clock)
    with files.witnessing() as witness:
        files.read(path)
    clock.settle()
    observed = witness.freeze()
    assert observed is not None and observed.fresh()
    path.write_text("b")  # same size
    assert not observed.fresh()


def test_too_fresh_signatures_are_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("a")
    files = FileCache(clock_ns=SettleClock())
    with files.witnessing() as witness:
        files.read(path)
    assert witness.freeze() is None  # written a moment ago: a same-tick change could hide


def test_two_signatures_for_one_path_spoil_the_witness(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("a")
    files = FileCache()
    with files.witnessing() as witness:
        files.stat(path)
        path.write_text("bb")
        files.stat(path)
    assert witness.spoiled and witness.freeze() is None


def test_an_unreadable_path_spoils_the_witness(tmp_path: Path) -> None:
    files = FileCache()
    with files.witnessing() as witness, pytest.raises(OSError):
        files.read(tmp_path)  # a folder: open fails with IsADirectoryError
    assert witness.freeze() is None


def test_the_innermost_witness_notes_and_the_outer_one_comes_back(tmp_path: Path) -> None:
    clock = SettleClock()
    clock.settle()
    files = FileCache(clock_ns=clock)
    with files.witnessing() as outer:
        with files.witnessing() as inner:
            files.stat(tmp_path)
        assert files.witness is outer
    assert files.witness is None
    seen_inner, seen_outer = inner.freeze(), outer.freeze()
    assert seen_inner is not None and [p for p, _ in seen_inner.checks] == [str(tmp_path)]
    assert seen_outer is not None and seen_outer.checks == ()
