"""Writes to the catalog (SPEC §16): publish, update, visibility, delete.

Every write is one transaction and appends to ``changes`` (the log each instance's keyword
index tails). An id belongs to its first publisher (its ``items`` row, taken ``FOR
UPDATE``); a stored version is never rewritten: the same version again is accepted only with
identical bytes, the item's and its extra files' alike.
"""

from __future__ import annotations

from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from kiwi_mcp.kernel.errors import PermissionDenied, UsageError
from kiwi_mcp.registry.accounts import Publisher
from kiwi_mcp.registry.catalog import ITEM_COLUMNS, item_dict, not_found, text_field
from kiwi_mcp.registry.items import Checked, check_item, files_field

__all__ = ["VISIBILITIES", "delete_version", "publish", "set_visibility", "update", "upload"]

VISIBILITIES: Final = ("public", "private", "unlisted")


_VECTOR: Final = (
    "setweight(to_tsvector('english', %(id_words)s), 'A')"
    " || setweight(to_tsvector('english', %(description)s), 'B')"
    " || setweight(to_tsvector('english', %(tags)s), 'C')"
    " || setweight(to_tsvector('english', %(body)s), 'D')"
)


async def _changed(conn: AsyncConnection[Any], kind: str, item_id: str) -> None:
    """Log a change to an item's searchable state, in the writing transaction."""
    await conn.execute("INSERT INTO changes (kind, id) VALUES (%s, %s)", (kind, item_id))


def _id_words(item_id: str) -> str:
    words = item_id
    for sep in "/_-.":
        words = words.replace(sep, " ")
    return f"{item_id} {words}"


async def _owned_row(
    conn: AsyncConnection[Any], kind: str, item_id: str, who: Publisher, *, lock: bool = True
) -> tuple[Any, ...]:
    """The item's row when ``who`` owns it (locked for the transaction)."""
    row = await (
        await conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM items i WHERE kind = %s AND id = %s"
            + (" FOR UPDATE" if lock else ""),
            (kind, item_id),
        )
    ).fetchone()
    if row is None:
        raise not_found(kind, item_id)
    if row[2] != who.name:
        raise PermissionDenied(
            f"{kind} '{item_id}' belongs to publisher '{row[2]}', not to '{who.name}'",
            hint="Publish under an id of your own (e.g. prefixed with your name).",
            details={"reason": "id_owned", "owner": row[2]},
        )
    return tuple(row)


async def publish(
    pool: AsyncConnectionPool[Any], who: Publisher, body: dict[str, Any]
) -> dict[str, Any]:
    """Publish a signed item version under ``who`` (one transaction); a draft of the same
    version is replaced by it.

    Raises the errors of ``check_item``, PermissionDenied (``id_owned``,
    ``version_immutable``) and UsageError for a bad visibility.
    """
    return await _store(pool, who, body, draft=False)


async def upload(
    pool: AsyncConnectionPool[Any], who: Publisher, body: dict[str, Any]
) -> dict[str, Any]:
    """Store a signed version as a draft: checked like a publish, seen only by ``who``,
    replaceable until it is published. Raises like ``publish``."""
    return await _store(pool, who, body, draft=True)


async def _store(
    pool: AsyncConnectionPool[Any], who: Publisher, body: dict[str, Any], *, draft: bool
) -> dict[str, Any]:
    kind, item_id, ext = text_field(body, "kind"), text_field(body, "id"), text_field(body, "ext")
    content = text_field(body, "content").encode("utf-8")
    visibility = body.get("visibility", "public")
    if visibility not in VISIBILITIES:
        raise UsageError(
            f"visibility: expected one of {', '.join(VISIBILITIES)}",
            details={"field": "visibility"},
        )
    checked = check_item(
        kind,
        item_id,
        ext,
        content,
        fingerprint=who.fingerprint,
        public_key=who.public_key,
        files=files_field(body),
    )
    state = "draft" if draft else "published"
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO items (kind, id, publisher, visibility) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (kind, item_id, who.name, visibility),
        )
        await _owned_row(conn, kind, item_id, who)
        existing = await (
            await conn.execute(
                "SELECT content, state, files FROM versions WHERE kind = %s AND id = %s"
                " AND version = %s FOR UPDATE",
                (kind, item_id, checked.version),
            )
        ).fetchone()
        if existing is not None:
            same = bytes(existing[0]) == content and existing[2] == checked.files_dict()
            if existing[1] == "published":
                if same:
                    return _published(checked, who, status="unchanged", state="published")
                raise PermissionDenied(
                    f"{kind} '{item_id}' version {checked.version} is already published with"
                    " other bytes (of the item or of its extra files); a published version"
                    " never changes",
                    hint="Raise the item's version, sign it, and publish again.",
                    item_id=item_id,
                    details={"reason": "version_immutable", "version": checked.version},
                )
            if draft and same:
                return _published(checked, who, status="unchanged", state="draft")
            await conn.execute(
                "DELETE FROM versions WHERE kind = %s AND id = %s AND version = %s",
                (kind, item_id, checked.version),
            )
        await _insert_version(conn, checked, content, who, state=state)
        if not draft:
            await _changed(conn, kind, item_id)
    return _published(checked, who, status="uploaded" if draft else "published", state=state)


