"""The result envelope every execution returns (SPEC §5.5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiwi_mcp.kernel.errors import KiwiError

__all__ = ["error_envelope", "ok_envelope"]


def ok_envelope(data: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
    """A successful result."""
    return {"ok": True, "data": data, "error": None, "meta": dict(meta)}


def error_envelope(err: KiwiError, meta: Mapping[str, Any]) -> dict[str, Any]:
    """A failed result; the error object carries code, message, hint, chain and at."""
    return {"ok": False, "data": None, "error": err.to_dict(), "meta": dict(meta)}
