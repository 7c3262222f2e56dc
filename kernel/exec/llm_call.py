"""One LLM call run (SPEC §12.3): attempts over ``http_client``, each stream folded by the
assembler, each failure classified by the protocol and retried by its policy.

Every attempt sends the request once (the primitive's own retries are off: only this loop
knows a quota error from a rate limit). Canonical events reach ``on_event`` as they are
assembled, as ``{"event": "llm.<type>", "data": {...}}``; an attempt that failed after
events were sent is followed by ``llm.discarded``, so a consumer (a transcript, a terminal)
knows those events are void — a retried stream is never merged with the next one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.llm.assemble import Assembler, Turn
from kiwi_mcp.kernel.core.llm.call import LlmCall
from kiwi_mcp.kernel.core.llm.classify import Failure, classify_event, classify_http, decide
from kiwi_mcp.kernel.core.llm.pricing import cost_usd
from kiwi_mcp.kernel.errors import ExecutionTimeout, HttpError
from kiwi_mcp.kernel.exec.dispatch import EventHook, run_http

if TYPE_CHECKING:
    from kiwi_mcp.primitives.http_client import HttpClient

__all__ = ["run_llm", "turn_data"]

Sleep = Callable[[float], Awaitable[object]]
Feed = Callable[[Mapping[str, Any]], list[dict[str, Any]]]
_EVENT_NAMES = {
    name: f"llm.{name}"
    for name in (
        "message_start",
        "block_start",
        "text_delta",
        "tool_args_delta",
        "thinking_delta",
        "block_stop",
        "message_end",
        "error",
    )
}


def turn_data(call: LlmCall, turn: Turn) -> dict[str, Any]:
    """SPEC §12.4's result ``data``: the assembled turn, priced."""
    data: dict[str, Any] = {
        "text": turn.text,
        "tool_calls": [dict(c) for c in turn.tool_calls],
        "stop": turn.stop,
        "usage": None if turn.usage is None else dict(turn.usage),
        "cost_usd": cost_usd(call.model.prices, turn.usage),
        "model": turn.model or call.request.model,
        "provider": call.provider,
    }
    if turn.thinking:
        data["thinking"] = turn.thinking
    if turn.incomplete_tool_calls:
        data["incomplete_tool_calls"] = [dict(c) for c in turn.incomplete_tool_calls]
    return data


def _failure_of(
    call: LlmCall, err: HttpError | ExecutionTimeout, turn: Turn, now: float
) -> Failure:
    details = err.details
    errors = call.protocol.errors
    if turn.error is not None:  # an error event in the stream (the assembler read it)
        return classify_event(errors, turn.error, None)
    status = details.get("status")
    if isinstance(status, int) and status >= 400 and "event" not in details:
        return classify_http(
            errors, status, details.get("headers") or {}, details.get("body"), now=now
        )
    if isinstance(err, ExecutionTimeout) or turn.events:
        # Cut mid-stream (or stalled): the events so far are void, the call may be repeated.
        return Failure(cls="incomplete", message=err.message)
    # The request never got an answer (refused connection, broken before any byte).
    return Failure(cls="retryable", message=err.message)


async def run_llm(
    call: LlmCall,
    config: Mapping[str, Any],
    *,
    client: HttpClient,
    project_path: Path,
    on_event: EventHook | None,
    sleep: Sleep = asyncio.sleep,
    rng: Callable[[], float] = random.random,
    now: Callable[[], float] = time.time,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Run ``call``; returns (data, meta.http of the last attempt, meta.llm).

    Raises:
        LlmError: the typed failure of the last attempt (``details.attempts`` lists them all).
        KiwiError: a failure that is not the provider's (a sink, the config).
    """
    stream = dict(config.get("stream") or {})
    stream.setdefault("sinks", [])  # raw events are kept only where a sink is asked for
    config = {**config, "stream": stream}
    history: list[dict[str, Any]] = []
    retries = 0
    while True:
        assembler = Assembler(call.protocol)
        sent = 0

        def hook(event: dict[str, Any], feed: Feed = assembler.feed) -> None:
            nonlocal sent
            out = feed(event)
            if out:
                sent += len(out)
                if on_event is not None:
                    for canonical in out:
                        on_event({"event": _EVENT_NAMES[canonical["type"]], "data": canonical})

        http_meta: dict[str, Any] = {}
        failure: Failure | None = None
        try:
            _, http_meta = await run_http(
                config, client=client, project_path=project_path, on_event=hook
            )
        except (HttpError, ExecutionTimeout) as err:
            failure = _failure_of(call, err, assembler.finish(), now())
        turn = assembler.finish()
        if failure is None and turn.error is not None:
            failure = classify_event(call.protocol.errors, turn.error, None)
        if failure is None and not turn.complete:
            failure = Failure(cls="incomplete", message="the stream ended before its last event")
        if failure is None:
            meta: dict[str, Any] = {
                "attempts": len(history) + 1,
                "stop_raw": turn.stop_raw,
                "events": turn.events,
            }
            if history:
                meta["failed_attempts"] = history
            return turn_data(call, turn), http_meta, meta
        verdict = decide(call.protocol.retry, failure, retries, rng)
        history.append(
            {
                "class": failure.cls,
                "status": failure.status,
                "provider_type": failure.provider_type,
                "discarded_events": sent,
                "retried": verdict.retry,
                "why": verdict.reason,
            }
        )
        if sent and on_event is not None:
            on_event(
                {
                    "event": "llm.discarded",
                    "data": {"type": "discarded", "attempt": len(history), "events": sent},
                }
            )
        if not verdict.retry:
            final = failure.error(call.provider, attempts=len(history), now=now())
            final.details["attempts_made"] = history
            raise final
        retries += 1
        await sleep(verdict.delay_s)
