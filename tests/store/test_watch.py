"""The folder watch: real inotify on real folders, and the checks that may trust it.

Every test that relies on an event waits for nothing: inotify queues an event inside the
system call that made the change, so a ``drain`` right after it reads it. Unrelated events
(another process making a file in ``/tmp``) only bump the generation more, so they can
make a full check happen, never skip one.
"""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.store.files import FileCache, FreshMark, Observed
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.store.watch import (
    IN_CREATE,
    IN_IGNORED,
    IN_Q_OVERFLOW,
    FolderWatch,
    parse_events,
)
from tests.support.project import Project, project  # noqa: F401 - a fixture

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux only")

TOOL = (
    'version: "1.0.0"\nexecutor_id: primitives/subprocess\ndescription: {what}\n'
    'config: {{command: "true"}}\n'
)


def _settled_clock() -> int:
    return time.time_ns() + 60 * 10**9  # every file counts as settled


@pytest.fixture
def watch() -> Iterator[FolderWatch]:
    opened = FolderWatch.open()
    if not opened.watching:
        pytest.skip(f"inotify unavailable here: {opened.reason}")
    yield opened
    opened.close()


def _observe(files: FileCache, *paths: Path) -> tuple[Observed, FreshMark]:
    with files.witnessing() as witness:
        for path in paths:
            if path.is_dir():
                files.stat(path)
            else:
                files.read(path)
    observed = witness.freeze()
    assert observed is not None
    return observed, FreshMark.of(observed)


def _tree(tmp_path: Path) -> Path:
    folder = tmp_path / "tools" / "greet"
    folder.mkdir(parents=True)
    (folder / "wave.yaml").write_text("x")
    return folder


# --- the watch itself ------------------------------------------------------------------------


def _create(folder: Path) -> None:
    (folder / "new.yaml").write_text("y")


def _delete(folder: Path) -> None:
    (folder / "wave.yaml").unlink()


def _rename_within(folder: Path) -> None:
    (folder / "wave.yaml").rename(folder / "renamed.yaml")


def _move_out(folder: Path) -> None:
    (folder / "wave.yaml").rename(folder.parent.parent / "away.yaml")


def _touch_folder(folder: Path) -> None:
    st = folder.stat()
    os.utime(folder, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))  # as `touch -d`


def _chmod_folder(folder: Path) -> None:
    folder.chmod(0o700)


@pytest.mark.parametrize(
    "change",
    [_create, _delete, _rename_within, _move_out, _touch_folder, _chmod_folder],
    ids=["created", "deleted", "renamed", "moved-out", "utime", "chmod"],
)
def test_a_change_in_a_watched_folder_bumps_the_generation(
    watch: FolderWatch, tmp_path: Path, change: Callable[[Path], None]
) -> None:
    folder = _tree(tmp_path)
    assert watch.cover(str(folder))
    before = watch.drain()
    change(folder)
    assert watch.drain() > before


def test_a_folder_is_covered_only_with_every_ancestor_up_to_the_root(
    watch: FolderWatch, tmp_path: Path
) -> None:
    folder = _tree(tmp_path)
    assert watch.cover(str(folder))
    assert watch.covers("/") and watch.covers(str(tmp_path)) and watch.covers(str(folder))
    assert not watch.cover("relative/tools")
    assert not watch.cover(str(folder) + "/../greet")  # not normalized: never covered


def test_an_entry_off_the_way_in_an_ancestor_is_no_change(
    watch: FolderWatch, tmp_path: Path
) -> None:
    folder = _tree(tmp_path)
    assert watch.cover(str(folder))
    before = watch.drain()
    (tmp_path / "unrelated.txt").write_text("")  # tmp_path is only an ancestor
    (tmp_path / "unrelated.txt").chmod(0o600)
    (folder / "wave.yaml").chmod(0o600)  # a file's attributes: not the folder's signature
    assert watch.drain() == before
    (tmp_path / "tools").chmod(0o700)  # a folder on the way: it could now be unreadable
    assert watch.drain() > before


