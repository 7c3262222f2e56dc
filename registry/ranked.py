"""Ranked search through the instance's keyword index, and keeping that index fresh.

``search`` asks PostgreSQL to parse the query (so its lexemes are the ones ``items.search``
holds); an AND of plain words is ranked by the index, the rows themselves (and the trigram
matches on names) are read from the database, so a result is never one the database no
longer has public. Anything else, or an index still loading, is PostgreSQL's own ranking.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import OrderedDict
from typing import Any, Final

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from kiwi_mcp.registry import catalog
from kiwi_mcp.registry.keyword_index import KeywordIndex, parse_tsquery

__all__ = ["IndexFeed", "search"]

logger = logging.getLogger("kiwi.registry")

_BATCH: Final = 5000
_PARSED_KEPT: Final = 4096
_PRUNE_EVERY: Final = 1000  # polls (≈ 200 s)
_KEEP_LOG: Final = "1 day"


class IndexFeed:
    """The keyword index of one instance and the task that tails the change log."""

    def __init__(self, database: str, *, poll_s: float = 0.2) -> None:
        self.database = database
        self.index = KeywordIndex()
        self.poll_s = poll_s
        self._lock = asyncio.Lock()
        self._parsed: OrderedDict[str, list[str] | None] = OrderedDict()

    async def terms(self, conn: AsyncConnection[Any], text: str) -> list[str] | None:
        """PostgreSQL's lexemes for ``text`` when it is an AND of plain words, else None.

        Memoized (a pure function of the text under the fixed ``english`` configuration), so
        a repeated query costs one round trip, not two.
        """
        if text in self._parsed:
            self._parsed.move_to_end(text)
            return self._parsed[text]
        row = await (
            await conn.execute("SELECT websearch_to_tsquery('english', %s)::text", (text,))
        ).fetchone()
        terms = parse_tsquery(row[0]) if row else None
        self._parsed[text] = terms
        if len(self._parsed) > _PARSED_KEPT:
            self._parsed.popitem(last=False)
        return terms

    def load(self) -> None:
        """Take the snapshot (in a worker thread: it parses every public item's vector)."""
        with psycopg.connect(self.database) as conn:
            row = conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()
            low_water = int(row[0]) if row else 0
            fresh = KeywordIndex()
            with conn.cursor(name="kiwi_index_load") as cursor:
                cursor.itersize = _BATCH
                cursor.execute(
                    "SELECT kind, id, search::text FROM items WHERE visibility = 'public'"
                )
                fresh.load(cursor, low_water)
        self.index = fresh  # swapped whole: a reload never shows a half-built index

    async def run(self, pool: AsyncConnectionPool[Any]) -> None:
        """Load, then poll the change log until cancelled."""
        await asyncio.to_thread(self.load)
        # the snapshot is long-lived: keep the collector from walking it on every full pass
        gc.freeze()
        polls = 0
        while True:
            try:
                await self.sync(pool)
                polls += 1
                if polls % _PRUNE_EVERY == 0:
                    await self.prune(pool)
            except psycopg.Error:
                logger.warning("registry: the keyword index could not read the change log")
            await asyncio.sleep(self.poll_s)

    async def prune(self, pool: AsyncConnectionPool[Any]) -> None:
        """Drop log entries a day old; an instance whose next entry is gone (it fell that
        far behind) takes a new snapshot instead."""
        async with pool.connection() as conn:
            row = await (
                await conn.execute(
                    "WITH gone AS (DELETE FROM changes"
                    f" WHERE at < now() - interval '{_KEEP_LOG}' RETURNING seq)"
                    " SELECT max(seq) FROM gone"
                )
            ).fetchone()
        dropped = row[0] if row else None
        if dropped is not None and dropped > self.index.low_water:
            await asyncio.to_thread(self.load)

    async def sync(self, pool: AsyncConnectionPool[Any]) -> None:
        """Apply every change logged since the last sync (no-op while loading)."""
        if not self.index.ready:
            return
        async with self._lock, pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT seq, extract(epoch FROM at)::float8, kind, id FROM changes"
                    " WHERE seq > %s ORDER BY seq LIMIT %s",
                    (self.index.low_water, _BATCH),
                )
            ).fetchall()
            fresh = set(self.index.pending((r[0], r[1]) for r in rows))
            keys = sorted({(r[2], r[3]) for r in rows if r[0] in fresh})
            if not keys:
                return
            got = await (
                await conn.execute(
                    "SELECT i.kind, i.id, i.search::text FROM items i"
                    " JOIN unnest(%s::text[], %s::text[]) AS c(kind, id)"
                    " ON c.kind = i.kind AND c.id = i.id WHERE i.visibility = 'public'",
                    ([k for k, _ in keys], [i for _, i in keys]),
                )
            ).fetchall()
            vectors = {(r[0], r[1]): r[2] for r in got}
            for key in keys:
                self.index.apply(key, vectors.get(key))


async def search(
    pool: AsyncConnectionPool[Any], feed: IndexFeed | None, query: dict[str, Any]
) -> dict[str, Any]:
    """Ranked public items for ``query['q']`` (see the module doc). Raises UsageError."""
    if feed is None or not feed.index.ready:
        return await catalog.search(pool, query)
    text = catalog.query_text(query)
    limit = catalog.limit_of(query.get("limit"))
    kind = query.get("kind") or None
    async with pool.connection() as conn:
        terms = await feed.terms(conn, text)
        if terms is None:
            return await catalog.search(pool, query)
        best = feed.index.top(terms, limit, kind)
        rows = await (
            await conn.execute(
                "WITH cand AS (SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::text[],"
                " %(scores)s::float8[]) AS c(kind, id, score)),"
                " names AS (SELECT kind, id FROM items"
                " WHERE visibility = 'public' AND latest IS NOT NULL"
                " AND (%(kind)s::text IS NULL OR kind = %(kind)s) AND id %% %(q)s"
                " ORDER BY similarity(id, %(q)s) DESC LIMIT %(limit)s),"
                " wanted AS (SELECT kind, id FROM cand UNION SELECT kind, id FROM names)"
                f" SELECT {catalog.ITEM_COLUMNS},"
                " coalesce(c.score, 0) + similarity(i.id, %(q)s) AS score"
                " FROM wanted w JOIN items i ON i.kind = w.kind AND i.id = w.id"
                " LEFT JOIN cand c ON c.kind = i.kind AND c.id = i.id"
                " WHERE i.visibility = 'public' AND i.latest IS NOT NULL"
                " ORDER BY score DESC, i.id LIMIT %(limit)s",
                {
                    "kinds": [k for (k, _), _ in best],
                    "ids": [i for (_, i), _ in best],
                    "scores": [s for _, s in best],
                    "kind": kind,
                    "q": text,
                    "limit": limit,
                },
            )
        ).fetchall()
    return catalog.search_results(text, rows, ranked_by="index")
