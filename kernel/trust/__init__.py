"""The trust layer (SPEC §4.1, §9): capabilities, tokens, item signatures, keys, the
system-space manifest, the audit log and the project's capability policy.

The executor and the item loader call these; nothing here touches the executor. The
manifest functions live in ``kernel.trust.manifest`` (not imported here, so that
``python -m kernel.trust.manifest`` runs cleanly).
"""

from __future__ import annotations

from kernel.trust.audit import AuditLog, AuditReport, params_digest
from kernel.trust.capabilities import (
    Capability,
    CapabilitySet,
    covers,
    exec_capability,
    http_capability,
)
from kernel.trust.keys import KeyStore, TrustedKey, TrustStore
from kernel.trust.permissions import permissions_to_capabilities
from kernel.trust.policy import DEFAULT_CAPABILITIES, load_policy
from kernel.trust.signing import (
    SignatureLine,
    Verification,
    content_hash,
    sign_item,
    split_signature,
    verify_item,
)
from kernel.trust.tokens import CapabilityToken, mint, verify_token

__all__ = [
    "DEFAULT_CAPABILITIES",
    "AuditLog",
    "AuditReport",
    "Capability",
    "CapabilitySet",
    "CapabilityToken",
    "KeyStore",
    "SignatureLine",
    "TrustStore",
    "TrustedKey",
    "Verification",
    "content_hash",
    "covers",
    "exec_capability",
    "http_capability",
    "load_policy",
    "mint",
    "params_digest",
    "permissions_to_capabilities",
    "sign_item",
    "split_signature",
    "verify_item",
    "verify_token",
]
