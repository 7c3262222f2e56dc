"""``kiwi registry install <kind> <id>[@version]``: verified twice, written, pinned (SPEC §16).

The downloaded bytes are checked first against what the registry reports — the content hash
it stores and the publisher's key it holds (a row changed in the database is caught here) —
and then against the local trust store: a publisher the operator has not trusted is refused
with the ``kiwi trust add`` hint, whatever the registry says. Only then is the file written
into the project (or user) space, and a pin (registry URL, version, content hash, publisher,
fingerprint) recorded in ``<space>/registry/pins.json``, which the chain's lockfile then
carries (``services/lockfiles/registry_pins``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.errors import IntegrityFailed, SignatureUntrusted, UsageError
from kiwi_mcp.kernel.ops.registry import normalize_url, read
from kiwi_mcp.kernel.services.lockfiles.registry_pins import pins_path, read_pins

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

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


def _check(got: dict[str, Any], kind: str, item_id: str, trusted: dict[str, Any]) -> str:
    """Verify the download twice; returns the content hash. Raises the refusals above."""
    from kiwi_mcp.kernel.trust.encoding import fingerprint
    from kiwi_mcp.kernel.trust.keys import load_public_pem
    from kiwi_mcp.kernel.trust.signing import verify_item

    content = str(got["content"]).encode("utf-8")
    ext = str(got["ext"])
    publisher, reported_fp = str(got["publisher"]), str(got["publisher_fingerprint"])
    key = load_public_pem(str(got["publisher_key"]).encode(), source="the registry's key")
    if fingerprint(key) != reported_fp:
        raise IntegrityFailed(
            f"the registry reports key {reported_fp} for '{publisher}' but sends another key",
            hint="The registry's data is inconsistent; do not install from it.",
            item_id=item_id,
        )
    checked = verify_item(
        content,
        ext=ext,
        kind=kind,
        item_id=item_id,
        policy="signed",
        trusted_keys={reported_fp: key},
    )
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
    verify_item(content, ext=ext, kind=kind, item_id=item_id, policy="signed", trusted_keys=trusted)
    return checked.content_hash


async def install(
    kernel: Kernel, url: str, kind: str, ref: str, *, user: bool = False
) -> Installed:
    """Download, verify, write and pin ``kind`` ``ref`` (``id[@version]``).

    Raises:
        ItemNotFound: the registry has no such item or version.
        IntegrityFailed: the bytes, the hash or the key do not agree with each other.
        SignatureUntrusted: the publisher's key is not in the local trust store.
        UsageError: a bad reference or kind.
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
    content_hash = _check(got, parsed, item_id, dict(trusted))
    root = kernel.settings.user_space if user else kernel.settings.project_root / ".ai"
    path = root / folder_for(parsed) / f"{item_id}{got['ext']}"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, str(got["content"]).encode("utf-8"))
    pin = {
        "registry": base,
        "version": str(got["version"]),
        "content_hash": content_hash,
        "publisher": str(got["publisher"]),
        "fingerprint": str(got["publisher_fingerprint"]),
    }
    _write_pin(root, f"{kind}:{item_id}", pin)
    return Installed(kind=kind, id=item_id, path=path, **pin)
