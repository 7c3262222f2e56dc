"""``kiwi threads start|list|show|tail|pause|inject|cancel|resume`` (SPEC §13.4, §13.9):
the operator's face of threads, over ``runtime/threads``."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_OK, CliContext

__all__ = ["add_parsers"]

_SHOWN = ("thread_id", "directive", "status", "turn", "spend_usd", "flags")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kiwi_mcp.kernel.faces.cli.item_cmds import _param_args

    p = sub.add_parser("threads", help="run directives as threads; watch and stop them")
    threads = p.add_subparsers(dest="threads_command", metavar="<subcommand>", required=True)
    s = threads.add_parser("start", help="start a thread of a directive")
    s.add_argument("directive_id")
    _param_args(s)
    s.set_defaults(func=_start)
    s = threads.add_parser("list", help="the threads of this project, newest first")
    s.add_argument("--status", help="only threads with this status")
    s.set_defaults(func=_list)
    s = threads.add_parser("show", help="one thread's record, budget and transcript check")
    s.add_argument("thread_id")
    s.set_defaults(func=_show)
    s = threads.add_parser("tail", help="a thread's transcript, one line per event")
    s.add_argument("thread_id")
    s.add_argument("-f", "--follow", action="store_true", help="follow until the thread ends")
    s.set_defaults(func=_tail)
    s = threads.add_parser("cancel", help="stop a thread now (or after its current turn)")
    s.add_argument("thread_id")
    s.add_argument(
        "--after-turn", action="store_true", help="let the current turn finish, then stop"
    )
    s.set_defaults(func=_cancel)
    s = threads.add_parser("pause", help="pause a thread at its next turn boundary")
    s.add_argument("thread_id")
    s.set_defaults(func=_pause)
    s = threads.add_parser("inject", help="send the model a message at the next turn boundary")
    s.add_argument("thread_id")
    s.add_argument("text")
    s.add_argument(
        "--expect-turn",
        type=int,
        metavar="N",
        help="refuse if the thread has moved past turn N (what you read is still current)",
    )
    s.set_defaults(func=_inject)
    s = threads.add_parser("fork", help="a new thread from another's history up to a seq")
    s.add_argument("thread_id")
    s.add_argument("--at", type=int, required=True, metavar="SEQ", help="the last event kept")
    s.set_defaults(func=_fork)
    s = threads.add_parser("replay", help="replay the recorded LLM turns (no LLM, no cost)")
    s.add_argument("thread_id")
    s.set_defaults(func=_replay)
    s = threads.add_parser("resume", help="run an orphaned or paused thread again")
    s.add_argument("thread_id")
    s.add_argument(
        "--unknown-as-error",
        action="store_true",
        help="a call whose outcome is unknown is answered as failed (it is never re-run)",
    )
    s.set_defaults(func=_resume)


def _kernel(ctx: CliContext) -> Any:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel

    # the operator's act: the thread's token is the directive's <permissions> as written
    return open_kernel(ctx, as_operator=True, writes=True)


def _with_kernel(
    ctx: CliContext, act: Callable[[Any], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Run ``act(kernel)`` on the operator's kernel in an event loop, closing the kernel."""
    import asyncio

    kernel = _kernel(ctx)

    async def go() -> dict[str, Any]:
        try:
            return await act(kernel)
        finally:
            await kernel.aclose()

    return asyncio.run(go())


def _inputs(args: argparse.Namespace, kernel: Any) -> dict[str, Any]:
    import json

    from kiwi_mcp.kernel.errors import UsageError
    from kiwi_mcp.kernel.faces.cli.coerce import coerce_pairs

    inputs: dict[str, Any] = {}
    if args.params:
        value = json.loads(args.params)
        if not isinstance(value, dict):
            raise UsageError("--params must be a JSON object of the directive's inputs")
        inputs.update(value)
    try:
        directive = kernel.store.load("directive", args.directive_id).item
        schema = {
            "type": "object",
            "properties": {i.name: {"type": i.type} for i in directive.inputs},
        }
    except Exception:
        schema = {}
    coerce_pairs(args.pairs, schema, inputs)
    return inputs


def _start(args: argparse.Namespace, ctx: CliContext) -> int:
    import asyncio

    from kiwi_mcp.kernel.runtime.threads.start import start_thread

    kernel = _kernel(ctx)

    async def go() -> dict[str, Any]:
        try:
            return await start_thread(
                kernel,
                args.directive_id,
                _inputs(args, kernel),
                caps=kernel.caps,
                caller="cli",
            )
        finally:
            await kernel.aclose()

    data = asyncio.run(go())
    if ctx.json:
        ctx.emit_json(data)
    else:
        ctx.out(f"{data['thread_id']} {data['status']}")
        ctx.diag(f"kiwi: follow it with 'kiwi threads tail -f {data['thread_id']}'")
    return EXIT_OK


