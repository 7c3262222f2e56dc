"""What planning one call needs from its kernel, as a small Protocol.

``plan.prepare`` and ``plan.finish`` take a :class:`PlanSources` instead of the ``Kernel``,
so the plan does not import the composition root (no circle), and a test can drive it with
a source of its own. ``exec/kernel.py``'s ``Kernel`` is the one implementation in use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kiwi_mcp.kernel.core.chain import Chain
    from kiwi_mcp.kernel.core.static_plan import StaticPlan
    from kiwi_mcp.kernel.services.env.resolver import ResolvedEnv
    from kiwi_mcp.kernel.services.lockfiles.policy import LockCheck

__all__ = ["PlanSources"]


class PlanSources(Protocol):
    """The files, services and memo tables one plan is computed from."""

    @property
    def project_root(self) -> Path:
        """The project folder (``${project_path}``, relative file sinks, the effect gate)."""
        ...

    @property
    def user_space(self) -> Path:
        """The user space folder (``${user_path}``)."""
        ...

    def resolve(self, tool_id: str) -> Chain:
        """The tool's chain, resolved (SPEC §5.1)."""
        ...

    def verify_chain(self, chain: Chain) -> list[str]:
        """Verify every link (SPEC §9.3); returns warnings."""
        ...

    def lock_check(self, chain: Chain, *, locked: bool) -> LockCheck:
        """The lockfile policy applied to ``chain`` (SPEC §8.3)."""
        ...

    def static(self, chain: Chain) -> StaticPlan:
        """What follows from the chain's bytes alone (memoized by the kernel)."""
        ...

    def environment(self, static: StaticPlan) -> ResolvedEnv:
        """The environment the chain runs with (SPEC §8.1), without this call's config."""
        ...

    async def secret(self, name: str) -> str | None:
        """A declared secret from the AuthStore, or None."""
        ...

    async def token(self, service: str, scope: str | None) -> str:
        """A service's access token (refreshed when due)."""
        ...
