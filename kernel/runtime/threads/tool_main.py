"""``threads/status`` and ``threads/events`` (SPEC §10): the system tools a client calls
through ``execute``, run as ``python -m kiwi_mcp.kernel.runtime.threads.tool_main``. They read
the registry and the transcript and print one JSON document (the tool's data) on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

__all__ = ["main"]

_POLL_S = 0.2


def _status(project: Path, user: Path, thread_id: str, wait_s: float) -> dict[str, object]:
    from kiwi_mcp.kernel.runtime.threads.start import show_thread

    record = show_thread(project, user, thread_id)
    deadline = time.monotonic() + wait_s
    while wait_s > 0 and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        now = show_thread(project, user, thread_id)
        if now["status"] != record["status"] or now["turn"] != record["turn"]:
            return now
    return record


def main(argv: list[str] | None = None) -> int:
    from kiwi_mcp.kernel.errors import KiwiError

    parser = argparse.ArgumentParser(prog="kiwi-threads-tool")
    parser.add_argument("what", choices=("status", "events"))
    parser.add_argument("--project", required=True)
    parser.add_argument("--thread", required=True)
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--after", type=int, default=0)
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args(argv)
    project = Path(args.project)
    user = Path(os.environ.get("KIWI_USER_SPACE") or Path.home() / ".ai")
    try:
        if args.what == "status":
            data: object = _status(project, user, args.thread, min(args.wait, 300.0))
        else:
            from kiwi_mcp.kernel.runtime.threads.registry import Registry
            from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

            with Registry.for_project(project) as registry:
                registry.get(args.thread)  # THREAD_NOT_FOUND for an unknown id
            events = Transcript.for_thread(project, args.thread).events(
                after_seq=args.after, limit=args.limit
            )
            data = {
                "thread_id": args.thread,
                "events": events,
                "last_seq": events[-1]["seq"] if events else args.after,
            }
    except KiwiError as err:
        print(json.dumps({"ok": False, "error": err.to_dict()}))
        return 1
    print(json.dumps(data, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
