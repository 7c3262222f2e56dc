"""MCP server benchmark (issue 6). A script, not a test: prints numbers and ratios.

* ``execute`` of a trivial signed Python tool over stdio with ``kiwi serve``, against a bare
  SDK low-level server whose one tool spawns the very same runner command (same argv, env,
  stdin) and returns its JSON the same way. Each round calls the servers back to back, and
  the median of the per-round differences is reported (a subprocess call jitters by
  milliseconds on a shared machine; pairing cancels the drift); target: Kiwi adds ≤ 1 ms.
* Cold start, process spawn → first ``tools/list`` answer (raw JSON-RPC over the pipes):
  ``kiwi serve`` against the bare server script; target ≤ 1.1×.

Run: ``.venv/bin/python bench/bench_mcp.py [--calls N] [--starts N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

KIWI = str(Path(sys.executable).with_name("kiwi"))

NOOP = '''\
"""Return nothing, quickly."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
PARAMETERS = {"type": "object", "properties": {"n": {"type": "integer"}}}


def execute(params, context):
    return {"n": params.get("n", 0)}
'''

BARE_SERVER = '''\
"""A bare SDK server whose one tool runs a fixed command, as Kiwi's chain would."""
import asyncio, json, sys

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

PLAN = json.loads(sys.argv[1])
TOOL = types.Tool(name="execute", input_schema={"type": "object"})
KERNEL = None
if len(sys.argv) > 2:  # "kernel <project>": the same SDK server, calling Kiwi's kernel directly
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.store.settings import Settings

    KERNEL = Kernel(Settings.from_environment(sys.argv[3]))


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=[TOOL])


async def call_tool(ctx, params):
    if KERNEL is not None:
        envelope = await KERNEL.execute(params.arguments["item_id"], params.arguments["parameters"])
        text = json.dumps(envelope)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=envelope
        )
    child = await asyncio.create_subprocess_exec(
        PLAN["command"], *PLAN["args"], cwd=PLAN["cwd"], env=PLAN["env"],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    out, _ = await child.communicate(json.dumps(params.arguments["parameters"]).encode())
    envelope = {"ok": True, "data": json.loads(out), "error": None, "meta": {}}
    text = json.dumps(envelope)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=envelope
    )


server = Server("bare", on_list_tools=list_tools, on_call_tool=call_tool)


async def main():
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


