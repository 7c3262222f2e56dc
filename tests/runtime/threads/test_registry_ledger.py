"""The budget ledger (SPEC §13.3) on a real SQLite file: a reservation is checked against the
thread and every ancestor and booked on all of them or on none; settling books the actual use
once. Each limit is refused by name."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kiwi_mcp.kernel.errors import LimitExceeded
from kiwi_mcp.kernel.runtime.threads.registry import Registry, Reservation
from tests.runtime.threads.registry_support import T0, Clock, ledger, make


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(tmp_path: Path, clock: Clock) -> Iterator[Registry]:
    with Registry(tmp_path / "registry.db", clock=clock) as opened:
        yield opened


@pytest.fixture
def lineage(registry: Registry) -> tuple[str, str, str]:
    root = make(registry, tokens=1000, spend_usd=Decimal("1.00")).thread_id
    child = make(registry, parent=root).thread_id
    return root, child, make(registry, parent=child).thread_id


def totals(registry: Registry, thread_id: str) -> tuple[int, Decimal, int, Decimal, int]:
    r = registry.get(thread_id)
    return r.reserved_tokens, r.reserved_usd, r.spent_tokens, r.spent_usd, r.turn


def test_reserve_books_the_worst_case_on_the_thread_and_every_ancestor(
    registry: Registry, lineage: tuple[str, str, str]
) -> None:
    root, child, leaf = lineage
    reservation = registry.reserve(leaf, tokens=100, usd=Decimal("0.25"))
    assert reservation == Reservation(
        reservation_id=1, thread_id=leaf, chain=(leaf, child, root), tokens=100, usd=Decimal("0.25")
    )
    assert totals(registry, leaf) == (100, Decimal("0.25"), 0, Decimal(0), 1)
    assert totals(registry, child) == (100, Decimal("0.25"), 0, Decimal(0), 0)
    assert totals(registry, root) == (100, Decimal("0.25"), 0, Decimal(0), 0)
    assert registry.open_reservations(leaf) == [reservation]
    assert registry.open_reservations(root) == []


def test_settle_books_the_actual_use_once(
    registry: Registry, lineage: tuple[str, str, str], tmp_path: Path
) -> None:
    leaf = lineage[-1]
    reservation = registry.reserve(leaf, tokens=100, usd=Decimal("0.25"))
    registry.settle(reservation, tokens=40, usd=Decimal("0.1"))
    registry.settle(reservation, tokens=99, usd=Decimal("0.9"))
    for thread_id in lineage:
        assert totals(registry, thread_id)[:4] == (0, Decimal(0), 40, Decimal("0.1"))
    assert registry.open_reservations(leaf) == []
    row = ledger(tmp_path / "registry.db")[0]
    assert (row["settled_tokens"], row["settled_usd"]) == (40, "0.1")


def test_settle_with_unknown_use_books_the_reserved_amount(
    registry: Registry, lineage: tuple[str, str, str]
) -> None:
    root, _, leaf = lineage
    registry.settle(registry.reserve(leaf, tokens=100, usd=Decimal("0.25")), tokens=None, usd=None)
    assert totals(registry, root)[:4] == (0, Decimal(0), 100, Decimal("0.25"))


def test_money_adds_up_exactly_in_decimal(registry: Registry) -> None:
    thread_id = make(registry, spend_usd=Decimal("0.3")).thread_id
    held = [registry.reserve(thread_id, tokens=1, usd=Decimal("0.1")) for _ in range(3)]
    assert registry.get(thread_id).reserved_usd == Decimal("0.3")
    assert registry.get(thread_id).to_dict()["reserved_usd"] == "0.3"
    for reservation in held:
        registry.settle(reservation, tokens=None, usd=None)
    record = registry.get(thread_id)
    assert (record.reserved_usd, record.spent_usd) == (Decimal(0), Decimal("0.3"))


def test_a_call_without_a_price_reserves_no_money_when_spend_is_free(registry: Registry) -> None:
    thread_id = make(registry).thread_id
    reservation = registry.reserve(thread_id, tokens=5, usd=None, turn=False)
    assert reservation.usd is None
    assert totals(registry, thread_id) == (5, Decimal(0), 0, Decimal(0), 0)
    registry.settle(reservation, tokens=None, usd=None)
    assert totals(registry, thread_id) == (0, Decimal(0), 5, Decimal(0), 0)


def refuse(registry: Registry, thread_id: str, **call: Any) -> dict[str, Any]:
    with pytest.raises(LimitExceeded) as caught:
        registry.reserve(thread_id, **{"tokens": 1, "usd": Decimal("0.01"), **call})
    assert caught.value.code == "LIMIT_EXCEEDED"
    return caught.value.details


def test_the_turns_limit_refuses_the_turn_after_the_last(registry: Registry) -> None:
    thread_id = make(registry, turns=2).thread_id
    registry.reserve(thread_id, tokens=1, usd=None)
    registry.reserve(thread_id, tokens=1, usd=None, turn=False)
    registry.reserve(thread_id, tokens=1, usd=None)
    details = refuse(registry, thread_id)
    assert details == {"limit": "turns", "thread_id": thread_id, "needed": 1, "remaining": 0}
    assert registry.get(thread_id).turn == 2


def test_the_tokens_limit_counts_spent_and_reserved(registry: Registry) -> None:
    thread_id = make(registry, tokens=100).thread_id
    registry.settle(registry.reserve(thread_id, tokens=30, usd=None), tokens=20, usd=None)
    registry.reserve(thread_id, tokens=40, usd=None)
    details = refuse(registry, thread_id, tokens=41)
    assert details == {"limit": "tokens", "thread_id": thread_id, "needed": 41, "remaining": 40}
    registry.reserve(thread_id, tokens=40, usd=None)
    assert refuse(registry, thread_id)["remaining"] == 0


def test_the_spend_limit_names_what_is_needed_and_left(registry: Registry) -> None:
    thread_id = make(registry, spend_usd=Decimal("1.00")).thread_id
    registry.reserve(thread_id, tokens=1, usd=Decimal("0.60"))
    with pytest.raises(LimitExceeded) as caught:
        registry.reserve(thread_id, tokens=1, usd=Decimal("0.41"))
    assert caught.value.message == f"thread {thread_id}: the next call may cost $0.41, $0.4 left"
    assert caught.value.details == {
        "limit": "spend",
        "thread_id": thread_id,
        "needed": "0.41",
        "remaining": "0.4",
    }
    registry.reserve(thread_id, tokens=1, usd=Decimal("0.40"))


def test_an_unknown_price_is_refused_when_spend_is_limited(registry: Registry) -> None:
    thread_id = make(registry, spend_usd=Decimal("1")).thread_id
    details = refuse(registry, thread_id, usd=None)
    assert details == {"limit": "spend", "thread_id": thread_id, "reason": "price unknown"}


def test_the_duration_limit_refuses_from_the_deadline_on(registry: Registry, clock: Clock) -> None:
    root = make(registry, duration_s=10.0).thread_id
    child = make(registry, parent=root).thread_id
    clock.now = T0 + 9.5
    registry.reserve(child, tokens=1, usd=None)
    clock.now = T0 + 10.0
    assert refuse(registry, child) == {"limit": "duration", "thread_id": root}


@pytest.mark.parametrize(
    ("limits", "call", "limit"),
    [
        ({"tokens": 10}, {"tokens": 11}, "tokens"),
        ({"spend_usd": Decimal("0.05")}, {"usd": Decimal("0.06")}, "spend"),
        ({"spend_usd": Decimal("0.05")}, {"usd": None}, "spend"),
        ({"duration_s": 0.0}, {}, "duration"),
    ],
)
def test_a_refused_reservation_writes_nothing_anywhere_in_the_lineage(
    registry: Registry, tmp_path: Path, limits: dict[str, Any], call: dict[str, Any], limit: str
) -> None:
    root = make(registry, **limits).thread_id
    leaf = make(registry, parent=make(registry, parent=root).thread_id).thread_id
    before = [registry.get(i) for i in (root, leaf)]
    details = refuse(registry, leaf, **call)
    assert (details["limit"], details["thread_id"]) == (limit, root)
    assert [registry.get(i) for i in (root, leaf)] == before
    assert registry.open_reservations(leaf) == []
    assert ledger(tmp_path / "registry.db") == []
