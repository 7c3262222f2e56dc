"""The agents' capability ceiling: the project's policy (SPEC §9.4).

``<project>/.ai/config/policy.yaml``::

    # kiwi:signed:v1:…   (``kiwi init`` and ``kiwi sign policy`` write this line)
    version: 1
    capabilities: ["tool.execute:**", "net.http:**", ...]
    approve: ["process.exec:rm", ...]     # optional: calls a human approves first (§13.6)
    approval_timeout: 3600                # optional: seconds an approval waits (default 1 h)

When the file is absent, ``DEFAULT_CAPABILITIES`` apply: no ``*.sign``, no
``thread.control``, no ``registry.write`` — an agent that meets ``INTEGRITY_FAILED`` cannot
bless the changed file itself. The file is the operator's: it is signed like an item (kind
``config``, id ``policy``) and checked under ``KIWI_VERIFY`` (``check_signature``), so an
agent that could write it still cannot raise its own ceiling.

``approve`` lists capabilities a thread's tool call must not exercise without the operator's
approval (``ApprovalRules``, read by ``runtime/threads/approvals``); ``approval_timeout`` is
how long such a call waits before it counts as rejected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from kiwi_mcp.kernel.core.yaml_read import refuse_anchors
from kiwi_mcp.kernel.errors import KiwiError, ParseError, PermissionDenied
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet, covers

__all__ = [
    "DEFAULT_APPROVAL_TIMEOUT_S",
    "DEFAULT_CAPABILITIES",
    "POLICY_ID",
    "POLICY_KIND",
    "POLICY_RELPATH",
    "POLICY_VERSION",
    "ApprovalRules",
    "check_signature",
    "load_policy",
    "parse_approval_rules",
    "parse_policy",
    "policy_text",
]

POLICY_RELPATH: Final = ".ai/config/policy.yaml"
POLICY_VERSION: Final = 1
#: What the policy's content hash binds (``trust/signing.content_hash``).
POLICY_KIND: Final = "config"
POLICY_ID: Final = "policy"
DEFAULT_CAPABILITIES: Final[tuple[str, ...]] = (
    "tool.execute:**",
    "directive.execute:**",
    "knowledge.load:**",
    "tool.load:**",
    "directive.load:**",
    "net.http:**",
    "process.exec:*",
    "fs.read:**",
    "fs.write:**",
    "spawn.thread",
    "mcp.call:**",
)
#: SPEC §13.6: an approval nobody answers counts as rejected after this long
DEFAULT_APPROVAL_TIMEOUT_S: Final = 3600.0
_FIELDS: Final = ("version", "capabilities", "approve", "approval_timeout")
_HINT: Final = (
    f"Fix {POLICY_RELPATH}: 'version: 1' and 'capabilities:' as a list of"
    " '<resource>.<action>[:<scope>]' strings (and optionally 'approve:' as such a list,"
    " 'approval_timeout:' in seconds), then 'kiwi sign policy'."
)
_SIGN_HINT: Final = (
    "Ask the operator to review .ai/config/policy.yaml and run 'kiwi sign policy'"
    " (or set KIWI_VERIFY=hash while developing)."
)


def policy_text(capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES) -> str:
    """The policy file ``kiwi init`` writes (unsigned; the caller signs it)."""
    lines = [
        "# The agents' capabilities in this project (MCP clients, threads, 'kiwi run').",
        "# The operator's CLI acts are not gated. Edit, then 'kiwi sign policy'. SPEC §9.4.",
        f"version: {POLICY_VERSION}",
        "capabilities:",
        *(f'  - "{cap}"' for cap in capabilities),
    ]
    return "\n".join(lines) + "\n"


def load_policy(project_root: Path) -> CapabilitySet:
    """The agents' capabilities in this project, as the file says (no signature check).

    Raises ParseError (see ``parse_policy``); OSError when the file exists but cannot be
    read.
    """
    try:
        data = (project_root / POLICY_RELPATH).read_bytes()
    except FileNotFoundError:
        return CapabilitySet.from_strings(DEFAULT_CAPABILITIES)
    return parse_policy(data)


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalRules:
    """The policy's ``approve:`` list and ``approval_timeout`` (SPEC §13.6)."""

    approve: CapabilitySet = field(default_factory=CapabilitySet)
    timeout_s: float = DEFAULT_APPROVAL_TIMEOUT_S

    def triggered(self, exercised: Iterable[str]) -> list[str]:
        """The exercised capabilities an ``approve:`` entry overlaps: one that covers it
        (``process.exec:*`` covers ``process.exec:rm``) or that it covers (a call needing
        ``fs.write:**`` may write what ``fs.write:secrets/**`` guards)."""
        return [
            cap
            for cap in dict.fromkeys(exercised)
            if self.approve.covers(cap)
            or any(_covers_quietly(cap, str(rule)) for rule in self.approve.caps)
        ]


def _covers_quietly(granted: str, wanted: str) -> bool:
    try:
        return covers(granted, wanted)
    except ParseError:
        return False


