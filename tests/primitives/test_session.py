"""The subprocess primitive's ``session`` mode (SPEC §6.1): JSON lines both ways, exactly the
given environment, a bad line reported without ending the session, the group killed on close."""

from __future__ import annotations

import asyncio
import sys

import pytest

from kiwi_mcp.primitives.errors import PrimitiveError
from kiwi_mcp.primitives.session import SessionSpec, open_session
from tests.support.upstreams import alive

ECHO = """
import json, os, subprocess, sys
child = subprocess.Popen(["sleep", "300"])
print(json.dumps({"pid": os.getpid(), "child": child.pid, "env": dict(os.environ)}), flush=True)
for line in sys.stdin:
    message = json.loads(line)
    if message.get("bad"):
        print("not json", flush=True)
    print(json.dumps({"echo": message}), flush=True)
    print("oops", file=sys.stderr, flush=True)
"""


def test_a_session_moves_json_lines_with_exactly_the_given_environment() -> None:
    async def go() -> tuple[dict[str, object], int, int]:
        spec = SessionSpec(command=sys.executable, args=("-c", ECHO), env={"ONLY": "this"})
        async with await open_session(spec) as session:
            hello = await session.receive()
            await session.send({"n": 1, "text": "é"})
            assert await session.receive() == {"echo": {"n": 1, "text": "é"}}
            await session.send({"bad": True})
            with pytest.raises(PrimitiveError, match="not JSON"):
                await session.receive()
            assert await session.receive() == {"echo": {"bad": True}}
            for _ in range(400):  # stderr is drained as it comes
                if "oops" in session.stderr_tail():
                    break
                await asyncio.sleep(0.01)
            assert "oops" in session.stderr_tail()
            return hello, hello["pid"], hello["child"]

    hello, pid, child = asyncio.run(go())
    env = hello["env"]
    assert isinstance(env, dict)
    assert env.get("ONLY") == "this"
    assert "PATH" not in env and "HOME" not in env
    assert not alive(pid) and not alive(child)


def test_an_unknown_protocol_and_a_missing_command_are_refused() -> None:
    with pytest.raises(PrimitiveError, match=r"session\.protocol"):
        SessionSpec(command="x", protocol="http")

    async def go() -> None:
        await open_session(SessionSpec(command="/nonexistent/server"))

    with pytest.raises(PrimitiveError, match="cannot start"):
        asyncio.run(go())
