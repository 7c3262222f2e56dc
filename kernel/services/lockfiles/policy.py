"""Chains as lockfiles, and the execution-time lockfile policy (SPEC §8.3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from kiwi_mcp.kernel._version import __version__
from kiwi_mcp.kernel.core.chain import Chain
from kiwi_mcp.kernel.core.items import Tool
from kiwi_mcp.kernel.errors import LockfileMismatch
from kiwi_mcp.kernel.trust.verifier import extra_files_of

if TYPE_CHECKING:
    from kiwi_mcp.kernel.services.lockfiles.store import Lockfile, LockfileStore
    from kiwi_mcp.kernel.store.settings import Settings

__all__ = ["LockCheck", "check_lockfile", "lockfile_for", "lockfile_store"]


@dataclass(frozen=True, kw_only=True, slots=True)
class LockCheck:
    """What the lockfile policy found for one chain."""

    status: Literal["off", "absent", "ok", "drift"]
    warnings: tuple[str, ...] = ()


def lockfile_store(
    settings: Settings,
    *,
    clock: Callable[[], float],
    read_bytes: Callable[[Path], bytes | None],
) -> LockfileStore:
    """The project's lockfile store: ``<project>/.ai/lockfiles`` first, then the user's."""
    from kiwi_mcp.kernel.services.lockfiles.store import LockfileStore

    return LockfileStore(
        [settings.project_root / ".ai" / "lockfiles", settings.user_space / "lockfiles"],
        clock=clock,
        read_bytes=read_bytes,
    )


def lockfile_for(
    chain: Chain,
    roots: Mapping[str, Path] | None = None,
    read_bytes: Callable[[Path], bytes | None] | None = None,
) -> Lockfile:
    """The lockfile that pins ``chain`` as it is now; with ``roots`` (space name → folder),
    also where each link installed from a registry came from (``registry_pins``), read with
    ``read_bytes`` when given."""
    from kiwi_mcp.kernel.core.signature_line import split_signature
    from kiwi_mcp.kernel.services.lockfiles.store import LockedLink, Lockfile
    from kiwi_mcp.kernel.trust.signing import content_hash

    links = []
    pins: dict[str, str] = {}
    for loaded in chain.links:
        tool = loaded.item
        assert isinstance(tool, Tool)
        if tool.tool_type == "mcp_tool" and isinstance(tool.config.get("pin"), str):
            # an upstream MCP tool's definition (SPEC §14): named so a drift says which
            pins[f"mcp:{tool.config.get('server')}/{tool.config.get('tool')}"] = tool.config["pin"]
        _, body = split_signature(loaded.data, loaded.file.ext)
        integrity = content_hash("tool", tool.id, body, extra_files_of(loaded))
        links.append(
            LockedLink(
                id=tool.id,
                version=tool.version,
                space=loaded.file.space,
                integrity=integrity,
                executor_id=tool.executor_id,
            )
        )
    if roots:
        from kiwi_mcp.kernel.services.lockfiles.registry_pins import pin_hashes

        pins.update(
            pin_hashes(chain, roots, read_bytes) if read_bytes else pin_hashes(chain, roots)
        )
    root = links[0]
    return Lockfile(
        root={"id": root.id, "version": root.version, "integrity": root.integrity},
        chain=tuple(links),
        kernel={"version": __version__},
        pins=pins,
    )


def check_lockfile(
    store: LockfileStore,
    chain: Chain,
    *,
    policy: str,
    locked: bool,
    roots: Mapping[str, Path] | None = None,
    read_bytes: Callable[[Path], bytes | None] | None = None,
) -> LockCheck:
    """Apply the lockfile ``policy`` (``off``, ``warn``, ``strict``; ``--locked`` forces strict);
    ``roots`` and ``read_bytes`` as for :func:`lockfile_for`.

    Raises:
        LockfileMismatch: strict policy and no lockfile, or a drifted chain (every drift named).
    """
    if locked:
        policy = "strict"
    if policy == "off":
        return LockCheck(status="off")
    asked = chain.asked
    locked_file = store.load(asked.id, asked.version)
    if locked_file is None:
        if policy == "strict":
            raise LockfileMismatch(
                f"no lockfile for {asked.id}@{asked.version}",
                hint=f"Freeze the chain first: 'kiwi lockfile freeze {asked.id}'.",
            )
        return LockCheck(status="absent")
    from kiwi_mcp.kernel.services.lockfiles.diff import compare  # only with a lockfile

    drifts = compare(locked_file, lockfile_for(chain, roots, read_bytes))
    if not drifts:
        return LockCheck(status="ok")
    text = "; ".join(str(drift) for drift in drifts)
    if policy == "strict":
        # full values in the refusal: the two hashes are what a reviewer compares
        text = "; ".join(
            f"{d.link_id}: {d.field} {d.locked} (locked) → {d.current} (now)" for d in drifts
        )
        raise LockfileMismatch(
            f"the chain of {asked.id} drifted from its lockfile: {text}",
            hint=f"Review the change, then 'kiwi lockfile freeze {asked.id}' to accept it.",
            details={"drifts": [drift.to_dict() for drift in drifts]},
        )
    return LockCheck(status="drift", warnings=(f"lockfile drift (warn mode): {text}",))
