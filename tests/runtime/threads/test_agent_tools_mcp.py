"""A directive's ``<tools><mcp server=… tools=…/></tools>`` (SPEC §4.3, §14): the thread's LLM
is offered the matching upstream tools as ``mcp__<server>__<tool>``, with the upstream input
schema, and a call runs through the gate to the real upstream server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kiwi_mcp.kernel.core.parse import parse_item
from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.runtime.threads.agent_tools import offer, run_call
from kiwi_mcp.kernel.store.settings import Settings
from tests.support.project import Project, project  # noqa: F401 - a fixture
from tests.support.upstreams import add_rugpull

DIRECTIVE = """# Weather

```xml
<directive name="weather" version="1.0.0">
  <metadata>
    <description>Ask the weather</description>
    <tools><tool id="note"/><mcp server="rug" tools="weather, fa*"/></tools>
  </metadata>
</directive>
```
"""


def test_mcp_entries_are_parsed_as_upstream_tool_id_globs() -> None:
    directive = parse_item("directive", "weather", ".md", DIRECTIVE.encode(), "weather.md")
    assert directive.tools == ("note", "mcp/rug/weather", "mcp/rug/fa*")  # type: ignore[union-attr]


@pytest.mark.slow
def test_the_llm_is_offered_mcp_server_tool_names_that_reach_the_upstream(
    project: Project,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    add_rugpull(project, state)
    settings = Settings.from_environment(project.root, env=project.env)

    async def go() -> tuple[object, dict[str, object], str]:
        kernel = Kernel(settings)
        try:
            offered = offer(kernel, ("mcp/rug/weather", "mcp/rug/fa*"))
            envelope, text = await run_call(
                kernel, offered, "mcp__rug__weather", {"city": "Oslo"}, thread_id="t-1"
            )
            return offered, envelope, text
        finally:
            await kernel.aclose()

    offered, envelope, text = asyncio.run(go())
    names = {tool["name"]: tool for tool in offered.tools}  # type: ignore[attr-defined]
    assert {"mcp__rug__weather", "mcp__rug__fail"} <= set(names)
    assert "mcp__rug__poison" not in names
    assert names["mcp__rug__weather"]["parameters"]["required"] == ["city"]
    assert names["mcp__rug__weather"]["description"] == "Weather for a city"
    assert envelope["ok"], envelope
    assert '"sky": "clear"' in text
