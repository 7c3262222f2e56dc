"""Reading the catalog (SPEC §16): get, versions, download, list, stats, PostgreSQL search.

A private item is seen only by its publisher; an unlisted one is fetched by id but neither
listed nor found. The writes are in ``publishing``.
"""

from __future__ import annotations

from typing import Any, Final

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from kiwi_mcp.kernel.errors import ItemNotFound, UsageError
from kiwi_mcp.registry.accounts import Publisher

__all__ = [
    "ITEM_COLUMNS",
    "download",
    "get_item",
    "hidden",
    "item_dict",
    "limit_of",
    "list_items",
    "not_found",
    "query_text",
    "search",
    "search_results",
    "stats",
    "text_field",
    "versions",
]

_MAX_LIMIT: Final = 100

#: The ranked document: id words weigh most, then description, tags, body.


ITEM_COLUMNS: Final = (
    "i.kind, i.id, i.publisher, i.visibility, i.description, i.tags, i.latest, i.downloads,"
    " i.created, i.updated"
)


def item_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "kind": row[0],
        "id": row[1],
        "publisher": row[2],
        "visibility": row[3],
        "description": row[4],
        "tags": list(row[5]),
        "latest": row[6],
        "downloads": row[7],
        "created": row[8].isoformat(),
        "updated": row[9].isoformat(),
    }


def not_found(kind: str, item_id: str, version: str | None = None) -> ItemNotFound:
    what = f"{kind} '{item_id}'" + (f" version {version}" if version else "")
    return ItemNotFound(
        f"the registry has no {what}",
        hint=f"Run 'kiwi registry search {item_id.rsplit('/', 1)[-1]}' to find it.",
        item_id=item_id,
    )


def text_field(body: dict[str, Any], field: str, *, default: str | None = None) -> str:
    value = body.get(field, default)
    if not isinstance(value, str) or not value:
        raise UsageError(f"{field}: expected a non-empty string", details={"field": field})
    return value


def hidden(row: tuple[Any, ...], who: Publisher | None) -> bool:
    """An ``ITEM_COLUMNS`` row nobody but its publisher may see: private, or drafts only."""
    owner = who is not None and who.name == row[2]
    return not owner and (row[3] == "private" or row[6] is None)


async def _visible_row(
    conn: AsyncConnection[Any], kind: str, item_id: str, who: Publisher | None
) -> tuple[Any, ...]:
    row = await (
        await conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM items i WHERE kind = %s AND id = %s", (kind, item_id)
        )
    ).fetchone()
    if row is None or hidden(tuple(row), who):
        raise not_found(kind, item_id)
    return tuple(row)


async def get_item(
    pool: AsyncConnectionPool[Any], kind: str, item_id: str, who: Publisher | None
) -> dict[str, Any]:
    """An item's metadata and its latest version's hash and signer (one query).

    Raises ItemNotFound.
    """
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                f"SELECT {ITEM_COLUMNS}, v.content_hash, v.signer_fingerprint FROM items i"
                " LEFT JOIN versions v ON v.kind = i.kind AND v.id = i.id AND v.version = i.latest"
                " WHERE i.kind = %s AND i.id = %s",
                (kind, item_id),
            )
        ).fetchone()
    if row is None or hidden(tuple(row), who):
        raise not_found(kind, item_id)
    out = item_dict(tuple(row[:10]))
    out["content_hash"], out["signer_fingerprint"] = row[10], row[11]
    return out


async def versions(
    pool: AsyncConnectionPool[Any], kind: str, item_id: str, who: Publisher | None
) -> dict[str, Any]:
    """Every version of an item, newest first (drafts for their publisher only).

    Raises ItemNotFound.
    """
    async with pool.connection() as conn:
        row = await _visible_row(conn, kind, item_id, who)
        owner = who is not None and who.name == row[2]
        rows = await (
            await conn.execute(
                "SELECT version, content_hash, signer_fingerprint, downloads, created, state"
                " FROM versions WHERE kind = %s AND id = %s AND (state = 'published' OR %s)"
                " ORDER BY created DESC",
                (kind, item_id, owner),
            )
        ).fetchall()
    return {
        "kind": kind,
        "id": item_id,
        "versions": [
            {
                "version": r[0],
                "content_hash": r[1],
                "signer_fingerprint": r[2],
                "downloads": r[3],
                "created": r[4].isoformat(),
                "state": r[5],
            }
            for r in rows
        ],
    }


