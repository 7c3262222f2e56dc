"""Kiwi's kernel: items, chains, services, trust, and the CLI and MCP faces.

The public face is this short list — what a tool that imports the kernel as a library (a
thread's runner, a test, a script) needs. Each name is imported on first use (PEP 562), so
``import kiwi_mcp.kernel`` stays cheap for ``kiwi --help``. Everything else is importable
from its module (``kiwi_mcp.kernel.core.templating.render``, ``…store.items.ItemStore``) but
is not API.
"""

from __future__ import annotations

from kiwi_mcp.kernel._version import __version__ as __version__

TYPE_CHECKING = False  # not typing's: `kiwi --help` answered from its cache imports no typing

_EXPORTS = {
    "CapabilitySet": "kiwi_mcp.kernel.trust.capabilities",
    "CapabilityToken": "kiwi_mcp.kernel.trust.tokens",
    "Chain": "kiwi_mcp.kernel.core.chain",
    "Directive": "kiwi_mcp.kernel.core.items",
    "Kernel": "kiwi_mcp.kernel.exec.kernel",
    "KiwiError": "kiwi_mcp.kernel.errors",
    "Knowledge": "kiwi_mcp.kernel.core.items",
    "Settings": "kiwi_mcp.kernel.store.settings",
    "Tool": "kiwi_mcp.kernel.core.items",
    "mint_token": "kiwi_mcp.kernel.trust.tokens",
    "verify_token": "kiwi_mcp.kernel.trust.tokens",
}
#: public names whose object has another name in its module
_RENAMED = {"mint_token": "mint"}

__all__ = [
    "CapabilitySet",
    "CapabilityToken",
    "Chain",
    "Directive",
    "Kernel",
    "KiwiError",
    "Knowledge",
    "Settings",
    "Tool",
    "mint_token",
    "verify_token",
]

if TYPE_CHECKING:
    from typing import Any

    from kiwi_mcp.kernel.core.chain import Chain
    from kiwi_mcp.kernel.core.items import Directive, Knowledge, Tool
    from kiwi_mcp.kernel.errors import KiwiError
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.store.settings import Settings
    from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
    from kiwi_mcp.kernel.trust.tokens import CapabilityToken, verify_token
    from kiwi_mcp.kernel.trust.tokens import mint as mint_token


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value
