"""Item signatures (SPEC §4.1, §9.3): pure functions over bytes; the loader passes them in.

The signature line is the file's first line, or its second after a ``#!`` shebang, in the
file's comment style::

    # kiwi:signed:v1:<YYYY-MM-DDTHH:MM:SSZ>:<sha256 hex>:<ed25519 sig, base64url>:<fingerprint>

The content hash binds kind, id and body (the file without that line) and the tool's extra
files; the Ed25519 signature covers ``v1:<timestamp>:<hash>``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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

# extension → (comment opener, comment closer)
_COMMENT: Final[Mapping[str, tuple[bytes, bytes]]] = {
    ".yaml": (b"#", b""),
    ".yml": (b"#", b""),
    ".py": (b"#", b""),
    ".sh": (b"#", b""),
    ".js": (b"//", b""),
    ".md": (b"<!--", b"-->"),
}

# Anything that still looks like a signature marker after a one-byte change.
_LOOSE_RE: Final = re.compile(rb"kiwi:signed|signed:v|kiwi.{0,8}v1:")
_LINE_RE: Final = re.compile(
    r"kiwi:signed:v1:(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)"
    r":(?P<hash>[0-9a-f]{64}):(?P<sig>[A-Za-z0-9_-]{86}):(?P<fp>[0-9a-f]{64})"
)
_TS_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
_RESIGN_HINT: Final = "Re-sign with 'kiwi sign <kind> <id>' (it replaces a damaged line)."


@dataclass(frozen=True, kw_only=True, slots=True)
class SignatureLine:
    """The fields of a ``kiwi:signed:v1`` line."""

    timestamp: str
    content_hash: str
    signature: str
    fingerprint: str

    @classmethod
    def from_text(cls, text: str) -> SignatureLine:
        """Parse ``kiwi:signed:v1:…`` (without comment markers). Raises ParseError."""
        match = _LINE_RE.fullmatch(text)
        if match is None:
            raise ParseError(
                f"malformed signature line '{text[:160]}': expected kiwi:signed:v1:"
                "<YYYY-MM-DDTHH:MM:SSZ>:<sha256 hex>:<signature base64url>:<fingerprint>",
                hint=_RESIGN_HINT,
            )
        return cls(
            timestamp=match["ts"],
            content_hash=match["hash"],
            signature=match["sig"],
            fingerprint=match["fp"],
        )

    def to_text(self) -> str:
        """The inverse of ``from_text``."""
        return (
            f"kiwi:signed:v1:{self.timestamp}:{self.content_hash}:"
            f"{self.signature}:{self.fingerprint}"
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "timestamp": self.timestamp,
            "content_hash": self.content_hash,
            "signature": self.signature,
            "fingerprint": self.fingerprint,
        }

    def payload(self) -> bytes:
        """What the Ed25519 signature covers."""
        return f"v1:{self.timestamp}:{self.content_hash}".encode("ascii")


def _comment(ext: str) -> tuple[bytes, bytes]:
    try:
        return _COMMENT[ext.lower()]
    except KeyError:
        raise ValueError(f"no comment style for extension '{ext}'") from None


def _line_at(data: bytes, start: int) -> tuple[int, bytes]:
    """(end including the newline, line without its line terminator) from ``start``."""
    nl = data.find(b"\n", start)
    end = len(data) if nl == -1 else nl + 1
    return end, data[start:end].rstrip(b"\r\n")


def _sig_start(data: bytes) -> int:
    """Where the signature line sits: 0, or after a first ``#!`` line."""
    if data.startswith(b"#!"):
        return _line_at(data, 0)[0]
    return 0


def _locate(data: bytes, ext: str) -> tuple[int, int, bytes | None]:
    """(start, end, line) of the signature line's slot; line is None when it holds none.

    A damaged signature line must not pass for an ordinary comment (the file would then
    run as unsigned under ``hash``), so the slot counts as a signature when it starts with
    the comment marker and looks like one, or holds a whole signature text anywhere.
    Raises ParseError when a whole signature sits on the other of the first two lines.
    """
    opener = _comment(ext)[0]
    start = _sig_start(data)
    end, line = _line_at(data, start)
    if (line.startswith(opener) and _LOOSE_RE.search(line)) or _LINE_RE.search(
        line.decode("latin-1")
    ):
        return start, end, line
    first_end, first = _line_at(data, 0)
    other = first if start else _line_at(data, first_end)[1]
    if _LINE_RE.search(other.decode("latin-1")):
        raise ParseError(
            "the signature line is not in its place: it must be the first line,"
            " or the second after a '#!' line",
            hint="Move it back (or delete it), then 'kiwi sign <kind> <id>'.",
        )
    return start, end, None


def _parse_inner(line: bytes, ext: str) -> SignatureLine:
    opener, closer = _comment(ext)
    if not line.startswith(opener):
        raise ParseError(
            f"signature line does not start with '{opener.decode()}'", hint=_RESIGN_HINT
        )
    inner = line[len(opener) :]
    if closer:
        if not inner.endswith(closer):
            raise ParseError(
                f"signature line does not end with '{closer.decode()}'", hint=_RESIGN_HINT
            )
        inner = inner[: -len(closer)]
    text = inner.decode("utf-8", errors="replace").strip()
    if inner != b" " + text.encode() + (b" " if closer else b""):
        raise ParseError(
            "malformed signature line: expected exactly one space around its text",
            hint=_RESIGN_HINT,
        )
    return SignatureLine.from_text(text)


def split_signature(data: bytes, ext: str) -> tuple[SignatureLine | None, bytes]:
    """(signature line or None, body) of a file; body is ``data`` with only that line removed.

    Raises ParseError for a ``kiwi:signed:`` line that is malformed, and ValueError for an
    extension without a comment style.
    """
    start, end, line = _locate(data, ext)
    if line is None:
        return None, data
    return _parse_inner(line, ext), data[:start] + data[end:]


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
    if kind not in KINDS:
        raise ValueError(f"unknown kind '{kind}' (expected one of {', '.join(KINDS)})")
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


def _render_line(line: SignatureLine, ext: str, newline: bytes) -> bytes:
    opener, closer = _comment(ext)
    tail = b" " + closer if closer else b""
    return opener + b" " + line.to_text().encode("ascii") + tail + newline


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
    start, end, slot = _locate(data, ext)
    existing: SignatureLine | None = None
    body = data
    if slot is not None:
        # A damaged line is replaced: signing is how the user repairs it.
        try:
            existing = _parse_inner(slot, ext)
        except ParseError:
            existing = None
        body = data[:start] + data[end:]
    start = _sig_start(body)
    if start and not body[:start].endswith(b"\n"):
        # A shebang-only file without a newline: the line after it needs one.
        body += b"\n"
        start += 1
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
    newline = b"\r\n" if body[: _line_at(body, 0)[0]].endswith(b"\r\n") else b"\n"
    return body[:start] + _render_line(line, ext, newline) + body[start:]


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
