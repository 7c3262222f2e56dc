"""The item store over hostile folders: symlink loops, dangling and escaping links, huge
files, writers' temp files (issue #12). Real files in a temp folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiwi_mcp.kernel.core.spaces import Space
from kiwi_mcp.kernel.errors import InvalidId, ItemNotFound, ParseError
from kiwi_mcp.kernel.store.fileio import atomic_write, clean_stale_temps
from kiwi_mcp.kernel.store.files import FileCache, FileTooLarge
from kiwi_mcp.kernel.store.items import MAX_ITEM_BYTES, ItemStore

TOOL = 'version: "1.0.0"\nexecutor_id: primitives/subprocess\nconfig: {command: echo}\n'


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    folder = tmp_path / "project" / ".ai" / "tools"
    folder.mkdir(parents=True)
    (folder / "ok.yaml").write_text(TOOL)
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.yaml").write_text(TOOL)
    return folder


def store_over(tools: Path) -> ItemStore:
    return ItemStore([Space(name="project", root=tools.parent)])


def ids(store: ItemStore) -> list[str]:
    return sorted(f.id for f in store.iter_files("tool", ("project",)))


def skipped(store: ItemStore) -> dict[str, str]:
    return {
        os.path.relpath(s.path, store.spaces[0].root): s.reason
        for s in store.skipped("tool", ("project",))
    }


def test_a_symlink_to_itself_is_skipped_and_reported(tools: Path) -> None:
    (tools / "loop").symlink_to("loop")
    (tools / "self.yaml").symlink_to("self.yaml")
    store = store_over(tools)
    assert ids(store) == ["ok", "sub/deep"]
    assert skipped(store) == {
        "tools/loop": "a symlink loop",
        "tools/self.yaml": "a symlink loop",
    }
    assert store.load("tool", "ok").item.id == "ok"


def test_two_symlinks_pointing_at_each_other_are_skipped(tools: Path) -> None:
    (tools / "a.yaml").symlink_to("b.yaml")
    (tools / "b.yaml").symlink_to("a.yaml")
    store = store_over(tools)
    assert ids(store) == ["ok", "sub/deep"]
    assert set(skipped(store)) == {"tools/a.yaml", "tools/b.yaml"}
    with pytest.raises(ItemNotFound):
        store.locate("tool", "a")


def test_a_folder_symlink_to_an_ancestor_is_not_followed(tools: Path) -> None:
    (tools / "sub" / "up").symlink_to("..")
    (tools / "root").symlink_to(".")
    (tools / "space").symlink_to("..")  # the .ai folder: outside tools/
    store = store_over(tools)
    assert ids(store) == ["ok", "sub/deep"]
    assert skipped(store) == {
        "tools/sub/up": "a folder symlink to a folder already listed (tools)",
        "tools/root": "a folder symlink to a folder already listed (tools)",
        "tools/space": "a folder symlink that leaves the space",
    }


def test_a_folder_symlink_out_of_the_space_is_not_walked(tools: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.yaml").write_text(TOOL)
    (tools / "ext").symlink_to(outside)
    (tools / "root").symlink_to("/")
    store = store_over(tools)
    assert ids(store) == ["ok", "sub/deep"]
    assert skipped(store) == {
        "tools/ext": "a folder symlink that leaves the space",
        "tools/root": "a folder symlink that leaves the space",
    }


def test_a_file_symlink_out_of_the_space_is_still_refused_by_locate(
    tools: Path, tmp_path: Path
) -> None:
    (tmp_path / "evil.yaml").write_text(TOOL)
    (tools / "evil.yaml").symlink_to(tmp_path / "evil.yaml")
    store = store_over(tools)
    with pytest.raises(InvalidId, match="symlink escape"):
        store.locate("tool", "evil")


def test_a_folder_symlink_inside_the_space_still_gives_ids(tools: Path) -> None:
    hidden = tools / "_shared" / "kit"
    hidden.mkdir(parents=True)
    (hidden / "x.yaml").write_text(TOOL)
    (tools / "kit").symlink_to(hidden)
    (tools / "again").symlink_to("sub")  # sub is listed already: not a second time
    store = store_over(tools)
    assert ids(store) == ["kit/x", "ok", "sub/deep"]
    assert skipped(store) == {
        "tools/again": "a folder symlink to a folder already listed (tools/sub)"
    }


def test_a_dangling_symlink_is_skipped_and_its_target_appearing_is_seen(tools: Path) -> None:
    (tools / "dang.yaml").symlink_to("later/dang.yaml")
    store = store_over(tools)
    assert ids(store) == ["ok", "sub/deep"]
    assert skipped(store) == {"tools/dang.yaml": "a dangling symlink (its target does not exist)"}
    (tools / "later").mkdir()
    (tools / "later" / "dang.yaml").write_text(TOOL)
    store.refresh()
    assert "dang" in ids(store)


def test_an_item_file_over_the_size_limit_is_a_parse_error_read_no_further(tools: Path) -> None:
    big = tools / "big.yaml"
    with big.open("wb") as handle:
        handle.write(TOOL.encode())
        handle.truncate(MAX_ITEM_BYTES + 1)  # sparse: the size without the bytes
    store = store_over(tools)
    with pytest.raises(ParseError) as info:
        store.load("tool", "big")
    assert info.value.message == (
        f"project:tools/big.yaml: item file is {MAX_ITEM_BYTES + 1} bytes; "
        f"the limit is {MAX_ITEM_BYTES} bytes (1 MiB)"
    )
    assert store.load("tool", "ok").item.id == "ok"


def test_an_item_file_of_exactly_the_limit_is_read(tools: Path) -> None:
    data = TOOL.encode() + b"#" * (MAX_ITEM_BYTES - len(TOOL))
    (tools / "edge.yaml").write_bytes(data)
    assert store_over(tools).load("tool", "edge").data == data


def test_file_cache_refuses_a_file_over_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 11)
    cache = FileCache()
    with pytest.raises(FileTooLarge) as info:
        cache.read(path, max_bytes=10)
    assert info.value.size == 11 and info.value.limit == 10
    found = cache.read(path, max_bytes=11)
    assert found is not None and found.data == b"x" * 11


def test_writer_temp_files_are_never_indexed(tools: Path) -> None:
    atomic_write(tools / "ok.yaml", TOOL.encode())
    (tools / f".ok.yaml.{os.getpid()}.0123456789ab.tmp").write_text(TOOL)
    (tools / "sub" / ".deep.yaml.1.0123456789ab.tmp").write_text(TOOL)
    store = store_over(tools)
    assert ids(store) == ["ok", "sub/deep"]
    assert skipped(store) == {}


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def test_stale_temps_are_removed_and_a_live_writers_fresh_one_is_kept(tmp_path: Path) -> None:
    dead = tmp_path / f".a.yaml.{_dead_pid()}.0123456789ab.tmp"
    old = tmp_path / f".b.yaml.{os.getpid()}.0123456789ab.tmp"
    live = tmp_path / f".c.yaml.{os.getpid()}.0123456789ab.tmp"
    huge = tmp_path / ".d.yaml.99999999999999999999999.0123456789ab.tmp"
    for path in (dead, old, live, huge):
        path.write_text("x")
    past = time.time() - 3600
    os.utime(old, (past, past))
    removed = clean_stale_temps(tmp_path)
    assert sorted(removed) == sorted([dead, old, huge])
    assert live.exists()


def test_a_fifo_named_like_an_item_is_skipped_and_never_opened(tools: Path) -> None:
    os.mkfifo(tools / "fifo.yaml")
    store = store_over(tools)
    assert ids(store) == ["ok", "sub/deep"]
    assert skipped(store) == {"tools/fifo.yaml": "not a regular file (a FIFO, socket or device)"}


def test_file_cache_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="not a regular file"):
        FileCache().read(tmp_path / "fifo")


def test_a_symlink_to_a_device_is_skipped_and_never_read(tools: Path) -> None:
    (tools / "zero.yaml").symlink_to("/dev/zero")
    store = store_over(tools)
    assert skipped(store) == {"tools/zero.yaml": "not a regular file (a FIFO, socket or device)"}
    with pytest.raises(ItemNotFound):
        store.load("tool", "zero")
