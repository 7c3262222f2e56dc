"""The shipped protocols' ``llm:`` data, compiled (the data is what these tests test)."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from kiwi_mcp.kernel.core.llm.protocol import Protocol, compile_protocol

_ROOT = Path(__file__).resolve().parents[3] / ".ai" / "tools" / "llm" / "protocols"


@functools.cache
def protocol(name: str) -> Protocol:
    data = yaml.safe_load((_ROOT / f"{name}.yaml").read_text(encoding="utf-8"))
    return compile_protocol(data["config"]["llm"])


def sse(events: list[tuple[str | None, str]]) -> bytes:
    """Events as the wire carries them: ``event:`` (when named) and ``data:`` lines."""
    out = []
    for name, data in events:
        out.append((f"event: {name}\n" if name else "") + f"data: {data}\n\n")
    return "".join(out).encode()
