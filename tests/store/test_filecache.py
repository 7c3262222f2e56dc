"""FileCache: remembered bytes are only ever the file's current bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiwi_mcp.kernel.store.files import SETTLE_NS, FileCache, settled
from tests.support.clocks import SettleClock


def test_missing_files_read_as_none(tmp_path: Path) -> None:
    cache = FileCache()
    assert cache.read(tmp_path / "absent") is None
    assert cache.read(tmp_path / "absent" / "below") is None
    (tmp_path / "file").write_bytes(b"x")
    assert cache.read(tmp_path / "file" / "below") is None


def test_a_folder_is_an_error_not_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        FileCache().read(tmp_path)
    assert FileCache().read_text(tmp_path) is None


def test_a_settled_file_is_answered_from_memory(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    clock = SettleClock()
    clock.settle()
    cache = FileCache(clock_ns=clock)
    first = cache.read(path)
    assert first is not None and first.data == b"hello"
    assert cache.read(path) is first  # the same record: not read again


def test_a_fresh_file_is_read_again_every_time(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    cache = FileCache(clock_ns=SettleClock())
    first = cache.read(path)
    assert cache.read(path) is not first


def test_a_fresh_file_is_remembered_once_the_clock_has_moved_past_it(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    clock = SettleClock()
    cache = FileCache(clock_ns=clock)
    assert cache.read(path) is not cache.read(path)
    clock.settle()
    first = cache.read(path)
    assert cache.read(path) is first


def test_a_stamp_is_settled_from_exactly_settle_ns_on() -> None:
    assert settled(1_000, 1_000 + SETTLE_NS)
    assert not settled(1_000, 999 + SETTLE_NS)
    assert not settled(1_000, 0)  # a stamp from the future (a clock stepped back) is not
    assert settled(0, 50, window_ns=50) and not settled(0, 49, window_ns=50)


@pytest.mark.parametrize("how", ["same-size edit", "replace", "touch back", "delete"])
def test_every_kind_of_change_is_seen(tmp_path: Path, how: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    clock = SettleClock()
    clock.settle()
    cache = FileCache(clock_ns=clock)
    assert cache.read_bytes(path) == b"hello"
    before = path.stat()
    if how == "same-size edit":
        path.write_bytes(b"jello")
    elif how == "replace":
        other = tmp_path / "g"
        other.write_bytes(b"jello")
        os.replace(other, path)
    elif how == "touch back":  # edit, then set mtime back: ctime still moves
        path.write_bytes(b"jello")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        path.unlink()
    assert cache.read_bytes(path) == (None if how == "delete" else b"jello")


def test_read_text_is_none_for_bad_utf8(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"\xff\xfe")
    assert FileCache().read_text(path) is None


def test_old_entries_are_dropped_past_the_limit(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / str(i)).write_bytes(b"x")
    clock = SettleClock()
    clock.settle()
    cache = FileCache(max_entries=2, clock_ns=clock)
    records = [cache.read(tmp_path / str(i)) for i in range(5)]
    assert cache.read(tmp_path / "4") is records[4]
    assert cache.read(tmp_path / "0") is not records[0]
