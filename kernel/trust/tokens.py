"""Capability tokens (SPEC §9.2). The clock is injected: every time is a ``now`` argument.

Wire form: ``base64url(envelope JSON bytes) + "." + base64url(Ed25519 signature over those
bytes)``, no padding. The envelope is compact JSON (sorted keys, no spaces); the verifier
checks the signature over the bytes it received, never over a re-serialisation.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiwi_mcp.kernel.errors import ParseError, TokenInvalid
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
from kiwi_mcp.kernel.trust.encoding import b64url_decode, b64url_encode, compact_json, fingerprint

__all__ = ["CLOCK_SKEW_S", "TOKEN_VERSION", "CapabilityToken", "mint", "verify_token"]

TOKEN_VERSION: Final = 1
# Processes on one machine may read the clock a little apart; allow that much for iat.
CLOCK_SKEW_S: Final = 5.0
_MAX_TOKEN_CHARS: Final = 65536
_FIELDS: Final = ("aud", "caps", "depth", "exp", "iat", "iss", "jti", "parent", "sub", "v")


@lru_cache(maxsize=1024)
def _capset(caps: tuple[str, ...]) -> CapabilitySet:
    return CapabilitySet.from_strings(caps)


@dataclass(frozen=True, kw_only=True, slots=True)
class CapabilityToken:
    """A verified (or freshly minted) token's envelope."""

    v: int = TOKEN_VERSION
    jti: str
    iss: str
    sub: str
    aud: str
    iat: float
    exp: float
    caps: tuple[str, ...]
    parent: str | None = None
    depth: int = 0

    @classmethod
    def from_dict(cls, data: Any) -> CapabilityToken:
        """Check every field of an envelope. Raises TokenInvalid (malformed) naming the field."""
        if not isinstance(data, dict):
            raise _malformed("the envelope is not a JSON object")
        missing = [name for name in _FIELDS if name not in data]
        if missing:
            raise _malformed(f"missing field '{missing[0]}'")
        extra = sorted(set(data) - set(_FIELDS))
        if extra:
            raise _malformed(f"unknown field '{extra[0]}'")
        version = data["v"]
        if type(version) is not int or version != TOKEN_VERSION:
            raise TokenInvalid(
                f"unsupported token version {version!r} (this kernel reads {TOKEN_VERSION})"
            )
        for name in ("jti", "iss", "sub", "aud"):
            if not isinstance(data[name], str) or not data[name]:
                raise _malformed(f"field '{name}' must be a non-empty string")
        for name in ("iat", "exp"):
            if type(data[name]) not in (int, float) or not math.isfinite(data[name]):
                raise _malformed(f"field '{name}' must be a finite number")
        if data["parent"] is not None and not isinstance(data["parent"], str):
            raise _malformed("field 'parent' must be a string or null")
        if type(data["depth"]) is not int or data["depth"] < 0:
            raise _malformed("field 'depth' must be a non-negative integer")
        if (data["parent"] is None) != (data["depth"] == 0):
            raise _malformed("field 'depth' is 0 exactly when 'parent' is null")
        caps = data["caps"]
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise _malformed("field 'caps' must be a list of strings")
        try:
            _capset(tuple(caps))
        except ParseError as err:
            raise _malformed(f"caps: {err.message}") from None
        if data["exp"] <= data["iat"]:
            raise _malformed("field 'exp' is not after 'iat'")
        return cls(
            v=version,
            jti=data["jti"],
            iss=data["iss"],
            sub=data["sub"],
            aud=data["aud"],
            iat=float(data["iat"]),
            exp=float(data["exp"]),
            caps=tuple(caps),
            parent=data["parent"],
            depth=data["depth"],
        )

    def to_dict(self) -> dict[str, Any]:
        """The envelope (the inverse of ``from_dict``)."""
        return {
            "v": self.v,
            "jti": self.jti,
            "iss": self.iss,
            "sub": self.sub,
            "aud": self.aud,
            "iat": self.iat,
            "exp": self.exp,
            "caps": list(self.caps),
            "parent": self.parent,
            "depth": self.depth,
        }

    @property
    def capabilities(self) -> CapabilitySet:
        """The caps as a CapabilitySet (parsed once per distinct list)."""
        return _capset(self.caps)


@lru_cache(maxsize=1024)
def _check_signature(raw_public: bytes, payload: bytes, signature: bytes) -> None:
    """Ed25519 check over ``payload``; raises InvalidSignature.

    Only successes are cached (a raise is not): a thread's token is verified at every tool
    call, and the answer for the same key and bytes never changes.
    """
    Ed25519PublicKey.from_public_bytes(raw_public).verify(signature, payload)


