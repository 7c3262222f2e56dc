"""MCP client benchmark (issue 18). A script, not a test: prints numbers and ratios.

A pooled upstream call through Kiwi (``Kernel.execute`` of ``mcp/<server>/<tool>``: plan,
gate, pin check, the pooled session, result mapping, redaction, one audit line) against the
official SDK client calling the same upstream directly over its own stdio transport, in the
same run. Target: Kiwi adds ≤ 1 ms per call. The first call's connect (spawn, initialize,
tools/list) is reported apart, for both.

Upstreams: ``mcp-server-time`` (PyPI, the ``test`` extra) and, when installed by
``scripts/install-mcp-upstreams.sh``, ``@modelcontextprotocol/server-everything`` (``echo``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.store.settings import Settings

KIWI = str(Path(sys.executable).with_name("kiwi"))
ROOT = Path(__file__).resolve().parents[1]
TIME_SERVER = str(Path(sys.executable).with_name("mcp-server-time"))
EVERYTHING = (
    ROOT / ".ci/node/upstreams/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
)
NODE = ROOT / ".ci/node/bin/node"
CALLS = 300
TARGET_MS = 1.0


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def _direct(command: list[str], tool: str, args: dict[str, Any]) -> tuple[float, float]:
    """(connect ms, median call ms) with the SDK client alone."""
    params = StdioServerParameters(
        command=command[0], args=command[1:], env={"PATH": os.environ["PATH"]}
    )
    started = time.perf_counter()
    with open(os.devnull, "w") as quiet:  # the server's stderr, discarded
        return await _direct_in(params, tool, args, started, quiet)


async def _direct_in(
    params: StdioServerParameters, tool: str, args: dict[str, Any], started: float, quiet: Any
) -> tuple[float, float]:
    async with (
        stdio_client(params, errlog=quiet) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        await session.list_tools()
        connect = time.perf_counter() - started
        samples = []
        for _ in range(CALLS):
            t = time.perf_counter()
            await session.call_tool(tool, args)
            samples.append(time.perf_counter() - t)
    return connect * 1000, _ms(samples)


async def _kiwi(settings: Settings, tool_id: str, args: dict[str, Any]) -> tuple[float, float]:
    """(first call ms, median pooled call ms) through Kiwi."""
    kernel = Kernel(settings)
    try:
        started = time.perf_counter()
        first = await kernel.execute(tool_id, args)
        assert first["ok"], first
        first_ms = (time.perf_counter() - started) * 1000
        samples = []
        for _ in range(CALLS):
            t = time.perf_counter()
            envelope = await kernel.execute(tool_id, args)
            samples.append(time.perf_counter() - t)
            assert envelope["ok"], envelope
        assert kernel.upstreams.opened == 1
    finally:
        await kernel.aclose()
    return first_ms, _ms(samples)


def _add(env: dict[str, str], project: Path, name: str, command: list[str]) -> None:
    subprocess.run(
        [KIWI, "--project", str(project), "mcp", "add", name, "--", *command],
        env=env,
        check=True,
        capture_output=True,
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        (project / ".ai" / "tools").mkdir(parents=True)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": tmp,
            "KIWI_USER_SPACE": str(Path(tmp) / "user"),
            "KIWI_AUTH_BACKEND": "file",
        }
        subprocess.run([KIWI, "keys", "init"], env=env, check=True, capture_output=True)
        cases = [("time", [TIME_SERVER], "get_current_time", {"timezone": "UTC"})]
        if EVERYTHING.is_file() and NODE.is_file():
            cases.append(
                ("everything", [str(NODE), str(EVERYTHING), "stdio"], "echo", {"message": "hi"})
            )
        else:
            print("server-everything not installed (scripts/install-mcp-upstreams.sh): skipped")
        os.environ.update(env)
        settings = Settings.from_environment(project, env=env)
        for name, command, tool, args in cases:
            _add(env, project, name, command)
            connect, direct = asyncio.run(_direct(command, tool, args))
            first, pooled = asyncio.run(_kiwi(settings, f"mcp/{name}/{tool}", args))
            added = pooled - direct
            verdict = "ok" if added <= TARGET_MS else "MISSED"
            print(f"== {name} {tool} ({CALLS} calls, medians)")
            print(f"  SDK client direct   call {direct:7.3f} ms   connect {connect:7.1f} ms")
            print(f"  Kiwi pooled execute call {pooled:7.3f} ms   first call {first:7.1f} ms")
            print(
                f"  Kiwi adds {added:+.3f} ms per call ({pooled / direct:.2f}x);"
                f" target <= +{TARGET_MS:g} ms: {verdict}"
            )


if __name__ == "__main__":
    main()