async def download(
    pool: AsyncConnectionPool[Any],
    kind: str,
    item_id: str,
    version: str | None,
    who: Publisher | None,
) -> dict[str, Any]:
    """One version's bytes and its extra files (``files``: relative path → text) with what
    the client needs to verify them; counts the download.

    Raises ItemNotFound.
    """
    async with pool.connection() as conn, conn.transaction():
        row = await _visible_row(conn, kind, item_id, who)
        owner = who is not None and who.name == row[2]
        wanted = version or row[6]
        got = await (
            await conn.execute(
                "UPDATE versions v SET downloads = v.downloads + 1 FROM publishers p"
                " WHERE v.kind = %s AND v.id = %s AND v.version = %s AND p.name = v.publisher"
                " AND (v.state = 'published' OR %s)"
                " RETURNING v.version, v.ext, convert_from(v.content, 'UTF8'), v.content_hash,"
                " v.signature_line, v.signer_fingerprint, v.publisher, p.fingerprint,"
                " p.public_key, v.files",
                (kind, item_id, wanted, owner),
            )
        ).fetchone()
        if got is None:
            raise not_found(kind, item_id, wanted)
        await conn.execute(
            "UPDATE items SET downloads = downloads + 1 WHERE kind = %s AND id = %s",
            (kind, item_id),
        )
    keys = (
        "version",
        "ext",
        "content",
        "content_hash",
        "signature_line",
        "signer_fingerprint",
        "publisher",
        "publisher_fingerprint",
        "publisher_key",
        "files",
    )
    return {"kind": kind, "id": item_id, **dict(zip(keys, got, strict=True))}


def limit_of(value: Any, default: int = 20) -> int:
    try:
        number = int(value) if value is not None else default
    except (TypeError, ValueError):
        raise UsageError("limit: expected an integer", details={"field": "limit"}) from None
    return max(1, min(number, _MAX_LIMIT))


async def list_items(
    pool: AsyncConnectionPool[Any], query: dict[str, Any], who: Publisher | None
) -> dict[str, Any]:
    """Public items (and the caller's own private ones), by id; filter by kind, publisher."""
    where = ["((i.visibility = 'public' AND i.latest IS NOT NULL) OR i.publisher = %(me)s)"]
    params: dict[str, Any] = {
        "me": who.name if who else None,
        "limit": limit_of(query.get("limit")),
        "offset": max(0, int(query.get("offset") or 0)),
    }
    for field in ("kind", "publisher"):
        if query.get(field):
            where.append(f"i.{field} = %({field})s")
            params[field] = query[field]
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                f"SELECT {ITEM_COLUMNS} FROM items i WHERE {' AND '.join(where)}"
                " ORDER BY i.kind, i.id LIMIT %(limit)s OFFSET %(offset)s",
                params,
            )
        ).fetchall()
    return {"items": [item_dict(tuple(r)) for r in rows]}


def query_text(query: dict[str, Any]) -> str:
    """The search words. Raises UsageError when there are none."""
    text = query.get("q")
    if not isinstance(text, str) or not text.strip():
        raise UsageError("q: expected search words", details={"field": "q"})
    return text


def search_results(text: str, rows: list[Any], *, ranked_by: str) -> dict[str, Any]:
    """Rows of ``ITEM_COLUMNS`` plus a score, as the search answer (tier: registry)."""
    results = []
    for r in rows:
        entry = item_dict(tuple(r[:10]))
        entry["score"] = round(float(r[10]), 6)
        entry["source"] = "registry"
        results.append(entry)
    return {"query": text, "ranked_by": ranked_by, "results": results}


async def search(pool: AsyncConnectionPool[Any], query: dict[str, Any]) -> dict[str, Any]:
    """Public items ranked by PostgreSQL: weighted full-text rank plus trigram similarity of
    the id. Raises UsageError for an empty query.
    """
    text = query_text(query)
    params: dict[str, Any] = {
        "q": text,
        "limit": limit_of(query.get("limit")),
        "kind": query.get("kind") or None,
    }
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                f"SELECT {ITEM_COLUMNS}, ts_rank(i.search, q) + similarity(i.id, %(q)s) AS score"
                " FROM items i, websearch_to_tsquery('english', %(q)s) q"
                " WHERE i.visibility = 'public' AND i.latest IS NOT NULL"
                " AND (%(kind)s::text IS NULL OR i.kind = %(kind)s)"
                " AND (i.search @@ q OR i.id %% %(q)s)"
                " ORDER BY score DESC, i.id LIMIT %(limit)s",
                params,
            )
        ).fetchall()
    return search_results(text, rows, ranked_by="postgresql")


async def stats(
    pool: AsyncConnectionPool[Any], kind: str, item_id: str, who: Publisher | None
) -> dict[str, Any]:
    """Download counts, in total and per version."""
    listed = await versions(pool, kind, item_id, who)
    per = {v["version"]: v["downloads"] for v in listed["versions"]}
    return {"kind": kind, "id": item_id, "downloads": sum(per.values()), "versions": per}
