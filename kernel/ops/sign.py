"""Signing items in place (``kiwi sign``, MCP ``sign``; SPEC §4.1, §9.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.core.ids import Kind
from kiwi_mcp.kernel.core.spaces import ItemFile, SpaceName
from kiwi_mcp.kernel.errors import ItemNotFound, PermissionDenied
from kiwi_mcp.kernel.store.fileio import atomic_write
from kiwi_mcp.kernel.store.items import ItemStore
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
from kiwi_mcp.kernel.trust.verifier import extra_files_of

__all__ = ["SignedItem", "sign_items"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SignedItem:
    kind: Kind
    id: str
    space: SpaceName
    path: str
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "space": self.space,
            "path": self.path,
            "changed": self.changed,
        }


def _matches(pattern: str, item_id: str) -> bool:
    from kiwi_mcp.kernel.trust.globs import glob_covers

    return pattern == item_id or glob_covers(pattern, item_id, "path")


def sign_items(
    store: ItemStore,
    user_space: Path,
    kind: Kind,
    pattern: str,
    *,
    caps: CapabilitySet | None,
    now: datetime | None = None,
) -> list[SignedItem]:
    """Sign every project/user item of ``kind`` whose id matches ``pattern`` (a glob).

    The key is the user's (``kiwi keys init``). Re-signing an unchanged file keeps its line.

    Raises:
        ItemNotFound: nothing matched. PermissionDenied: ``<kind>.sign:<id>`` not held.
        SignatureMissing-free: a missing key raises the key store's error with its hint.
    """
    from kiwi_mcp.kernel.trust.keys import KeyStore
    from kiwi_mcp.kernel.trust.signing import sign_item

    store.refresh()
    files: dict[str, ItemFile] = {}
    for file in store.iter_files(kind, ("project", "user")):
        if _matches(pattern, file.id) and file.id not in files:
            files[file.id] = file
    if not files:
        raise ItemNotFound(
            f"no {kind} in the project or user space matches {pattern!r}",
            hint="The system space is verified by its manifest, not signed; "
            "run 'kiwi search' to find ids.",
        )
    for item_id in files:
        cap = f"{kind}.sign:{item_id}"
        if caps is not None and not caps.covers(cap):
            raise PermissionDenied(f"missing capability {cap}", details={"missing": [cap]})
    key = KeyStore(user_space).private_key()
    when = now or datetime.now(UTC)
    signed: list[SignedItem] = []
    for item_id, file in sorted(files.items()):
        loaded = store.load_located(store.locate(kind, item_id, within=(file.space,)))
        new = sign_item(
            loaded.data,
            ext=file.ext,
            kind=kind,
            item_id=item_id,
            extra_files=extra_files_of(loaded),
            key=key,
            now=when,
        )
        changed = new != loaded.data
        if changed:
            atomic_write(file.path, new, mode=file.path.stat().st_mode & 0o777)
        signed.append(
            SignedItem(
                kind=kind, id=item_id, space=file.space, path=str(file.path), changed=changed
            )
        )
    return signed
