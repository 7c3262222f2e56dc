"""Fork and replay (SPEC §13.4), the operator's two ways to reuse a thread's past.

``fork_thread``: a new thread whose history is the source's verified transcript up to a
seq — the conversation events are copied into a fresh hash chain (``thread_started`` names
the source), the token re-minted with the source's capabilities, and a runner started as on
a resume, so it goes on from there.

``replay_thread``: the thread again with the recorded LLM turns instead of calls (no LLM, no
cost): each recorded call is run again through the gate with the thread's token when that
cannot repeat an effect (Kiwi's reads, ``read_only``/``idempotent`` tools) and its result
compared with the recorded one; any other call is not re-run but planned (resolve, verify,
gate with the thread's token, no effect), so the report says whether today's items and
policy would still let the same calls happen (``gate: allowed | refused``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from kiwi_mcp.kernel.errors import ThreadState, TranscriptTampered, UsageError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = ["fork_thread", "replay_thread"]

#: the events a fork copies: what the provider history is rebuilt from
_HISTORY: Final = frozenset(
    {"system_prompt", "user_message", "llm_turn", "tool_intent", "tool_result", "compacted"}
)


def _verified_events(kernel: Kernel, thread_id: str, upto: int | None) -> list[dict[str, Any]]:
    from kiwi_mcp.kernel.runtime.threads.signer import Signer
    from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

    transcript = Transcript.for_thread(kernel.project_root, thread_id)
    check = transcript.verify(Signer(kernel.user_space).check)
    good = check.events if check.verified else (check.first_bad_seq or 1) - 1
    if upto is not None and upto > good:
        raise TranscriptTampered(
            f"the transcript of {thread_id} is verified up to seq {good}, not {upto}"
            + ("" if check.verified else f" ({check.reason} at seq {check.first_bad_seq})"),
            hint=f"Fork at a seq up to {good}.",
            details=check.to_dict(),
        )
    if not check.verified and upto is None:
        raise TranscriptTampered(
            f"the transcript of {thread_id} changed at seq {check.first_bad_seq}",
            details=check.to_dict(),
        )
    limit = good if upto is None else upto
    return [e for e in transcript.events() if e["seq"] <= limit]


async def fork_thread(kernel: Kernel, source: str, *, at: int) -> dict[str, Any]:
    """Start a new thread from ``source``'s history up to seq ``at``.

    Raises:
        UsageError: ``at`` below 1. ThreadNotFound: no such thread. TranscriptTampered: the
            transcript does not verify up to ``at``.
    """
    from kiwi_mcp.kernel.runtime.threads.common import AUDIENCE, thread_folder, thread_token
    from kiwi_mcp.kernel.runtime.threads.registry import Registry
    from kiwi_mcp.kernel.runtime.threads.start import _spawn, _write_token
    from kiwi_mcp.kernel.runtime.threads.transcript import Transcript
    from kiwi_mcp.kernel.trust.keys import KeyStore
    from kiwi_mcp.kernel.trust.tokens import mint

    if at < 1:
        raise UsageError("--at: wanted a seq of the source's transcript, 1 or more")
    with Registry.for_project(kernel.project_root) as registry:
        record = registry.get(source)
        events = _verified_events(kernel, source, at)
        # an ended thread's token may have expired since: check it as of its last update
        old = thread_token(
            kernel.project_root, kernel.user_space, source, now=min(time.time(), record.updated_at)
        )
        forked = registry.create(
            directive=record.directive,
            directive_sha256=record.directive_sha256,
            limits=record.limits,
            inputs=record.inputs,
            model=record.model,
            provider=record.provider,
            caller=f"fork:{source}",
        )
        token, text = mint(
            KeyStore(kernel.user_space).private_key(),
            caps=old.caps,
            sub=forked.thread_id,
            aud=AUDIENCE,
            now=time.time(),
            ttl_s=max(old.exp - old.iat, 60.0),
        )
        _write_token(thread_folder(kernel.project_root, forked.thread_id), text)
        registry.update(forked.thread_id, token_id=token.jti)
        transcript = Transcript.for_thread(kernel.project_root, forked.thread_id)
        started = next((e for e in events if e["type"] == "thread_started"), None)
        transcript.append(
            "thread_started",
            {
                **(started or {}).get("payload", {}),
                "capabilities": list(token.caps),
                "forked_from": {"thread_id": source, "seq": at},
                "caller": f"fork:{source}",
            },
        )
        for event in events:
            if event["type"] in _HISTORY:
                transcript.append(event["type"], event["payload"])
        registry.set_status(forked.thread_id, "paused", expect=("created",))
        out = await _spawn(kernel, registry, forked.thread_id, kernel.caps, [])
        return {**out, "forked_from": source, "at": at}


async def replay_thread(kernel: Kernel, thread_id: str) -> dict[str, Any]:
    """Replay ``thread_id``'s recorded turns; see the module docstring for the report."""
    from kiwi_mcp.kernel.core.items import Directive
    from kiwi_mcp.kernel.exec.kernel import Kernel as KernelClass
    from kiwi_mcp.kernel.ops.load import load_verified
    from kiwi_mcp.kernel.runtime.threads.agent_tools import offer, run_call, safe_to_repeat
    from kiwi_mcp.kernel.runtime.threads.registry import Registry
    from kiwi_mcp.kernel.runtime.threads.start import _alive
    from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

    with Registry.for_project(kernel.project_root) as registry:
        registry.mark_orphans(_alive)
        record = registry.get(thread_id)
    if record.status in ("running", "waiting_approval"):
        raise ThreadState(
            f"thread {thread_id} is {record.status}: replay a thread that is not running",
            details={"status": record.status},
        )
    events = _verified_events(kernel, thread_id, None)
    started: dict[str, Any] = next(
        (e["payload"] for e in events if e["type"] == "thread_started"), {}
    )
    directive = load_verified(kernel, "directive", record.directive).loaded.item
    assert isinstance(directive, Directive)
    agent = KernelClass(
        kernel.settings, caps=CapabilitySet.from_strings(started.get("capabilities") or [])
    )
    calls: list[dict[str, Any]] = []
    try:
        offered = offer(agent, directive.tools)
        recorded = {
            str(e["payload"]["call_id"]): e["payload"] for e in events if e["type"] == "tool_result"
        }
        turns = [e["payload"] for e in events if e["type"] == "llm_turn"]
        for turn in turns:
            for call in turn.get("tool_calls") or ():
                name, arguments = str(call["name"]), call.get("arguments") or {}
                was = recorded.get(str(call["call_id"]))
                entry: dict[str, Any] = {"call_id": call["call_id"], "tool": name}
                if was is None:
                    entry["outcome"] = "no recorded result"
                elif not safe_to_repeat(agent, offered, name, arguments):
                    entry["outcome"] = "not re-run (it may have an effect)"
                    refused = await _refused_now(agent, offered.names.get(name), arguments)
                    entry["gate"] = "allowed" if refused is None else "refused"
                    if refused is not None:
                        entry["refused"] = refused
                else:
                    _, text = await run_call(agent, offered, name, arguments, thread_id=thread_id)
                    entry["outcome"] = "same" if text == was.get("content") else "differs"
                calls.append(entry)
    finally:
        await agent.aclose()
    compared = [c for c in calls if c["outcome"] in ("same", "differs")]
    return {
        "thread_id": thread_id,
        "turns": len(turns),
        "calls": calls,
        "re_run": len(compared),
        "same": all(c["outcome"] == "same" for c in compared)
        and all(c.get("gate") != "refused" for c in calls),
        "llm_calls": 0,
    }


async def _refused_now(
    agent: Kernel, target: tuple[str, str] | None, arguments: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Why the gate would refuse this call today (``{code, message}``), or None: planned
    up to the effect with the thread's token, never run."""
    from kiwi_mcp.kernel.errors import KiwiError

    if target is None:
        return None
    kind, ident = target
    params: Any = arguments
    if kind == "kiwi":  # only an execute of a tool gets here (safe_to_repeat)
        ident, params = str(arguments.get("item_id", "")), arguments.get("parameters") or {}
    try:
        await agent.plan(ident, params if isinstance(params, Mapping) else {}, fetch_auth=False)
    except KiwiError as err:
        return {"code": err.code, "message": err.message}
    return None
