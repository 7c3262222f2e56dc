"""``threads/status`` and ``threads/events`` (SPEC §10): the system tools a client calls
through ``execute``, run as ``python -m kiwi_mcp.kernel.runtime.threads.tool_main``. They read
the registry and the transcript and print one JSON document (the tool's data) on stdout.

While ``threads/status`` waits (``wait_s``), each event appended to the thread's transcript
is printed first as one line ``#<seq> <type>: <summary>``; the tool streams its stdout, so
those lines reach the waiting MCP client as progress notifications, and the record is the
last line, as JSON (the tool's ``result: last_line``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

_POLL_S = 0.2


def _status(
    project: Path, user: Path, thread_id: str, wait_s: float, after: int | None
) -> dict[str, object]:
    from kiwi_mcp.kernel.runtime.threads.start import show_thread
    from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

    record = show_thread(project, user, thread_id)
    transcript = Transcript.for_thread(project, thread_id)
    seen = int(record["transcript"]["events"]) if after is None else after
    deadline = time.monotonic() + wait_s
    while wait_s > 0:
        for event in transcript.events(after_seq=seen):
            seen = event["seq"]
            print(f"#{seen} {event['type']}: {_summary(event)}", flush=True)
        now = show_thread(project, user, thread_id)
        if now["status"] != record["status"] or now["turn"] != record["turn"]:
            return {**now, "streamed_upto": seen}
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL_S)
    return {**record, "streamed_upto": seen}


def _control(project: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``threads/control``: the gate already checked ``thread.control:<id>``."""
    import asyncio

    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.runtime.threads.control import control_thread
    from kiwi_mcp.kernel.store.settings import Settings

    async def go() -> dict[str, Any]:
        kernel = Kernel(Settings.from_environment(project, env=dict(os.environ)))
        try:
            return await control_thread(
                kernel,
                args.thread,
                args.op,
                **_control_options(args),
            )
        finally:
            await kernel.aclose()

    return asyncio.run(go())


def _control_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.op == "inject":
        return {
            "text": args.text,
            "expect_turn": None if args.expect_turn < 0 else args.expect_turn,
        }
    if args.op == "cancel":
        return {"after_turn": args.after_turn.lower() in ("true", "1")}
    return {}


def _summary(event: dict[str, Any]) -> str:
    """One event in a few words: the tool, the text, the status."""
    payload = event.get("payload") or {}
    for key in ("tool", "status", "text", "op", "action"):
        if payload.get(key):
            text = " ".join(str(payload[key]).split())
            return text if len(text) <= 120 else text[:119] + "…"
    return ""


def main(argv: list[str] | None = None) -> int:
    from kiwi_mcp.kernel.errors import KiwiError

    parser = argparse.ArgumentParser(prog="kiwi-threads-tool")
    parser.add_argument("what", choices=("status", "events", "control"))
    parser.add_argument("--op", default="")
    parser.add_argument("--text", default="")
    parser.add_argument("--expect-turn", type=int, default=-1)
    parser.add_argument("--after-turn", default="false")
    parser.add_argument("--project", required=True)
    parser.add_argument("--thread", required=True)
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--after", type=int, default=None)
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args(argv)
    project = Path(args.project)
    user = Path(os.environ.get("KIWI_USER_SPACE") or Path.home() / ".ai")
    try:
        if args.what == "status":
            data: object = _status(
                project,
                user,
                args.thread,
                min(args.wait, 300.0),
                None if args.after is None or args.after < 0 else args.after,
            )
        elif args.what == "control":
            data = _control(project, args)
        else:
            from kiwi_mcp.kernel.runtime.threads.registry import Registry
            from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

            with Registry.for_project(project) as registry:
                registry.get(args.thread)  # THREAD_NOT_FOUND for an unknown id
            events = Transcript.for_thread(project, args.thread).events(
                after_seq=args.after or 0, limit=args.limit
            )
            data = {
                "thread_id": args.thread,
                "events": events,
                "last_seq": events[-1]["seq"] if events else args.after or 0,
            }
    except KiwiError as err:
        print(json.dumps({"ok": False, "error": err.to_dict()}))
        return 1
    print(json.dumps(data, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
