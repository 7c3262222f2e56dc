"""The MCP face (SPEC §10)."""
