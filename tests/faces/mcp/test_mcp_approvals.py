"""Approvals asked of an MCP client's user (SPEC §13.6): a thread started over MCP that
stops at a call needing approval is answered through elicitation when the client supports
it — the real SDK client, protocol 2026-07-28's ``input_required`` round trip — and the
reply becomes the same signed decision ``kiwi approve``/``kiwi reject`` make. A client
without the capability, or a thread started at the CLI, is never asked; a reply the server
did not ask for (a forged ``requestState``) decides nothing."""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from tests.faces.mcp.conftest import KIWI, envelope_of
from tests.runtime.threads.conftest import ThreadProject, threads  # noqa: F401 - a fixture
from tests.runtime.threads.test_approvals import DIRECTIVE, GUARDED
from tests.support.project import project  # noqa: F401 - a fixture

GUARDED_CALL = {"tool_calls": [{"name": "guarded", "arguments": {"text": "rm -rf build"}}]}
TERMINAL = ("completed", "failed", "limit_exceeded", "cancelled")


def _careful(threads: ThreadProject) -> str:  # noqa: F811
    """The directive of tests/runtime/threads/test_approvals.py, signed: its ``guarded``
    tool needs approval."""
    threads.project.write_tool("guarded.py", GUARDED)
    threads.project.sign()
    path = threads.project.root / ".ai" / "directives" / "demo" / "careful.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        DIRECTIVE.format(
            permissions='<execute resource="tool" id="guarded"/>',
            tools='<tool id="guarded"/><tool id="note"/>',
        )
    )
    assert threads.kiwi("sign", "directive", "demo/careful").returncode == 0
    threads.fake.script("worker", [GUARDED_CALL, {"text": "done"}])
    return "demo/careful"


def _server(threads: ThreadProject) -> StdioServerParameters:  # noqa: F811
    return StdioServerParameters(
        command=KIWI,
        args=["--project", str(threads.project.root), "serve"],
        env=threads.project.env,
    )


def _execute(item_type: str, item_id: str, parameters: dict[str, Any], **extra: Any) -> Any:
    return {"item_type": item_type, "item_id": item_id, "parameters": parameters, **extra}


def _status(thread_id: str) -> Any:
    return _execute("tool", "threads/status", {"thread_id": thread_id, "wait_s": 5})


async def _until_ended(client: Client, thread_id: str) -> dict[str, Any]:
    """Poll ``threads/status`` until the thread ends (each poll waits for a change: a hang
    guard, not a timing check)."""
    for _ in range(60):
        polled = envelope_of(await client.call_tool("execute", _status(thread_id)))
        assert polled["ok"], polled
        if polled["data"]["status"] in TERMINAL:
            return dict(polled["data"])
    raise AssertionError("the thread did not end")


def _decisions(threads: ThreadProject, thread_id: str) -> list[dict[str, Any]]:  # noqa: F811
    return [e["payload"] for e in threads.events(thread_id) if e["type"] == "approval_decided"]


