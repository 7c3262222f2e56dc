"""``kiwi approve`` and ``kiwi reject`` (SPEC §13.6, §13.5): the operator's decision on a
thread's call that waits for approval, or whose outcome is unknown after a crash; signed with
the operator's key, over ``runtime/threads/approval_ops``."""

from __future__ import annotations

import argparse
from typing import Any

from kiwi_mcp.kernel.faces.cli.base import EXIT_OK, CliContext

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "approve",
        help="let a thread's call that waits for approval run (or re-run an unknown outcome)",
        description="Approve the call a thread waits on (the thread's only one unless you name"
        " it): it runs, through the gate, with --args instead of the model's arguments if given;"
        " --for-thread also adds the capability it waited on to the thread's token, so later"
        " calls needing only that are not asked. For a call whose outcome is unknown after a"
        " crash, it runs again. The decision is signed with your key.",
        epilog="examples: kiwi approve worker_20261202_101500 | kiwi approve ID toolu_1"
        ' --args \'{"path": "tmp/x"}\' | kiwi approve ID --for-thread',
    )
    p.add_argument("thread_id")
    p.add_argument("call_id", nargs="?", help="the call (default: the only one pending)")
    p.add_argument("--args", metavar="JSON", help="run the call with these arguments instead")
    p.add_argument(
        "--for-thread",
        action="store_true",
        help="approve the capability for the rest of the thread (added to its token)",
    )
    p.set_defaults(func=_approve)
    p = sub.add_parser(
        "reject",
        help="refuse a thread's call that waits for approval; the model gets your message",
        description="Reject the call a thread waits on (the thread's only one unless you name"
        " it): it does not run, and the model receives --message as the tool's error result."
        " For a call whose outcome is unknown after a crash, the model is told it failed."
        " The decision is signed with your key.",
        epilog="examples: kiwi reject worker_20261202_101500 --message 'not on main; use a"
        " branch' | kiwi reject ID toolu_1",
    )
    p.add_argument("thread_id")
    p.add_argument("call_id", nargs="?", help="the call (default: the only one pending)")
    p.add_argument("--message", metavar="TEXT", help="what the model is told instead")
    p.set_defaults(func=_reject)


def _decide(ctx: CliContext, args: argparse.Namespace, decision: str, **kw: Any) -> int:
    import asyncio

    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.runtime.threads.approval_ops import decide

    # the operator's act, ungated (SPEC §9.4); a resume spawns the runner as the operator
    kernel = open_kernel(ctx, as_operator=True, writes=True)

    async def go() -> dict[str, Any]:
        try:
            return await decide(kernel, args.thread_id, args.call_id, decision=decision, **kw)
        finally:
            await kernel.aclose()

    data = asyncio.run(go())
    if ctx.json:
        ctx.emit_json(data)
        return EXIT_OK
    extra = " (edited arguments)" if data["edited"] else ""
    if data["for_thread"]:
        extra += f" ({data['for_thread']} for the rest of the thread)"
    ctx.out(f"{data['thread_id']} {data['call_id']} {data['tool']}: {decision}{extra}")
    if data["resumed"]:
        ctx.diag(
            f"kiwi: resumed the thread; follow it with 'kiwi threads tail -f {data['thread_id']}'"
        )
    return EXIT_OK


def _approve(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.runtime.threads.approval_ops import parse_arguments

    arguments = None if args.args is None else parse_arguments(args.args)
    return _decide(ctx, args, "approved", arguments=arguments, for_thread=args.for_thread)


def _reject(args: argparse.Namespace, ctx: CliContext) -> int:
    message = args.message
    if message is not None and not message.strip():
        from kiwi_mcp.kernel.errors import UsageError

        raise UsageError(
            "--message: the text for the model is empty",
            hint="Say why, e.g. --message 'use the staging bucket', or leave --message out.",
        )
    return _decide(ctx, args, "rejected", message=message)
