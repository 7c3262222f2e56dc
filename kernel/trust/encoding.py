"""Small shared encodings of the trust layer: base64url, key fingerprints, compact JSON.

Compact JSON is ``json.dumps`` with sorted keys and no spaces, the bytes tokens are signed
over and audit lines are chained by. It is not RFC 8785 canonical JSON: keys sort by code
point, not UTF-16 unit, and floats are written as Python writes them. That one, for hashes
other programs must reproduce, is ``kernel/core/canonical.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["b64url_decode", "b64url_encode", "compact_json", "fingerprint"]

_B64URL_RE: Final = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of ``b64url_encode``: only the canonical encoding is accepted.

    Raises ValueError otherwise (so a token or signature has exactly one spelling).
    """
    if not _B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if b64url_encode(data) != text:
        raise ValueError("not canonical base64url")
    return data


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 hex of the raw 32-byte public key."""
    # imported here: the audit log needs only ``compact_json``, and cryptography costs ~15 ms
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


#: One encoder for every call (``json.dumps`` with options builds a new one each time).
_COMPACT: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def compact_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8 — ``json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False, allow_nan=False)``.

    Raises TypeError for values JSON cannot hold, ValueError for NaN and infinities.
    """
    return _COMPACT.encode(value).encode("utf-8")
