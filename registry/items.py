"""What the server checks about an item before it is published (SPEC §16, "Publishing is signed").

The checks are the kernel's own: the content hash is recomputed over the bytes sent and the
signature verified with the publisher's key only (the key bound to the logged-in name), so a
file signed by anyone else is refused even if that key is valid. The item is parsed (never
executed) for its version, description, tags and what it depends on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kiwi_mcp.kernel.core.ids import check_id, parse_kind
from kiwi_mcp.kernel.core.items import Directive, Knowledge, Tool
from kiwi_mcp.kernel.core.parse import parse_item
from kiwi_mcp.kernel.errors import SignatureUntrusted, UsageError
from kiwi_mcp.kernel.trust.keys import load_public_pem
from kiwi_mcp.kernel.trust.signing import split_signature, verify_item

__all__ = ["EXTENSIONS", "Checked", "check_item"]

EXTENSIONS: Final = {
    "tool": (".yaml", ".yml", ".py", ".sh", ".js"),
    "directive": (".md",),
    "knowledge": (".md",),
}
_MAX_BYTES: Final = 1024 * 1024
_BODY_CHARS: Final = 20_000  # of the text kept for ranking; the rest adds little


@dataclass(frozen=True, kw_only=True, slots=True)
class Checked:
    """A verified item, ready to be stored."""

    kind: str
    id: str
    ext: str
    version: str
    description: str
    tags: tuple[str, ...]
    depends_on: tuple[str, ...]
    content_hash: str
    signature_line: str
    body_text: str


def check_item(
    kind: str, item_id: str, ext: str, content: bytes, *, fingerprint: str, public_key: str
) -> Checked:
    """Verify ``content`` as ``kind``/``item_id`` signed by the key ``fingerprint``.

    Raises:
        UsageError: an unknown kind or extension, a bad id, or a file over 1 MiB.
        ParseError: the item does not parse, or its signature line is damaged.
        SignatureMissing / IntegrityFailed: unsigned, or the hash or signature is wrong.
        SignatureUntrusted: signed by a key other than the publisher's.
    """
    parsed_kind = parse_kind(kind)
    check_id(item_id)
    if ext not in EXTENSIONS[parsed_kind]:
        raise UsageError(
            f"ext: a {kind} cannot be a {ext!r} file",
            hint=f"Use one of: {', '.join(EXTENSIONS[parsed_kind])}.",
            details={"field": "ext"},
        )
    if len(content) > _MAX_BYTES:
        raise UsageError(
            f"content: {len(content)} bytes is over the 1 MiB limit",
            hint="Publish a smaller item.",
            details={"field": "content"},
        )
    key = load_public_pem(public_key.encode(), source="publisher key")
    line, _ = split_signature(content, ext)
    if line is not None and line.fingerprint != fingerprint:
        raise SignatureUntrusted(
            f"{kind} '{item_id}' is signed by key {line.fingerprint}, not by the logged-in"
            f" publisher's key {fingerprint}",
            hint=f"Sign it with your own key ('kiwi sign {kind} {item_id}') and publish again.",
            item_id=item_id,
            details={"fingerprint": line.fingerprint, "publisher_fingerprint": fingerprint},
        )
    verified = verify_item(
        content,
        ext=ext,
        kind=parsed_kind,
        item_id=item_id,
        policy="signed",
        trusted_keys={fingerprint: key},
    )
    item = parse_item(parsed_kind, item_id, ext, content, f"registry:{kind}/{item_id}{ext}")
    tags: tuple[str, ...] = ()
    depends: list[str] = []
    if isinstance(item, Tool):
        if item.files:
            raise UsageError(
                f"{kind} '{item_id}' lists extra files, which the registry does not carry yet",
                hint="Publish a single-file tool.",
                details={"field": "files"},
            )
        if item.executor_id and not item.executor_id.startswith("primitives/"):
            depends.append(f"tool:{item.executor_id}")
        description = item.description
    elif isinstance(item, Directive):
        depends.extend(f"tool:{name}" for name in item.tools)
        description = item.description
    else:
        assert isinstance(item, Knowledge)
        tags = item.tags
        description = item.title
    assert line is not None
    return Checked(
        kind=kind,
        id=item_id,
        ext=ext,
        version=item.version,
        description=description,
        tags=tags,
        depends_on=tuple(sorted(set(depends))),
        content_hash=verified.content_hash,
        signature_line=line.to_text(),
        body_text=content.decode("utf-8", "replace")[:_BODY_CHARS],
    )
