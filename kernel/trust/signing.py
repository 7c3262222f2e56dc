"""Item signatures (SPEC §4.1, §9.3): hash, sign and verify, pure functions over bytes.

The line's format and place (first line, or second after a ``#!`` shebang) live in
``kiwi_mcp.kernel.core.signature_line``; ``SignatureLine`` and ``split_signature`` are
importable from here too. The content hash binds kind, id and body (the file without that
line) and the tool's extra files; the Ed25519 signature covers ``v1:<timestamp>:<hash>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiwi_mcp.kernel.core.signature_line import (
    SignatureLine,
    locate,
    parse_slot,
    signable,
    split_signature,
    with_line,
)
from kiwi_mcp.kernel.errors import IntegrityFailed, ParseError, SignatureMissing, SignatureUntrusted
from kiwi_mcp.kernel.trust.encoding import b64url_decode, b64url_encode, fingerprint

__all__ = [
    "KINDS",
    "SignatureLine",
    "Verification",
    "content_hash",
    "sign_item",
    "split_signature",
    "verify_item",
]

KINDS: Final = ("tool", "directive", "knowledge")
#: What else carries a signature line: operator files (``config``/``policy``, SPEC §9.4).
_HASHED: Final = (*KINDS, "config")

_TS_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


def content_hash(
    kind: str, item_id: str, body: bytes, extra_files: Sequence[tuple[str, bytes]] = ()
) -> str:
    """SHA-256 hex of an item (SPEC §4.1).

    Without extra files: ``sha256(b"kiwi-item-v1\\n" + kind + "\\n" + id + "\\n" + body)``.
    With extra files, the body is not length-prefixed, so appending frames to that stream
    would be ambiguous; instead the result is ``sha256(b"kiwi-files-v1\\n" + D + N + frames)``
    where D is the 32-byte digest above, N the file count and each frame (sorted by path)
    ``len(path) + path + len(data) + data``, every length an 8-byte big-endian integer and
    the path UTF-8. The two preimages start differently, so they never coincide.
    Raises ValueError for an unknown kind, a newline in the id, or a bad or repeated path.
    """
    if kind not in _HASHED:
        raise ValueError(f"unknown kind '{kind}' (expected one of {', '.join(_HASHED)})")
    if "\n" in item_id:
        raise ValueError("an item id may not contain a newline")
    head = b"kiwi-item-v1\n" + kind.encode() + b"\n" + item_id.encode("utf-8") + b"\n"
    digest = hashlib.sha256(head + body)
    if not extra_files:
        return digest.hexdigest()
    files = sorted(extra_files, key=lambda pair: pair[0])
    outer = hashlib.sha256(b"kiwi-files-v1\n" + digest.digest())
    outer.update(len(files).to_bytes(8, "big"))
    previous: str | None = None
    for path, data in files:
        _check_extra_path(path)
        if path == previous:
            raise ValueError(f"extra file '{path}' is listed twice")
        previous = path
        raw = path.encode("utf-8")
        outer.update(len(raw).to_bytes(8, "big") + raw + len(data).to_bytes(8, "big"))
        outer.update(data)
    return outer.hexdigest()


def _check_extra_path(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        raise ValueError(f"extra file path '{path}' must be relative and '/'-separated")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"extra file path '{path}' has an empty, '.' or '..' segment")


def sign_item(
    data: bytes,
    *,
    ext: str,
    kind: str,
    item_id: str,
    extra_files: Sequence[tuple[str, bytes]] = (),
    key: Ed25519PrivateKey,
    now: datetime,
) -> bytes:
    """The file's new bytes, carrying a signature line by ``key``.

    An unchanged file already signed by the same key comes back byte-for-byte (no
    timestamp churn). ``now`` must be timezone-aware. Raises ParseError for a malformed
    existing signature line and ValueError for a naive ``now`` or bad arguments.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start, end, slot = locate(data, ext)
    existing: SignatureLine | None = None
    body = data
    if slot is not None:
        # A damaged line is replaced: signing is how the user repairs it.
        try:
            existing = parse_slot(slot, ext)
        except ParseError:
            existing = None
        body = data[:start] + data[end:]
    body = signable(body)
    digest = content_hash(kind, item_id, body, extra_files)
    public = key.public_key()
    fp = fingerprint(public)
    if (
        existing is not None
        and existing.content_hash == digest
        and existing.fingerprint == fp
        and _signature_ok(public, existing)
    ):
        return data
    timestamp = now.astimezone(UTC).strftime(_TS_FORMAT)
    payload = f"v1:{timestamp}:{digest}".encode("ascii")
    line = SignatureLine(
        timestamp=timestamp,
        content_hash=digest,
        signature=b64url_encode(key.sign(payload)),
        fingerprint=fp,
    )
    return with_line(body, line, ext)


