"""A thread's turns (SPEC §13.1, §13.3, §13.5): the loop a runner process drives.

One turn: controls → reserve the worst case (thread and every ancestor, one transaction) →
the LLM call, streamed into the transcript → settle → for each tool call: ``tool_intent``
(durable) → the call through the gate with the thread's token → ``tool_result`` (durable) →
a signed checkpoint. The transcript is the journal: on a resume the open intents are re-run
only when the tool is ``read_only`` or ``idempotent``; any other open call is an unknown
outcome and the thread pauses for the operator, so a side effect never happens twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.thread_plan import (
    args_sha256,
    compaction,
    estimate_tokens,
    history,
    loop_detections,
    not_started,
    unanswered,
    worst_case_usd,
)
from kiwi_mcp.kernel.errors import ContextExceeded
from kiwi_mcp.kernel.runtime.threads.agent_tools import Offer, run_call, safe_to_repeat
from kiwi_mcp.kernel.runtime.threads.control import take_controls
from kiwi_mcp.kernel.runtime.threads.outcomes import (
    Outcome,
    find_outputs,
    limit_outcome,
    money,
    unfinished_final,
)

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.runtime.threads.registry import Registry
    from kiwi_mcp.kernel.runtime.threads.review import Reviewer
    from kiwi_mcp.kernel.runtime.threads.signer import Signer
    from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

__all__ = ["Outcome", "ThreadRun", "limit_outcome"]

#: SPEC §13.8's loop detector: the same call this many times in the last LOOP_WINDOW calls
LOOP_REPEATS = 3
LOOP_WINDOW = 10


@dataclass(kw_only=True)
class ThreadRun:
    """Everything one runner needs; ``run`` drives the turns until an outcome."""

    thread_id: str
    agent: Kernel  # the thread's token: every tool call the LLM asks for
    harness: Kernel  # the project's policy: the thread's own LLM calls
    registry: Registry
    transcript: Transcript
    signer: Signer
    offer: Offer
    provider: str
    model: str
    system: str
    max_tokens: int
    outputs: tuple[str, ...] = ()
    prices: Mapping[str, str] | None = None
    context_window: int | None = None
    context_policy: str = "compact"
    unknown_as_error: bool = False
    reviewer: Reviewer | None = None  # approvals (SPEC §13.6); None: every call runs
    _asked_outputs: bool = field(default=False, init=False)
    _model_seen: str = field(default="", init=False)

    async def run(self) -> Outcome:
        while True:
            control = take_controls(self.registry, self.transcript, self.thread_id)
            if control is not None:
                return control
            events = self.transcript.events()
            resolved = await self._resolve_open_calls(events)
            if resolved is not None:
                return resolved
            events = self.transcript.events()
            final = unfinished_final(events)
            if final is not None:  # stopped after the answer, before it was recorded
                outcome = self._final(final)
                if outcome.status != "continue":
                    return outcome
                events = self.transcript.events()
            turn = await self._turn(events)
            if turn is not None:
                return turn

    # --- one turn ------------------------------------------------------------------------

    def _request(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "model": self.model,
            "system": self.system,
            "messages": history(events),
            "tools": [dict(t) for t in self.offer.tools],
            "max_tokens": self.max_tokens,
        }

    def _fit(self, events: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
        """The next request and its input tokens, compacted to fit the context window when
        the directive allows it (a ``compacted`` event names the dropped results).

        Raises ContextExceeded when it does not fit and cannot be made to.
        """
        request = self._request(events)
        input_tokens = estimate_tokens(request)
        room = (self.context_window or 0) - self.max_tokens
        while self.context_window and input_tokens > room:
            dropped = (
                compaction(request["messages"], input_tokens - room)
                if self.context_policy == "compact"
                else None
            )
            if not dropped:
                break
            self.transcript.append(
                "compacted",
                {"call_ids": dropped, "input_tokens_before": input_tokens, "room": room},
            )
            request = self._request(self.transcript.events())
            input_tokens = estimate_tokens(request)
        else:
            return request, input_tokens
        raise ContextExceeded(
            f"the next turn needs about {input_tokens} input tokens + {self.max_tokens} "
            f"output, over the model's context window of {self.context_window}"
            + ("" if self.context_policy == "compact" else ' (<limits context="fail"/>)'),
            details={"input_tokens": input_tokens, "context_window": self.context_window},
        )

    async def _turn(self, events: list[dict[str, Any]]) -> Outcome | None:
        request, input_tokens = self._fit(events)
        messages = request["messages"]
        usd = worst_case_usd(self.prices, input_tokens, self.max_tokens)
        reservation = self.registry.reserve(
            self.thread_id, tokens=input_tokens + self.max_tokens, usd=usd
        )
        # budget and llm_request are not fsynced: the reservation is in the registry, and
        # the next durable line (the turn, or the checkpoint) carries them to the disk
        self.transcript.append(
            "budget",
            {"reserved_tokens": reservation.tokens, "reserved_usd": money(usd)},
            durable=False,
        )
        self.transcript.append(
            "llm_request",
            {
                "provider": self.provider,
                "model": self.model,
                "messages": len(messages),
                "max_tokens": self.max_tokens,
            },
            durable=False,
        )
        envelope = await self.harness.execute(
            self.provider, request, thread_id=self.thread_id, on_event=self._delta
        )
        data = envelope.get("data") if envelope.get("ok") else None
        usage = (data or {}).get("usage")
        spent_tokens = sum(usage.values()) if isinstance(usage, Mapping) else None
        cost = (data or {}).get("cost_usd")
        self.registry.settle(
            reservation, tokens=spent_tokens, usd=Decimal(cost) if cost is not None else None
        )
        if data is None:
            error = envelope.get("error") or {"code": "LLM_ERROR", "message": "no result"}
            self.transcript.append("llm_error", {"error": error})
            return Outcome(status="failed", error=error)
        self.transcript.append(
            "llm_turn",
            {
                "text": data["text"],
                "tool_calls": data["tool_calls"],
                "stop": data["stop"],
                "usage": usage,
                "cost_usd": cost,
                "model": data.get("model"),
                "incomplete_tool_calls": data.get("incomplete_tool_calls", []),
            },
        )
        if data.get("model") and data["model"] != self._model_seen:
            self._model_seen = str(data["model"])
            self.registry.update(self.thread_id, model=self._model_seen)
        if not data["tool_calls"]:
            outcome = self._final(data)
            self._checkpoint()
            return None if outcome.status == "continue" else outcome
        for call in data["tool_calls"]:
            stopped = await self._call(call)
            if stopped is not None:
                self._checkpoint()
                return stopped
        self._checkpoint()
        return None

    async def _call(self, call: Mapping[str, Any], *, reviewed: bool = False) -> Outcome | None:
        """Review (approval), journal, run and record one tool call; an Outcome stops the
        thread before the call (a pause for approval)."""
        arguments = call.get("arguments") or {}
        if self.reviewer is not None and not reviewed:
            review = await self.reviewer.review(self, call)
            if review.pause is not None:
                return Outcome(status=review.pause)
            if review.rejected is not None:
                self._answer(call, review.rejected, review.code)
                return None
            arguments = dict(review.arguments if review.arguments is not None else arguments)
        self.transcript.append(
            "tool_intent",
            {
                "call_id": call["call_id"],
                "tool": call["name"],
                "args_sha256": args_sha256(arguments),
                "arguments": arguments,
            },
        )
        envelope, text = await run_call(
            self.agent, self.offer, str(call["name"]), arguments, thread_id=self.thread_id
        )
        action = str(arguments.get("action") or "") if call["name"] == "help" else ""
        if action:
            self._signal(action, arguments.get("reason"))
        loop = self._loop_check(str(call["name"]), args_sha256(arguments))
        if loop == "tell":
            text += (
                f"\n\n[kiwi: this is the same {call['name']} call with the same arguments "
                f"{LOOP_REPEATS} times in your last {LOOP_WINDOW} calls. If you are stuck, "
                'call help with action "stuck" and say why.]'
            )
        self.transcript.append(
            "tool_result",
            {
                "call_id": call["call_id"],
                "tool": call["name"],
                "is_error": not envelope["ok"],
                "content": text,
                "code": (envelope.get("error") or {}).get("code"),
            },
        )
        if action == "escalate":
            return Outcome(
                status="paused",
                error={
                    "code": "ESCALATED",
                    "message": f"the thread escalated: {arguments.get('reason') or 'no reason'}",
                    "hint": f"Read it with 'kiwi threads tail {self.thread_id}', then "
                    f"'kiwi threads inject {self.thread_id} …' and 'kiwi threads resume'.",
                },
            )
        if loop == "pause":
            self.registry.add_flag(self.thread_id, "loop")
            return Outcome(
                status="paused",
                error={
                    "code": "LOOP_DETECTED",
                    "message": f"the same {call['name']} call repeated after the model was told",
                    "hint": f"Inspect it with 'kiwi threads tail {self.thread_id}'.",
                },
            )
        return None

    def _loop_check(self, tool: str, digest: str) -> str | None:
        """SPEC §13.8 (``thread_plan.loop_detections``): the first detection tells the model
        ("tell"), the next pauses; read from the transcript, so a resume keeps them."""
        told = loop_detections(self.transcript.events(), LOOP_REPEATS, LOOP_WINDOW)
        if told is None:
            return None
        self.transcript.append(
            "loop_detected", {"tool": tool, "args_sha256": digest, "detections": told + 1}
        )
        return "tell" if told == 0 else "pause"

    def _answer(self, call: Mapping[str, Any], text: str, code: str) -> None:
        """A call answered without running: the text is the tool's error result."""
        self.transcript.append(
            "tool_result",
            {
                "call_id": call["call_id"],
                "tool": call["name"],
                "is_error": True,
                "content": f"{code}: {text}",
                "code": code,
            },
        )

    def _final(self, data: Mapping[str, Any]) -> Outcome:
        if data["stop"] not in ("end", "tool"):
            return Outcome(
                status="failed",
                error={
                    "code": "LLM_STOPPED",
                    "message": f"the model stopped with '{data['stop']}'",
                },
            )
        result: dict[str, Any] = {"text": data["text"]}
        if self.outputs:
            found = find_outputs(data["text"], self.outputs)
            if found is None:
                if not self._asked_outputs:
                    self._asked_outputs = True
                    keys = ", ".join(self.outputs)
                    self.transcript.append(
                        "user_message",
                        {"text": (f"Finish with a JSON object holding the outputs: {keys}.")},
                    )
                    return Outcome(status="continue")
                return Outcome(
                    status="failed",
                    error={
                        "code": "OUTPUTS_MISSING",
                        "message": "the final answer has no JSON object with "
                        + ", ".join(self.outputs),
                    },
                )
            result["outputs"] = found
        return Outcome(status="completed", result=result)

    # --- resume, controls, signals ---------------------------------------------------------

    async def _resolve_open_calls(self, events: list[dict[str, Any]]) -> Outcome | None:
        outcome = await self._resolve_intents(events)
        if outcome is None:
            for call in not_started(events):  # never begun: nothing to repeat
                outcome = await self._call(call)
                if outcome is not None:
                    return outcome
        return outcome

    async def _resolve_intents(self, events: list[dict[str, Any]]) -> Outcome | None:
        for intent in unanswered(events):
            name = str(intent.get("tool"))
            call = {
                "call_id": intent["call_id"],
                "name": name,
                "arguments": intent.get("arguments") or {},
            }
            if self._safe_to_repeat(name, intent.get("arguments") or {}):
                await self._call(call, reviewed=True)  # it was reviewed before its intent
                continue
            review = None if self.reviewer is None else await self.reviewer.unknown(self, intent)
            if review is not None and review.rejected is not None:
                self._answer(call, review.rejected, review.code)
            elif review is not None and review.pause is None:
                if review.arguments is not None:
                    call["arguments"] = dict(review.arguments)
                await self._call(call, reviewed=True)  # the operator said: run it again
            elif self.unknown_as_error:
                self.transcript.append(
                    "tool_result",
                    {
                        "call_id": intent["call_id"],
                        "tool": name,
                        "is_error": True,
                        "code": "OUTCOME_UNKNOWN",
                        "content": "OUTCOME_UNKNOWN: the runner "
                        "stopped while this call ran; it was not run again, and whether it took "
                        "effect is not known.",
                    },
                )
            else:
                self.transcript.append(
                    "outcome_unknown", {"call_id": intent["call_id"], "tool": name}
                )
                self.registry.add_flag(self.thread_id, "outcome_unknown")
                return Outcome(
                    status="paused",
                    error={
                        "code": "OUTCOME_UNKNOWN",
                        "message": f"call {intent['call_id']} of {name} may or may not have run",
                        "hint": f"Run 'kiwi threads resume {self.thread_id} --unknown-as-error' "
                        "to tell the model it failed.",
                    },
                )
        return None

    def _safe_to_repeat(self, name: str, arguments: Mapping[str, Any]) -> bool:
        return safe_to_repeat(self.agent, self.offer, name, arguments)

    def _signal(self, action: str, reason: Any) -> None:
        self.transcript.append("signal", {"action": action, "reason": reason})
        self.registry.add_flag(self.thread_id, action)

    def _delta(self, event: dict[str, Any]) -> None:
        if event.get("event") == "llm.text_delta":
            data = event.get("data") or {}
            self.transcript.append("llm_delta", {"text": data.get("text", "")}, durable=False)
        elif event.get("event") == "llm.discarded":
            self.transcript.append("llm_discarded", dict(event.get("data") or {}))

    def _checkpoint(self) -> None:
        self.transcript.checkpoint(self.signer.sign, self.signer.key_id)
