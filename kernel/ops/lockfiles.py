"""Freezing and checking chains (``kiwi lockfile freeze | validate | list | prune | refresh``;
SPEC §8.3).

A chain is verified before it is frozen: a lockfile never blesses a tampered link. A check
returns the reasons (which link drifted, from what to what), not a bool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kiwi_mcp.kernel.services.lockfiles.policy import lockfile_for

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.services.lockfiles.diff import Drift
    from kiwi_mcp.kernel.services.lockfiles.store import LockfileEntry

__all__ = ["Frozen", "Validation", "freeze", "list_lockfiles", "prune", "refresh", "validate"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Frozen:
    """One lockfile written: the tool it pins, where it is, and the chain's ids."""

    id: str
    path: Path
    chain: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": str(self.path), "chain": list(self.chain)}


@dataclass(frozen=True, kw_only=True, slots=True)
class Validation:
    """A tool's chain compared with its lockfile: ``found`` is False when there is none;
    ``drifts`` names every difference (empty: the chain matches)."""

    id: str
    version: str
    found: bool
    drifts: tuple[Drift, ...] = ()

    @property
    def status(self) -> Literal["absent", "drift", "ok"]:
        if not self.found:
            return "absent"
        return "drift" if self.drifts else "ok"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def freeze(kernel: Kernel, tool_id: str) -> Frozen:
    """Resolve and verify ``tool_id``'s chain, then write its lockfile (byte-identical when
    nothing changed).

    Raises:
        KiwiError: resolution failed, or a link's signature or integrity.
    """
    chain = kernel.resolve(tool_id)
    kernel.verify_chain(chain)
    path = kernel.lockfiles.freeze(lockfile_for(chain, kernel.pin_roots()))
    return Frozen(id=chain.asked.id, path=path, chain=tuple(chain.ids))


def validate(kernel: Kernel, tool_id: str) -> Validation:
    """Compare ``tool_id``'s chain as it is now with its lockfile.

    Raises:
        KiwiError: resolution failed, or the lockfile is not valid.
    """
    from kiwi_mcp.kernel.services.lockfiles.diff import compare

    chain = kernel.resolve(tool_id)
    asked = chain.asked
    locked = kernel.lockfiles.load(asked.id, asked.version)
    if locked is None:
        return Validation(id=asked.id, version=asked.version, found=False)
    drifts = compare(locked, lockfile_for(chain, kernel.pin_roots()))
    return Validation(id=asked.id, version=asked.version, found=True, drifts=tuple(drifts))


def list_lockfiles(kernel: Kernel) -> list[LockfileEntry]:
    """Every lockfile, project first, then the user's (a shadowed one says so)."""
    return kernel.lockfiles.list()


def prune(kernel: Kernel, older_than_days: float) -> list[Path]:
    """Delete the project's lockfiles frozen more than ``older_than_days`` ago; returns
    the removed paths."""
    return kernel.lockfiles.prune(older_than_days)


def refresh(kernel: Kernel, tool_id: str) -> list[Frozen]:
    """Re-freeze every lockfile whose chain contains ``tool_id``, each chain verified first.

    Raises:
        KiwiError: ``tool_id`` or a dependant does not resolve, a link fails verification,
            or a lockfile is not valid.
    """
    store = kernel.lockfiles
    target = kernel.resolve(tool_id).asked.id
    done: list[Frozen] = []
    for locked in store.dependants(target):
        chain = kernel.resolve(locked.id)
        kernel.verify_chain(chain)
        path = store.freeze(lockfile_for(chain, kernel.pin_roots()))
        done.append(Frozen(id=locked.id, path=path, chain=tuple(chain.ids)))
    return done