def test_the_client_user_approves_over_elicitation_and_the_call_runs_once(
    threads: ThreadProject,  # noqa: F811
) -> None:
    directive = _careful(threads)
    asked: list[types.ElicitRequestFormParams] = []

    async def approve(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        asked.append(params)
        return types.ElicitResult(action="accept", content={"decision": "approve"})

    async def main() -> tuple[str, dict[str, Any]]:
        async with Client(
            _server(threads), read_timeout_seconds=120, elicitation_callback=approve
        ) as client:
            started = envelope_of(
                await client.call_tool("execute", _execute("directive", directive, {}, thread=True))
            )
            assert started["ok"], started
            return started["data"]["thread_id"], await _until_ended(
                client, started["data"]["thread_id"]
            )

    thread_id, final = anyio.run(main)
    assert final["status"] == "completed", final
    assert len(asked) == 1, asked  # asked once, not again after the answer
    assert "guarded" in asked[0].message and "rm -rf build" in asked[0].message
    assert asked[0].requested_schema["properties"]["decision"]["enum"] == ["approve", "reject"]
    results = [e["payload"] for e in threads.events(thread_id) if e["type"] == "tool_result"]
    assert [r["is_error"] for r in results] == [False], results
    assert (threads.project.root / "notes.txt").read_text() == "rm -rf build\n"  # ran once
    decided = _decisions(threads, thread_id)
    assert [d["decision"] for d in decided] == ["approved"], decided
    assert decided[0].get("verified", True) is not False  # signed with the operator's key


def test_a_handshake_era_client_is_asked_inline_and_the_call_runs_once(
    threads: ThreadProject,  # noqa: F811
) -> None:
    """A client on protocol 2025-11-25 (the SDK's ``mode="legacy"`` handshake) has no
    ``input_required``: the server sends ``elicitation/create`` itself, inside the
    ``threads/status`` call, and records the answer as the same signed decision."""
    directive = _careful(threads)
    asked: list[types.ElicitRequestFormParams] = []

    async def approve(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        asked.append(params)
        return types.ElicitResult(action="accept", content={"decision": "approve"})

    async def main() -> tuple[str, str, dict[str, Any]]:
        async with Client(
            _server(threads), read_timeout_seconds=120, elicitation_callback=approve, mode="legacy"
        ) as client:
            started = envelope_of(
                await client.call_tool("execute", _execute("directive", directive, {}, thread=True))
            )
            assert started["ok"], started
            thread_id = started["data"]["thread_id"]
            return client.protocol_version, thread_id, await _until_ended(client, thread_id)

    version, thread_id, final = anyio.run(main)
    assert version == "2025-11-25"
    assert final["status"] == "completed", final
    assert len(asked) == 1, asked
    assert "guarded" in asked[0].message and "rm -rf build" in asked[0].message
    assert (threads.project.root / "notes.txt").read_text() == "rm -rf build\n"  # ran once
    assert [d["decision"] for d in _decisions(threads, thread_id)] == ["approved"]


def test_the_client_user_rejects_and_the_model_reads_the_message(
    threads: ThreadProject,  # noqa: F811
) -> None:
    directive = _careful(threads)

    async def reject(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(
            action="accept", content={"decision": "reject", "message": "not on a Friday"}
        )

    async def main() -> dict[str, Any]:
        async with Client(
            _server(threads), read_timeout_seconds=120, elicitation_callback=reject
        ) as client:
            started = envelope_of(
                await client.call_tool("execute", _execute("directive", directive, {}, thread=True))
            )
            return await _until_ended(client, started["data"]["thread_id"])

    final = anyio.run(main)
    assert final["status"] == "completed", final
    assert [d["decision"] for d in _decisions(threads, final["thread_id"])] == ["rejected"]
    assert "not on a Friday" in json.dumps(threads.fake.requests[-1].json)
    assert not (threads.project.root / "notes.txt").exists()  # the guarded call never ran


def test_no_elicitation_without_the_capability_or_for_a_thread_started_at_the_cli(
    threads: ThreadProject,  # noqa: F811
) -> None:
    directive = _careful(threads)
    cli_thread = threads.start(directive)
    threads.wait(cli_thread, "waiting_approval")
    asked: list[str] = []

    async def approve(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"decision": "approve"})

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Client(
            _server(threads), read_timeout_seconds=60, elicitation_callback=approve
        ) as client:
            of_cli = envelope_of(await client.call_tool("execute", _status(cli_thread)))
        threads.fake.reset()  # the N-th request gets the N-th turn: start the count again
        threads.fake.script("worker", [GUARDED_CALL, {"text": "done"}])
        async with Client(_server(threads), read_timeout_seconds=60) as plain:
            started = envelope_of(
                await plain.call_tool("execute", _execute("directive", directive, {}, thread=True))
            )
            mcp_thread = started["data"]["thread_id"]
            for _ in range(60):
                polled = envelope_of(await plain.call_tool("execute", _status(mcp_thread)))
                if polled["data"]["status"] == "waiting_approval":
                    break
        return of_cli, polled

    of_cli, of_plain = anyio.run(main)
    assert asked == []
    assert of_cli["data"]["status"] == "waiting_approval" and of_cli["data"]["pending_approvals"]
    assert of_plain["data"]["status"] == "waiting_approval", of_plain
    assert of_plain["data"]["pending_approvals"]  # left for 'kiwi approve'
    for thread_id in (cli_thread, of_plain["data"]["thread_id"]):
        assert threads.kiwi("threads", "cancel", thread_id).returncode == 0


def test_a_reply_to_a_question_never_asked_decides_nothing(
    threads: ThreadProject,  # noqa: F811
) -> None:
    directive = _careful(threads)

    async def never(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        raise AssertionError("the driver is not used here")

    async def main() -> tuple[types.InputRequiredResult, str, list[str]]:
        async with Client(
            _server(threads), read_timeout_seconds=60, elicitation_callback=never
        ) as client:
            started = envelope_of(
                await client.call_tool("execute", _execute("directive", directive, {}, thread=True))
            )
            thread_id = started["data"]["thread_id"]
            first: Any = None
            for _ in range(60):
                first = await client.session.call_tool(
                    "execute", _status(thread_id), allow_input_required=True
                )
                if isinstance(first, types.InputRequiredResult):
                    break
            assert isinstance(first, types.InputRequiredResult), first
            key = next(iter(first.input_requests or {}))
            approve = types.ElicitResult(action="accept", content={"decision": "approve"})
            refused: list[str] = []
            for state in ("forged", None):  # a made-up state, and none at all
                try:
                    again = await client.session.call_tool(
                        "execute",
                        _status(thread_id),
                        input_responses={key: approve},
                        request_state=state,
                        allow_input_required=True,
                    )
                except MCPError as err:
                    refused.append(str(err))
                else:
                    assert isinstance(again, types.InputRequiredResult)  # still asking
                    refused.append("asked again")
            return first, thread_id, refused

    _, thread_id, refused = anyio.run(main)
    assert "Invalid or expired requestState" in refused[0], refused
    assert refused[1] == "asked again"
    assert _decisions(threads, thread_id) == []
    record = json.loads(threads.kiwi("--json", "threads", "show", thread_id).stdout)
    assert record["status"] == "waiting_approval" and record["pending_approvals"]
    assert threads.kiwi("threads", "cancel", thread_id).returncode == 0


@pytest.mark.parametrize("action", ["decline", "cancel"])
def test_decline_rejects_and_cancel_leaves_it_to_the_operator(
    threads: ThreadProject,  # noqa: F811
    action: str,
) -> None:
    directive = _careful(threads)
    seen: list[str] = []

    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        seen.append(params.message)
        return types.ElicitResult(action=action)  # type: ignore[arg-type]

    async def main() -> tuple[str, dict[str, Any]]:
        async with Client(
            _server(threads), read_timeout_seconds=60, elicitation_callback=answer
        ) as client:
            started = envelope_of(
                await client.call_tool("execute", _execute("directive", directive, {}, thread=True))
            )
            thread_id = started["data"]["thread_id"]
            if action == "decline":
                return thread_id, await _until_ended(client, thread_id)
            polled: dict[str, Any] = {}
            for _ in range(60):  # until it was asked (each poll waits for a change)
                polled = envelope_of(await client.call_tool("execute", _status(thread_id)))
                if seen:
                    break
            return thread_id, polled["data"]

    thread_id, final = anyio.run(main)
    assert len(seen) == 1, seen  # a dismissed question is not asked again in that call
    decided = _decisions(threads, thread_id)
    if action == "decline":
        assert final["status"] == "completed", final
        assert [d["decision"] for d in decided] == ["rejected"], decided
        assert "declined this call" in json.dumps(threads.fake.requests[-1].json)
    else:
        assert decided == []
        assert final["status"] == "waiting_approval" and final["pending_approvals"], final
        assert threads.kiwi("approve", thread_id).returncode == 0  # the operator still can
        assert threads.wait(thread_id, "completed")["status"] == "completed"
