"""Loading items (MCP ``load``, ``kiwi show``, prompts and resources; SPEC §9.1, §10).

Three depths: :func:`read` finds and parses an item; :func:`load` also checks the
``<kind>.load`` capability, reports the file's integrity and may copy it into another space;
:func:`load_verified` is the load *for use* (a directive's instructions, a knowledge entry's
text), where a file that fails verification is an error, not a report.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kiwi_mcp.kernel.core.ids import Kind, folder_for
from kiwi_mcp.kernel.core.spaces import SPACE_ORDER, LoadedItem, SpaceName
from kiwi_mcp.kernel.errors import KiwiError, PermissionDenied, UsageError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = [
    "Copied",
    "Integrity",
    "LoadReport",
    "Offered",
    "Verified",
    "copy_to_space",
    "integrity_of",
    "load",
    "load_verified",
    "offered",
    "read",
    "read_knowledge",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Integrity:
    """What verifying a loaded file found: ``verified``, ``unverified`` (with the policy's
    warning) or ``failed`` (with the error's code and message)."""

    status: Literal["verified", "unverified", "failed"]
    warning: str | None = None
    code: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.status == "failed":
            return {"status": self.status, "code": self.code, "message": self.message}
        if self.status == "unverified":
            return {"status": self.status, "warning": self.warning}
        return {"status": self.status}


@dataclass(frozen=True, kw_only=True, slots=True)
class Copied:
    """Where :func:`copy_to_space` put an item: its file first, then a tool's extra files."""

    space: SpaceName
    path: Path
    files: tuple[Path, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "path": str(self.path), "files": [str(p) for p in self.files]}


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadReport:
    """One :func:`load`: the item, its integrity and, when asked, where it was copied."""

    loaded: LoadedItem
    integrity: Integrity
    copied: Copied | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``data`` of the MCP ``load`` tool."""
        loaded = self.loaded
        file = loaded.file
        data: dict[str, Any] = {
            "kind": file.kind,
            "id": file.id,
            "space": file.space,
            "path": str(file.path),
            "shadowed": [f.to_dict() for f in loaded.located.shadowed],
            "ignored": [f.to_dict() for f in loaded.located.ignored],
            "item": loaded.item.to_dict(),
            "raw": loaded.data.decode("utf-8", errors="replace"),
            "sha256": loaded.sha256,
            "integrity": self.integrity.to_dict(),
        }
        if self.copied is not None:
            data["copied_to"] = self.copied.to_dict()
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Verified:
    """An item loaded for use, and the verification warning (``hash``/``off`` policies)."""

    loaded: LoadedItem
    warning: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Offered:
    """The loadable item of each id of a kind, and the ids left out with the reason why."""

    items: tuple[LoadedItem, ...]
    skipped: tuple[tuple[str, KiwiError], ...] = ()


def _require(kernel: Kernel, cap: str) -> None:
    if not kernel.caps.covers(cap):
        raise PermissionDenied(
            f"missing capability {cap}",
            hint=f"Only the operator can grant '{cap}': ask them to add it to"
            " .ai/config/policy.yaml and run 'kiwi sign policy'.",
            details={"missing": [cap]},
        )


def read(
    kernel: Kernel, kind: Kind, item_id: str, *, within: Sequence[SpaceName] = SPACE_ORDER
) -> LoadedItem:
    """Find and parse an item as the spaces hold it now; no capability check, no verification.

    Raises:
        KiwiError: INVALID_ID, ITEM_NOT_FOUND, AMBIGUOUS_ID or PARSE_ERROR.
    """
    kernel.store.refresh()
    return kernel.store.load(kind, item_id, within=within)


def integrity_of(kernel: Kernel, loaded: LoadedItem) -> Integrity:
    """Verify ``loaded`` under the kernel's policy and report the outcome; never raises
    ``KiwiError``."""
    try:
        warning = kernel.verifier.check(loaded)
    except KiwiError as err:
        return Integrity(status="failed", code=err.code, message=err.message)
    if warning:
        return Integrity(status="unverified", warning=warning)
    return Integrity(status="verified")


def load(
    kernel: Kernel,
    kind: Kind,
    item_id: str,
    *,
    within: Sequence[SpaceName] = SPACE_ORDER,
    destination: SpaceName | None = None,
) -> LoadReport:
    """Load an item to read it (``<kind>.load`` checked), report its integrity, and copy it
    into ``destination`` when given (see :func:`copy_to_space`).

    Raises:
        KiwiError: the errors of :func:`read`; PERMISSION_DENIED; those of
            :func:`copy_to_space`.
    """
    loaded = read(kernel, kind, item_id, within=within)
    # directive.execute and tool.execute imply the matching .load (SPEC §9.1)
    _require(kernel, f"{kind}.load:{loaded.file.id}")
    integrity = integrity_of(kernel, loaded)
    copied = None if destination is None else copy_to_space(kernel, loaded, destination)
    return LoadReport(loaded=loaded, integrity=integrity, copied=copied)


def copy_to_space(kernel: Kernel, loaded: LoadedItem, destination: SpaceName) -> Copied:
    """Copy an item file (and a tool's extra files) into another space; never overwrite.

    Raises:
        UsageError: the item already lives there, the kernel has no such space, or a
            target file exists.
        PermissionDenied: ``fs.write:.ai/<path>`` is not held (project space).
    """
    from kiwi_mcp.kernel.trust.verifier import extra_files_of

    file = loaded.file
    if destination == file.space:
        raise UsageError(
            f"{file.kind} {file.id} already lives in the {destination} space",
            hint="Pick the other writable space, or edit the file where it is.",
        )
    space = kernel.store.space(destination)
    if space is None:
        raise UsageError(f"this server has no {destination} space")
    rel = Path(folder_for(file.kind)) / f"{file.id}{file.ext}"
    if destination == "project":
        _require(kernel, f"fs.write:.ai/{rel.as_posix()}")
    target = space.root / rel
    extras = extra_files_of(loaded)
    targets = (target, *(target.parent / name for name, _ in extras))
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        raise UsageError(
            f"refusing to overwrite {', '.join(existing)}",
            hint="Delete or rename the existing file first, or load it instead.",
            details={"existing": existing},
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(file.path, target)
    for name, data in extras:
        extra = target.parent / name
        extra.parent.mkdir(parents=True, exist_ok=True)
        extra.write_bytes(data)
    return Copied(space=destination, path=target, files=targets)


def load_verified(kernel: Kernel, kind: Kind, item_id: str) -> Verified:
    """Load a directive or knowledge entry for use: capability checked, file verified.

    Raises:
        KiwiError: not found, ambiguous, unparsable, PERMISSION_DENIED
            (``directive.execute`` / ``knowledge.load``), or a signature/integrity error.
    """
    loaded = read(kernel, kind, item_id)
    action = "directive.execute" if kind == "directive" else "knowledge.load"
    _require(kernel, f"{action}:{loaded.file.id}")
    return Verified(loaded=loaded, warning=kernel.verifier.check(loaded))


def read_knowledge(kernel: Kernel, item_id: str) -> str:
    """A knowledge entry's text, verified, without its signature line (a resource's body).

    Raises:
        KiwiError: as :func:`load_verified`.
    """
    from kiwi_mcp.kernel.core.signature_line import split_signature

    loaded = load_verified(kernel, "knowledge", item_id).loaded
    _, body = split_signature(loaded.data, loaded.file.ext)
    return body.decode("utf-8", errors="replace")


def offered(kernel: Kernel, kind: Kind) -> Offered:
    """The item that wins for each id of ``kind`` (first space wins), sorted by id; ids
    whose winner cannot be loaded are skipped with their error (prompts, resources)."""
    store = kernel.store
    store.refresh()
    items: list[LoadedItem] = []
    skipped: list[tuple[str, KiwiError]] = []
    for item_id in sorted({f.id for f in store.iter_files(kind)}):
        try:
            items.append(store.load(kind, item_id))
        except KiwiError as err:
            skipped.append((item_id, err))
    return Offered(items=tuple(items), skipped=tuple(skipped))
