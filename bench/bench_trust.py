"""Trust layer benchmark (issue 5). A script, not a test: prints numbers against targets.

* ``verify_token`` of a child token against its parent (target ≤ 0.15 ms per call). The
  gate verifies a thread's token at every tool call, so the warm number (Ed25519 result
  cached for the same key and bytes) is the one held to the target; the cold one is the
  first sight of a token, mostly the Ed25519 check itself
* ``CapabilitySet.missing`` for a typical 4-link chain's ``requires`` plus its effects
  (target ≤ 0.5 ms per call), warm (compiled globs cached) and cold (caches cleared)

Run: ``.venv/bin/python bench/bench_trust.py [--strict]`` (``--strict``: exit 1 when a warm
number misses its target).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiwi_mcp.kernel.trust import capabilities, globs, tokens
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet, exec_capability, http_capability
from kiwi_mcp.kernel.trust.encoding import fingerprint
from kiwi_mcp.kernel.trust.policy import DEFAULT_CAPABILITIES
from kiwi_mcp.kernel.trust.tokens import mint, verify_token

NOW = 1_700_000_000.0

# A 4-link chain: weather → runtimes/python → runtimes/base → primitives/subprocess.
CHAIN_REQUIRES = [
    "tool.execute:weather",
    "net.http:api.example.test",
    "fs.read:data/cities.json",
    "tool.execute:runtimes/python",
    "process.exec:python3",
    "fs.read:src/**",
    "tool.execute:runtimes/base",
    "tool.load:runtimes/base",
    "tool.execute:primitives/subprocess",
]
EFFECTS = [
    http_capability("https://api.example.test:8443/v1/weather?q=x"),
    exec_capability("/usr/bin/python3"),
    "fs.write:out/report.json",
]


def _per_call_ms(fn: Callable[[], object], *, seconds: float = 0.5) -> float:
    calls = 0
    start = time.perf_counter()
    while True:
        for _ in range(100):
            fn()
        calls += 100
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls * 1000


def _clear_caches() -> None:
    for cached in (
        capabilities._parse,
        capabilities._covers,
        globs.glob_covers,
        globs.split_scope,
        globs._compiled,
    ):
        cached.cache_clear()


def main(argv: list[str]) -> int:
    key = Ed25519PrivateKey.generate()
    trusted = {fingerprint(key.public_key()): key.public_key()}
    parent, _ = mint(
        key, caps=list(DEFAULT_CAPABILITIES), sub="cli", aud="kiwi", now=NOW, ttl_s=3600
    )
    _, child_text = mint(
        key,
        caps=["tool.execute:llm/*", "net.http:*.example.test", "fs.read:docs/**"],
        sub="thread-1",
        aud="kiwi",
        now=NOW,
        ttl_s=600,
        parent=parent,
    )

    def verify() -> object:
        return verify_token(
            child_text, trusted_keys=trusted, audience="kiwi", now=NOW + 1, parent=parent
        )

    def cold_verify() -> object:
        tokens._check_signature.cache_clear()
        return verify()

    policy = CapabilitySet.from_strings(DEFAULT_CAPABILITIES)
    wanted = CHAIN_REQUIRES + EFFECTS
    assert policy.missing(wanted) == [], policy.missing(wanted)

    def missing() -> object:
        return policy.missing(wanted)

    def cold_missing() -> object:
        _clear_caches()
        return CapabilitySet.from_strings(DEFAULT_CAPABILITIES).missing(wanted)

    rows = [
        ("verify_token, child vs parent (warm)", _per_call_ms(verify), 0.15),
        ("  same, first sight of the token (cold)", _per_call_ms(cold_verify), None),
        (f"CapabilitySet.missing, {len(wanted)} caps (warm)", _per_call_ms(missing), 0.5),
        ("  same, caches cleared each call (cold)", _per_call_ms(cold_missing), None),
    ]
    failed = False
    for name, ms, target in rows:
        if target is None:
            print(f"{name:<46} {ms:8.4f} ms")
            continue
        ok = ms <= target
        failed |= not ok
        print(f"{name:<46} {ms:8.4f} ms  (target ≤ {target} ms: {'ok' if ok else 'MISSED'})")
    return 1 if failed and "--strict" in argv else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
