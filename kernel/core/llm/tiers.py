"""``llm/runtime``'s routing (SPEC §12.2, §12.4): a tier (or a provider and a model) to the
provider chain that runs the call, with the defaults filled in.

The tier map and defaults are the runtime tool's config, with ``.ai/config/llm.yaml`` of the
user and then the project merged over it (``tiers:`` per tier, ``defaults:`` per key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kiwi_mcp.kernel.errors import ConfigInvalid, ParamsInvalid

__all__ = ["Route", "merge_llm_config", "route"]

_ROUTING = ("tier", "provider")
_DEFAULTED = ("max_tokens", "temperature")


@dataclass(frozen=True, slots=True)
class Route:
    provider: str  # a tool id: llm/providers/<name>
    model: str
    tier: str | None
    params: Mapping[str, Any]  # the canonical request for the provider


def merge_llm_config(
    base: Mapping[str, Any], overrides: Sequence[tuple[str, Any]]
) -> dict[str, Any]:
    """``base`` (the runtime's config) with each ``(label, llm.yaml data)`` merged over it.

    Raises:
        ConfigInvalid: an override is not ``{tiers: {name: {provider, model}}, defaults: {}}``.
    """
    tiers = {str(k): dict(v) for k, v in (base.get("tiers") or {}).items()}
    defaults = dict(base.get("defaults") or {})
    for label, data in overrides:
        if data is None:
            continue
        if not isinstance(data, Mapping) or set(data) - {"tiers", "defaults"}:
            raise ConfigInvalid(
                f"{label}: wanted a mapping with 'tiers' and/or 'defaults', got "
                f"{sorted(data) if isinstance(data, Mapping) else type(data).__name__}",
                hint="e.g. tiers: {fast: {provider: anthropic, model: claude-haiku-4-5}}",
                at=label,
            )
        for name, tier in (data.get("tiers") or {}).items():
            if not isinstance(tier, Mapping):
                raise ConfigInvalid(f"{label}: tiers.{name}: wanted {{provider, model}}", at=label)
            tiers[str(name)] = {**tiers.get(str(name), {}), **tier}
        defaults.update(data.get("defaults") or {})
    return {"tiers": tiers, "defaults": defaults}


def _provider_id(name: str) -> str:
    return name if "/" in name else f"llm/providers/{name}"


def route(config: Mapping[str, Any], params: Mapping[str, Any]) -> Route:
    """Which provider and model a runtime call goes to, and the request it sends.

    Raises:
        ParamsInvalid: an unknown tier, or neither a tier, a default tier nor a provider.
    """
    tiers: Mapping[str, Any] = config.get("tiers") or {}
    defaults: Mapping[str, Any] = config.get("defaults") or {}
    tier = params.get("tier")
    provider = params.get("provider")
    model = params.get("model")
    if provider is None and tier is None:
        tier = defaults.get("tier")
    if provider is None:
        if tier is None:
            raise ParamsInvalid(
                "params: wanted 'tier' (or 'provider' and 'model')",
                hint=f"Tiers here: {', '.join(sorted(tiers)) or 'none'}.",
                details={"field": "tier"},
            )
        if not isinstance(tier, str) or tier not in tiers:
            raise ParamsInvalid(
                f"params tier: wanted one of {', '.join(sorted(tiers)) or '(none defined)'}, "
                f"got {tier!r}",
                hint="Define tiers in .ai/config/llm.yaml (tiers: {name: {provider, model}}).",
                details={"field": "tier"},
            )
        chosen = tiers[tier]
        provider = chosen.get("provider")
        model = model or chosen.get("model")
    if not isinstance(provider, str) or not provider:
        raise ParamsInvalid(
            f"params provider: wanted a provider name, got {provider!r}",
            details={"field": "provider"},
        )
    if not isinstance(model, str) or not model:
        raise ParamsInvalid(
            f"params model: wanted a model name, got {model!r}", details={"field": "model"}
        )
    request = {k: v for k, v in params.items() if k not in _ROUTING}
    request["model"] = model
    for key in _DEFAULTED:
        if key not in request and defaults.get(key) is not None:
            request[key] = defaults[key]
    return Route(provider=_provider_id(provider), model=model, tier=tier, params=request)
