"""LLM runtime benchmark (issue 15). A script, not a test: prints numbers and ratios.

* Assembly throughput: one long Anthropic-format stream (text deltas, then a tool call in
  many fragments) from a loopback server, read by a full LLM call through Kiwi's chain
  (plan, http_client, SSE parser, assembler, canonical events to a hook) against bare
  ``httpx`` streaming + line splitting + ``json.loads`` of every ``data:`` line. Reported as
  events/s of Kiwi over bare; target ≥ 0.8×.
* Per-call overhead: a short stream (8 events) through the chain against a bare ``httpx``
  streaming request of the same bytes, both on kept-alive connections; rounds call the two back
  to back and the median of the per-round differences is reported; target ≤ +2 ms.

Run: ``.venv/bin/python bench/bench_llm.py [--events N] [--calls N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

KIWI = str(Path(sys.executable).with_name("kiwi"))

PROVIDER = """\
version: "1.0.0"
tool_type: llm_provider
executor_id: llm/protocols/anthropic_messages
description: The benchmark's loopback server
config:
  url: "{url}/v1/messages"
  headers: {{anthropic-version: "2023-06-01"}}
auth: {{service: bench, header: x-api-key, scheme: ""}}
requires: ["net.http:127.0.0.1"]
"""


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"


def stream(deltas: int) -> bytes:
    parts = [
        _event("message_start", {"message": {"model": "m", "usage": {"input_tokens": 5}}}),
        _event("content_block_start", {"index": 0, "content_block": {"type": "text"}}),
    ]
    for i in range(deltas):
        parts.append(
            _event(
                "content_block_delta",
                {"index": 0, "delta": {"type": "text_delta", "text": f"word{i} "}},
            )
        )
    parts.append(_event("content_block_stop", {"index": 0}))
    parts.append(
        _event(
            "content_block_start",
            {
                "index": 1,
                "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
            },
        )
    )
    args = json.dumps({"items": list(range(max(1, deltas // 10)))})
    for i in range(0, len(args), 8):
        parts.append(
            _event(
                "content_block_delta",
                {
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": args[i : i + 8]},
                },
            )
        )
    parts.append(_event("content_block_stop", {"index": 1}))
    parts.append(
        _event(
            "message_delta",
            {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": deltas}},
        )
    )
    parts.append(_event("message_stop", {}))
    return "".join(parts).encode()


class Server:
    """Serves ``body`` as an event stream to every POST, on kept-alive HTTP/1.1."""

    def __init__(self) -> None:
        self.body = b""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                # One write for head and body: split small writes meet delayed ACKs (40 ms).
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    f"Content-Length: {len(outer.body)}\r\n\r\n"
                ).encode()
                self.wfile.write(head + outer.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"


async def bare(client: httpx.AsyncClient, url: str) -> int:
    """The floor: stream, split lines, parse every data line as JSON."""
    count = 0
    body = {
        "model": "m",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with client.stream(
        "POST",
        f"{url}/v1/messages",
        json=body,
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    ) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                json.loads(line[6:])
                count += 1
    return count


def setup(root: Path, url: str) -> Kernel:
    project, user = root / "project", root / "user"
    tools = project / ".ai" / "tools" / "llm" / "providers"
    tools.mkdir(parents=True)
    (tools / "bench.yaml").write_text(PROVIDER.format(url=url))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(root),
        "KIWI_USER_SPACE": str(user),
        "KIWI_AUTH_BACKEND": "file",
    }
    for args, stdin in (
        (["keys", "init"], None),
        (["sign", "tool", "**"], None),
        (["auth", "signin", "bench", "--token-stdin"], "k"),
    ):
        subprocess.run(
            [KIWI, "--project", str(project), *args],
            env=env,
            input=stdin,
            text=True,
            check=True,
            capture_output=True,
        )
    return Kernel(Settings.from_environment(project, env=env), caps=CapabilitySet.operator())


async def run(events: int, calls: int) -> None:
    server = Server()
    with tempfile.TemporaryDirectory() as tmp:
        kernel = setup(Path(tmp), server.url)
        params = {"model": "m", "prompt": "hi", "max_tokens": 10}
        seen: list[int] = [0]

        def hook(event: dict[str, Any]) -> None:
            seen[0] += 1

        async with httpx.AsyncClient() as client:
            # throughput
            server.body = stream(events)
            wire_events = server.body.count(b"\ndata: ")
            for _ in range(2):  # warm both
                await bare(client, server.url)
                envelope = await kernel.execute("llm/providers/bench", params, on_event=hook)
                assert envelope["ok"], envelope
            bare_t, kiwi_t = [], []
            for _ in range(15):
                t = time.perf_counter()
                await bare(client, server.url)
                bare_t.append(time.perf_counter() - t)
                t = time.perf_counter()
                await kernel.execute("llm/providers/bench", params, on_event=hook)
                kiwi_t.append(time.perf_counter() - t)
            b, k = statistics.median(bare_t), statistics.median(kiwi_t)
            paired = statistics.median(x / y for x, y in zip(bare_t, kiwi_t, strict=True))
            print(
                f"assembly: {wire_events} wire events; bare {wire_events / b:,.0f} ev/s, "
                f"kiwi {wire_events / k:,.0f} ev/s; ratio {paired:.2f}x (median of 15 "
                "paired rounds; target >= 0.8x)"
            )
            # per-call overhead
            server.body = stream(4)
            diffs = []
            for _ in range(calls):
                t = time.perf_counter()
                await bare(client, server.url)
                mid = time.perf_counter()
                await kernel.execute("llm/providers/bench", params)
                diffs.append((time.perf_counter() - mid) - (mid - t))
            extra = statistics.median(diffs) * 1000
            print(
                f"per call: kiwi adds {extra:+.2f} ms over bare httpx (median of {calls} "
                f"paired rounds; target <= +2 ms)"
            )
        await kernel.aclose()
    server.httpd.shutdown()
    print(f"load average: {os.getloadavg()[0]:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
