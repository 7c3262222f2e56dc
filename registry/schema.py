"""The registry's tables and their forward migrations (SPEC §16).

``schema_version`` holds one row per applied migration. ``migrate`` applies the missing ones
in order, each in its own transaction, under an advisory lock so that several instances
starting at once on one database apply each migration exactly once. Migrations are only ever
appended: an applied one never changes.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

__all__ = ["MIGRATIONS", "migrate", "schema_version"]

_LOCK_KEY: Final = 0x6B697769  # "kiwi": the advisory lock every instance takes to migrate

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: publishers are keys; items, immutable versions, visibility, downloads, search
    """
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE TABLE publishers (
        name        text PRIMARY KEY,
        fingerprint text NOT NULL UNIQUE,
        public_key  text NOT NULL,
        created     timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE challenges (
        nonce       text PRIMARY KEY,
        name        text NOT NULL,
        fingerprint text NOT NULL,
        public_key  text NOT NULL,
        expires_at  timestamptz NOT NULL
    );
    CREATE TABLE tokens (
        token_hash  text PRIMARY KEY,
        publisher   text NOT NULL REFERENCES publishers(name),
        expires_at  timestamptz NOT NULL
    );
    CREATE TABLE items (
        kind        text NOT NULL,
        id          text NOT NULL,
        publisher   text NOT NULL REFERENCES publishers(name),
        visibility  text NOT NULL DEFAULT 'public'
                    CHECK (visibility IN ('public', 'private', 'unlisted')),
        description text NOT NULL DEFAULT '',
        tags        text[] NOT NULL DEFAULT '{}',
        latest      text,
        downloads   bigint NOT NULL DEFAULT 0,
        created     timestamptz NOT NULL DEFAULT now(),
        updated     timestamptz NOT NULL DEFAULT now(),
        search      tsvector NOT NULL DEFAULT ''::tsvector,
        PRIMARY KEY (kind, id)
    );
    CREATE INDEX items_search ON items USING gin (search);
    CREATE INDEX items_id_trgm ON items USING gin (id gin_trgm_ops);
    CREATE INDEX items_publisher ON items (publisher);
    CREATE TABLE versions (
        kind               text NOT NULL,
        id                 text NOT NULL,
        version            text NOT NULL,
        ext                text NOT NULL,
        content            bytea NOT NULL,
        content_hash       text NOT NULL,
        signature_line     text NOT NULL,
        signer_fingerprint text NOT NULL,
        publisher          text NOT NULL REFERENCES publishers(name),
        depends_on         text[] NOT NULL DEFAULT '{}',
        downloads          bigint NOT NULL DEFAULT 0,
        created            timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, id, version),
        FOREIGN KEY (kind, id) REFERENCES items (kind, id)
    );
    CREATE INDEX versions_depends_on ON versions USING gin (depends_on);
    """,
    # 2: the change log every write appends to; each instance's keyword index tails it
    """
    CREATE TABLE changes (
        seq  bigserial PRIMARY KEY,
        kind text NOT NULL,
        id   text NOT NULL,
        at   timestamptz NOT NULL DEFAULT now()
    );
    """,
    # 3: drafts (``upload``): a version seen only by its publisher until it is published
    """
    ALTER TABLE versions ADD COLUMN state text NOT NULL DEFAULT 'published'
        CHECK (state IN ('draft', 'published'));
    """,
    # 4: a tool's extra files (``files:``): relative path → UTF-8 text, covered by its hash
    """
    ALTER TABLE versions ADD COLUMN files jsonb NOT NULL DEFAULT '{}'::jsonb;
    """,
)


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The highest applied migration (0 for an empty database)."""
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    got = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(got[0]) if got else 0


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Apply every missing migration; returns the schema version now.

    Raises psycopg.Error when a migration fails (its transaction is rolled back).
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
        )
        current = schema_version(conn)
        for number, sql in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            conn.execute(sql.encode())
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
            current = number
    return current