async def _insert_version(
    conn: AsyncConnection[Any], checked: Checked, content: bytes, who: Publisher, *, state: str
) -> None:
    await conn.execute(
        "INSERT INTO versions (kind, id, version, ext, content, content_hash, signature_line,"
        " signer_fingerprint, publisher, depends_on, state, files) VALUES (%s, %s, %s, %s, %s,"
        " %s, %s, %s, %s, %s, %s, %s)",
        (
            checked.kind,
            checked.id,
            checked.version,
            checked.ext,
            content,
            checked.content_hash,
            checked.signature_line,
            who.fingerprint,
            who.name,
            list(checked.depends_on),
            state,
            Jsonb(checked.files_dict()),
        ),
    )
    if state == "draft":
        return
    await conn.execute(
        "UPDATE items SET latest = %(version)s, description = %(description)s,"
        " tags = %(tag_list)s, updated = now(), search = "
        + _VECTOR
        + " WHERE kind = %(kind)s AND id = %(id)s",
        {
            "version": checked.version,
            "description": checked.description,
            "tag_list": list(checked.tags),
            "id_words": _id_words(checked.id),
            "tags": " ".join(checked.tags),
            "body": checked.body_text,
            "kind": checked.kind,
            "id": checked.id,
        },
    )


def _published(checked: Checked, who: Publisher, *, status: str, state: str) -> dict[str, Any]:
    return {
        "status": status,
        "state": state,
        "kind": checked.kind,
        "id": checked.id,
        "version": checked.version,
        "content_hash": checked.content_hash,
        "publisher": who.name,
    }


async def update(
    pool: AsyncConnectionPool[Any], who: Publisher, body: dict[str, Any]
) -> dict[str, Any]:
    """Change an item's metadata (description, tags); versions stay as they are."""
    kind, item_id = text_field(body, "kind"), text_field(body, "id")
    async with pool.connection() as conn, conn.transaction():
        row = await _owned_row(conn, kind, item_id, who)
        description = body.get("description", row[4])
        tags = body.get("tags", list(row[5]))
        if not isinstance(description, str):
            raise UsageError("description: expected a string", details={"field": "description"})
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise UsageError("tags: expected a list of strings", details={"field": "tags"})
        body_row = await (
            await conn.execute(
                "SELECT convert_from(content, 'UTF8') FROM versions WHERE kind = %s AND id = %s"
                " AND version = %s",
                (kind, item_id, row[6]),
            )
        ).fetchone()
        await conn.execute(
            "UPDATE items SET description = %(description)s, tags = %(tag_list)s,"
            " updated = now(), search = " + _VECTOR + " WHERE kind = %(kind)s AND id = %(id)s",
            {
                "description": description,
                "tag_list": tags,
                "tags": " ".join(tags),
                "id_words": _id_words(item_id),
                "body": body_row[0][:20_000] if body_row else "",
                "kind": kind,
                "id": item_id,
            },
        )
        await _changed(conn, kind, item_id)
        row = await _owned_row(conn, kind, item_id, who)
    return item_dict(row)


async def set_visibility(
    pool: AsyncConnectionPool[Any], who: Publisher, body: dict[str, Any]
) -> dict[str, Any]:
    """Make an item public, private or unlisted."""
    kind, item_id, visibility = (
        text_field(body, "kind"),
        text_field(body, "id"),
        body.get("visibility"),
    )
    if visibility not in VISIBILITIES:
        raise UsageError(
            f"visibility: expected one of {', '.join(VISIBILITIES)}",
            details={"field": "visibility"},
        )
    async with pool.connection() as conn, conn.transaction():
        await _owned_row(conn, kind, item_id, who)
        await conn.execute(
            "UPDATE items SET visibility = %s, updated = now() WHERE kind = %s AND id = %s",
            (visibility, kind, item_id),
        )
        await _changed(conn, kind, item_id)
        row = await _owned_row(conn, kind, item_id, who)
    return item_dict(row)


async def delete_version(
    pool: AsyncConnectionPool[Any], who: Publisher, body: dict[str, Any]
) -> dict[str, Any]:
    """Delete one version; refused while other published items depend on the item."""
    kind, item_id, version = (
        text_field(body, "kind"),
        text_field(body, "id"),
        text_field(body, "version"),
    )
    async with pool.connection() as conn, conn.transaction():
        await _owned_row(conn, kind, item_id, who)
        dependants = await (
            await conn.execute(
                "SELECT DISTINCT kind || ':' || id FROM versions WHERE depends_on @> %s"
                " AND state = 'published' AND NOT (kind = %s AND id = %s) ORDER BY 1 LIMIT 10",
                ([f"{kind}:{item_id}"], kind, item_id),
            )
        ).fetchall()
        if dependants:
            names = [r[0] for r in dependants]
            raise PermissionDenied(
                f"{kind} '{item_id}' cannot be deleted: {', '.join(names)} depend on it",
                hint="Unlist it instead ('kiwi registry unlist'), or ask their publishers.",
                item_id=item_id,
                details={"reason": "has_dependants", "dependants": names},
            )
        gone = await conn.execute(
            "DELETE FROM versions WHERE kind = %s AND id = %s AND version = %s",
            (kind, item_id, version),
        )
        if gone.rowcount == 0:
            raise not_found(kind, item_id, version)
        left = await (
            await conn.execute(
                "SELECT count(*), (SELECT version FROM versions WHERE kind = %(kind)s"
                " AND id = %(id)s AND state = 'published' ORDER BY created DESC LIMIT 1)"
                " FROM versions WHERE kind = %(kind)s AND id = %(id)s",
                {"kind": kind, "id": item_id},
            )
        ).fetchone()
        latest = left[1] if left else None
        if not left or left[0] == 0:
            await conn.execute("DELETE FROM items WHERE kind = %s AND id = %s", (kind, item_id))
        else:
            await conn.execute(
                "UPDATE items SET latest = %s, updated = now() WHERE kind = %s AND id = %s",
                (latest, kind, item_id),
            )
        await _changed(conn, kind, item_id)
    return {"kind": kind, "id": item_id, "deleted": version, "latest": latest}
