"""Kiwi's MCP server (SPEC §10): the five tools, prompts, resources and both transports."""

from __future__ import annotations

from kernel.mcp.contexts import ProjectContexts
from kernel.mcp.server import KiwiServer, build_server
from kernel.mcp.transports import serve_http, serve_stdio

__all__ = ["KiwiServer", "ProjectContexts", "build_server", "serve_http", "serve_stdio"]
