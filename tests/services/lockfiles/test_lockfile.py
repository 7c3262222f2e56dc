"""Lockfile records, the store's files and index, and drift reports."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from kiwi_mcp.kernel.errors import InvalidId, LockfileError
from kiwi_mcp.kernel.services.lockfiles.store import (
    Drift,
    LockedLink,
    Lockfile,
    LockfileStore,
    compare,
)

A = "a" * 64
B = "b" * 64
C = "c" * 64
D = "d" * 64


def _lockfile(
    tool_id: str = "weather",
    version: str = "1.2.0",
    integrity: str = A,
    runtime_integrity: str = B,
    pins: dict[str, str] | None = None,
) -> Lockfile:
    links = (
        LockedLink(
            id=tool_id,
            version=version,
            space="project",
            integrity=integrity,
            executor_id="primitives/http_client",
        ),
        LockedLink(
            id="primitives/http_client",
            version="1.0.0",
            space="system",
            integrity=runtime_integrity,
            executor_id=None,
        ),
    )
    return Lockfile(
        root={"id": tool_id, "version": version, "integrity": integrity},
        chain=links,
        kernel={"version": "0.1.0"},
        pins=pins or {},
    )


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- records ------------------------------------------------------------------------------


def test_the_bytes_are_sorted_indented_and_end_with_a_newline() -> None:
    data = _lockfile(pins={"mcp/x": C}).to_bytes()
    assert data.endswith(b"}\n")
    parsed = json.loads(data)
    assert list(parsed) == ["chain", "kernel", "lockfile_version", "pins", "root"]
    assert data.startswith(
        b'{\n  "chain": [\n    {\n      "executor_id": "primitives/http_client",'
    )
    assert Lockfile.from_bytes(data, source="x") == _lockfile(pins={"mcp/x": C})


def test_the_spec_example_parses() -> None:
    example = {
        "lockfile_version": 1,
        "root": {"id": "weather", "version": "1.2.0", "integrity": A},
        "chain": [
            {"id": "weather", "version": "1.2.0", "space": "project", "integrity": A,
             "executor_id": "primitives/http_client"},
            {"id": "primitives/http_client", "version": "1.0.0", "space": "system",
             "integrity": B, "executor_id": None},
        ],
        "kernel": {"version": "0.1.0"},
        "pins": {},
    }  # fmt: skip
    assert Lockfile.from_dict(example).to_dict() == example


def _broken(path: str, value: Any) -> dict[str, Any]:
    data = _lockfile().to_dict()
    target: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is _DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "lockfile_version",
            2,
            "x.lock.json.lockfile_version: unsupported version 2 (this kernel reads 1)",
        ),
        (
            "lockfile_version",
            True,
            "x.lock.json.lockfile_version: unsupported version True (this kernel reads 1)",
        ),
        ("root", _DELETE, "x.lock.json.root: missing"),
        (
            "root.integrity",
            "abc",
            "x.lock.json.root.integrity: expected a sha256 hex digest, got str",
        ),
        ("chain", [], "x.lock.json.chain: expected a non-empty list, got list"),
        (
            "chain.1.space",
            "galaxy",
            "x.lock.json.chain[1].space: expected one of project, user, system, got 'galaxy'",
        ),
        (
            "chain.1.integrity",
            3,
            "x.lock.json.chain[1].integrity: expected a sha256 hex digest, got int",
        ),
        (
            "chain.0.executor_id",
            7,
            "x.lock.json.chain[0].executor_id: expected a string or null, got int",
        ),
        ("chain.0.id", "other", "x.lock.json.chain[0]: the first link must be the root tool"),
        ("chain.1.extra", 1, "x.lock.json.chain[1].extra: unknown field"),
        ("kernel", {}, "x.lock.json.kernel.version: missing"),
        ("pins", {"p": 1}, "x.lock.json.pins.p: expected a string, got int"),
        ("timestamp", "2026", "x.lock.json.timestamp: unknown field"),
    ],
)
def test_every_field_is_checked_and_the_error_names_its_path(
    path: str, value: Any, message: str
) -> None:
    with pytest.raises(LockfileError) as caught:
        Lockfile.from_dict(_broken(path, value), where="x.lock.json")
    assert caught.value.message == message
    assert caught.value.code == "LOCKFILE_ERROR"


def test_bytes_that_are_not_json_name_the_file() -> None:
    with pytest.raises(LockfileError) as caught:
        Lockfile.from_bytes(b'{"lockfile_version": 1,', source="/l/x.lock.json")
    assert caught.value.message.startswith("/l/x.lock.json: not valid JSON (")


# -- the store ------------------------------------------------------------------------------


def test_freeze_writes_the_id_as_folders_and_records_the_time_only_in_the_index(
    tmp_path: Path,
) -> None:
    root = tmp_path / "project" / ".ai" / "lockfiles"
    store = LockfileStore([root], clock=Clock(1_700_000_000.0))
    path = store.freeze(_lockfile("llm/anthropic", "1.0.0"))
    assert path == root / "llm" / "anthropic@1.0.0.lock.json"
    assert path.read_bytes() == _lockfile("llm/anthropic", "1.0.0").to_bytes()
    assert json.loads((root / ".index.json").read_text()) == {
        "index_version": 1,
        "entries": {
            "llm/anthropic@1.0.0.lock.json": {
                "frozen_at": "2023-11-14T22:13:20Z",
                "root_id": "llm/anthropic",
                "version": "1.0.0",
            }
        },
    }
    assert sorted(p.name for p in root.rglob("*")) == [
        ".index.json",
        ".index.lock",
        "anthropic@1.0.0.lock.json",
        "llm",
    ]


def test_re_freezing_an_unchanged_chain_is_byte_identical(tmp_path: Path) -> None:
    clock = Clock(1_700_000_000.0)
    store = LockfileStore([tmp_path], clock=clock)
    first = store.freeze(_lockfile()).read_bytes()
    clock.now += 3600
    assert store.freeze(_lockfile()).read_bytes() == first
    index = json.loads((tmp_path / ".index.json").read_text())
    assert index["entries"]["weather@1.2.0.lock.json"]["frozen_at"] == "2023-11-14T23:13:20Z"


def test_load_reads_the_project_root_before_the_user_root(tmp_path: Path) -> None:
    project, user = tmp_path / "project", tmp_path / "user"
    LockfileStore([user]).freeze(_lockfile(integrity=C))
    store = LockfileStore([project, user])
    loaded = store.load("weather", "1.2.0")
    assert loaded is not None and loaded.chain[0].integrity == C
    store.freeze(_lockfile(integrity=D))
    loaded = store.load("weather", "1.2.0")
    assert loaded is not None and loaded.chain[0].integrity == D
    assert store.load("weather", "9.9.9") is None


def test_a_damaged_lockfile_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "weather@1.2.0.lock.json").write_text('{"lockfile_version": 1}')
    with pytest.raises(LockfileError) as caught:
        LockfileStore([tmp_path]).load("weather", "1.2.0")
    assert caught.value.message == f"{tmp_path / 'weather@1.2.0.lock.json'}.root: missing"


@pytest.mark.parametrize(
    ("tool_id", "version"),
    [("../escape", "1.0.0"), ("a//b", "1.0.0"), ("/abs", "1.0.0"), ("ok", "../1"), ("ok", "1/2")],
)
def test_ids_and_versions_that_could_leave_the_folder_are_refused(
    tmp_path: Path, tool_id: str, version: str
) -> None:
    with pytest.raises(InvalidId):
        LockfileStore([tmp_path]).path_for(tool_id, version)


def test_list_reports_both_roots_and_marks_shadowed_user_lockfiles(tmp_path: Path) -> None:
    project, user = tmp_path / "project", tmp_path / "user"
    LockfileStore([user], clock=Clock(1_700_000_000.0)).freeze(_lockfile())
    LockfileStore([user], clock=Clock(1_700_000_000.0)).freeze(_lockfile("llm/openai", "2.0.0"))
    LockfileStore([project], clock=Clock(1_700_000_100.0)).freeze(_lockfile())
    entries = [e.to_dict() for e in LockfileStore([project, user]).list()]
    openai = user / "llm" / "openai@2.0.0.lock.json"
    assert entries == [
        {"id": "weather", "version": "1.2.0", "path": str(project / "weather@1.2.0.lock.json"),
         "frozen_at": "2023-11-14T22:15:00Z", "shadowed": False},
        {"id": "llm/openai", "version": "2.0.0", "path": str(openai),
         "frozen_at": "2023-11-14T22:13:20Z", "shadowed": False},
        {"id": "weather", "version": "1.2.0", "path": str(user / "weather@1.2.0.lock.json"),
         "frozen_at": "2023-11-14T22:13:20Z", "shadowed": True},
    ]  # fmt: skip


def test_prune_removes_old_lockfiles_of_the_write_root_only(tmp_path: Path) -> None:
    project, user = tmp_path / "project", tmp_path / "user"
    day = 86400.0
    LockfileStore([user], clock=Clock(0.0)).freeze(_lockfile("old/user", "1.0.0"))
    LockfileStore([project, user], clock=Clock(0.0)).freeze(_lockfile("old/tool", "1.0.0"))
    store = LockfileStore([project, user], clock=Clock(20 * day))
    store.freeze(_lockfile("fresh", "1.0.0"))
    unindexed = project / "stray@1.0.0.lock.json"
    unindexed.write_bytes(_lockfile("stray", "1.0.0").to_bytes())
    os.utime(unindexed, (0.0, 0.0))
    removed = store.prune(older_than_days=10, now=20 * day)
    assert sorted(removed) == [project / "old" / "tool@1.0.0.lock.json", unindexed]
    assert not (project / "old").exists()  # emptied folders go too
    assert [e.id for e in store.list()] == ["fresh", "old/user"]
    index = json.loads((project / ".index.json").read_text())
    assert list(index["entries"]) == ["fresh@1.0.0.lock.json"]


def test_dependants_are_the_lockfiles_whose_chain_holds_the_link(tmp_path: Path) -> None:
    store = LockfileStore([tmp_path])
    store.freeze(_lockfile("a", "1.0.0"))
    other = Lockfile(
        root={"id": "b", "version": "1.0.0", "integrity": C},
        chain=(
            LockedLink(id="b", version="1.0.0", space="project", integrity=C,
                       executor_id="runtimes/python"),
            LockedLink(id="runtimes/python", version="1.0.0", space="system", integrity=D,
                       executor_id="primitives/subprocess"),
            LockedLink(id="primitives/subprocess", version="1.0.0", space="system",
                       integrity=B, executor_id=None),
        ),
        kernel={"version": "0.1.0"},
    )  # fmt: skip
    store.freeze(other)
    assert store.dependants("runtimes/python") == [other]
    assert [lf.id for lf in store.dependants("primitives/http_client")] == ["a"]
    assert store.dependants("nothing") == []


def test_stray_temp_files_of_dead_writers_are_cleaned_on_the_next_freeze(tmp_path: Path) -> None:
    store = LockfileStore([tmp_path])
    store.freeze(_lockfile())
    dead = tmp_path / f".weather@1.2.0.lock.json.{2**22 + 12345}.0123456789ab.tmp"
    dead.write_text("{torn")
    old = tmp_path / f".index.json.{os.getpid()}.0123456789ab.tmp"
    old.write_text("{torn")
    os.utime(old, (time.time() - 120, time.time() - 120))
    live = tmp_path / f".index.json.{os.getpid()}.ba9876543210.tmp"
    live.write_text("{in flight")
    store.freeze(_lockfile())
    assert not dead.exists() and not old.exists()
    assert live.exists()


# -- drift ----------------------------------------------------------------------------------


def test_identical_lockfiles_have_no_drift() -> None:
    assert compare(_lockfile(), _lockfile()) == []


def test_each_changed_field_of_each_link_is_reported_with_both_values() -> None:
    locked = _lockfile(pins={"mcp/search": C, "gone": D})
    current = Lockfile(
        root={"id": "weather", "version": "1.3.0", "integrity": C},
        chain=(
            LockedLink(id="weather", version="1.3.0", space="user", integrity=C,
                       executor_id="runtimes/python"),
            LockedLink(id="runtimes/python", version="1.0.0", space="system", integrity=D,
                       executor_id="primitives/subprocess"),
        ),
        kernel={"version": "0.2.0"},
        pins={"mcp/search": D, "new": A},
    )  # fmt: skip
    drifts = compare(locked, current)
    assert [str(d) for d in drifts] == [
        "weather: version 1.2.0 → 1.3.0",
        "weather: integrity aaaaaaaa… → cccccccc…",
        "weather: space project → user",
        "weather: executor_id primitives/http_client → runtimes/python",
        "runtimes/python: link added (version 1.0.0)",
        "primitives/http_client: link removed (was version 1.0.0)",
        "pins: pin gone dddddddd… → (none)",
        "pins: pin mcp/search cccccccc… → dddddddd…",
        "pins: pin new (none) → aaaaaaaa…",
    ]
    assert drifts[1] == Drift(link_id="weather", field="integrity", locked=A, current=C)
    assert drifts[1].to_dict() == {
        "link_id": "weather", "field": "integrity", "locked": A, "current": C
    }  # fmt: skip


def test_freeze_refuses_a_record_that_load_would_refuse(tmp_path: Path) -> None:
    bad = Lockfile(
        root={"id": "weather", "version": "1.2.0", "integrity": "not-a-digest"},
        chain=_lockfile().chain,
        kernel={"version": "0.1.0"},
    )
    with pytest.raises(LockfileError) as caught:
        LockfileStore([tmp_path]).freeze(bad)
    assert caught.value.message == (
        "lockfile for weather.root.integrity: expected a sha256 hex digest, got str"
    )
    assert not list(tmp_path.rglob("*.lock.json"))
