"""``kiwi registry install <kind> <id>[@version]``: verified twice, written, pinned (SPEC §16).

The downloaded bytes (the item and exactly the extra files it lists, ``files:``) are checked
first against what the registry reports: the content hash it stores and the publisher's key
it holds (a row changed in the database is caught here); then against the local trust store:
a publisher the operator has not trusted is refused with the ``kiwi trust add`` hint,
whatever the registry says. Only then is anything written into the project (or user) space:
the extra files next to the item (inside its folder, re-checked on disk), the item file last,
so a crash never leaves a verified-looking item without its files. A pin (registry URL,
version, content hash, publisher, fingerprint) is recorded in ``<space>/registry/pins.json``,
which the chain's lockfile then carries (``services/lockfiles/registry_pins``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.errors import IntegrityFailed, KiwiError, SignatureUntrusted, UsageError
from kiwi_mcp.kernel.ops.registry import normalize_url, read
from kiwi_mcp.kernel.services.lockfiles.registry_pins import pins_path, read_pins

if TYPE_CHECKING:
    from kiwi_mcp.kernel.core.ids import Kind
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.trust.signing import Verification

__all__ = ["Installed", "install", "split_ref"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Installed:
    """One item written from a registry."""

    kind: str
    id: str
    version: str
    path: Path
    publisher: str
    fingerprint: str
    content_hash: str
    registry: str
    #: the extra files written next to the item, relative to its folder
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "version": self.version,
            "path": str(self.path),
            "publisher": self.publisher,
            "fingerprint": self.fingerprint,
            "content_hash": self.content_hash,
            "registry": self.registry,
            "files": list(self.files),
        }


def split_ref(ref: str) -> tuple[str, str | None]:
    """``id[@version]`` → (id, version or None). Raises UsageError for an empty part."""
    item_id, _, version = ref.partition("@")
    if not item_id or (ref.endswith("@")):
        raise UsageError(f"'{ref}' is not <id>[@<version>]", hint="e.g. alice/greet@1.0.0")
    return item_id, version or None


def _write_pin(space_root: Path, key: str, pin: dict[str, str]) -> None:
    from kiwi_mcp.kernel.store.fileio import atomic_write

    pins = read_pins(space_root)
    pins[key] = pin
    path = pins_path(space_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(pins, indent=2, sort_keys=True) + "\n"
    atomic_write(path, text.encode())


def _listed_files(
    got: Mapping[str, Any], kind: Kind, item_id: str, content: bytes
) -> list[tuple[str, bytes]]:
    """The download's extra files, exactly the ones the item lists, in its order.

    Raises IntegrityFailed: the registry sends a file the item does not list, leaves out one
    it lists, or sends them in another shape.
    """
    from kiwi_mcp.kernel.core.items import Tool
    from kiwi_mcp.kernel.core.parse import item_among_files, parse_item

    sent = got.get("files") or {}
    refuse = "The registry's copy does not match what was published; do not install it."
    if not isinstance(sent, Mapping) or not all(isinstance(v, str) for v in sent.values()):
        raise IntegrityFailed(
            f"{kind} '{item_id}': the registry's files are not relative path → text",
            hint=refuse,
            item_id=item_id,
        )
    item = parse_item(
        kind, item_id, str(got["ext"]), content, f"registry:{kind}/{item_id}{got['ext']}"
    )
    listed = item.files if isinstance(item, Tool) else ()
    for rel in sorted(set(sent) - set(listed)):
        raise IntegrityFailed(
            f"{kind} '{item_id}': the registry sends file {rel!r}, which the item does not list",
            hint=refuse,
            item_id=item_id,
            details={"file": rel},
        )
    for rel in listed:
        if rel not in sent:
            raise IntegrityFailed(
                f"{kind} '{item_id}' lists extra file {rel!r}, which the registry does not send",
                hint=refuse,
                item_id=item_id,
                details={"file": rel},
            )
    extra = [(rel, str(sent[rel]).encode("utf-8")) for rel in listed]
    for rel, data in extra:
        other = item_among_files(item_id, rel, data)
        if other is not None:
            raise IntegrityFailed(
                f"{kind} '{item_id}': its extra file {rel!r} is itself a tool ('{other}'),"
                " which this install would bring in unpublished",
                hint=refuse,
                item_id=item_id,
                details={"file": rel},
            )
    return extra


def _check(
    got: dict[str, Any], kind: Kind, item_id: str, trusted: dict[str, Any]
) -> tuple[str, list[tuple[str, bytes]]]:
    """Verify the download twice; returns the content hash and the extra files to write.
    Raises the refusals above."""
    from kiwi_mcp.kernel.trust.encoding import fingerprint
    from kiwi_mcp.kernel.trust.keys import load_public_pem
    from kiwi_mcp.kernel.trust.signing import verify_item

    content = str(got["content"]).encode("utf-8")
    ext = str(got["ext"])
    extra = _listed_files(got, kind, item_id, content)
    publisher, reported_fp = str(got["publisher"]), str(got["publisher_fingerprint"])
    key = load_public_pem(str(got["publisher_key"]).encode(), source="the registry's key")
    if fingerprint(key) != reported_fp:
        raise IntegrityFailed(
            f"the registry reports key {reported_fp} for '{publisher}' but sends another key",
            hint="The registry's data is inconsistent; do not install from it.",
            item_id=item_id,
        )

    def verified(keys: Mapping[str, Any]) -> Verification:
        return verify_item(
            content,
            ext=ext,
            kind=kind,
            item_id=item_id,
            extra_files=extra,
            policy="signed",
            trusted_keys=keys,
        )

    checked = verified({reported_fp: key})  # what the registry says, against itself first
    if checked.content_hash != got["content_hash"]:
        raise IntegrityFailed(
            f"{kind} '{item_id}' {got['version']}: the bytes hash to {checked.content_hash},"
            f" the registry records {got['content_hash']}",
            hint="The registry's copy was changed after it was published; do not install it.",
            item_id=item_id,
        )
    if reported_fp not in trusted:
        raise SignatureUntrusted(
            f"{kind} '{item_id}' is published by '{publisher}' (key {reported_fp}), whom you"
            " do not trust",
            hint=f"If you trust '{publisher}', get their public key (their"
            " keys/signing_key.pub, or error.details.publisher_key of 'kiwi --json registry"
            f" install …'), check its fingerprint is {reported_fp[:16]}…, run"
            " 'kiwi trust add <file>', then install again.",
            item_id=item_id,
            details={
                "fingerprint": reported_fp,
                "publisher": publisher,
                "publisher_key": got["publisher_key"],
            },
        )
    verified(trusted)  # then against the operator's trust store
    return checked.content_hash, extra


def _targets(
    path: Path, extra: list[tuple[str, bytes]], kind: Kind, item_id: str
) -> list[tuple[Path, bytes]]:
    """Where each extra file goes: inside the item's folder as it is on disk (a symlinked
    folder on the way that leads out is refused), never the item file itself, never over a
    file that differs and that the item installed there now does not list.

    Raises IntegrityFailed (the path leaves the folder) or UsageError (it would overwrite a
    file that is not this item's).
    """
    from kiwi_mcp.kernel.core.items import Tool
    from kiwi_mcp.kernel.core.parse import parse_item

    folder = path.parent
    real_folder = os.path.realpath(folder) + os.sep
    owned: tuple[str, ...] = ()
    if path.is_file():
        try:
            current = parse_item(kind, item_id, path.suffix, path.read_bytes(), str(path))
        except (KiwiError, OSError):
            current = None
        owned = current.files if isinstance(current, Tool) else ()
    out: list[tuple[Path, bytes]] = []
    for rel, data in extra:
        target = folder / rel
        real = os.path.realpath(target)
        if not real.startswith(real_folder) or real == os.path.realpath(path):
            raise IntegrityFailed(
                f"{kind} '{item_id}': extra file {rel!r} would be written outside the item's"
                f" folder {folder} (or over the item itself); refused",
                hint="Check the folders under the item's folder for symlinks; do not install it.",
                item_id=item_id,
                details={"file": rel},
            )
        if os.path.lexists(target) and rel not in owned and _differs(target, data):
            raise UsageError(
                f"{kind} '{item_id}': extra file {rel!r} would overwrite {target}, which is not"
                " a file of the installed item",
                hint=f"Move or remove {target} (another item may need it), then install again.",
                details={"file": rel, "path": str(target)},
            )
        out.append((target, data))
    return out


def _differs(target: Path, data: bytes) -> bool:
    try:
        return target.is_symlink() or target.read_bytes() != data
    except OSError:
        return True


async def install(
    kernel: Kernel, url: str, kind: str, ref: str, *, user: bool = False
) -> Installed:
    """Download, verify, write and pin ``kind`` ``ref`` (``id[@version]``).

    Raises:
        ItemNotFound: the registry has no such item or version.
        IntegrityFailed: the bytes, the hash, the key or the extra files do not agree with
            each other (``details.file`` names a file the item does not list, or one it does
            that is missing), or an extra file's place leaves the item's folder.
        SignatureUntrusted: the publisher's key is not in the local trust store.
        UsageError: a bad reference or kind, or an extra file would overwrite a file that is
            not the installed item's.
    """
    from kiwi_mcp.kernel.core.ids import check_id, folder_for, parse_kind
    from kiwi_mcp.kernel.store.fileio import atomic_write
    from kiwi_mcp.kernel.trust.keys import TrustStore

    parsed = parse_kind(kind)
    item_id, version = split_ref(ref)
    check_id(item_id)
    base = normalize_url(url)
    got = dict(
        await read(
            kernel, base, "download", {"kind": kind, "id": item_id, "version": version or ""}
        )
    )
    trusted = TrustStore(kernel.settings.user_space).trusted_keys()
    content_hash, extra = _check(got, parsed, item_id, dict(trusted))
    root = kernel.settings.user_space if user else kernel.settings.project_root / ".ai"
    path = root / folder_for(parsed) / f"{item_id}{got['ext']}"
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, data in _targets(path, extra, parsed, item_id):
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data)
    atomic_write(path, str(got["content"]).encode("utf-8"))  # last: the files are in place
    pin = {
        "registry": base,
        "version": str(got["version"]),
        "content_hash": content_hash,
        "publisher": str(got["publisher"]),
        "fingerprint": str(got["publisher_fingerprint"]),
    }
    _write_pin(root, f"{kind}:{item_id}", pin)
    return Installed(kind=kind, id=item_id, path=path, files=tuple(r for r, _ in extra), **pin)
