"""The signature line's format and place in a file (SPEC §4.1). Pure: bytes in, bytes out.

The line is the file's first line, or its second after a ``#!`` shebang, in the file's
comment style::

    # kiwi:signed:v1:<YYYY-MM-DDTHH:MM:SSZ>:<sha256 hex>:<ed25519 sig, base64url>:<fingerprint>

An item's body is the file without that line. ``kiwi_mcp.kernel.trust.signing`` hashes,
signs and verifies bodies; ``kiwi_mcp.kernel.core.parse`` reads an item's fields from one.
Both find the line here, so they agree on which line it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from kiwi_mcp.kernel.errors import ParseError

__all__ = [
    "SignatureLine",
    "locate",
    "parse_slot",
    "signable",
    "signature_span",
    "split_signature",
    "with_line",
]

# extension → (comment opener, comment closer)
_COMMENT: Final = MappingProxyType(
    {
        ".yaml": (b"#", b""),
        ".yml": (b"#", b""),
        ".py": (b"#", b""),
        ".sh": (b"#", b""),
        ".js": (b"//", b""),
        ".md": (b"<!--", b"-->"),
    }
)

# Anything that still looks like a signature marker after a one-byte change.
_LOOSE_RE: Final = re.compile(rb"kiwi:signed|signed:v|kiwi.{0,8}v1:")
_LINE_RE: Final = re.compile(
    r"kiwi:signed:v1:(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)"
    r":(?P<hash>[0-9a-f]{64}):(?P<sig>[A-Za-z0-9_-]{86}):(?P<fp>[0-9a-f]{64})"
)
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


def _slot(data: bytes, opener: bytes) -> tuple[int, int, bytes | None]:
    """(start, end, line) of the slot; line is None when the slot holds no signature.

    A damaged signature line must not pass for an ordinary comment (the file would then
    run as unsigned under ``hash``), so the slot counts as a signature when it starts with
    the comment marker and looks like one, or holds a whole signature text anywhere.
    """
    start = _sig_start(data)
    end, line = _line_at(data, start)
    if (line.startswith(opener) and _LOOSE_RE.search(line)) or _LINE_RE.search(
        line.decode("latin-1")
    ):
        return start, end, line
    return start, end, None


def locate(data: bytes, ext: str) -> tuple[int, int, bytes | None]:
    """(start, end, line) of the signature line's slot; line is None when it holds none.

    Raises:
        ParseError: a whole signature sits on the other of the first two lines.
        ValueError: the extension has no comment style.
    """
    start, end, line = _slot(data, _comment(ext)[0])
    if line is not None:
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


def parse_slot(line: bytes, ext: str) -> SignatureLine:
    """The signature in a slot's line (as ``locate`` found it), comment markers checked.

    Raises:
        ParseError: the markers, the spacing or the ``kiwi:signed:v1`` text are malformed.
        ValueError: the extension has no comment style.
    """
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

    Raises ParseError for a ``kiwi:signed:`` line that is malformed or out of its place,
    and ValueError for an extension without a comment style.
    """
    start, end, line = locate(data, ext)
    if line is None:
        return None, data
    return parse_slot(line, ext), data[:start] + data[end:]


def signature_span(data: bytes, ext: str) -> tuple[int, int]:
    """(start, end) of the bytes to drop before reading an item's fields; (0, 0) for none.

    The same slot as ``locate``, but never an error: a damaged line is dropped all the
    same, and a signature out of its place or an unknown extension drops nothing. Whether
    the line holds is the verifier's question; the parser only must not read it as content.
    """
    style = _COMMENT.get(ext.lower())
    if style is None:
        return 0, 0
    start, end, line = _slot(data, style[0])
    return (start, end) if line is not None else (0, 0)


def signable(body: bytes) -> bytes:
    """``body`` ready to carry a line: a shebang-only file without a newline gains one."""
    start = _sig_start(body)
    if start and not body[:start].endswith(b"\n"):
        return body + b"\n"
    return body


def with_line(body: bytes, line: SignatureLine, ext: str) -> bytes:
    """``body`` (as ``signable`` returned it) with ``line`` in its slot, in the file's
    comment style and line ending.

    Raises:
        ValueError: the extension has no comment style.
    """
    opener, closer = _comment(ext)
    newline = b"\r\n" if body[: _line_at(body, 0)[0]].endswith(b"\r\n") else b"\n"
    start = _sig_start(body)
    return body[:start] + _render_line(line, opener, closer, newline) + body[start:]


def _render_line(line: SignatureLine, opener: bytes, closer: bytes, newline: bytes) -> bytes:
    tail = b" " + closer if closer else b""
    return opener + b" " + line.to_text().encode("ascii") + tail + newline
