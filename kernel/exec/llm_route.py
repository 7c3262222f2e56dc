"""``llm/runtime`` planned (SPEC §12.2): the tier map picks a provider, whose chain is planned
for the call; the runtime's link is put in front of it, so the envelope's chain, the audit line
and the capabilities checked name both.

The runtime tool's ``executor_id`` names the primitive its calls end in; which provider chain
leads there is decided per call, by ``tier`` (or ``provider`` + ``model``), over the tier map
of the runtime's config with ``.ai/config/llm.yaml`` of the user space and then the project
merged over it. Those two files choose only among providers, which are verified items like any
other, so they are read as plain settings (unsigned, as ``.env`` files are).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from kiwi_mcp.kernel.core.chain import Chain
from kiwi_mcp.kernel.core.llm.tiers import merge_llm_config, route
from kiwi_mcp.kernel.core.yaml_read import load_yaml_mapping
from kiwi_mcp.kernel.exec.gate import require
from kiwi_mcp.kernel.exec.plan import Plan, Prepared, finish
from kiwi_mcp.kernel.exec.sources import PlanSources
from kiwi_mcp.kernel.store.files import FileCache
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet


class Routes(PlanSources, Protocol):
    """What routing needs of its kernel (``exec/kernel.py``'s ``Kernel``)."""

    @property
    def files(self) -> FileCache: ...

    def prepare(self, tool_id: str, *, locked: bool = False) -> Prepared: ...


__all__ = ["LLM_CONFIG", "llm_settings", "plan_routed"]

LLM_CONFIG = Path("config") / "llm.yaml"


def llm_settings(kernel: Routes, base: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime's tiers and defaults with the user's, then the project's, ``llm.yaml``."""
    overrides: list[tuple[str, Any]] = []
    for label, root in (("user", kernel.user_space), ("project", kernel.project_root / ".ai")):
        path = root / LLM_CONFIG
        text = kernel.files.read_text(path)
        if text is not None:
            overrides.append((f"{label} {LLM_CONFIG}", load_yaml_mapping(text, str(path))))
    return merge_llm_config(base, overrides)


async def plan_routed(
    kernel: Routes,
    runtime: Prepared,
    params: Mapping[str, Any],
    caps: CapabilitySet,
    *,
    thread_id: str | None,
    locked: bool,
    fetch_auth: bool,
) -> Plan:
    """The plan of the provider chain the runtime routes ``params`` to, with the runtime's
    link in front. Raises what ``finish`` raises, for the runtime or the provider."""
    require(caps, runtime.required, f"needed to run {runtime.chain.asked.id}")
    if runtime.failed is not None:
        raise runtime.failed
    chosen = route(llm_settings(kernel, runtime.chain.asked.config), params)
    provider = kernel.prepare(chosen.provider, locked=locked)
    plan = await finish(
        kernel, provider, chosen.params, caps, thread_id=thread_id, fetch_auth=fetch_auth
    )
    chain = Chain(links=(runtime.chain.links[0], *plan.chain.links))
    return dataclasses.replace(
        plan,
        chain=chain,
        caps_used=tuple(dict.fromkeys([*runtime.required, *plan.caps_used])),
        warnings=(*runtime.warnings, *plan.warnings),
    )
