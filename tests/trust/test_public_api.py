"""The trust package's public face is small and pinned."""

from __future__ import annotations

import kernel.trust


def test_the_trust_package_exports_exactly_its_public_names() -> None:
    assert kernel.trust.__all__ == [
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
    assert all(hasattr(kernel.trust, name) for name in kernel.trust.__all__)