def _signature_ok(public: Ed25519PublicKey, line: SignatureLine) -> bool:
    try:
        public.verify(b64url_decode(line.signature), line.payload())
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, kw_only=True, slots=True)
class Verification:
    """The outcome of ``verify_item`` when the item may run."""

    status: Literal["verified", "unsigned", "unchecked"]
    fingerprint: str | None
    content_hash: str
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "fingerprint": self.fingerprint,
            "content_hash": self.content_hash,
            "warning": self.warning,
        }


def verify_item(
    data: bytes,
    *,
    ext: str,
    kind: str,
    item_id: str,
    extra_files: Sequence[tuple[str, bytes]] = (),
    policy: Literal["signed", "hash", "off"],
    trusted_keys: Mapping[str, Ed25519PublicKey],
) -> Verification:
    """Check an item against the verification policy (SPEC §9.3).

    ``signed``: raises SignatureMissing (no line), IntegrityFailed (hash differs, or the
    signature does not verify), SignatureUntrusted (signer not in ``trusted_keys``).
    ``hash``: an unsigned item passes with a warning; a present line's hash must match
    (IntegrityFailed); a trusted signer's signature is still checked; an untrusted one
    passes with a warning. ``off``: nothing is checked (status ``unchecked``, loud warning).
    ParseError for a malformed signature line under ``signed``/``hash``.
    """
    ref = f"{kind} '{item_id}'"
    sign_cmd = f"kiwi sign {kind} {item_id}"
    if policy == "off":
        try:
            line, body = split_signature(data, ext)
        except ParseError:
            line, body = None, data
        return Verification(
            status="unchecked",
            fingerprint=line.fingerprint if line else None,
            content_hash=content_hash(kind, item_id, body, extra_files),
            warning=f"KIWI_VERIFY=off: the signature and hash of {ref} were NOT checked"
            " (development only; unset KIWI_VERIFY to check them)",
        )
    if policy not in ("signed", "hash"):
        raise ValueError(f"unknown verification policy '{policy}'")
    line, body = split_signature(data, ext)
    digest = content_hash(kind, item_id, body, extra_files)
    if line is None:
        if policy == "signed":
            raise SignatureMissing(
                f"{ref} is not signed",
                hint=f"Sign it with '{sign_cmd}', or run with KIWI_VERIFY=hash.",
                item_id=item_id,
            )
        return Verification(
            status="unsigned",
            fingerprint=None,
            content_hash=digest,
            warning=f"{ref} is unsigned; running it because KIWI_VERIFY=hash"
            f" (sign it with '{sign_cmd}')",
        )
    if line.content_hash != digest:
        raise IntegrityFailed(
            f"{ref} changed after it was signed: the signature line expects hash"
            f" {line.content_hash}, the content hashes to {digest}",
            hint=f"Review the change, then '{sign_cmd}'.",
            item_id=item_id,
        )
    public = trusted_keys.get(line.fingerprint)
    if public is None:
        if policy == "signed":
            raise SignatureUntrusted(
                f"{ref} is signed by untrusted key {line.fingerprint}",
                hint="If you trust this signer, run 'kiwi trust add <public-key-file>';"
                f" otherwise review it and '{sign_cmd}'.",
                item_id=item_id,
                details={"fingerprint": line.fingerprint},
            )
        return Verification(
            status="verified",
            fingerprint=line.fingerprint,
            content_hash=digest,
            warning=f"{ref}: signer {line.fingerprint} is not trusted;"
            " only the hash was checked (KIWI_VERIFY=hash)",
        )
    if not _signature_ok(public, line):
        raise IntegrityFailed(
            f"{ref}: the signature does not verify with key {line.fingerprint}",
            hint=f"The signature line was forged or damaged; review the file, then '{sign_cmd}'.",
            item_id=item_id,
        )
    return Verification(status="verified", fingerprint=line.fingerprint, content_hash=digest)