def _list(args: argparse.Namespace, ctx: CliContext) -> int:
    import time

    from kiwi_mcp.kernel.runtime.threads.registry import Registry
    from kiwi_mcp.kernel.runtime.threads.start import _alive, record_view

    kernel = _kernel(ctx)
    with Registry.for_project(kernel.project_root) as registry:
        registry.mark_orphans(_alive)
        pending = registry.pending_approvals()
        records = [
            record_view(r, None, approvals=[a for a in pending if a.thread_id == r.thread_id])
            for r in registry.list_threads(status=args.status)
        ]
    if ctx.json:
        ctx.emit_json({"threads": records})
        return EXIT_OK
    now = time.time()
    for record in records:
        flags = ",".join(record["flags"]) or "-"
        limit = record["limits"].get("spend_usd")
        spend = f"${record['spend_usd']}" + (f"/${limit}" if limit is not None else "")
        ctx.out(
            f"{record['thread_id']}  {record['directive']}  {record['status']}  "
            f"turn {record['turn']}  {spend}  {_age(now - (record['created_at'] or now))}  {flags}"
        )
    if not records:
        ctx.diag("kiwi: no threads here ('kiwi threads start <directive>' starts one)")
    return EXIT_OK


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _show(args: argparse.Namespace, ctx: CliContext) -> int:
    import json

    from kiwi_mcp.kernel.runtime.threads.start import show_thread

    kernel = _kernel(ctx)
    data = show_thread(kernel.project_root, kernel.user_space, args.thread_id)
    if ctx.json:
        ctx.emit_json(data)
    else:
        ctx.out(json.dumps(data, indent=2, default=str))
    return EXIT_OK if data["transcript"]["verified"] else EXIT_FAILED


def _line(event: dict[str, Any]) -> str | None:
    """One human line per transcript event (deltas are folded into the turn)."""
    kind, p = event["type"], event.get("payload") or {}
    head = f"{event['seq']:>4} "
    if kind == "llm_delta":
        return None
    if kind == "llm_turn":
        calls = ", ".join(
            f"{c['name']}({_short(c.get('arguments'))})" for c in p.get("tool_calls") or []
        )
        text = _short(p.get("text"), 160)
        return head + f"assistant: {text}" + (f" -> {calls}" if calls else "")
    if kind == "tool_result":
        mark = "error" if p.get("is_error") else "ok"
        return head + f"  <- {p.get('tool')} {mark}: {_short(p.get('content'), 120)}"
    if kind == "tool_intent":
        return None
    if kind == "thread_finished":
        return (
            head
            + f"finished: {p.get('status')}"
            + (f" ({(p.get('error') or {}).get('code')})" if p.get("error") else "")
        )
    if kind in ("system_prompt", "user_message"):
        return head + f"{kind}: {_short(p.get('text'), 100)}"
    return head + f"{kind}: {_short(p, 120)}"


def _short(value: Any, width: int = 60) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _tail(args: argparse.Namespace, ctx: CliContext) -> int:
    import json
    import time

    from kiwi_mcp.kernel.runtime.threads.registry import TERMINAL, Registry
    from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

    kernel = _kernel(ctx)
    with Registry.for_project(kernel.project_root) as registry:
        registry.get(args.thread_id)

    def done() -> bool:
        with Registry.for_project(kernel.project_root) as registry:
            return registry.get(args.thread_id).status in TERMINAL

    transcript = Transcript.for_thread(kernel.project_root, args.thread_id)
    seen = 0
    while True:
        finished = done()
        for event in transcript.events(after_seq=seen):
            seen = event["seq"]
            if ctx.json:
                ctx.out(json.dumps(event, default=str))
            elif (line := _line(event)) is not None:
                ctx.out(line)
        if not args.follow or finished:
            return EXIT_OK
        time.sleep(0.2)


def _request(ctx: CliContext, thread_id: str, op: str, **kw: Any) -> int:
    from kiwi_mcp.kernel.runtime.threads.control import request

    kernel = _kernel(ctx)
    data = request(kernel.project_root, thread_id, op, **kw)
    if ctx.json:
        ctx.emit_json(data)
    else:
        asked = f" ({data['control']} asked)" if "control" in data else ""
        ctx.out(f"{data['thread_id']} {data['status']}{asked}")
    return EXIT_OK


def _cancel(args: argparse.Namespace, ctx: CliContext) -> int:
    return _request(ctx, args.thread_id, "cancel", after_turn=args.after_turn)


def _pause(args: argparse.Namespace, ctx: CliContext) -> int:
    return _request(ctx, args.thread_id, "pause")


def _inject(args: argparse.Namespace, ctx: CliContext) -> int:
    return _request(ctx, args.thread_id, "inject", text=args.text, expect_turn=args.expect_turn)


def _resume(args: argparse.Namespace, ctx: CliContext) -> int:

    from kiwi_mcp.kernel.runtime.threads.start import resume_thread

    data = _with_kernel(
        ctx, lambda k: resume_thread(k, args.thread_id, unknown_as_error=args.unknown_as_error)
    )
    ctx.emit_json(data) if ctx.json else ctx.out(f"{data['thread_id']} {data['status']}")
    return EXIT_OK


def _fork(args: argparse.Namespace, ctx: CliContext) -> int:

    from kiwi_mcp.kernel.runtime.threads.fork import fork_thread

    data = _with_kernel(ctx, lambda k: fork_thread(k, args.thread_id, at=args.at))
    if ctx.json:
        ctx.emit_json(data)
    else:
        ctx.out(f"{data['thread_id']} {data['status']} (from {args.thread_id} at {args.at})")
    return EXIT_OK


def _replay(args: argparse.Namespace, ctx: CliContext) -> int:

    from kiwi_mcp.kernel.runtime.threads.fork import replay_thread

    data = _with_kernel(ctx, lambda k: replay_thread(k, args.thread_id))
    if ctx.json:
        ctx.emit_json(data)
    else:
        for call in data["calls"]:
            ctx.out(f"{call['call_id']}  {call['tool']}  {call['outcome']}")
        verdict = "the same results" if data["same"] else "DIFFERENT results"
        ctx.out(f"{data['turns']} turns replayed, {data['re_run']} calls re-run: {verdict}")
    return EXIT_OK if data["same"] else EXIT_FAILED
