"""The OpenAI Responses wire (``POST /v1/responses``), llm-wire.md §5.3.

Named SSE records whose JSON ``type`` is the event name, each with a ``sequence_number``:
``response.created``, ``response.in_progress``, per output item ``response.output_item.added``
… ``response.output_item.done``, then one terminal event (``response.completed``,
``response.incomplete``, ``response.failed`` or ``error``). Usage is only on the terminal
response object. Errors are OpenAI's ``{"error": {...}}``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from tests.support.fake_llm.chat import openai_check, openai_error
from tests.support.fake_llm.turns import CREATED, Block, Context, Fault, Turn, Usage, sse

__all__ = ["ResponsesWire"]

_INCOMPLETE = {"length": "max_output_tokens", "refusal": "content_filter"}
_ERROR = {"code": "server_error", "message": "The server is overloaded. Please try again later."}


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input,
        "input_tokens_details": {"cached_tokens": usage.cached},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.input + usage.output,
    }


class ResponsesWire:
    path = "/v1/responses"
    request_id_header = "x-request-id"
    ping = b": ping\n\n"

    def check(self, headers: Mapping[str, str], body: dict[str, Any]) -> Fault | None:
        fault = openai_check(headers, body)
        if fault is not None:
            return fault
        items = body.get("input")
        if items is None and body.get("previous_response_id") is None:
            return Fault(
                kind="invalid", message="Missing required parameter: 'input'.", param="input"
            )
        if not isinstance(items, list):
            return None
        items = [item for item in items if isinstance(item, dict)]
        calls = [item.get("call_id") for item in items if item.get("type") == "function_call"]
        outputs = {
            item.get("call_id") for item in items if item.get("type") == "function_call_output"
        }
        for call_id in calls:
            if call_id not in outputs:
                return Fault(
                    kind="invalid",
                    message=f"No tool output found for function call {call_id}: send a "
                    "function_call_output item with that call_id.",
                    param="input",
                )
        # With previous_response_id the calls live in a stored response the fake never keeps.
        stray = sorted(str(call_id) for call_id in outputs - set(calls))
        if stray and body.get("previous_response_id") is None:
            return Fault(
                kind="invalid",
                message=f"No tool call found for function call output with call_id {stray[0]}.",
                param="input",
            )
        return None

    def user_text(self, body: dict[str, Any]) -> str:
        items = body.get("input")
        if isinstance(items, str):
            return items
        for item in reversed(items if isinstance(items, list) else []):
            if not isinstance(item, dict) or item.get("role") != "user":
                continue
            content = item.get("content")
            if isinstance(content, str):
                return content
            return "".join(
                part.get("text", "")
                for part in content or []
                if isinstance(part, dict) and part.get("type") in ("input_text", "text")
            )
        return ""

    def error(self, fault: Fault, request_id: str) -> tuple[int, dict[str, Any]]:
        return openai_error(fault)

    def stream(self, turn: Turn, ctx: Context) -> Iterator[bytes]:
        return _Stream(turn, ctx).run()

    def body(self, turn: Turn, ctx: Context) -> dict[str, Any]:
        stream = _Stream(turn, ctx)
        for _ in stream.run():
            pass
        return stream.final


class _Stream:
    """One response's events; ``final`` is the terminal response object once run."""

    def __init__(self, turn: Turn, ctx: Context) -> None:
        self.turn, self.ctx = turn, ctx
        self._seq = itertools.count()
        self.output: list[dict[str, Any]] = []
        self.final: dict[str, Any] = {}

    def event(self, kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(self._seq), **fields}, event=kind)

    def response(self, status: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": f"resp_{self.ctx.number}",
            "object": "response",
            "created_at": CREATED,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "model": self.ctx.model,
            "output": list(self.output),
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "usage": None,
            **fields,
        }

    def run(self) -> Iterator[bytes]:
        turn = self.turn
        yield self.event("response.created", response=self.response("in_progress"))
        yield self.event("response.in_progress", response=self.response("in_progress"))
        if turn.unknown:
            yield self.event("response.metadata", metadata={"region": "fake", "shard": 7})
        numbers = iter(self.ctx.tool_numbers)
        last = len(turn.blocks) - 1
        for index, block in enumerate(turn.blocks):
            number = next(numbers) if block.kind == "tool" else 0
            closed = index < last or turn.complete
            cut = index == last and turn.stop == "length"
            yield from self._block(index, block, number, closed=closed, cut=cut)
        if turn.ending == "error":
            yield self.event("error", param=None, **_ERROR)
        elif turn.ending == "failed":
            failed = self.response("failed", error=_ERROR)
            yield self.event("response.failed", response=failed)
        if not turn.complete:
            return
        usage = _usage(turn.usage)
        if turn.stop in _INCOMPLETE:
            details = {"reason": _INCOMPLETE[turn.stop]}
            self.final = self.response("incomplete", incomplete_details=details, usage=usage)
            yield self.event("response.incomplete", response=self.final)
        else:
            self.final = self.response("completed", usage=usage)
            yield self.event("response.completed", response=self.final)

    def _block(
        self, index: int, block: Block, number: int, *, closed: bool, cut: bool
    ) -> Iterator[bytes]:
        if block.kind == "tool":
            return self._function_call(index, block, number, closed=closed, cut=cut)
        if block.kind == "thinking":
            item: dict[str, Any] = {"id": f"rs_{self.ctx.number}_{index}", "type": "reasoning"}
            return self._text_item(index, block, {**item, "summary": []}, closed=closed)
        item = {"id": f"msg_{self.ctx.number}_{index}", "type": "message", "status": "in_progress"}
        item = {**item, "content": [], "role": "assistant"}
        return self._text_item(index, block, item, closed=closed)

    def _function_call(
        self, index: int, block: Block, number: int, *, closed: bool, cut: bool
    ) -> Iterator[bytes]:
        item = {
            "id": f"fc_{number}",
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": f"call_{number}",
            "name": block.name,
        }
        yield self.event("response.output_item.added", output_index=index, item=item)
        at = {"item_id": item["id"], "output_index": index}
        for piece in block.pieces:
            event = "response.function_call_arguments.delta"
            yield self.event(event, **at, delta=piece, **self._extra())
        if not closed:
            return
        if cut:  # out of tokens: the arguments stay unfinished, and no .done says otherwise
            yield from self._done(index, {**item, "arguments": block.whole, "status": "incomplete"})
            return
        event = "response.function_call_arguments.done"
        yield self.event(event, **at, name=block.name, arguments=block.whole)
        yield from self._done(index, {**item, "arguments": block.whole, "status": "completed"})

    def _text_item(
        self, index: int, block: Block, item: dict[str, Any], *, closed: bool
    ) -> Iterator[bytes]:
        """A message (output_text part) or a reasoning item (summary_text part)."""
        reasoning = item["type"] == "reasoning"
        if reasoning:
            group, key, texts = "reasoning_summary", "summary_index", "reasoning_summary_text"
            part: dict[str, Any] = {"type": "summary_text", "text": ""}
            logprobs: dict[str, Any] = {}
        else:
            group, key, texts = "content", "content_index", "output_text"
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            logprobs = {"logprobs": []}
        yield self.event("response.output_item.added", output_index=index, item=item)
        at = {"item_id": item["id"], "output_index": index, key: 0}
        yield self.event(f"response.{group}_part.added", **at, part=part)
        for piece in block.pieces:
            yield self.event(
                f"response.{texts}.delta", **at, delta=piece, **logprobs, **self._extra()
            )
        if not closed:
            return
        yield self.event(f"response.{texts}.done", **at, text=block.whole, **logprobs)
        part = {**part, "text": block.whole}
        yield self.event(f"response.{group}_part.done", **at, part=part)
        if reasoning:
            yield from self._done(index, {**item, "summary": [part]})
        else:
            yield from self._done(index, {**item, "status": "completed", "content": [part]})

    def _extra(self) -> dict[str, Any]:
        """Fields the fake-unknown scenario adds to deltas (the real API pads some this way)."""
        return {"obfuscation": "q7"} if self.turn.unknown else {}

    def _done(self, index: int, item: dict[str, Any]) -> Iterator[bytes]:
        self.output.append(item)
        yield self.event("response.output_item.done", output_index=index, item=item)
