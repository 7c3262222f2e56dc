"""An LLM call over MCP (SPEC §12.3): ``execute`` of a provider streams the model's text as
progress notifications and returns the assembled turn; the key stays in its header."""

from __future__ import annotations

import subprocess
from typing import Any

import anyio
from mcp import Client

from tests.faces.mcp.conftest import KIWI, McpProject, envelope_of
from tests.support.fake_llm import FakeLLM


def test_execute_of_a_provider_streams_text_as_progress(mcp_project: McpProject) -> None:
    with FakeLLM() as fake:
        mcp_project.env["ANTHROPIC_BASE_URL"] = fake.base_url
        done = subprocess.run(
            [
                KIWI,
                "--project",
                str(mcp_project.root),
                "auth",
                "signin",
                "anthropic",
                "--token-stdin",
            ],
            input="sk-mcp-key",
            env=mcp_project.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        seen: list[str | None] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(message)

        async def main() -> Any:
            async with Client(mcp_project.stdio(), read_timeout_seconds=60) as client:
                return await client.call_tool(
                    "execute",
                    {
                        "item_type": "tool",
                        "item_id": "llm/providers/anthropic",
                        "parameters": {"model": "fake-text", "prompt": "over MCP"},
                    },
                    progress_callback=on_progress,
                )

        result = anyio.run(main)
        envelope = envelope_of(result)
        assert envelope["ok"], envelope
        assert envelope["data"]["text"] == "You said: over MCP"
        assert "".join(m for m in seen if m and not m.startswith("llm.")) == "You said: over MCP"
        assert fake.requests[-1].headers["x-api-key"] == "sk-mcp-key"
        assert "sk-mcp-key" not in result.content[0].text  # type: ignore[union-attr]