anyio.run(main)
'''

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}


def make_project(root: Path) -> dict[str, str]:
    """A project with one signed tool; returns the environment servers run in."""
    from kiwi_mcp.kernel.ops.sign import sign_items
    from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
    from kiwi_mcp.kernel.trust.keys import KeyStore

    (root / "project" / ".ai" / "tools").mkdir(parents=True)
    (root / "project" / ".ai" / "tools" / "noop.py").write_text(NOOP)
    user = root / "user"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "KIWI_USER_SPACE": str(user),
        "KIWI_AUTH_BACKEND": "file",
    }
    KeyStore(user).init()
    contexts = _contexts(root, env)
    caps = CapabilitySet.from_strings(["tool.sign:**"])
    sign_items(contexts.kernel().store, user, "tool", "noop", caps=caps)
    return env


def _contexts(root: Path, env: dict[str, str]) -> Any:
    from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts

    return ProjectContexts(root / "project", env=env)


def runner_plan(root: Path, env: dict[str, str]) -> dict[str, Any]:
    """The exact command Kiwi's chain runs for ``noop``, for the bare server to run too."""
    kernel = _contexts(root, env).kernel()
    plan = asyncio.run(kernel.plan("noop", {"n": 1}))
    return {
        "command": plan.config["command"],
        "args": list(plan.config.get("args") or []),
        "cwd": plan.config.get("cwd"),
        "env": {**plan.env, **(plan.config.get("env") or {})},
    }


async def bench_execute(servers: dict[str, StdioServerParameters], calls: int) -> None:
    arguments = {"item_type": "tool", "item_id": "noop", "parameters": {"n": 1}}
    times: dict[str, list[float]] = {name: [] for name in servers}
    async with (
        Client(servers["bare"]) as bare,
        Client(servers["kernel"]) as kernel,
        Client(servers["kiwi"]) as kiwi,
    ):
        clients = {"bare": bare, "kernel": kernel, "kiwi": kiwi}
        for name, client in clients.items():  # warm: caches, first spawn, imports
            for _ in range(5):
                result = await client.call_tool("execute", arguments)
                assert not result.is_error, (name, result)
        for _ in range(calls):
            for name, client in clients.items():
                start = time.perf_counter()
                await client.call_tool("execute", arguments)
                times[name].append((time.perf_counter() - start) * 1000)
    p50 = {name: statistics.median(samples) for name, samples in times.items()}
    p90 = {name: statistics.quantiles(samples, n=10)[-1] for name, samples in times.items()}
    print(f"execute (trivial Python tool, {calls} calls each, alternating)")
    labels = {
        "bare": "bare SDK server, runs the command",
        "kernel": "bare SDK server, calls Kernel.execute",
        "kiwi": "kiwi serve",
    }
    for name, label in labels.items():
        print(f"  {label:<38} p50 {p50[name]:7.2f} ms   p90 {p90[name]:7.2f} ms")
    # Each round calls the three servers back to back, so the per-round differences cancel
    # the machine's drift; their median is what Kiwi adds to a typical call.
    added = statistics.median(k - b for k, b in zip(times["kiwi"], times["bare"], strict=True))
    kernel = statistics.median(k - b for k, b in zip(times["kernel"], times["bare"], strict=True))
    print(
        f"  Kiwi adds {added:+.2f} ms at p50 of paired calls (target ≤ 1 ms) "
        f"{'OK' if added <= 1 else 'OVER'}   [difference of p50s: {p50['kiwi'] - p50['bare']:+.2f}]"
    )
    print(f"    of which the kernel (chain, checks, audit): {kernel:+.2f} ms")
    print(f"    and the MCP face (arguments, envelope):     {added - kernel:+.2f} ms")


def first_list(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to the answer of the first tools/list, over raw pipes."""
    start = time.perf_counter()
    child = subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert child.stdin is not None and child.stdout is not None
    messages = [
        INITIALIZE,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    child.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    child.stdin.flush()
    while True:
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"{argv[0]} closed stdout before answering tools/list")
        if json.loads(line).get("id") == 2:
            break
    elapsed = time.perf_counter() - start
    child.stdin.close()
    child.wait(timeout=30)
    return elapsed


def bench_cold_start(kiwi: list[str], bare: list[str], env: dict[str, str], starts: int) -> None:
    samples: dict[str, list[float]] = {"kiwi": [], "bare": []}
    first_list(kiwi, env)  # page cache and .pyc warm for both
    first_list(bare, env)
    for _ in range(starts):
        samples["kiwi"].append(first_list(kiwi, env) * 1000)
        samples["bare"].append(first_list(bare, env) * 1000)
    median = {name: statistics.median(values) for name, values in samples.items()}
    ratio = median["kiwi"] / median["bare"]
    print(f"cold start → first tools/list ({starts} starts each, median)")
    print(f"  bare  {median['bare']:7.1f} ms")
    print(f"  kiwi  {median['kiwi']:7.1f} ms")
    print(f"  ratio {ratio:.2f}× (target ≤ 1.1×) {'OK' if ratio <= 1.1 else 'OVER'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--starts", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = make_project(root)
        # The diagnostic "kernel" server gets a project (and audit log) of its own: two
        # writers on one log would keep invalidating each other's remembered tail.
        (root / "second").mkdir()
        second_env = make_project(root / "second")
        plan = runner_plan(root, env)
        bare_script = root / "bare_server.py"
        bare_script.write_text(BARE_SERVER)
        kiwi_argv = [KIWI, "--project", str(root / "project"), "serve"]
        bare_argv = [sys.executable, str(bare_script), json.dumps(plan)]
        kernel_argv = [*bare_argv, "kernel", str(root / "second" / "project")]
        servers = {
            name: StdioServerParameters(command=argv[0], args=argv[1:], env=server_env)
            for name, argv, server_env in (
                ("bare", bare_argv, env),
                ("kernel", kernel_argv, second_env),
                ("kiwi", kiwi_argv, env),
            )
        }
        anyio.run(bench_execute, servers, args.calls)
        bench_cold_start(kiwi_argv, bare_argv, env, args.starts)


if __name__ == "__main__":
    main()
