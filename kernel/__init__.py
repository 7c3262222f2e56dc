"""Kiwi's kernel: items, chains, services, trust, and the CLI and MCP faces.

The public face is this short list; each name is imported on first use (PEP 562), so
``import kernel`` stays cheap for ``kiwi --help``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel._version import __version__ as __version__

_EXPORTS = {
    "CapabilitySet": "kiwi_mcp.kernel.trust.capabilities",
    "Chain": "kiwi_mcp.kernel.core.chain",
    "Directive": "kiwi_mcp.kernel.core.items",
    "ItemStore": "kiwi_mcp.kernel.store.items",
    "Kernel": "kiwi_mcp.kernel.exec.kernel",
    "KiwiError": "kiwi_mcp.kernel.errors",
    "Knowledge": "kiwi_mcp.kernel.core.items",
    "Settings": "kiwi_mcp.kernel.store.settings",
    "TemplateContext": "kiwi_mcp.kernel.core.templating",
    "Tool": "kiwi_mcp.kernel.core.items",
    "merge_configs": "kiwi_mcp.kernel.core.merge",
    "render": "kiwi_mcp.kernel.core.templating",
    "resolve_chain": "kiwi_mcp.kernel.core.chain",
}

__all__ = [
    "CapabilitySet",
    "Chain",
    "Directive",
    "ItemStore",
    "Kernel",
    "KiwiError",
    "Knowledge",
    "Settings",
    "TemplateContext",
    "Tool",
    "merge_configs",
    "render",
    "resolve_chain",
]

if TYPE_CHECKING:
    from kiwi_mcp.kernel.core.chain import Chain, resolve_chain
    from kiwi_mcp.kernel.core.items import Directive, Knowledge, Tool
    from kiwi_mcp.kernel.core.merge import merge_configs
    from kiwi_mcp.kernel.core.templating import TemplateContext, render
    from kiwi_mcp.kernel.errors import KiwiError
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.store.items import ItemStore
    from kiwi_mcp.kernel.store.settings import Settings
    from kiwi_mcp.kernel.trust.capabilities import CapabilitySet


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
