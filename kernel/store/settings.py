"""Settings of one kernel, read once from the environment at the edge (SPEC §11)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kiwi_mcp.kernel.errors import UsageError
from kiwi_mcp.kernel.store.paths import find_project_root, system_space_root, user_space_root

__all__ = ["LockfilePolicy", "Settings", "VerifyPolicy"]

VerifyPolicy = Literal["signed", "hash", "off"]
LockfilePolicy = Literal["off", "warn", "strict"]
AuthBackend = Literal["auto", "keyring", "file"]


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, "").strip() or default
    if value not in allowed:
        raise UsageError(
            f"{name}={value!r} is not one of {', '.join(allowed)}",
            hint=f"Set {name} to one of: {', '.join(allowed)} (default {default}).",
        )
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Where the spaces are and which policies apply."""

    project_root: Path
    user_space: Path
    system_root: Path
    host_env: Mapping[str, str] = field(default_factory=dict)
    verify: VerifyPolicy = "signed"
    lockfile: LockfilePolicy = "warn"
    auth_backend: AuthBackend = "auto"

    @classmethod
    def from_environment(
        cls,
        project: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Settings:
        """Settings from ``--project`` and ``KIWI_*`` variables.

        Raises:
            UsageError: a ``KIWI_*`` variable has a value that is not allowed.
        """
        environ = dict(os.environ if env is None else env)
        return cls(
            project_root=find_project_root(project, cwd),
            user_space=user_space_root(environ),
            system_root=system_space_root(),
            host_env=environ,
            verify=_choice(environ, "KIWI_VERIFY", ("signed", "hash", "off"), "signed"),  # type: ignore[arg-type]
            lockfile=_choice(environ, "KIWI_LOCKFILE", ("off", "warn", "strict"), "warn"),  # type: ignore[arg-type]
            auth_backend=_choice(environ, "KIWI_AUTH_BACKEND", ("auto", "keyring", "file"), "auto"),  # type: ignore[arg-type]
        )
