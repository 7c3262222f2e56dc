"""The executor: one ``execute`` from an id and params to a result envelope (SPEC §5).

Order, before any effect: resolve the chain → verify every link → validate params →
capabilities (``requires``) → lockfile → merge + template → ``config_schema`` of every link →
the effect gate (host / command) — see ``exec/plan.py``, whose params-independent part
a kernel keeps while its files are unchanged. Then the primitive runs, the result is
redacted, and one audit line is written whatever happened.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.chain import Chain, resolve_chain
from kiwi_mcp.kernel.core.spaces import LoadedItem, Space, SpaceName
from kiwi_mcp.kernel.core.static_plan import StaticPlan
from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.exec.plan import Plan, Prepared, finish
from kiwi_mcp.kernel.exec.plan_cache import PlanCache
from kiwi_mcp.kernel.services.lockfiles.policy import LockCheck, check_lockfile, lockfile_store
from kiwi_mcp.kernel.store.files import FileCache
from kiwi_mcp.kernel.store.items import ItemStore
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.trust.audit.log import AuditLog
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
from kiwi_mcp.kernel.trust.verifier import Verifier

if TYPE_CHECKING:
    import asyncio

    from kiwi_mcp.kernel.exec.executor import EventHook
    from kiwi_mcp.kernel.services.auth.store import AuthStore
    from kiwi_mcp.kernel.services.connectors.pool import UpstreamPool
    from kiwi_mcp.kernel.services.env.resolver import EnvResolver, ResolvedEnv
    from kiwi_mcp.kernel.services.lockfiles.store import LockfileStore
    from kiwi_mcp.primitives.http_client import HttpClient

__all__ = ["Kernel", "Plan"]

logger = logging.getLogger("kiwi.policy")


class Kernel:
    """One project's kernel: stores, services and the executor, shared across calls."""

    def __init__(
        self,
        settings: Settings,
        *,
        caps: CapabilitySet | None = None,
        as_operator: bool = False,
        clock: Callable[[], float] = time.time,
        clock_ns: Callable[[], int] = time.time_ns,
        session: str | None = None,
        token_id: str | None = None,
    ) -> None:
        """``caps``: the top-level caller's capabilities (default: the agents' policy), and
        ``token_id`` the token they came from (a thread's: every audit line names it);
        ``as_operator``: the operator's unrestricted set instead (``kiwi run
        --as-operator``), which every audit line of this kernel records. ``clock`` stamps
        records (audit lines, lockfiles, tokens); ``clock_ns`` is the settle clock every
        file memo compares stat stamps against (``store/files.py``)."""
        if as_operator:
            caps = CapabilitySet.operator()
        self.as_operator = as_operator
        self.token_id = token_id
        self.settings = settings
        self._guard: asyncio.Lock | None = None
        self.clock = clock
        self.clock_ns = clock_ns
        # 48 random bits, as uuid4().hex[:12] was; uuid costs ~5 ms to import (platform)
        self.session = session or os.urandom(6).hex()
        # watch=True: folders are watched (inotify) once a kept chain is first re-checked,
        # i.e. only by a kernel that lives across calls (store/watch.py)
        self.files = FileCache(clock_ns=clock_ns, watch=True)
        self.store = ItemStore(
            [
                Space(name="project", root=settings.project_root / ".ai"),
                Space(name="user", root=settings.user_space),
                Space(name="system", root=settings.system_root),
            ],
            files=self.files,
            clock_ns=clock_ns,
        )
        self.verifier = Verifier(settings, self.files, clock_ns=clock_ns)
        self._caps = caps
        # (stamp, caps, the key dict whose id() the stamp holds: kept alive so it stays unique)
        self._policy: tuple[tuple[str | None, int], CapabilitySet, Any] | None = None
        self._policy_path: str | None = None
        self._env_resolver: EnvResolver | None = None
        self._plans = PlanCache(self.files)
        self._http: HttpClient | None = None
        self._auth: AuthStore | None = None
        self._lockfiles: LockfileStore | None = None
        self._upstreams: UpstreamPool | None = None
        self.audit = AuditLog(
            settings.project_root / ".ai" / "logs" / "audit",
            clock,
            clock_ns=clock_ns,
            shown=".ai/logs/audit",
        )

    # --- services -----------------------------------------------------------------------

    @property
    def caps(self) -> CapabilitySet:
        """The top-level caller's capabilities: those given, else the agents' policy as the
        file says now (re-read when it or the trusted keys changed, so a narrowed policy
        counts at once), checked under ``KIWI_VERIFY`` (``trust/policy.check_signature``).

        Raises:
            ParseError: the policy file is malformed.
            PermissionDenied: the policy is unsigned or changed (SPEC §9.4).
        """
        if self._caps is not None:
            return self._caps
        from kiwi_mcp.kernel.trust import policy

        if self._policy_path is None:
            self._policy_path = os.path.join(self.settings.project_root, policy.POLICY_RELPATH)
        found = self.files.read(self._policy_path)
        keys = self.verifier.current_keys() if found is not None else None
        stamp = (None if found is None else found.sha256, id(keys))
        if self._policy is None or self._policy[0] != stamp:
            # a refusal is not kept: it is raised again, fresh, until the file is fixed
            data = None if found is None else found.data
            caps = policy.parse_policy(data)  # a malformed file says so first
            warning = policy.check_signature(
                data, verify=self.settings.verify, trusted_keys=keys or {}
            )
            if warning:
                logger.warning("%s", warning)
            self._policy = (stamp, caps, keys)
        return self._policy[1]

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            from kiwi_mcp.primitives.http_client import HttpClient

            self._http = HttpClient()
        return self._http

    @property
    def auth(self) -> AuthStore:
        if self._auth is None:
            from kiwi_mcp.kernel.services.auth.store import open_auth_store

            self._auth = open_auth_store(
                self.settings.user_space,
                backend=self.settings.auth_backend,
                clock=self.clock,
                http=self.http,
            )
        return self._auth

    @property
    def lockfiles(self) -> LockfileStore:
        """The project's lockfile store (project lockfiles first, then the user's)."""
        if self._lockfiles is None:
            self._lockfiles = lockfile_store(
                self.settings, clock=self.clock, read_bytes=self.files.read_bytes
            )
        return self._lockfiles

    @property
    def upstreams(self) -> UpstreamPool:
        """The kernel's pool of upstream MCP sessions (SPEC §14), made on first use."""
        if self._upstreams is None:
            from kiwi_mcp.kernel.services.connectors.pool import UpstreamPool

            self._upstreams = UpstreamPool()
        return self._upstreams

    async def aclose(self) -> None:
        if self._upstreams is not None:
            await self._upstreams.aclose()
            self._upstreams = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self.audit.close()

    # --- resolution -----------------------------------------------------------------------

    def load_tool(
        self, tool_id: str, within: Sequence[SpaceName] = ("project", "user", "system")
    ) -> LoadedItem:
        loaded = self.store.load("tool", tool_id, within=within)
        return loaded

    def resolve(self, tool_id: str) -> Chain:
        """Resolve and verify a tool's chain.

        Raises:
            KiwiError: ITEM_NOT_FOUND, AMBIGUOUS_ID, PARSE_ERROR, CHAIN_BROKEN, or a
                signature/integrity error of a link.
        """
        asked = self.store.load("tool", tool_id)  # found by its path: no listing, no refresh
        chain = resolve_chain(asked, lambda i, within: self.store.load("tool", i, within=within))
        return chain

    # --- PlanSources (exec/sources.py) ---------------------------------------------------

    @property
    def project_root(self) -> Path:
        return self.settings.project_root

    @property
    def user_space(self) -> Path:
        return self.settings.user_space

    def lock_check(self, chain: Chain, *, locked: bool) -> LockCheck:
        return check_lockfile(
            self.lockfiles,
            chain,
            policy=self.settings.lockfile,
            locked=locked,
            roots=self.pin_roots(),
            read_bytes=self.files.read_bytes,
        )

    def pin_roots(self) -> dict[str, Path]:
        """The spaces a registry install writes to (and so holds pins), by name."""
        return {"project": self.settings.project_root / ".ai", "user": self.settings.user_space}

    def environment(self, static: StaticPlan) -> ResolvedEnv:
        return self.env_resolver().resolve(
            env_config=static.env_config,
            config_env={},
            wanted=static.wanted,
            secrets=static.declared,
        )

    async def secret(self, name: str) -> str | None:
        return await self.auth.get_secret(name)

    async def token(self, service: str, scope: str | None) -> str:
        return await self.auth.get_token(service, scope)

    def verify_chain(self, chain: Chain) -> list[str]:
        """Verify every link; returns warnings (``hash``/``off`` policies)."""
        warnings: list[str] = []
        for link in chain.links:
            try:
                warning = self.verifier.check(link)
            except KiwiError as err:
                raise err.with_context(chain=chain.ids, at=link.file.id) from None
            if warning:
                warnings.append(warning)
        return warnings

    async def plan(
        self,
        tool_id: str,
        params: Mapping[str, Any],
        *,
        caps: CapabilitySet | None = None,
        thread_id: str | None = None,
        locked: bool = False,
        fetch_auth: bool = True,
    ) -> Plan:
        """Everything up to the effect: SPEC §5.2 in order (``exec/plan.py``).

        ``fetch_auth=False`` (``kiwi resolve``) puts a placeholder where the credential goes
        instead of reading (and maybe refreshing) it.

        Raises:
            KiwiError: the first check that failed, with the chain filled in.
        """
        async with self.guard:
            prepared = self.prepare(tool_id, locked=locked)
            try:
                from kiwi_mcp.kernel.exec.mcp_route import is_mcp, plan_mcp

                if is_mcp(prepared.chain):
                    return await plan_mcp(
                        self,
                        prepared,
                        params,
                        caps or self.caps,
                        thread_id=thread_id,
                        locked=locked,
                        fetch_auth=fetch_auth,
                    )
                if prepared.chain.asked.tool_type == "llm_runtime":
                    from kiwi_mcp.kernel.exec.llm_route import plan_routed

                    return await plan_routed(
                        self,
                        prepared,
                        params,
                        caps or self.caps,
                        thread_id=thread_id,
                        locked=locked,
                        fetch_auth=fetch_auth,
                    )
                return await finish(
                    self,
                    prepared,
                    params,
                    caps or self.caps,
                    thread_id=thread_id,
                    fetch_auth=fetch_auth,
                )
            except KiwiError as err:
                raise err.with_context(chain=list(prepared.chain.ids)) from None

    def prepare(self, tool_id: str, *, locked: bool = False) -> Prepared:
        """The params-independent part of the plan, reused while every file it was computed
        from is as it was (``store/files.py``), else computed again.

        Raises:
            KiwiError: resolution or verification failed (see ``plan.prepare``).
        """
        return self._plans.prepared(self, tool_id, locked=locked)

    def static(self, chain: Chain) -> StaticPlan:
        """``static_plan(chain)``, memoized by the links' (path, SHA-256)."""
        return self._plans.static(chain)

    def env_resolver(self) -> EnvResolver:
        """The project's EnvResolver (one per kernel; it keeps no state between calls)."""
        if self._env_resolver is None:
            from kiwi_mcp.kernel.services.env.resolver import EnvResolver

            self._env_resolver = EnvResolver(
                host_env=self.settings.host_env,
                project_path=self.settings.project_root,
                user_space=self.settings.user_space,
                read_text=self.files.read_text,
                stat=self.files.stat,
            )
        return self._env_resolver

    @property
    def guard(self) -> asyncio.Lock:
        """One kernel op at a time across tasks and worker threads: the stores and memos are
        not safe to share between threads (``faces/mcp/actions.off_loop``). Made at first use,
        always inside the event loop, so a command that never awaits imports no asyncio."""
        if self._guard is None:
            import asyncio

            self._guard = asyncio.Lock()
        return self._guard

    # --- execution -----------------------------------------------------------------------

    async def execute(
        self,
        tool_id: str,
        params: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
        caps: CapabilitySet | None = None,
        thread_id: str | None = None,
        locked: bool = False,
        on_event: EventHook | None = None,
    ) -> dict[str, Any]:
        """Run a tool and return its envelope; never raises a ``KiwiError``
        (``exec/executor.py``)."""
        from kiwi_mcp.kernel.exec.executor import execute

        return await execute(
            self,
            tool_id,
            params,
            dry_run=dry_run,
            caps=caps,
            thread_id=thread_id,
            locked=locked,
            on_event=on_event,
        )
