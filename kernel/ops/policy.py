"""``kiwi sign policy``: the operator vouches for the agents' ceiling (SPEC §9.4) and for
its ``approve:`` rules, the calls a thread waits on a human for (SPEC §13.6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.errors import ItemNotFound

__all__ = ["SignedPolicy", "sign_policy"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SignedPolicy:
    path: str
    changed: bool
    fingerprint: str
    capabilities: tuple[str, ...]
    approve: tuple[str, ...] = ()
    approval_timeout_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "changed": self.changed,
            "fingerprint": self.fingerprint,
            "capabilities": list(self.capabilities),
            "approve": list(self.approve),
            "approval_timeout_s": self.approval_timeout_s,
        }


def sign_policy(
    project_root: Path, user_space: Path, *, now: datetime | None = None
) -> SignedPolicy:
    """Sign ``.ai/config/policy.yaml`` with the user's key (an unchanged, already signed
    file keeps its line). Only the operator runs this: it is a CLI act, never an agent's.

    Raises:
        ItemNotFound: there is no policy file (the defaults need no signature).
        ParseError: the file is not a valid policy (nothing is signed).
        KeyMissing: no signing key yet (``kiwi keys init``).
    """
    from kiwi_mcp.kernel.store.fileio import atomic_write
    from kiwi_mcp.kernel.trust.encoding import fingerprint
    from kiwi_mcp.kernel.trust.keys import KeyStore
    from kiwi_mcp.kernel.trust.policy import (
        POLICY_ID,
        POLICY_KIND,
        POLICY_RELPATH,
        parse_approval_rules,
        parse_policy,
    )
    from kiwi_mcp.kernel.trust.signing import sign_item

    path = project_root / POLICY_RELPATH
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ItemNotFound(
            f"no policy file at {path}: agents get the default capabilities, which need no"
            " signature",
            hint="Run 'kiwi init' to write the default policy (signed), or create the file"
            " and run 'kiwi sign policy'.",
        ) from None
    caps = parse_policy(data)
    rules = parse_approval_rules(data)
    key = KeyStore(user_space).private_key()
    new = sign_item(
        data,
        ext=".yaml",
        kind=POLICY_KIND,
        item_id=POLICY_ID,
        key=key,
        now=now or datetime.now(UTC),
    )
    changed = new != data
    if changed:
        atomic_write(path, new, mode=path.stat().st_mode & 0o777)

    return SignedPolicy(
        path=str(path),
        changed=changed,
        fingerprint=fingerprint(key.public_key()),
        capabilities=tuple(caps.to_list()),
        approve=tuple(rules.approve.to_list()),
        approval_timeout_s=rules.timeout_s,
    )
