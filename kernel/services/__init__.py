"""Kernel services (SPEC §8): the environment, stored credentials, lockfiles.

Each service is a self-contained module the executor calls; see ``env``, ``auth`` and
``lockfile`` for the contracts.
"""

from __future__ import annotations

from kernel.services.auth import AuthRecord, AuthStore, ServiceStatus, open_auth_store
from kernel.services.env import EnvConfig, EnvResolver, ResolvedEnv
from kernel.services.lockfile import Drift, LockedLink, Lockfile, LockfileStore, compare

__all__ = [
    "AuthRecord",
    "AuthStore",
    "Drift",
    "EnvConfig",
    "EnvResolver",
    "LockedLink",
    "Lockfile",
    "LockfileStore",
    "ResolvedEnv",
    "ServiceStatus",
    "compare",
    "open_auth_store",
]
