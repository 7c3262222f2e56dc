"""Signing items in place (``kiwi sign``, MCP ``sign``; SPEC §4.1, §9.3).

Signing is the operator's act: ``caps=None`` is the operator at the CLI, ungated; an agent
(an MCP client, a thread) passes its ``CapabilitySet`` and needs ``<kind>.sign:<id>`` for
every item the pattern matches, which no default policy grants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.core.ids import Kind, check_pattern
from kiwi_mcp.kernel.core.spaces import ItemFile, SpaceName
from kiwi_mcp.kernel.errors import ItemNotFound, PermissionDenied
from kiwi_mcp.kernel.store.fileio import atomic_write, clean_stale_temps
from kiwi_mcp.kernel.store.items import ItemStore
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
from kiwi_mcp.kernel.trust.verifier import extra_files_of

__all__ = ["SignedItem", "sign_items"]

_HINTED = 5  # the commands a denial's hint spells out; details.missing has them all


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
    """Sign every project/user item of ``kind`` whose id matches ``pattern`` (an id or a
    glob, ``check_pattern``'s grammar).

    ``caps`` is keyword-only and has no default, so no caller is ungated by omission: None is
    the operator signing with their own key; a ``CapabilitySet`` is an agent's. The key is
    the user's (``kiwi keys init``). Re-signing an unchanged file keeps its line. Before
    writing, temp files that killed signers left in the item folders are removed.

    Raises:
        InvalidId: ``pattern`` is not an id or id glob.
        ItemNotFound: nothing matched.
        PermissionDenied: ``caps`` lacks ``<kind>.sign:<id>`` for some match (all of them
            in ``details.missing``; the hint asks for the operator).
        KeyMissing, KeyUnsafe: the user's key cannot be used (the key store's error).
    """
    from kiwi_mcp.kernel.trust.keys import KeyStore
    from kiwi_mcp.kernel.trust.signing import sign_item

    check_pattern(pattern)
    files: dict[str, ItemFile] = {}
    if "*" in pattern:
        store.refresh()
        for file in store.iter_files(kind, ("project", "user")):
            if _matches(pattern, file.id) and file.id not in files:
                files[file.id] = file
        folders = store.folders(kind, ("project", "user"))
    else:  # one id: found by its path, whatever else the spaces hold
        for space in ("project", "user"):
            found = store.exact(kind, pattern, space)
            if found is not None:
                files[found.id] = found
                break
        folders = [f.path.parent for f in files.values()]
    if not files:
        raise ItemNotFound(
            f"no {kind} in the project or user space matches {pattern!r}",
            hint="The system space is verified by its manifest, not signed; "
            "run 'kiwi search' to find ids.",
        )
    if caps is not None:
        _require_sign_caps(caps, kind, sorted(files))
    for folder in folders:
        clean_stale_temps(folder)
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


def _require_sign_caps(caps: CapabilitySet, kind: Kind, item_ids: list[str]) -> None:
    """Raises PermissionDenied naming every ``<kind>.sign:<id>`` that ``caps`` lacks."""
    missing = [item_id for item_id in item_ids if not caps.covers(f"{kind}.sign:{item_id}")]
    if not missing:
        return
    wanted = [f"{kind}.sign:{item_id}" for item_id in missing]
    commands = ", ".join(f"'kiwi sign {kind} {item_id}'" for item_id in missing[:_HINTED])
    if len(missing) > _HINTED:
        commands += f" (and {len(missing) - _HINTED} more in details.missing)"
    raise PermissionDenied(
        f"missing capability {', '.join(wanted[:_HINTED])}"
        + (f" and {len(wanted) - _HINTED} more" if len(wanted) > _HINTED else ""),
        hint=f"Signing is the operator's act: ask the operator to run {commands}.",
        details={"missing": wanted},
    )
