"""The executor: one ``execute`` from an id and params to a result envelope (SPEC §5).

Order, before any effect: resolve the chain → verify every link → validate params →
capabilities (``requires``) → lockfile → merge + template → ``config_schema`` of every link →
the effect gate (host / command). Then the primitive runs, the result is redacted, and one
audit line is written whatever happened.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kernel.chain import Chain, resolve_chain
from kernel.envelope import error_envelope, ok_envelope
from kernel.errors import KiwiError
from kernel.filecache import FileCache
from kernel.gate import effect_capabilities, require
from kernel.integrity import Verifier
from kernel.locking import LockCheck, check_lockfile
from kernel.params import check_config, validate_params
from kernel.redact import Redactor
from kernel.settings import Settings
from kernel.static_plan import StaticPlan, static_plan
from kernel.store import ItemStore, LoadedItem, Space, SpaceName
from kernel.templating import TemplateContext, render
from kernel.trust.audit import AuditLog, call_record
from kernel.trust.capabilities import CapabilitySet

if TYPE_CHECKING:
    from kernel.services.auth import AuthStore
    from kernel.services.env import EnvResolver
    from primitives.http_client import HttpClient

__all__ = ["Kernel", "Plan"]

EventHook = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """Everything decided before the primitive runs."""

    chain: Chain
    params: dict[str, Any]
    config: dict[str, Any]
    env: dict[str, str]
    secret_values: tuple[str, ...]
    caps_used: tuple[str, ...]
    warnings: tuple[str, ...]
    lockfile: LockCheck


_MAX_STATICS = 256


class Kernel:
    """One project's kernel: stores, services and the executor, shared across calls."""

    def __init__(
        self,
        settings: Settings,
        *,
        caps: CapabilitySet | None = None,
        clock: Callable[[], float] = time.time,
        session: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.session = session or uuid.uuid4().hex[:12]
        self.files = FileCache()
        self.store = ItemStore(
            [
                Space(name="project", root=settings.project_root / ".ai"),
                Space(name="user", root=settings.user_space),
                Space(name="system", root=settings.system_root),
            ],
            files=self.files,
        )
        self.verifier = Verifier(settings, self.files)
        self._caps = caps
        self._policy: tuple[str | None, CapabilitySet] | None = None
        self._env_resolver: EnvResolver | None = None
        self._statics: dict[tuple[tuple[str, str], ...], StaticPlan] = {}
        self._http: HttpClient | None = None
        self._auth: AuthStore | None = None
        self.audit = AuditLog(settings.project_root / ".ai" / "logs" / "audit", clock)

    # --- services -----------------------------------------------------------------------

    @property
    def caps(self) -> CapabilitySet:
        """The top-level caller's capabilities: those given, else the project's policy as
        the file says now (re-read when it changed, so a narrowed policy counts at once).

        Raises:
            ParseError: the policy file is malformed.
        """
        if self._caps is not None:
            return self._caps
        from kernel.trust.policy import POLICY_RELPATH, load_policy

        found = self.files.read(self.settings.project_root / POLICY_RELPATH)
        stamp = None if found is None else found.sha256
        if self._policy is None or self._policy[0] != stamp:
            self._policy = (stamp, load_policy(self.settings.project_root))
        return self._policy[1]

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            from primitives.http_client import HttpClient

            self._http = HttpClient()
        return self._http

    @property
    def auth(self) -> AuthStore:
        if self._auth is None:
            from kernel.services.auth import open_auth_store

            self._auth = open_auth_store(
                self.settings.user_space,
                backend=self.settings.auth_backend,
                clock=self.clock,
                http=self.http,
            )
        return self._auth

    async def aclose(self) -> None:
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
        self.store.refresh()
        asked = self.store.load("tool", tool_id)
        chain = resolve_chain(asked, lambda i, within: self.store.load("tool", i, within=within))
        return chain

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
        """Everything up to the effect: SPEC §5.2 in order.

        ``fetch_auth=False`` (``kiwi resolve``) puts a placeholder where the credential goes
        instead of reading (and maybe refreshing) it.

        Raises:
            KiwiError: the first check that failed, with the chain filled in.
        """
        chain = self.resolve(tool_id)
        ids = list(chain.ids)
        try:
            return await self._plan(chain, params, caps or self.caps, thread_id, locked, fetch_auth)
        except KiwiError as err:
            raise err.with_context(chain=ids) from None

    async def _plan(
        self,
        chain: Chain,
        params: Mapping[str, Any],
        caps: CapabilitySet,
        thread_id: str | None,
        locked: bool,
        fetch_auth: bool,
    ) -> Plan:
        warnings = self.verify_chain(chain)
        asked_link = chain.links[0]
        asked = chain.asked
        checked = validate_params(
            asked.parameters, dict(params), tool_id=asked.id, label=asked_link.file.label
        )
        static = self.static(chain)
        # the caller may execute the asked tool, and holds what every link requires
        required = list(static.required)
        require(caps, required, f"needed to run {asked.id}")
        lock = check_lockfile(self, chain, locked=locked)
        warnings.extend(lock.warnings)

        tools = chain.tools
        merged = static.merged
        declared = static.declared
        resolved = self.env_resolver().resolve(
            env_config=static.env_config,
            config_env={},
            wanted=static.wanted,
            secrets=declared,
        )
        secrets: dict[str, str] = {}
        for name in declared:
            value = await self.auth.get_secret(name)
            if value is None:
                value = resolved.dotenv_secrets.get(name)
            if value is not None:
                secrets[name] = value
        asked_path = asked_link.file.path
        ctx = TemplateContext(
            params=checked,
            env=resolved.env,
            secrets=secrets,
            tool={
                "path": str(asked_path),
                "dir": str(asked_path.parent),
                "id": asked.id,
                "sha256": asked_link.sha256,
            },
            project_path=str(self.settings.project_root),
            user_path=str(self.settings.user_space),
            thread_id=thread_id,
        )
        templated = render(merged, ctx)
        config: dict[str, Any] = templated.value
        secret_values = [secrets[name] for name in templated.secrets_used if name in secrets]
        auth = next((tool.auth for tool in tools if tool.auth), None)
        if auth is not None:
            if fetch_auth:
                token = await self.auth.get_token(str(auth["service"]), auth.get("scope"))
                secret_values.append(token)
            else:
                token = "<credential>"
            header = str(auth.get("header", "Authorization"))
            scheme = str(auth.get("scheme", "Bearer"))
            config.setdefault("headers", {})[header] = f"{scheme} {token}" if scheme else token
        env = dict(resolved.env)
        for name in declared:
            if name in secrets and chain.primitive == "primitives/subprocess":
                env[name] = secrets[name]
                secret_values.append(secrets[name])
        for tool, link in zip(tools, chain.links, strict=True):
            if tool.config_schema:
                check_config(tool.config_schema, config, link_id=tool.id, label=link.file.label)
        effect_caps = effect_capabilities(chain, config, self.settings.project_root)
        require(caps, effect_caps, f"for the effect of {asked.id}")
        return Plan(
            chain=chain,
            params=checked,
            config=config,
            env=env,
            secret_values=tuple(secret_values),
            caps_used=tuple(dict.fromkeys([*required, *effect_caps])),
            warnings=tuple(warnings),
            lockfile=lock,
        )

    def static(self, chain: Chain) -> StaticPlan:
        """``static_plan(chain)``, memoized by the links' (path, SHA-256): exactly what it
        depends on."""
        key = tuple((str(link.file.path), link.sha256) for link in chain.links)
        found = self._statics.get(key)
        if found is None:
            found = static_plan(chain)
            if len(self._statics) >= _MAX_STATICS:
                self._statics.pop(next(iter(self._statics)))
            self._statics[key] = found
        return found

    def env_resolver(self) -> EnvResolver:
        """The project's EnvResolver (one per kernel; it keeps no state between calls)."""
        if self._env_resolver is None:
            from kernel.services.env import EnvResolver

            self._env_resolver = EnvResolver(
                host_env=self.settings.host_env,
                project_path=self.settings.project_root,
                user_space=self.settings.user_space,
                read_text=self.files.read_text,
            )
        return self._env_resolver

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
        """Run a tool and return its envelope; never raises a ``KiwiError``."""
        from kernel.dispatch import run_http, run_subprocess

        started = time.perf_counter()
        params = dict(params or {})
        meta: dict[str, Any] = {"chain": [], "primitive": None}
        redactor = Redactor(())
        plan: Plan | None = None
        envelope: dict[str, Any]
        try:
            plan = await self.plan(tool_id, params, caps=caps, thread_id=thread_id, locked=locked)
            redactor = Redactor(plan.secret_values)
            on_event = _redacting(on_event, redactor)
            meta.update(chain=list(plan.chain.ids), primitive=plan.chain.primitive)
            if plan.warnings:
                meta["warnings"] = list(plan.warnings)
            meta["lockfile"] = plan.lockfile.status
            if dry_run:
                data: Any = {"dry_run": True, "params": plan.params, "config": plan.config}
            elif plan.chain.primitive == "primitives/subprocess":
                data, meta["process"] = await run_subprocess(
                    plan.config, env=plan.env, params=plan.params, on_event=on_event
                )
            else:
                data, meta["http"] = await run_http(
                    plan.config,
                    client=self.http,
                    project_path=self.settings.project_root,
                    on_event=on_event,
                )
            if plan.chain.asked.mutates_state and not dry_run:
                meta["checkpoint_recommended"] = True
            envelope = ok_envelope(data, meta)
        except KiwiError as err:
            if not meta["chain"]:
                meta["chain"] = list(err.chain)
            envelope = error_envelope(err, meta)
        except asyncio.CancelledError:
            # the caller went away; the primitive killed what it started — record that
            meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            cancelled = {"ok": False, "error": {"code": "CANCELLED"}, "meta": meta}
            self._audit(tool_id, params, plan, cancelled, thread_id)
            raise
        meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        envelope["meta"] = meta
        envelope = redactor.redact_value(envelope)
        self._audit(tool_id, params, plan, envelope, thread_id)
        return envelope

    def _audit(
        self,
        tool_id: str,
        params: Mapping[str, Any],
        plan: Plan | None,
        envelope: Mapping[str, Any],
        thread_id: str | None,
    ) -> None:
        self.audit.append(
            call_record(
                session=self.session,
                thread=thread_id,
                item=tool_id,
                params=params,
                caps_used=list(plan.caps_used) if plan else [],
                envelope=envelope,
            )
        )


def _redacting(hook: EventHook | None, redactor: Redactor) -> EventHook | None:
    """Events pass through the same redaction as the envelope (they may echo a secret)."""
    if hook is None:
        return None
    inner = hook

    def redacted(event: dict[str, Any]) -> None:
        inner(redactor.redact_value(event))

    return redacted
