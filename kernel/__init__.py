"""Kiwi's kernel: items, chains, services, trust, and the CLI and MCP faces.

The public face is this short list; each name is imported on first use (PEP 562), so
``import kernel`` stays cheap for ``kiwi --help``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "CapabilitySet": "kernel.trust.capabilities",
    "Chain": "kernel.chain",
    "Directive": "kernel.items",
    "ItemStore": "kernel.store",
    "Kernel": "kernel.executor",
    "KiwiError": "kernel.errors",
    "Knowledge": "kernel.items",
    "Settings": "kernel.settings",
    "TemplateContext": "kernel.templating",
    "Tool": "kernel.items",
    "merge_configs": "kernel.merge",
    "render": "kernel.templating",
    "resolve_chain": "kernel.chain",
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
    from kernel.chain import Chain, resolve_chain
    from kernel.errors import KiwiError
    from kernel.executor import Kernel
    from kernel.items import Directive, Knowledge, Tool
    from kernel.merge import merge_configs
    from kernel.settings import Settings
    from kernel.store import ItemStore
    from kernel.templating import TemplateContext, render
    from kernel.trust.capabilities import CapabilitySet


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kernel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
