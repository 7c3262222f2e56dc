"""Threads over MCP (SPEC §10, §13.9): the real SDK client starts a directive as a thread
with ``execute(thread: true)``, long-polls ``threads/status`` (the thread's events arriving
as progress notifications), reads ``threads/events``, and every tool call the thread made is
in the audit log with its thread id and token id."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from kiwi_mcp.kernel.trust.policy import DEFAULT_CAPABILITIES
from tests.faces.mcp.conftest import KIWI, envelope_of
from tests.runtime.threads.conftest import ThreadProject, threads  # noqa: F401 - a fixture
from tests.support.project import project  # noqa: F401 - a fixture

NOTE_CALL = {"tool_calls": [{"name": "note", "arguments": {"text": "over MCP"}}]}


def _server(threads: ThreadProject) -> StdioServerParameters:  # noqa: F811
    return StdioServerParameters(
        command=KIWI,
        args=["--project", str(threads.project.root), "serve"],
        env=threads.project.env,
    )


def _execute(item_type: str, item_id: str, parameters: dict[str, Any], **extra: Any) -> Any:
    return {"item_type": item_type, "item_id": item_id, "parameters": parameters, **extra}


def test_a_thread_started_over_mcp_runs_and_streams_its_events(
    threads: ThreadProject,  # noqa: F811
) -> None:
    threads.fake.script("worker", [NOTE_CALL, {"text": "done"}])
    directive = threads.directive()
    progress: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async def main() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        async with Client(_server(threads), read_timeout_seconds=120) as client:
            started = envelope_of(
                await client.call_tool(
                    "execute",
                    _execute("directive", directive, {"topic": "mcp"}, thread=True),
                )
            )
            assert started["ok"], started
            thread_id = started["data"]["thread_id"]
            assert started["data"]["status"] == "spawned"
            statuses, upto = [], 0
            for _ in range(60):  # each waits for a change: a hang guard, not a timing check
                polled = envelope_of(
                    await client.call_tool(
                        "execute",
                        _execute(
                            "tool",
                            "threads/status",
                            {"thread_id": thread_id, "wait_s": 5, "after_seq": upto},
                        ),
                        progress_callback=on_progress,
                    )
                )
                assert polled["ok"], polled
                statuses.append(polled["data"])
                upto = polled["data"]["streamed_upto"]
                if polled["data"]["status"] in ("completed", "failed", "limit_exceeded"):
                    break
            events = envelope_of(
                await client.call_tool(
                    "execute", _execute("tool", "threads/events", {"thread_id": thread_id})
                )
            )
            assert events["ok"], events
            return started["data"], statuses, events["data"]

    started, statuses, events = anyio.run(main)
    final = statuses[-1]
    assert final["status"] == "completed", final
    assert final["result"]["text"] == "done"
    assert final["caller"] == "mcp"
    assert threads.notes() == ["over MCP"]
    kinds = [e["type"] for e in events["events"]]
    assert kinds[0] == "thread_started" and "thread_finished" in kinds
    assert events["last_seq"] == events["events"][-1]["seq"]
    streamed = [m.group(1, 2) for m in map(re.compile(r"#(\d+) (\w+): ").match, progress) if m]
    assert ("tool_intent" in dict(streamed).values()) and ("tool_result" in dict(streamed).values())
    assert "#" + str(kinds.index("tool_intent") + 1) + " tool_intent: note" in progress
    seqs = [int(seq) for seq, _ in streamed]
    assert seqs == list(range(1, len(seqs) + 1)), progress  # each event once, none missed
    # the thread's tool call in the audit log, with its thread and token
    done = threads.kiwi("--json", "audit", "tail", "-n", "200")
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)["records"]
    notes = [r for r in records if r["item"] == "note"]
    assert notes, records[-5:]
    assert notes[-1]["thread"] == started["thread_id"]
    assert notes[-1]["token"] == final["token_id"]


def test_status_of_an_unknown_thread_is_a_clear_error(threads: ThreadProject) -> None:  # noqa: F811
    async def main() -> dict[str, Any]:
        async with Client(_server(threads), read_timeout_seconds=60) as client:
            return envelope_of(
                await client.call_tool(
                    "execute", _execute("tool", "threads/status", {"thread_id": "nope_1"})
                )
            )

    envelope = anyio.run(main)
    assert not envelope["ok"]
    assert "nope_1" in envelope["error"]["message"]


GATE_CALL = {"tool_calls": [{"name": "gate", "arguments": {"tag": "mcp"}}]}
AGENT_CAPS = [c for c in DEFAULT_CAPABILITIES if not c.startswith("thread.control")]


def _control(threads: ThreadProject, thread_id: str, op: str) -> dict[str, Any]:  # noqa: F811
    async def main() -> dict[str, Any]:
        async with Client(_server(threads), read_timeout_seconds=60) as client:
            return envelope_of(
                await client.call_tool(
                    "execute",
                    _execute("tool", "threads/control", {"thread_id": thread_id, "op": op}),
                )
            )

    return anyio.run(main)


def test_threads_control_needs_thread_control_for_that_thread(
    threads: ThreadProject,  # noqa: F811
) -> None:
    threads.fake.script("worker", [GATE_CALL, {"text": "done"}])
    thread_id = threads.start(threads.directive())
    threads.wait_event(thread_id, "tool_intent")
    threads.project.write_policy([*AGENT_CAPS, "thread.control:other_*"])
    denied = _control(threads, thread_id, "pause")
    assert not denied["ok"]
    assert denied["error"]["code"] == "PERMISSION_DENIED"
    assert f"thread.control:{thread_id}" in denied["error"]["message"]
    threads.project.write_policy([*AGENT_CAPS, "thread.control:demo_*"])
    allowed = _control(threads, thread_id, "pause")
    assert allowed["ok"], allowed
    assert allowed["data"]["control"] == "pause"
    threads.release()
    assert threads.wait(thread_id, "paused")["status"] == "paused"
    resumed = _control(threads, thread_id, "resume")
    assert resumed["ok"], resumed
    assert threads.wait(thread_id)["status"] == "completed"
