"""Locating one id costs what its path costs, not what the space holds (SPEC §15, issue 14):
``ItemStore.locate`` consults only the files and folders on the id's own path — proved by
what a ``FileCache`` witness saw — lists nothing, and still applies the walk's rules where a
symlink is on the way. Real files in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiwi_mcp.kernel.core.spaces import Space
from kiwi_mcp.kernel.errors import AmbiguousId, InvalidId, ItemNotFound
from kiwi_mcp.kernel.store.items import ItemStore

TOOL = 'version: "1.0.0"\nexecutor_id: primitives/subprocess\nconfig: {command: echo}\n'


@pytest.fixture
def spaces(tmp_path: Path) -> tuple[Path, Path]:
    """A project and a user space, each with tools in several folders."""
    roots = []
    for name in ("project", "user"):
        tools = tmp_path / name / ".ai" / "tools"
        for folder in ("alpha", "beta", "gamma/deep"):
            (tools / folder).mkdir(parents=True)
            for n in range(5):
                (tools / folder / f"t{n}.yaml").write_text(TOOL)
        roots.append(tmp_path / name / ".ai")
    return roots[0], roots[1]


def _store(spaces: tuple[Path, Path]) -> ItemStore:
    project, user = spaces
    return ItemStore([Space(name="project", root=project), Space(name="user", root=user)])


def _seen(store: ItemStore, item_id: str) -> set[str]:
    with store.files.witnessing() as witness:
        store.locate("tool", item_id)
    return set(witness._seen)


def test_locate_reads_only_the_ids_own_path_and_lists_nothing(spaces: tuple[Path, Path]) -> None:
    store = _store(spaces)
    seen = _seen(store, "gamma/deep/t3")
    for root in spaces:
        tools = root / "tools"
        allowed = {str(tools / "gamma"), str(tools / "gamma" / "deep")} | {
            str(tools / "gamma" / "deep" / f"t3{ext}")
            for ext in (".yaml", ".yml", ".py", ".sh", ".js")
        }
        assert {p for p in seen if p.startswith(str(root))} <= allowed
    assert not any("alpha" in p or "beta" in p for p in seen), seen
    assert store._index == {}  # no space was listed


def test_shadowing_and_precedence_hold_without_a_listing(spaces: tuple[Path, Path]) -> None:
    project, _ = spaces
    located = _store(spaces).locate("tool", "alpha/t1")
    assert located.file.space == "project"
    assert [f.space for f in located.shadowed] == ["user"]
    os.remove(project / "tools" / "alpha" / "t1.yaml")
    assert _store(spaces).locate("tool", "alpha/t1").file.space == "user"
    with pytest.raises(ItemNotFound):
        _store(spaces).locate("tool", "alpha/nope")
    with pytest.raises(ItemNotFound):
        _store(spaces).locate("tool", "nowhere/t1")


def test_two_files_for_one_id_in_a_space_are_ambiguous(spaces: tuple[Path, Path]) -> None:
    project, _ = spaces
    (project / "tools" / "beta" / "t2.py").write_text("x = 1\n")
    with pytest.raises(AmbiguousId):
        _store(spaces).locate("tool", "beta/t2")


def test_a_folder_symlink_on_the_way_falls_back_to_the_walks_rules(
    spaces: tuple[Path, Path], tmp_path: Path
) -> None:
    project, _ = spaces
    tools = project / "tools"
    (tools / "alias").symlink_to(tools / "alpha")  # an alias of a listed folder: not items
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.yaml").write_text(TOOL)
    (tools / "away").symlink_to(outside)  # leaves the space
    store = _store(spaces)
    for item_id in ("alias/t1", "away/x"):  # the walk lists neither
        with pytest.raises(ItemNotFound):
            store.locate("tool", item_id)
    (tools / "escape.yaml").symlink_to(outside / "x.yaml")  # a file symlink out of the space
    with pytest.raises(InvalidId):
        _store(spaces).locate("tool", "escape")


def test_a_file_named_like_an_item_that_is_not_a_regular_file_is_not_one(
    spaces: tuple[Path, Path],
) -> None:
    project, _ = spaces
    os.mkfifo(project / "tools" / "fifo.yaml")
    (project / "tools" / "dir.yaml").mkdir()
    store = _store(spaces)
    for item_id in ("fifo", "dir"):
        with pytest.raises(ItemNotFound):
            store.locate("tool", item_id)


def test_a_bare_name_still_resolves_through_the_listing(spaces: tuple[Path, Path]) -> None:
    project, user = spaces
    (user / "tools" / "beta" / "unique.yaml").write_text(TOOL)
    store = _store(spaces)
    assert store.locate("tool", "unique").file.id == "beta/unique"
    with pytest.raises(AmbiguousId):
        store.locate("tool", "t1")  # in alpha, beta and gamma/deep
    (project / "tools" / "t1.yaml").write_text(TOOL)  # an exact top-level id wins
    assert store.locate("tool", "t1").file.id == "t1"


def test_a_bare_name_is_answered_from_the_name_index_while_its_folders_hold(
    spaces: tuple[Path, Path],
) -> None:
    from tests.support.clocks import SettleClock

    project, user = spaces
    (user / "tools" / "beta" / "unique.yaml").write_text(TOOL)
    clock = SettleClock()
    clock.settle()
    first = ItemStore(
        [Space(name="project", root=project), Space(name="user", root=user)], clock_ns=clock
    )
    assert first.locate("tool", "unique").file.id == "beta/unique"  # listed, then saved
    assert (user / "index" / "names-tool.db").is_file()
    again = ItemStore(
        [Space(name="project", root=project), Space(name="user", root=user)], clock_ns=clock
    )
    assert again.locate("tool", "unique").file.id == "beta/unique"
    assert again._index == {}  # answered by the index: no listing
    (project / "tools" / "gamma" / "unique.yaml").write_text(TOOL)  # its folder changes
    clock.settle()
    third = ItemStore(
        [Space(name="project", root=project), Space(name="user", root=user)], clock_ns=clock
    )
    with pytest.raises(AmbiguousId):
        third.locate("tool", "unique")
    os.remove(user / "tools" / "beta" / "unique.yaml")
    clock.settle()
    assert _store(spaces).locate("tool", "unique").file.id == "gamma/unique"
    (user / "index" / "names-tool.db").write_bytes(b"not a database")  # damaged: listed again
    assert _store(spaces).locate("tool", "unique").file.id == "gamma/unique"


def test_a_changed_folder_is_relisted_by_itself_not_the_whole_space(
    spaces: tuple[Path, Path],
) -> None:
    import shutil

    from tests.support.clocks import SettleClock

    project, user = spaces
    tools = project / "tools"
    (tools / "alpha" / "only_a.yaml").write_text(TOOL)
    clock = SettleClock()
    clock.settle()

    def fresh() -> ItemStore:
        return ItemStore(
            [Space(name="project", root=project), Space(name="user", root=user)], clock_ns=clock
        )

    assert fresh().locate("tool", "only_a").file.id == "alpha/only_a"  # listed, index saved
    (tools / "beta" / "solo.yaml").write_text(TOOL)  # a new file in one folder
    (tools / "delta" / "inner").mkdir(parents=True)  # a new folder tree
    (tools / "delta" / "inner" / "newest.yaml").write_text(TOOL)
    clock.settle()
    patched = fresh()
    assert patched.locate("tool", "solo").file.id == "beta/solo"
    assert patched.locate("tool", "newest").file.id == "delta/inner/newest"
    assert patched.locate("tool", "only_a").file.id == "alpha/only_a"
    assert patched._index == {}  # answered from the patched name index: nothing listed
    shutil.rmtree(tools / "alpha")  # a folder gone, with its items
    (tools / "beta" / "solo.yaml").unlink()
    clock.settle()
    after = fresh()
    for gone in ("only_a", "solo"):
        with pytest.raises(ItemNotFound):
            after.locate("tool", gone)
    assert after.locate("tool", "newest").file.id == "delta/inner/newest"
    assert after._index == {}
    (tools / "beta" / "link.yaml").symlink_to(tools / "beta" / "t1.yaml")  # for the walk
    clock.settle()
    linked = fresh()
    assert linked.locate("tool", "link").file.id == "beta/link"
    assert linked._index != {}  # a symlink: the space was listed again
