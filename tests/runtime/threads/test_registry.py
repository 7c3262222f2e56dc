"""The thread registry (SPEC §13.2) on a real SQLite file: threads and their statuses,
lineage (spawns, depth), orphans, flags, controls, migrations and the records. The clock is a
value the test sets. The ledger is in ``test_registry_ledger.py``, processes racing for one
registry in ``test_registry_races.py``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiwi_mcp.kernel.errors import LimitExceeded, ThreadNotFound, ThreadState
from kiwi_mcp.kernel.runtime.threads.records import money
from kiwi_mcp.kernel.runtime.threads.registry import STATUSES, TERMINAL, Limits, Registry
from kiwi_mcp.kernel.runtime.threads.schema import MIGRATIONS
from tests.runtime.threads.registry_support import BASE, T0, Clock, make, query


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(tmp_path: Path, clock: Clock) -> Iterator[Registry]:
    with Registry(tmp_path / "registry.db", clock=clock) as opened:
        yield opened


# --- threads -----------------------------------------------------------------------------


def test_create_registers_a_created_thread_named_after_its_directive_and_utc_second(
    registry: Registry,
) -> None:
    record = registry.create(
        directive="demo/worker",
        directive_sha256="ab" * 32,
        limits=Limits(turns=3, spend_usd=Decimal("1.50"), duration_s=60.0),
        inputs={"topic": "kiwis"},
        model="m",
        provider="p",
        caller="cli",
    )
    assert record.thread_id == BASE
    assert (record.status, record.parent, record.root) == ("created", None, BASE)
    assert (record.created_at, record.updated_at, record.finished_at) == (T0, T0, None)
    assert record.deadline == T0 + 60.0
    assert record.limits == Limits(turns=3, spend_usd=Decimal("1.5"), duration_s=60.0)
    assert (record.model, record.provider, record.caller) == ("m", "p", "cli")
    assert (record.turn, record.spent_tokens, record.reserved_tokens, record.spawned) == (
        0,
        0,
        0,
        0,
    )
    assert (record.spent_usd, record.reserved_usd) == (Decimal(0), Decimal(0))
    assert (record.pid, record.token_id, record.result, record.error) == (None, None, None, None)
    assert (record.flags, record.inputs) == ((), {"topic": "kiwis"})
    assert registry.get(BASE) == record


def test_ids_made_within_one_second_get_a_numbered_suffix(registry: Registry, clock: Clock) -> None:
    ids = [make(registry).thread_id for _ in range(3)]
    assert ids == [BASE, f"{BASE}_2", f"{BASE}_3"]
    clock.now += 1
    assert make(registry).thread_id == "demo_worker_20250101_000001"


def test_list_threads_filters_by_status_and_by_root(registry: Registry, clock: Clock) -> None:
    first = make(registry).thread_id
    clock.now += 1
    child = make(registry, parent=first).thread_id
    clock.now += 1
    other = make(registry, directive="demo/other").thread_id
    registry.set_status(other, "running")
    registry.set_status(child, "running")

    def ids(**filters: Any) -> list[str]:
        return [r.thread_id for r in registry.list_threads(**filters)]

    assert ids() == [other, child, first]  # newest first
    assert ids(status="running") == [other, child]
    assert ids(root=first) == [child, first]
    assert ids(status="running", root=first) == [child]
    assert ids(status="completed") == []


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.get("nope"),
        lambda r: r.set_status("nope", "running"),
        lambda r: r.update("nope", pid=1),
        lambda r: r.add_flag("nope", "x"),
        lambda r: r.add_control("nope", "cancel"),
        lambda r: r.reserve("nope", tokens=1, usd=None),
        lambda r: make(r, parent="nope"),
    ],
    ids=["get", "set_status", "update", "add_flag", "add_control", "reserve", "create"],
)
def test_an_unknown_thread_id_is_thread_not_found(registry: Registry, call: Any) -> None:
    with pytest.raises(ThreadNotFound) as caught:
        call(registry)
    assert caught.value.code == "THREAD_NOT_FOUND"
    assert caught.value.details == {"thread_id": "nope"}
    assert registry.list_threads() == []


def test_set_status_stamps_finished_at_and_stores_result_and_error(
    registry: Registry, clock: Clock
) -> None:
    make(registry)
    clock.now += 5
    running = registry.set_status(BASE, "running", expect=("created",))
    assert (running.status, running.updated_at, running.finished_at) == ("running", T0 + 5, None)
    clock.now += 5
    done = registry.set_status(BASE, "failed", result={"text": "x"}, error={"code": "E"})
    assert (done.status, done.finished_at) == ("failed", T0 + 10)
    assert (done.result, done.error) == ({"text": "x"}, {"code": "E"})


def test_set_status_with_expect_refuses_any_other_current_status(registry: Registry) -> None:
    make(registry)
    with pytest.raises(ThreadState) as caught:
        registry.set_status(BASE, "running", expect=("paused", "orphaned"))
    assert caught.value.message == f"thread {BASE} is created, not paused or orphaned"
    assert caught.value.details == {"thread_id": BASE, "status": "created"}
    assert registry.get(BASE).status == "created"


@pytest.mark.parametrize("ended", sorted(TERMINAL))
def test_a_terminal_status_is_left_only_when_expect_names_it(
    registry: Registry, ended: str
) -> None:
    make(registry)
    registry.set_status(BASE, ended)
    for status in ("running", ended):
        with pytest.raises(ThreadState) as caught:
            registry.set_status(BASE, status)
        assert caught.value.message == f"thread {BASE} already ended {ended}"
    assert registry.get(BASE).status == ended
    again = registry.set_status(BASE, "running", expect=(ended,))
    assert (again.status, again.finished_at) == ("running", None)


def test_an_unknown_status_is_a_value_error_and_changes_nothing(registry: Registry) -> None:
    before = make(registry)
    with pytest.raises(ValueError, match="unknown status 'done'"):
        registry.set_status(BASE, "done")
    assert registry.get(BASE) == before
    assert "done" not in STATUSES


def test_update_sets_only_the_fields_given(registry: Registry, clock: Clock) -> None:
    make(registry)
    clock.now += 2
    record = registry.update(BASE, pid=4242, token_id="jti-1")
    assert (record.pid, record.token_id, record.model, record.updated_at) == (
        4242,
        "jti-1",
        None,
        T0 + 2,
    )
    assert registry.update(BASE, model="m2").pid == 4242


def test_add_flag_keeps_each_flag_once_in_order(registry: Registry) -> None:
    make(registry)
    for flag in ("outcome_unknown", "overdue", "outcome_unknown"):
        registry.add_flag(BASE, flag)
    assert registry.get(BASE).flags == ("outcome_unknown", "overdue")


# --- lineage: spawns and depth -----------------------------------------------------------


def test_a_child_counts_against_its_parent_and_shares_its_root(registry: Registry) -> None:
    root = make(registry, spawns=2).thread_id
    child = make(registry, parent=root).thread_id
    grandchild = make(registry, parent=child)
    assert (grandchild.parent, grandchild.root) == (child, root)
    assert (registry.get(root).spawned, registry.get(child).spawned) == (1, 1)


def test_spawns_limit_refuses_the_next_child_and_registers_nothing(registry: Registry) -> None:
    root = make(registry, spawns=2).thread_id
    make(registry, parent=root)
    make(registry, parent=root)
    with pytest.raises(LimitExceeded) as caught:
        make(registry, parent=root)
    assert caught.value.details == {"limit": "spawns", "thread_id": root}
    assert registry.get(root).spawned == 2
    assert len(registry.list_threads()) == 3


def test_depth_zero_refuses_any_child(registry: Registry) -> None:
    root = make(registry, depth=0).thread_id
    with pytest.raises(LimitExceeded) as caught:
        make(registry, parent=root)
    assert caught.value.details == {"limit": "depth", "thread_id": root}
    assert [r.thread_id for r in registry.list_threads()] == [root]
    assert registry.get(root).spawned == 0
    deeper = make(registry, depth=1).thread_id
    assert make(registry, parent=deeper).parent == deeper


@pytest.mark.parametrize("ended", sorted(TERMINAL))
def test_a_parent_that_ended_takes_no_child(registry: Registry, ended: str) -> None:
    root = make(registry).thread_id
    registry.set_status(root, ended)
    with pytest.raises(ThreadState, match=f"parent {root} is {ended}"):
        make(registry, parent=root)
    assert registry.get(root).spawned == 0
    assert len(registry.list_threads()) == 1


# --- orphans -----------------------------------------------------------------------------


def test_mark_orphans_orphans_running_threads_whose_pid_is_gone(
    registry: Registry, clock: Clock
) -> None:
    ids = []
    cases = [
        ("running", 111),
        ("running", 222),
        ("running", None),
        ("paused", 111),
        ("waiting_approval", 111),  # its runner died while it waited
        ("waiting_approval", 222),
    ]
    for status, pid in cases:
        clock.now += 1
        thread_id = make(registry).thread_id
        registry.set_status(thread_id, status)
        registry.update(thread_id, pid=pid)
        ids.append(thread_id)
    asked: list[int] = []

    def alive(pid: int) -> bool:
        asked.append(pid)
        return pid == 222

    assert sorted(registry.mark_orphans(alive)) == sorted([ids[0], ids[2], ids[4]])
    assert sorted(asked) == [111, 111, 222, 222]
    assert [registry.get(i).status for i in ids] == [
        "orphaned",
        "running",
        "orphaned",
        "paused",
        "orphaned",
        "waiting_approval",
    ]
    assert registry.mark_orphans(alive) == []


def test_mark_orphans_flags_an_overdue_live_thread_once(registry: Registry, clock: Clock) -> None:
    late = make(registry, duration_s=5.0).thread_id
    registry.set_status(late, "running")
    registry.update(late, pid=7)
    clock.now += 1
    ended = make(registry, duration_s=5.0).thread_id
    registry.set_status(ended, "completed")
    clock.now = T0 + 5.0
    assert registry.mark_orphans(lambda pid: True) == []
    assert registry.get(late).flags == ()  # at the deadline, not past it
    clock.now = T0 + 6.5
    for _ in range(2):
        assert registry.mark_orphans(lambda pid: True) == []
        assert registry.get(late).flags == ("overdue",)
    assert registry.get(late).status == "running"
    assert registry.get(ended).flags == ()


# --- controls ----------------------------------------------------------------------------


def test_controls_are_pending_in_order_until_done(registry: Registry) -> None:
    first = make(registry).thread_id
    other = make(registry).thread_id
    cancel = registry.add_control(first, "cancel")
    inject = registry.add_control(first, "inject", {"text": "hi"})
    registry.add_control(other, "cancel")
    assert registry.pending_controls(first) == [
        (cancel, "cancel", {}),
        (inject, "inject", {"text": "hi"}),
    ]
    registry.done_control(cancel)
    assert registry.pending_controls(first) == [(inject, "inject", {"text": "hi"})]
    assert len(registry.pending_controls(other)) == 1


# --- migrations and records --------------------------------------------------------------


def versions(path: Path) -> list[int]:
    return [row[0] for row in query(path, "SELECT version FROM schema_version")]


def test_reopening_a_registry_keeps_its_data_and_version(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "deep" / "registry.db"
    with Registry(path, clock=clock) as first:
        make(first, tokens=5)
    for _ in range(2):
        with Registry(path, clock=clock) as again:
            assert [r.thread_id for r in again.list_threads()] == [BASE]
            assert again.get(BASE).limits == Limits(tokens=5)
    assert versions(path) == [len(MIGRATIONS)]
    assert query(path, "PRAGMA journal_mode")[0][0] == "wal"


def test_a_registry_at_an_older_version_migrates_forward(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "registry.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (0)")
    assert query(path, "SELECT name FROM sqlite_master WHERE name = 'threads'") == []
    with Registry(path, clock=clock) as registry:
        assert make(registry).thread_id == BASE
    assert versions(path) == [len(MIGRATIONS)]


def test_for_project_keeps_the_registry_under_ai_threads(tmp_path: Path) -> None:
    with Registry.for_project(tmp_path) as registry:
        make(registry)
    assert (tmp_path / ".ai" / "threads" / "registry.db").is_file()


def test_a_record_to_dict_is_json_with_money_as_text(registry: Registry) -> None:
    record = make(registry, spend_usd=Decimal("2.50"), turns=4)
    data = json.loads(json.dumps(record.to_dict()))
    assert data["limits"] == {
        "turns": 4,
        "tokens": None,
        "spend_usd": "2.5",
        "duration_s": None,
        "spawns": None,
        "depth": None,
    }
    assert (data["spent_usd"], data["reserved_usd"], data["flags"]) == ("0", "0", [])
    assert Limits.from_dict(data["limits"]) == record.limits


@given(st.decimals(min_value=0, max_value=10**9, places=8))
def test_money_text_reads_back_as_the_same_amount(value: Decimal) -> None:
    text = money(value)
    assert Decimal(text) == value
    assert "E" not in text and (text == "0" or not text.endswith("0") or "." not in text)