def test_an_ancestor_renamed_and_replaced_uncovers_the_folders_below(
    watch: FolderWatch, tmp_path: Path
) -> None:
    folder = _tree(tmp_path)
    assert watch.cover(str(folder))
    before = watch.drain()
    (tmp_path / "tools").rename(tmp_path / "old-tools")
    _tree(tmp_path)  # another tree at the same paths
    assert watch.drain() > before
    assert not watch.covers(str(folder)) and not watch.covers(str(tmp_path / "tools"))
    assert watch.covers(str(tmp_path))  # nothing above the rename changed
    assert watch.cover(str(folder))  # the new folder is watched afresh
    before = watch.drain()
    _create(folder)
    assert watch.drain() > before


def test_a_deleted_folder_is_no_longer_covered(watch: FolderWatch, tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    assert watch.cover(str(folder))
    (folder / "wave.yaml").unlink()
    folder.rmdir()
    watch.drain()
    assert not watch.covers(str(folder))
    assert watch.covers(str(folder.parent))


def test_a_symlink_on_the_way_is_never_covered(watch: FolderWatch, tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    (tmp_path / "link").symlink_to(folder.parent)
    assert not watch.cover(str(tmp_path / "link" / "greet"))
    assert not watch.cover(str(tmp_path / "link"))


def test_an_overflowing_queue_bumps_the_generation_and_uncovers_everything(
    watch: FolderWatch, tmp_path: Path
) -> None:
    folder = _tree(tmp_path)
    assert watch.cover(str(folder))
    before = watch.drain()
    watch.consume(struct.pack("iIII", -1, IN_Q_OVERFLOW, 0, 0))
    assert watch.generation > before
    assert not watch.covers(str(folder)) and not watch.covers("/")
    assert watch.cover(str(folder))  # and covering starts over


def test_events_are_parsed_with_their_padded_names() -> None:
    name = b"wave.yaml\0\0\0\0\0\0"
    data = struct.pack("iIII", 3, IN_CREATE, 0, len(name)) + name
    data += struct.pack("iIII", 3, IN_IGNORED, 0, 0)
    assert list(parse_events(data)) == [(3, IN_CREATE, "wave.yaml"), (3, IN_IGNORED, "")]
    with pytest.raises(ValueError, match="truncated event name"):
        list(parse_events(data[:20]))
    with pytest.raises(ValueError, match="truncated event header"):
        list(parse_events(data[:8]))


def test_no_inotify_instance_left_means_not_watched() -> None:
    """At the per-process file limit, ``open`` gives a watch that covers nothing."""
    script = (
        "import ctypes, os, resource\n"
        "from kiwi_mcp.kernel.store.watch import FolderWatch\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "held = []\n"
        "try:\n"
        "    while True: held.append(os.open('/dev/null', os.O_RDONLY))\n"
        "except OSError: pass\n"
        "watch = FolderWatch.open()\n"
        "print(watch.watching, watch.cover('/'), watch.reason)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("False False inotify_init1: Too many open files"), done.stdout


# --- checks that trust it --------------------------------------------------------------------


def test_a_fresh_check_leaves_only_files_to_stat_while_nothing_changed(
    watch: FolderWatch, tmp_path: Path
) -> None:
    folder = _tree(tmp_path)
    files = FileCache(clock_ns=_settled_clock, watch=watch)
    observed, mark = _observe(files, folder, folder / "wave.yaml")
    assert observed.folders == {str(folder)} and observed.covered == {str(folder)}
    assert [path for path, _ in mark.rest] == [str(folder / "wave.yaml")]
    assert files.fresh(observed, mark)
    assert mark.generation == watch.generation
    assert [path for path, _ in mark.rest] == [str(folder / "wave.yaml")]


@pytest.mark.parametrize(
    "change",
    [_create, _delete, _rename_within, _touch_folder],
    ids=["created", "deleted", "renamed", "utime"],
)
def test_a_changed_folder_is_seen_by_a_watched_check(
    watch: FolderWatch, tmp_path: Path, change: Callable[[Path], None]
) -> None:
    folder = _tree(tmp_path)
    files = FileCache(clock_ns=_settled_clock, watch=watch)
    observed, mark = _observe(files, folder)
    assert files.fresh(observed, mark) and files.fresh(observed, mark)
    change(folder)
    assert not files.fresh(observed, mark)


def test_a_replaced_ancestor_is_seen_by_a_watched_check(watch: FolderWatch, tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    files = FileCache(clock_ns=_settled_clock, watch=watch)
    observed, mark = _observe(files, folder)
    assert files.fresh(observed, mark) and files.fresh(observed, mark)
    (tmp_path / "tools").rename(tmp_path / "old-tools")
    _tree(tmp_path)
    assert not files.fresh(observed, mark)


def test_an_overflow_makes_the_next_check_stat_everything(
    watch: FolderWatch, tmp_path: Path
) -> None:
    folder = _tree(tmp_path)
    files = FileCache(clock_ns=_settled_clock, watch=watch)
    observed, mark = _observe(files, folder)
    assert files.fresh(observed, mark)
    watch.consume(struct.pack("iIII", -1, IN_Q_OVERFLOW, 0, 0))
    assert mark.generation != watch.generation
    assert files.fresh(observed, mark)  # a full check, which covers the folder again
    assert mark.generation == watch.generation and watch.covers(str(folder))


def test_a_file_in_a_witness_is_always_stat_ed(watch: FolderWatch, tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    path = folder / "wave.yaml"
    files = FileCache(clock_ns=_settled_clock, watch=watch)
    observed, mark = _observe(files, folder, path)
    watch.consume(struct.pack("iIII", -1, IN_Q_OVERFLOW, 0, 0))  # the next check: a full one
    assert files.fresh(observed, mark) and mark.generation == watch.generation
    path.write_text("z")  # a write: no event on the folder (IN_MODIFY is not watched)
    assert not files.fresh(observed, mark)


def test_without_inotify_every_folder_is_stat_ed(tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    watch = FolderWatch.unavailable("disabled in a test")
    files = FileCache(clock_ns=_settled_clock, watch=watch)
    observed, mark = _observe(files, folder)
    assert not watch.watching and observed.covered == frozenset()
    assert files.fresh(observed, mark) and files.fresh(observed, mark)
    assert [path for path, _ in mark.rest] == [str(folder)]
    _create(folder)
    assert not files.fresh(observed, mark)


def test_a_path_missing_but_there_as_a_dangling_symlink_spoils_the_witness(
    tmp_path: Path,
) -> None:
    (tmp_path / "python").symlink_to(tmp_path / "nowhere")
    files = FileCache(clock_ns=_settled_clock)
    with files.witnessing() as witness:
        assert files.stat(tmp_path / "python") is None
    assert witness.freeze() is None  # its target appearing would change no folder


# --- a law: the watched check never says fresh where stat-ing everything would not --------

_FOLDERS = ("t", "t/a", "t/a/b", "t/c")


def _op_create(root: Path, where: int) -> None:
    folder = root / _FOLDERS[where % len(_FOLDERS)]
    if folder.is_dir():
        (folder / f"n{where}.yaml").write_text("n")


def _op_delete(root: Path, where: int) -> None:
    for path in sorted((root / "t").rglob("*.yaml"))[where % 3 :][:1]:
        path.unlink()


def _op_move(root: Path, where: int) -> None:
    files = sorted((root / "t").rglob("*.yaml"))
    target = root / _FOLDERS[where % len(_FOLDERS)]
    if files and target.is_dir():
        files[where % len(files)].rename(target / f"m{where}.yaml")


def _op_replace_folder(root: Path, where: int) -> None:
    folder = root / _FOLDERS[1 + where % (len(_FOLDERS) - 1)]
    if folder.is_dir():
        folder.rename(root / f"gone{where}-{time.monotonic_ns()}")
        (folder / "b").mkdir(parents=True)


def _op_utime(root: Path, where: int) -> None:
    folder = root / _FOLDERS[where % len(_FOLDERS)]
    if folder.is_dir():
        st = folder.stat()
        os.utime(folder, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9 * (where + 1)))


_OPS = (_op_create, _op_delete, _op_move, _op_replace_folder, _op_utime)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_OPS), st.integers(0, 7)), max_size=8))
def test_a_watched_check_agrees_with_stat_ing_everything(
    ops: list[tuple[Callable[[Path, int], None], int]],
) -> None:
    watch = FolderWatch.open()
    if not watch.watching:
        pytest.skip(f"inotify unavailable here: {watch.reason}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel in _FOLDERS:
            (root / rel).mkdir(parents=True, exist_ok=True)
            (root / rel / "x.yaml").write_text("x")
        files = FileCache(clock_ns=_settled_clock, watch=watch)

        def observe() -> tuple[Observed, FreshMark]:  # leaves only: ancestors are the watch's
            return _observe(
                files, *(root / rel for rel in ("t/a/b", "t/c") if (root / rel).is_dir())
            )

        observed, mark = observe()
        for op, where in ops:
            assert files.fresh(observed, mark) == observed.fresh()  # both fresh here
            op(root, where)
            watched, full = files.fresh(observed, mark), observed.fresh()
            assert watched == full, (op.__name__, where)
            if not full:
                observed, mark = observe()
    watch.close()


# --- end to end: a warm kernel by bare name --------------------------------------------------


def _kernel(proj: Project) -> Kernel:
    env = {**proj.env, "KIWI_VERIFY": "hash"}  # the new files below are not signed
    return Kernel(Settings.from_environment(proj.root, env=env), clock_ns=_settled_clock)


def _two_folders(proj: Project) -> None:
    proj.write_tool("greet/wave.yaml", TOOL.format(what="Hello"))
    for n in range(3):
        proj.write_tool(f"other/o{n}.yaml", TOOL.format(what=f"Other {n}"))


def test_a_warm_kernel_keeps_a_bare_name_chain_until_another_folder_gets_that_name(
    project: Project,  # noqa: F811
) -> None:
    _two_folders(project)
    kernel = _kernel(project)
    first = asyncio.run(kernel.execute("wave", {}))
    assert first["ok"], first
    kept = kernel.prepare("wave")
    assert kernel.prepare("wave") is kept  # the first re-check: every folder, now watched
    watch = kernel.files.watch
    assert watch is not None and watch.watching, watch and watch.reason
    assert watch.covers(str(project.tools / "other"))
    for _ in range(3):
        again = asyncio.run(kernel.execute("wave", {}))
        assert again["ok"], again
        assert kernel.prepare("wave") is kept
    project.write_tool("other/wave.yaml", TOOL.format(what="A second wave"))
    envelope = asyncio.run(kernel.execute("wave", {}))
    assert envelope["error"]["code"] == "AMBIGUOUS_ID", envelope


def test_a_warm_kernel_sees_a_new_shadowing_item_in_a_new_folder(
    project: Project,  # noqa: F811
) -> None:
    (project.user / "tools" / "greet").mkdir(parents=True)
    (project.user / "tools" / "greet" / "wave.yaml").write_text(TOOL.format(what="User's"))
    project.write_tool("other/o1.yaml", TOOL.format(what="Other"))
    kernel = _kernel(project)
    first = asyncio.run(kernel.execute("wave", {}))
    assert first["ok"], first
    kept = kernel.prepare("wave")
    assert kernel.prepare("wave") is kept and kernel.prepare("wave") is kept
    assert kept.chain.links[0].file.space == "user"
    project.write_tool("greet/wave.yaml", TOOL.format(what="The project's"))
    again = kernel.prepare("wave")
    assert again is not kept and again.chain.links[0].file.space == "project"