def parse_policy(data: bytes | None) -> CapabilitySet:
    """The capabilities a policy file grants (``None``: the file is absent → defaults).

    Raises ParseError naming the file and the field path (e.g.
    ``.ai/config/policy.yaml: capabilities[2]: unknown capability 'net.htp:x'``) for bad
    YAML, a wrong version, an unknown or missing field, or a capability that does not parse.
    """
    if data is None:
        return CapabilitySet.from_strings(DEFAULT_CAPABILITIES)
    return _capabilities(_read(data))


def parse_approval_rules(data: bytes | None) -> ApprovalRules:
    """The approval rules of a policy file (``None`` or no ``approve:``: none; the timeout
    defaults to ``DEFAULT_APPROVAL_TIMEOUT_S``).

    Raises ParseError as ``parse_policy`` does, and for an ``approve`` that is not a list of
    capabilities or an ``approval_timeout`` that is not a positive number of seconds.
    """
    if data is None:
        return ApprovalRules()
    parsed = _read(data)
    _capabilities(parsed)
    timeout = parsed.get("approval_timeout", DEFAULT_APPROVAL_TIMEOUT_S)
    return ApprovalRules(
        approve=CapabilitySet.from_strings(parsed.get("approve") or []), timeout_s=float(timeout)
    )


def _read(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _error("not UTF-8 text") from None
    refuse_anchors(text, POLICY_RELPATH)  # a billion laughs must not hang every agent call
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise _error(f"{where}not valid YAML") from None


def _capabilities(data: Any) -> CapabilitySet:
    if not isinstance(data, dict):
        raise _error("expected a mapping with version, capabilities")
    for key in data:
        if key not in _FIELDS:
            raise _error(f"{key}: unknown field (allowed: {', '.join(_FIELDS)})")
    if "version" not in data:
        raise _error("version: missing")
    version = data["version"]
    if type(version) is not int or version != POLICY_VERSION:
        raise _error(f"version: expected {POLICY_VERSION}, got {version!r}")
    if "capabilities" not in data:
        raise _error("capabilities: missing")
    caps = _cap_list(data, "capabilities")
    _cap_list(data, "approve")
    timeout = data.get("approval_timeout", DEFAULT_APPROVAL_TIMEOUT_S)
    if type(timeout) not in (int, float) or not 0 < timeout < float("inf"):
        raise _error(f"approval_timeout: expected a positive number of seconds, got {timeout!r}")
    return CapabilitySet.from_strings(caps)


def _cap_list(data: Mapping[str, Any], field: str) -> list[str]:
    caps = data.get(field, [])
    if not isinstance(caps, list):
        raise _error(f"{field}: expected a list, got {type(caps).__name__}")
    for index, cap in enumerate(caps):
        if not isinstance(cap, str):
            raise _error(f"{field}[{index}]: expected a string, got {cap!r}")
        try:
            CapabilitySet.from_strings([cap])
        except ParseError as err:
            raise _error(f"{field}[{index}]: {err.message}", hint=err.hint) from None
    return caps


def check_signature(
    data: bytes | None,
    *,
    verify: Literal["signed", "hash", "off"],
    trusted_keys: Mapping[str, Any],
) -> str | None:
    """Whether agents may act under this policy file; returns a warning to show, or None.

    An absent file is the defaults (nothing to sign). ``signed``: the file must carry a
    signature line by a trusted key over its current bytes. ``hash``: a changed file is
    refused, an unsigned one passes with a warning. ``off``: nothing is checked.

    Raises:
        PermissionDenied: the file is unsigned (``signed``), changed since it was signed,
            or signed by a key the user does not trust (``signed``) — with the hint
            ``kiwi sign policy``, which only the operator can run.
    """
    if data is None or verify == "off":
        return None
    from kiwi_mcp.kernel.trust.signing import verify_item

    try:
        result = verify_item(
            data,
            ext=".yaml",
            kind=POLICY_KIND,
            item_id=POLICY_ID,
            policy=verify,
            trusted_keys=trusted_keys,
        )
    except KiwiError as err:
        why = {
            "SIGNATURE_MISSING": "is not signed",
            "INTEGRITY_FAILED": "changed after it was signed",
            "SIGNATURE_UNTRUSTED": "is signed by a key you do not trust",
        }.get(err.code, "has a damaged signature line")
        raise PermissionDenied(
            f"the policy {POLICY_RELPATH} {why}, so no agent call is allowed"
            f" (KIWI_VERIFY={verify})",
            hint=_SIGN_HINT,
            at=POLICY_RELPATH,
            details={"policy": POLICY_RELPATH, "reason": err.code},
        ) from None
    if result.status == "unsigned":
        return (
            f"the policy {POLICY_RELPATH} is unsigned (KIWI_VERIFY=hash);"
            " sign it with 'kiwi sign policy'"
        )
    return result.warning


def _error(what: str, *, hint: str = _HINT) -> ParseError:
    return ParseError(f"{POLICY_RELPATH}: {what}", hint=hint, at=POLICY_RELPATH)
