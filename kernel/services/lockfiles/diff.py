"""Comparing a lockfile with the chain as it is now (SPEC §8.3): pure, returns reasons.

Links are matched by id. For each link present in both, every differing field (``version``,
``integrity``, ``space``, ``executor_id``) is one :class:`Drift`; a link only in the current
chain is ``added``, one only in the lockfile ``removed``. Pins are compared by name under the
pseudo-link ``pins``. The kernel version is not compared: upgrading Kiwi must not invalidate
every lockfile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiwi_mcp.kernel.services.lockfiles.records import Lockfile

__all__ = ["Drift", "compare"]

_LINK_FIELDS = ("version", "integrity", "space", "executor_id")
_HEX = re.compile(r"[0-9a-f]{16,}\Z")


@dataclass(frozen=True, kw_only=True, slots=True)
class Drift:
    """One difference: ``link_id`` (or ``pins``), the ``field``, and both values.

    ``field`` is a link field, ``link`` (the link was added or removed: the missing side is
    None, the other its version), or for pins the pin's name.
    """

    link_id: str
    field: str
    locked: str | None
    current: str | None

    def __str__(self) -> str:
        if self.field == "link":
            if self.locked is None:
                return f"{self.link_id}: link added (version {self.current})"
            return f"{self.link_id}: link removed (was version {self.locked})"
        label = f"pin {self.field}" if self.link_id == "pins" else self.field
        subject = "pins" if self.link_id == "pins" else self.link_id
        return f"{subject}: {label} {_show(self.locked)} → {_show(self.current)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "link_id": self.link_id,
            "field": self.field,
            "locked": self.locked,
            "current": self.current,
        }


def compare(locked: Lockfile, current: Lockfile) -> list[Drift]:
    """Every difference between ``locked`` and ``current``, in chain order (empty: no drift)."""
    drifts: list[Drift] = []
    locked_links = {link.id: link for link in locked.chain}
    current_links = {link.id: link for link in current.chain}
    for link in current.chain:
        before = locked_links.get(link.id)
        if before is None:
            drifts.append(Drift(link_id=link.id, field="link", locked=None, current=link.version))
            continue
        for name in _LINK_FIELDS:
            old, new = getattr(before, name), getattr(link, name)
            if old != new:
                drifts.append(Drift(link_id=link.id, field=name, locked=old, current=new))
    for link in locked.chain:
        if link.id not in current_links:
            drifts.append(Drift(link_id=link.id, field="link", locked=link.version, current=None))
    for name in sorted(set(locked.pins) | set(current.pins)):
        old_pin, new_pin = locked.pins.get(name), current.pins.get(name)
        if old_pin != new_pin:
            drifts.append(Drift(link_id="pins", field=name, locked=old_pin, current=new_pin))
    return drifts


def _show(value: str | None) -> str:
    if value is None:
        return "(none)"
    if _HEX.match(value):
        return value[:8] + "…"
    return value
