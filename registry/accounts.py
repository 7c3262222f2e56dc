"""Publishers are keys (SPEC §16): challenge, signed answer, name bound to fingerprint, token.

Everything lives in the database (challenges, publishers, token digests), so any instance can
answer the second half of a login another instance started. Only SHA-256 digests of bearer
tokens are stored; the token itself is shown once, to the client that logged in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from kiwi_mcp.kernel.errors import AuthRequired, PermissionDenied, UsageError
from kiwi_mcp.kernel.trust.encoding import b64url_decode, fingerprint
from kiwi_mcp.kernel.trust.keys import load_public_pem

__all__ = ["CHALLENGE_PREFIX", "Publisher", "authenticate", "challenge", "login"]

CHALLENGE_PREFIX: Final = "kiwi-registry-login:v1:"
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}\Z")
_CHALLENGE_TTL_S: Final = 300
_LOGIN_HINT: Final = "Run 'kiwi registry login <url> --name <name>' to get a fresh token."


@dataclass(frozen=True, kw_only=True, slots=True)
class Publisher:
    """The logged-in publisher behind a bearer token."""

    name: str
    fingerprint: str
    public_key: str
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "expires_at": self.expires_at.isoformat(),
        }


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(
            f"name: {name!r} is not a publisher name",
            hint="Use 1-64 of a-z 0-9 _ . - starting with a letter or digit.",
            details={"field": "name"},
        )
    return name


async def challenge(pool: AsyncConnectionPool[Any], body: dict[str, Any]) -> dict[str, Any]:
    """Start a login: remember a nonce for (name, key) and return the text to sign.

    Raises UsageError for a bad name, ParseError for a key that is not Ed25519 PEM.
    """
    name = _check_name(body.get("name"))
    pem = body.get("public_key")
    key = load_public_pem(pem.encode() if isinstance(pem, str) else b"", source="public_key")
    fp = fingerprint(key)
    nonce = secrets.token_urlsafe(24)
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "INSERT INTO challenges (nonce, name, fingerprint, public_key, expires_at)"
                " VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s))"
                " RETURNING expires_at",
                (nonce, name, fp, pem, _CHALLENGE_TTL_S),
            )
        ).fetchone()
        await conn.execute("DELETE FROM challenges WHERE expires_at < now()")
    assert row is not None
    return {
        "challenge": f"{CHALLENGE_PREFIX}{nonce}:{name}:{fp}",
        "expires_at": row[0].isoformat(),
    }


async def login(
    pool: AsyncConnectionPool[Any], body: dict[str, Any], *, token_ttl_s: int
) -> dict[str, Any]:
    """Finish a login: check the signed challenge, bind or check the name, issue a token.

    Raises:
        UsageError: a malformed challenge or signature field.
        AuthRequired: the challenge is unknown, used or expired, or the signature is wrong.
        PermissionDenied: the name is bound to another key (``details.reason: name_taken``),
            or this key already publishes under another name (``key_bound``).
    """
    text = body.get("challenge")
    signature = body.get("signature")
    if not isinstance(text, str) or not text.startswith(CHALLENGE_PREFIX):
        raise UsageError(
            "challenge: expected the text the server handed out", details={"field": "challenge"}
        )
    if not isinstance(signature, str):
        raise UsageError("signature: expected base64url text", details={"field": "signature"})
    nonce = text[len(CHALLENGE_PREFIX) :].split(":", 1)[0]
    async with pool.connection() as conn, conn.transaction():
        row = await (
            await conn.execute(
                "DELETE FROM challenges WHERE nonce = %s AND expires_at > now()"
                " RETURNING name, fingerprint, public_key",
                (nonce,),
            )
        ).fetchone()
        if row is None:
            raise AuthRequired("the login challenge is unknown, used or expired", hint=_LOGIN_HINT)
        name, fp, pem = row
        if text != f"{CHALLENGE_PREFIX}{nonce}:{name}:{fp}":
            raise AuthRequired("the signed text is not the challenge handed out", hint=_LOGIN_HINT)
        try:
            load_public_pem(pem.encode(), source="public_key").verify(
                b64url_decode(signature), text.encode()
            )
        except (InvalidSignature, ValueError):
            raise AuthRequired(
                "the challenge's signature does not verify with the key it was asked for",
                hint="Sign with the key whose public half you sent ('kiwi keys show').",
            ) from None
        await _bind(conn, name, fp, pem)
        token = "kr1_" + secrets.token_urlsafe(32)
        got = await (
            await conn.execute(
                "INSERT INTO tokens (token_hash, publisher, expires_at)"
                " VALUES (%s, %s, now() + make_interval(secs => %s)) RETURNING expires_at",
                (token_digest(token), name, token_ttl_s),
            )
        ).fetchone()
        await conn.execute("DELETE FROM tokens WHERE expires_at < now() - interval '1 day'")
    assert got is not None
    return {
        "token": token,
        "expires_at": got[0].timestamp(),
        "name": name,
        "fingerprint": fp,
    }


async def _bind(conn: AsyncConnection[Any], name: str, fp: str, pem: str) -> None:
    """The first login binds ``name`` to the key; later ones must use the same key."""
    bound = await (
        await conn.execute("SELECT fingerprint FROM publishers WHERE name = %s FOR UPDATE", (name,))
    ).fetchone()
    if bound is not None:
        if bound[0] != fp:
            raise PermissionDenied(
                f"the publisher name '{name}' is bound to another key ({bound[0][:16]}…)",
                hint="Log in with the key that first used this name, or choose another name.",
                details={"reason": "name_taken", "name": name},
            )
        return
    other = await (
        await conn.execute("SELECT name FROM publishers WHERE fingerprint = %s", (fp,))
    ).fetchone()
    if other is not None:
        raise PermissionDenied(
            f"this key already publishes as '{other[0]}'",
            hint=f"Log in with --name {other[0]}.",
            details={"reason": "key_bound", "name": other[0]},
        )
    await conn.execute(
        "INSERT INTO publishers (name, fingerprint, public_key) VALUES (%s, %s, %s)",
        (name, fp, pem),
    )


async def authenticate(conn: AsyncConnection[Any], header: str | None) -> Publisher:
    """The publisher behind ``Authorization: Bearer <token>``.

    Raises AuthRequired when the header is missing, the token unknown or expired.
    """
    if not header or not header.startswith("Bearer "):
        raise AuthRequired(
            "this action needs a registry login (no bearer token sent)", hint=_LOGIN_HINT
        )
    row = await (
        await conn.execute(
            "SELECT p.name, p.fingerprint, p.public_key, t.expires_at, t.expires_at > now()"
            " FROM tokens t JOIN publishers p ON p.name = t.publisher WHERE t.token_hash = %s",
            (token_digest(header[len("Bearer ") :].strip()),),
        )
    ).fetchone()
    if row is None:
        raise AuthRequired("the registry does not know this token", hint=_LOGIN_HINT)
    if not row[4]:
        raise AuthRequired(
            f"the registry token expired at {row[3].isoformat()}",
            hint=_LOGIN_HINT,
            details={"reason": "token_expired"},
        )
    return Publisher(name=row[0], fingerprint=row[1], public_key=row[2], expires_at=row[3])
