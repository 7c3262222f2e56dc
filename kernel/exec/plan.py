"""From an id and params to a :class:`Plan`: SPEC §5.2, split at the params.

``prepare`` does what follows from files alone — resolve the chain, verify every link, the
static plan, the lockfile check, the environment — and ``finish`` what needs this call's
params, caller and secrets: validate params, capabilities, template, ``config_schema``s and
the effect gate. A long-lived kernel keeps a :class:`Prepared` while the files it came from
are unchanged (``store/witness.py``'s ``Witness``); the SPEC's order of checks is the same
either way, because an error of the lockfile or environment step is kept in ``Prepared.failed`` and
raised by ``finish`` after the params and ``requires`` checks, where the SPEC puts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.chain import Chain
from kiwi_mcp.kernel.core.params import check_config, validate_params
from kiwi_mcp.kernel.core.static_plan import StaticPlan, required_capabilities
from kiwi_mcp.kernel.core.templating import TemplateContext
from kiwi_mcp.kernel.errors import KiwiError, UsageError
from kiwi_mcp.kernel.exec.gate import effect_capabilities, require
from kiwi_mcp.kernel.exec.sources import PlanSources
from kiwi_mcp.kernel.services.lockfiles.policy import LockCheck
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

if TYPE_CHECKING:
    from kiwi_mcp.kernel.core.llm.call import LlmCall
    from kiwi_mcp.kernel.services.connectors.records import McpCall
    from kiwi_mcp.kernel.services.env.resolver import ResolvedEnv

__all__ = ["Plan", "Prepared", "auth_service", "finish", "prepare"]


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
    #: an LLM call (a chain through an ``llm_protocol``): ``config`` is its HTTP request
    llm: LlmCall | None = None
    #: an upstream MCP call or listing (``exec/mcp_route.py``): the pool runs it, not a primitive
    mcp: McpCall | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Prepared:
    """The params-independent part of a plan. Nothing in it may be changed: it is shared
    by every call while its files are unchanged."""

    chain: Chain
    #: What the caller must hold: ``tool.execute`` of the asked tool, every link's ``requires``.
    required: tuple[str, ...]
    warnings: tuple[str, ...]
    #: The ``${tool.*}``, ``${project.path}`` and ``${user.path}`` values of the templates.
    tool: Mapping[str, str]
    project_path: str
    user_path: str
    static: StaticPlan | None = None
    lock: LockCheck | None = None
    resolved: ResolvedEnv | None = None
    #: The lockfile, merge or environment step's error, raised by ``finish`` in SPEC order.
    failed: KiwiError | None = None


def prepare(sources: PlanSources, tool_id: str, *, locked: bool) -> Prepared:
    """Resolve, verify, statically plan, check the lockfile and resolve the environment.

    Raises:
        KiwiError: resolution errors as they are; a link's verification error or a
            malformed ``env_config`` with the chain filled in.
    """
    chain = sources.resolve(tool_id)
    required = required_capabilities(chain)
    asked_link = chain.links[0]
    asked_path = asked_link.file.path
    tool = {
        "path": str(asked_path),
        "dir": str(asked_path.parent),
        "id": chain.asked.id,
        "sha256": asked_link.sha256,
    }
    project_path = str(sources.project_root)
    user_path = str(sources.user_space)
    try:
        warnings = sources.verify_chain(chain)
    except KiwiError as err:
        raise err.with_context(chain=list(chain.ids)) from None
    try:
        lock = sources.lock_check(chain, locked=locked)
        static = sources.static(chain)
        resolved = sources.environment(static)
    except KiwiError as err:
        return Prepared(
            chain=chain,
            required=required,
            warnings=tuple(warnings),
            tool=tool,
            failed=err,
            project_path=project_path,
            user_path=user_path,
        )
    return Prepared(
        chain=chain,
        required=required,
        warnings=(*warnings, *lock.warnings),
        tool=tool,
        project_path=project_path,
        user_path=user_path,
        static=static,
        lock=lock,
        resolved=resolved,
    )


def auth_service(auth: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """The AuthStore service of a tool's ``auth``: ``service`` itself, or with
    ``per_origin: true`` ``<service>:<host>:<port>`` of the request's own URL, so the
    credential injected is always the one kept for the host it is sent to (a registry's
    login token goes to that registry only, whichever URL the caller gave).

    Raises:
        UsageError: ``per_origin`` and the final ``config.url`` is not an http(s) URL.
    """
    service = str(auth["service"])
    if not auth.get("per_origin"):
        return service
    from urllib.parse import urlsplit

    url = str(config.get("url", ""))
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        parts, port = None, 0
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"auth.per_origin needs an http(s) config.url with a host, got '{url}'",
            hint="Give the tool a config.url such as https://host:port/path.",
        )
    return f"{service}:{parts.hostname}:{port}"


async def finish(
    sources: PlanSources,
    prepared: Prepared,
    params: Mapping[str, Any],
    caps: CapabilitySet,
    *,
    thread_id: str | None,
    fetch_auth: bool,
) -> Plan:
    """This call's part of the plan: params, capabilities, template, configs, effect gate.

    ``fetch_auth=False`` (``kiwi resolve``) puts a placeholder where the credential goes
    instead of reading (and maybe refreshing) it.

    Raises:
        KiwiError: the first check that failed (without the chain: ``Kernel.plan`` adds it).
    """
    chain = prepared.chain
    asked_link = chain.links[0]
    asked = chain.asked
    checked = validate_params(
        asked.parameters, dict(params), tool_id=asked.id, label=asked_link.file.label
    )
    # the caller may execute the asked tool, and holds what every link requires
    required = prepared.required
    require(caps, required, f"needed to run {asked.id}")
    if prepared.failed is not None:
        raise prepared.failed
    static, resolved = prepared.static, prepared.resolved
    assert static is not None and resolved is not None and prepared.lock is not None
    declared = static.declared
    secrets: dict[str, str] = {}
    for name in declared:
        value = await sources.secret(name)
        if value is None:
            value = resolved.dotenv_secrets.get(name)
        if value is not None:
            secrets[name] = value
    ctx = TemplateContext(
        params=checked,
        env=resolved.env,
        secrets=secrets,
        tool=prepared.tool,
        project_path=prepared.project_path,
        user_path=prepared.user_path,
        thread_id=thread_id,
    )
    templated = static.template(ctx)
    config: dict[str, Any] = templated.value
    secret_values = [secrets[name] for name in templated.secrets_used if name in secrets]
    tools = chain.tools
    auth = next((tool.auth for tool in tools if tool.auth), None)
    if auth is not None:
        if fetch_auth:
            token = await sources.token(auth_service(auth, config), auth.get("scope"))
            secret_values.append(token)
        else:
            token = "<credential>"
        header = str(auth.get("header", "Authorization"))
        scheme = str(auth.get("scheme", "Bearer"))
        config.setdefault("headers", {})[header] = f"{scheme} {token}" if scheme else token
    llm: LlmCall | None = None
    if any(tool.tool_type == "llm_protocol" for tool in tools):
        from kiwi_mcp.kernel.core.llm.call import plan_call

        llm, config = plan_call(config, checked, provider=asked.id)
    env = dict(resolved.env)
    for name in declared:
        if name in secrets and chain.primitive == "primitives/subprocess":
            env[name] = secrets[name]
            secret_values.append(secrets[name])
    for tool, link in zip(tools, chain.links, strict=True):
        if tool.config_schema:
            check_config(tool.config_schema, config, link_id=tool.id, label=link.file.label)
    effect_caps = effect_capabilities(chain, config, sources.project_root)
    require(caps, effect_caps, f"for the effect of {asked.id}")
    return Plan(
        chain=chain,
        params=checked,
        config=config,
        env=env,
        secret_values=tuple(secret_values),
        caps_used=tuple(dict.fromkeys([*required, *effect_caps])),
        warnings=prepared.warnings,
        lockfile=prepared.lock,
        llm=llm,
    )