def _malformed(why: str) -> TokenInvalid:
    return TokenInvalid(f"malformed token: {why}")


def mint(
    key: Ed25519PrivateKey,
    *,
    caps: Iterable[str],
    sub: str,
    aud: str,
    now: float,
    ttl_s: float,
    parent: CapabilityToken | None = None,
) -> tuple[CapabilityToken, str]:
    """Make and sign a token; returns (token, wire text).

    With a ``parent``, the caps are attenuated by the parent's (those it does not cover
    are dropped), ``exp`` is capped at the parent's, ``depth`` is one more and ``parent``
    names its jti. Raises ParseError for a cap that does not parse, TokenInvalid for an
    expired parent, ValueError for a non-positive ``ttl_s``.
    """
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    wanted = CapabilitySet.from_strings(caps)
    exp = now + ttl_s
    depth = 0
    parent_jti: str | None = None
    if parent is not None:
        if parent.exp <= now:
            raise TokenInvalid(
                f"cannot mint from parent token {parent.jti}: it expired",
                hint="Mint a fresh parent token first.",
            )
        wanted = parent.capabilities.attenuate(wanted.caps)
        exp = min(exp, parent.exp)
        depth = parent.depth + 1
        parent_jti = parent.jti
    token = CapabilityToken(
        jti=secrets.token_hex(16),
        iss=fingerprint(key.public_key()),
        sub=sub,
        aud=aud,
        iat=float(now),
        exp=float(exp),
        caps=tuple(wanted.to_list()),
        parent=parent_jti,
        depth=depth,
    )
    payload = compact_json(token.to_dict())
    return token, f"{b64url_encode(payload)}.{b64url_encode(key.sign(payload))}"


def verify_token(
    text: str,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    audience: str,
    now: float,
    parent: CapabilityToken | None = None,
) -> CapabilityToken:
    """Check a token's form, signer, signature, times, audience and (with ``parent``) lineage.

    Raises TokenInvalid with the reason: malformed, unsupported version, unknown signer,
    bad signature, expired, not yet valid (``iat`` more than ``CLOCK_SKEW_S`` ahead),
    wrong audience; with a parent: caps it does not cover (named), a later ``exp``, or a
    ``parent``/``depth`` that does not follow it. Without ``parent`` the lineage is not
    checked.
    """
    if not isinstance(text, str) or len(text) > _MAX_TOKEN_CHARS:
        raise _malformed("expected a string of at most 64 KiB")
    head, dot, tail = text.partition(".")
    if not dot or "." in tail:
        raise _malformed("expected '<payload>.<signature>'")
    try:
        payload = b64url_decode(head)
        signature = b64url_decode(tail)
    except ValueError:
        raise _malformed("payload or signature is not base64url") from None
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _malformed("the payload is not JSON") from None
    token = CapabilityToken.from_dict(data)
    public = trusted_keys.get(token.iss)
    if public is None:
        raise TokenInvalid(
            f"token signed by unknown key {token.iss}",
            hint="Trust the signer with 'kiwi trust add <public-key-file>', or mint a new token.",
        )
    try:
        _check_signature(public.public_bytes_raw(), payload, signature)
    except InvalidSignature:
        raise TokenInvalid(f"token signature does not verify with key {token.iss}") from None
    if now >= token.exp:
        raise TokenInvalid(f"token expired at {token.exp:.3f} (now {now:.3f})")
    if token.iat > now + CLOCK_SKEW_S:
        raise TokenInvalid(f"token not yet valid: issued at {token.iat:.3f} (now {now:.3f})")
    if token.aud != audience:
        raise TokenInvalid(f"token audience is '{token.aud}', expected '{audience}'")
    if parent is not None:
        _check_lineage(token, parent)
    return token


def _check_lineage(token: CapabilityToken, parent: CapabilityToken) -> None:
    if token.parent != parent.jti:
        raise TokenInvalid(f"token's parent is {token.parent!r}, not the given parent {parent.jti}")
    if token.depth != parent.depth + 1:
        raise TokenInvalid(
            f"token depth {token.depth} does not follow its parent's depth {parent.depth}"
        )
    if token.exp > parent.exp:
        raise TokenInvalid(
            f"token expires at {token.exp:.3f}, later than its parent ({parent.exp:.3f})"
        )
    wider = parent.capabilities.missing(token.caps)
    if wider:
        raise TokenInvalid(f"token caps not covered by its parent: {', '.join(wider)}")
