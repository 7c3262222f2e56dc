"""The part of a plan that follows from the chain's files alone (SPEC §5.2, steps 6 and 8).

Bound and merged config, merged ``env_config``, the environment names the config wants,
declared secrets and the capabilities the links require depend only on the links' bytes
and paths, not on params or the environment. ``Kernel`` memoizes a ``StaticPlan`` by the
links' (path, SHA-256); ``kiwi resolve`` shows its merged config. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kiwi_mcp.kernel.core.chain import Chain
from kiwi_mcp.kernel.core.env_config import EnvConfig
from kiwi_mcp.kernel.core.merge import merge_configs
from kiwi_mcp.kernel.core.templating import (
    TemplateContext,
    Templated,
    bind_link,
    compile_template,
    env_names,
)

__all__ = ["StaticPlan", "required_capabilities", "static_plan"]


@dataclass(frozen=True, kw_only=True, slots=True)
class StaticPlan:
    """See the module docstring. ``merged`` may be shared between calls: templating builds
    a new value from it and nothing may change it."""

    required: tuple[str, ...]
    merged: dict[str, Any]
    #: ``render(merged, ctx)``, compiled once (``templating.compile_template``).
    template: Callable[[TemplateContext], Templated]
    env_config: EnvConfig
    wanted: frozenset[str]
    declared: tuple[str, ...]


def static_plan(chain: Chain) -> StaticPlan:
    """Bind each link's ``${link.*}``, merge primitive-first, and collect the rest.

    Raises:
        ConfigInvalid: the merged ``env_config`` is malformed (the field path is named).
    """
    tools = chain.tools
    configs = []
    for tool, link in zip(tools, chain.links, strict=True):
        path = link.file.path
        configs.append(
            bind_link(tool.config, {"path": str(path), "dir": str(path.parent), "id": tool.id})
        )
    merged = merge_configs(reversed(configs))
    env_config = merge_configs(reversed([tool.env_config for tool in tools]))
    return StaticPlan(
        required=required_capabilities(chain),
        merged=merged,
        template=compile_template(merged),
        env_config=EnvConfig.from_dict(env_config),
        wanted=frozenset(env_names(merged)),
        declared=tuple(sorted({name for tool in tools for name in tool.secrets})),
    )


def required_capabilities(chain: Chain) -> tuple[str, ...]:
    """``tool.execute`` of the asked tool, then every link's ``requires``, in chain order."""
    return (f"tool.execute:{chain.asked.id}", *(c for t in chain.tools for c in t.requires))
