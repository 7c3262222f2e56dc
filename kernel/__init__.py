"""Kiwi's kernel: items, chains, services, trust, and the CLI and MCP faces."""

from __future__ import annotations

__version__ = "0.1.0"
