"""The instance's keyword index: the same answers as PostgreSQL, fed only by the change log."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from kiwi_mcp.kernel.ops.registry import login, publish, write
from kiwi_mcp.registry.keyword_index import KeywordIndex, parse_tsquery, parse_tsvector
from kiwi_mcp.registry.localdb import LocalPostgres
from tests.registry.conftest import fresh_database, run_server
from tests.registry.people import GREET, Person

TOPICS = {
    "alice/rain": "Rain gauge reading for a weather station",
    "alice/wind": "Wind speed from the weather station",
    "alice/tide": "Tide tables for a harbour",
    "alice/sun": "Sunrise and sunset for a city",
}


def _wait(url: str, condition: Any, what: str) -> Any:
    """Poll ``url`` until ``condition(json)`` holds (generous deadline, no fixed sleep)."""
    deadline = time.monotonic() + 30
    while True:
        got = httpx.get(url, timeout=10).json()
        if condition(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {got}")
        time.sleep(0.02)


def _ids(base: str, q: str) -> tuple[str, list[str]]:
    got = httpx.get(f"{base}/v1/search", params={"q": q}, timeout=10).json()["data"]
    return got["ranked_by"], sorted(r["id"] for r in got["results"])


def _publish_topics(who: Person, url: str) -> None:
    who.run(lambda k: login(k, url, who.name))
    for item_id, description in TOPICS.items():
        text = GREET.format(word="x").replace(
            "Greet someone by name with a friendly hello", description
        )
        who.write_tool(item_id, text)
        who.run(lambda k, i=item_id: publish(k, url, "tool", i))


def test_the_index_and_postgresql_find_the_same_items(
    postgres: LocalPostgres, alice: Person
) -> None:
    database = fresh_database(postgres)
    indexed, one = run_server(database)
    plain, two = run_server(database, keyword_index=False)
    try:
        _publish_topics(alice, indexed)
        _wait(f"{indexed}/v1/health", lambda h: h["data"]["keyword_index"] == "ready", "index")
        for q in ("weather", "weather station", "station wind", "harbour", "tides", "nothing"):
            by_index, with_index = _ids(indexed, q)
            by_pg, with_pg = _ids(plain, q)
            assert (by_index, by_pg) == ("index", "postgresql")
            assert with_index == with_pg, q
        assert _ids(indexed, "weather")[1] == ["alice/rain", "alice/wind"]
        assert _ids(indexed, '"weather station" or tide')[0] == "postgresql"
    finally:
        one.stop()
        two.stop()


def test_another_instance_learns_of_changes_from_the_log(
    postgres: LocalPostgres, alice: Person
) -> None:
    database = fresh_database(postgres)
    first, one = run_server(database)
    second, two = run_server(database)
    try:
        _wait(f"{second}/v1/health", lambda h: h["data"]["keyword_index"] == "ready", "index")
        _publish_topics(alice, first)

        _wait(
            f"{second}/v1/search?q=harbour",
            lambda g: [r["id"] for r in g["data"]["results"]] == ["alice/tide"],
            "the publish to reach the second instance",
        )
        alice.run(
            lambda k: write(
                k,
                first,
                "visibility",
                {"kind": "tool", "id": "alice/tide", "visibility": "private"},
            )
        )
        _wait(
            f"{second}/v1/search?q=harbour",
            lambda g: g["data"]["results"] == [],
            "the private item to leave the second instance's index",
        )
    finally:
        one.stop()
        two.stop()


def test_vectors_and_queries_are_read_as_postgresql_writes_them() -> None:
    scores = parse_tsvector("'weather':5B,9 'tool':1A 'it''s':2")
    assert set(scores) == {"weather", "tool", "it's"}
    assert scores["tool"] == pytest.approx(1.0)
    assert scores["weather"] == pytest.approx(0.4 + 0.1)
    assert parse_tsquery("'weather' & 'station'") == ["weather", "station"]
    assert parse_tsquery("'weather' | 'station'") is None
    assert parse_tsquery("'weather' <-> 'station'") is None
    assert parse_tsquery("") is None


def test_a_changed_document_hides_its_snapshot_postings() -> None:
    index = KeywordIndex()
    index.load([("tool", "a/one", "'rain':1B"), ("tool", "a/two", "'rain':1D 'wind':2")], 0)
    assert [key for key, _ in index.top(["rain"], 5)] == [("tool", "a/one"), ("tool", "a/two")]
    index.apply(("tool", "a/one"), "'wind':1A")
    assert [key for key, _ in index.top(["rain"], 5)] == [("tool", "a/two")]
    assert [key for key, _ in index.top(["wind"], 5)] == [("tool", "a/one"), ("tool", "a/two")]
    index.apply(("tool", "a/two"), None)
    assert index.top(["rain", "wind"], 5) == []


def test_pruning_the_log_past_an_instance_makes_it_take_a_new_snapshot(
    postgres: LocalPostgres,
) -> None:
    import asyncio

    import psycopg
    from psycopg_pool import AsyncConnectionPool

    from kiwi_mcp.registry.ranked import IndexFeed
    from kiwi_mcp.registry.schema import migrate

    database = fresh_database(postgres)
    with psycopg.connect(database, autocommit=True) as conn:
        migrate(conn)
    feed = IndexFeed(database)
    feed.load()
    before = feed.index

    async def prune_twice() -> tuple[object, object]:
        async with AsyncConnectionPool(database, kwargs={"autocommit": True}) as pool:
            await feed.prune(pool)  # nothing old: the same snapshot
            kept = feed.index
            async with pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO changes (kind, id, at)"
                    " VALUES ('tool', 'a/b', now() - '2 days'::interval)"
                )
            await feed.prune(pool)  # an entry this instance never read is gone
            return kept, feed.index

    kept, after = asyncio.run(prune_twice())
    assert kept is before
    assert after is not before and after.ready
