"""The permission gate: what a chain's effects need, and the check itself (SPEC §9.4).

Pure: capabilities are computed from the resolved chain and the final config; nothing is
read but the paths' resolution.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.core.chain import Chain
from kiwi_mcp.kernel.errors import PermissionDenied
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet, exec_capability, http_capability

__all__ = ["effect_capabilities", "require"]


def effect_capabilities(chain: Chain, config: Mapping[str, Any], project_root: Path) -> list[str]:
    """The capabilities the effect itself needs: the host (and file sinks) of an HTTP call,
    the command of a subprocess, the files a project tool declares, and those the final
    config lists under ``capabilities`` (templated, so they can name a param: a system tool
    such as ``threads/control`` asks ``thread.control:<thread id>``)."""
    declared = [str(cap) for cap in config.get("capabilities") or ()]
    return declared + _effects(chain, config, project_root)


def _effects(chain: Chain, config: Mapping[str, Any], project_root: Path) -> list[str]:
    root = _real(project_root)
    if chain.primitive == "primitives/http_client":
        from kiwi_mcp.kernel.exec.dispatch import sink_path

        caps = [http_capability(str(config["url"]))]
        for sink in (config.get("stream") or {}).get("sinks") or []:
            if sink.get("type") == "file":
                target = sink_path(str(sink["path"]), root).resolve()
                # a path outside the project has no capability that covers it
                rel = (
                    target.relative_to(root).as_posix()
                    if target.is_relative_to(root)
                    else str(target)
                )
                caps.append(f"fs.write:{rel}")
        return caps
    caps = [exec_capability(str(config["command"]))]
    for tool, link in zip(chain.tools, chain.links, strict=True):
        if link.file.space == "project":
            for rel in tool.files:
                path = (link.file.path.parent / rel).resolve()
                if path.is_relative_to(root):
                    caps.append(f"fs.read:{path.relative_to(root).as_posix()}")
    return caps


@functools.lru_cache(maxsize=64)
def _real(path: Path) -> Path:
    """The project root without symlinks (once per root: a kernel's root does not move)."""
    return path.resolve()


def require(caps: CapabilitySet, wanted: Sequence[str], why: str) -> None:
    """Raise PermissionDenied naming the first missing capability (all in details)."""
    missing = caps.missing(wanted)
    if missing:
        raise PermissionDenied(
            f"missing capability {missing[0]} ({why})",
            hint=f"Only the operator can grant '{missing[0]}': ask them to add it to"
            " .ai/config/policy.yaml and run 'kiwi sign policy' (a thread gets it from its"
            " directive's <permissions>); or use a tool that needs less.",
            details={"missing": missing},
        )
