"""What the server checks about an item before it is published (SPEC §16, "Publishing is signed").

The checks are the kernel's own: the content hash is recomputed over the bytes sent (with a
tool's extra files, SPEC §4.1) and the signature verified with the publisher's key only (the
key bound to the logged-in name), so a file signed by anyone else is refused even if that key
is valid. The item is parsed (never executed) for its version, description, tags, what it
depends on and the extra files it lists: exactly those must be sent, as UTF-8 text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kiwi_mcp.kernel.core.ids import check_id, parse_kind
from kiwi_mcp.kernel.core.items import Directive, Knowledge, Tool
from kiwi_mcp.kernel.core.parse import item_among_files, parse_item
from kiwi_mcp.kernel.errors import SignatureUntrusted, UsageError
from kiwi_mcp.kernel.trust.keys import load_public_pem
from kiwi_mcp.kernel.trust.signing import split_signature, verify_item

__all__ = ["EXTENSIONS", "Checked", "check_item", "files_field"]

EXTENSIONS: Final = {
    "tool": (".yaml", ".yml", ".py", ".sh", ".js"),
    "directive": (".md",),
    "knowledge": (".md",),
}
_MAX_BYTES: Final = 1024 * 1024  # the item with its extra files, as the kernel loads an item
_MAX_FILES: Final = 64
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
    #: the extra files, (relative path, UTF-8 text), sorted by path
    files: tuple[tuple[str, str], ...] = ()

    def files_dict(self) -> dict[str, str]:
        return dict(self.files)


def files_field(body: Mapping[str, Any]) -> dict[str, bytes]:
    """The request's ``files`` (``{relative path: UTF-8 text}``, absent = none) as bytes.

    Raises UsageError: not an object of strings, text with a NUL character (PostgreSQL's
    ``jsonb`` cannot hold one; such a file is binary) or a string that is not valid Unicode.
    """
    value = body.get("files", {})
    if not isinstance(value, Mapping):
        raise UsageError(
            "files: expected an object of relative path → file text",
            hint="Send each extra file the tool lists as its UTF-8 text.",
            details={"field": "files"},
        )
    out: dict[str, bytes] = {}
    for rel, text in value.items():
        if not isinstance(rel, str) or not isinstance(text, str):
            raise UsageError(
                f"files: {rel!r}: expected a string (the file's UTF-8 text)",
                hint="Send each extra file the tool lists as its UTF-8 text.",
                details={"field": "files", "file": str(rel)},
            )
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            data = b"\0"  # a lone surrogate: not text either
        if b"\0" in data:
            raise UsageError(
                f"files: {rel!r} is not text (the registry carries UTF-8 text files only)",
                hint="Keep binary data out of a published tool's files.",
                details={"field": "files", "file": rel},
            )
        out[rel] = data
    return out


def check_item(
    kind: str,
    item_id: str,
    ext: str,
    content: bytes,
    *,
    fingerprint: str,
    public_key: str,
    files: Mapping[str, bytes] | None = None,
) -> Checked:
    """Verify ``content`` with its extra ``files`` (relative path → bytes) as
    ``kind``/``item_id`` signed by the key ``fingerprint``.

    Raises:
        UsageError: an unknown kind or extension, a bad id, the item with its files over
            1 MiB or over 64 files, a listed file not sent or one sent that is not listed,
            or a bad extra-file path (``details.file`` names the file).
        ParseError: the item does not parse, or its signature line is damaged.
        SignatureMissing / IntegrityFailed: unsigned, or the hash or signature is wrong.
        SignatureUntrusted: signed by a key other than the publisher's.
    """
    files = dict(files or {})
    parsed_kind = parse_kind(kind)
    check_id(item_id)
    if ext not in EXTENSIONS[parsed_kind]:
        raise UsageError(
            f"ext: a {kind} cannot be a {ext!r} file",
            hint=f"Use one of: {', '.join(EXTENSIONS[parsed_kind])}.",
            details={"field": "ext"},
        )
    size = len(content) + sum(len(data) for data in files.values())
    if size > _MAX_BYTES or len(files) > _MAX_FILES:
        raise UsageError(
            f"content: {size} bytes in {1 + len(files)} files is over the limit"
            f" (1 MiB with the extra files, at most {_MAX_FILES} of them)",
            hint="Publish a smaller item.",
            details={"field": "files" if files else "content"},
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
    item = parse_item(parsed_kind, item_id, ext, content, f"registry:{kind}/{item_id}{ext}")
    listed = item.files if isinstance(item, Tool) else ()
    _check_listed(kind, item_id, listed, files)
    for rel in listed:
        other = item_among_files(item_id, rel, files[rel])
        if other is not None:
            raise UsageError(
                f"files: {rel!r} of {kind} '{item_id}' is itself a tool ('{other}'); a"
                " published tool brings helper files, not other items",
                hint=f"Publish '{other}' as an item of its own, or rename the file so it is"
                " not read as a tool.",
                details={"field": "files", "file": rel},
            )
    try:
        verified = verify_item(
            content,
            ext=ext,
            kind=parsed_kind,
            item_id=item_id,
            extra_files=[(rel, files[rel]) for rel in listed],
            policy="signed",
            trusted_keys={fingerprint: key},
        )
    except ValueError as exc:  # a listed path the hash refuses (``./a``, ``a//b``, twice…)
        raise UsageError(
            f"files: {exc}",
            hint="List each extra file once, as a plain relative path (e.g. lib/helper.py).",
            details={"field": "files"},
        ) from None
    tags: tuple[str, ...] = ()
    depends: list[str] = []
    if isinstance(item, Tool):
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
        files=tuple(sorted((rel, data.decode("utf-8")) for rel, data in files.items())),
    )


def _check_listed(
    kind: str, item_id: str, listed: tuple[str, ...], files: Mapping[str, bytes]
) -> None:
    """Exactly the files the item lists were sent. Raises UsageError naming the first other."""
    for rel in listed:
        if rel not in files:
            raise UsageError(
                f"{kind} '{item_id}' lists extra file {rel!r}, which was not sent",
                hint="Publish with 'kiwi registry publish', which sends the files the tool"
                " lists from its folder.",
                details={"field": "files", "file": rel},
            )
    for rel in sorted(set(files) - set(listed)):
        raise UsageError(
            f"files: {rel!r} was sent, but {kind} '{item_id}' does not list it",
            hint="Add it to the tool's files (FILES in Python), sign it again and publish;"
            " or do not send it.",
            details={"field": "files", "file": rel},
        )
