"""The named scenarios (the request's ``model`` picks one) and scripted turns.

Every scenario is the same for the three wire formats; ``resolve`` gives the ``Turn`` or
``Fault`` for a model's N-th request (``attempt``, from 0).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from email.utils import formatdate
from typing import Any

from tests.support.fake_llm.turns import Block, Ending, Fault, Turn, Usage

__all__ = ["SCENARIOS", "Script", "parse_script", "resolve", "split"]

WEATHER = {"city": "Paris"}
TIME = {"zone": "UTC"}
# The split-json tool arguments and their JSON text, cut inside escapes and inside a number:
# between a backslash and the character it escapes, inside a \u escape, inside "12".
SPLIT_ARGS = {"path": 'C:\\dir\\"q".txt', "text": "é\n", "n": 12}
SPLIT_PIECES = (
    "",
    '{"path": "C:\\',
    "\\dir\\",
    '\\\\"q\\".txt", "text": "\\u0',
    '0e9\\n", "n": 1',
    "2}",
)
assert "".join(SPLIT_PIECES) == json.dumps(SPLIT_ARGS), "the split must stay the same JSON"


def split(text: str, parts: int = 3) -> tuple[str, ...]:
    """``text`` in ``parts`` pieces of about the same size (fewer when it is shorter)."""
    if not text:
        return ("",)
    size = math.ceil(len(text) / parts)
    return tuple(text[start : start + size] for start in range(0, len(text), size))


def _text(text: str) -> Block:
    return Block(kind="text", pieces=split(text))


def _tool(name: str, arguments: dict[str, Any]) -> Block:
    text = json.dumps(arguments)
    half = len(text) // 2
    return Block(kind="tool", name=name, pieces=("", text[:half], text[half:]))


def _echo(user: str) -> Turn:
    return Turn(blocks=(_text(f"You said: {user}"),))


def _thinking(user: str) -> Turn:
    thought = Block(
        kind="thinking",
        pieces=("The user wants an echo; ", "I will repeat their words."),
        signature="c2lnbmF0dXJlLWZha2U=",
    )
    return Turn(
        blocks=(thought, _text(f"You said: {user}")),
        usage=Usage(output=19, reasoning=12),
    )


def _length(user: str) -> Turn:
    cut = json.dumps({"path": "notes.txt", "text": "a long text"})[:20]
    return Turn(
        blocks=(_text("Writing it."), Block(kind="tool", name="write_file", pieces=("", cut))),
        stop="length",
    )


def _stream_end(ending: Ending) -> Callable[[str], Turn]:
    def turn(user: str) -> Turn:
        return Turn(blocks=(Block(kind="text", pieces=("You said", ": ")),), ending=ending)

    return turn


def _retry_date() -> str:
    # A whole second at least 1 s ahead: HTTP dates have no fractions, and the client must see
    # a delay above zero.
    return formatdate(math.ceil(time.time()) + 1, usegmt=True)


_ANSWERS: dict[str, Callable[[str], Turn]] = {
    "fake-text": _echo,
    "fake-tool": lambda user: Turn(blocks=(_tool("get_weather", WEATHER),), stop="tool"),
    "fake-parallel": lambda user: Turn(
        blocks=(_text("Checking both."), _tool("get_weather", WEATHER), _tool("get_time", TIME)),
        stop="tool",
        usage=Usage(output=31),
    ),
    "fake-split-json": lambda user: Turn(
        blocks=(Block(kind="tool", name="write_file", pieces=SPLIT_PIECES),), stop="tool"
    ),
    "fake-thinking": _thinking,
    "fake-ping": lambda user: Turn(blocks=_echo(user).blocks, pings=True),
    "fake-unknown": lambda user: Turn(blocks=_echo(user).blocks, unknown=True),
    "fake-length": _length,
    "fake-refusal": lambda user: Turn(blocks=(_text("I can't help with that."),), stop="refusal"),
    "fake-midstream-error": _stream_end("error"),
    "fake-failed": _stream_end("failed"),
    "fake-cut": _stream_end("cut"),
    "fake-eof": _stream_end("eof"),
    "fake-trickle": lambda user: Turn(blocks=_echo(user).blocks, gap=0.3),
}

# Scenarios that fail their first request, then answer like fake-text.
_FIRST_FAULT: dict[str, Callable[[], Fault]] = {
    "fake-429-ms": lambda: Fault(kind="rate_limit", headers={"retry-after-ms": "20"}),
    "fake-429-s": lambda: Fault(kind="rate_limit", headers={"retry-after": "0.05"}),
    "fake-429-date": lambda: Fault(kind="rate_limit", headers={"retry-after": _retry_date()}),
    "fake-529": lambda: Fault(kind="overloaded"),
}

# Scenarios that always fail.
_ALWAYS_FAULT: dict[str, Callable[[], Fault]] = {
    "fake-429-cap": lambda: Fault(kind="rate_limit", headers={"retry-after": "3600"}),
    "fake-overloaded-always": lambda: Fault(kind="overloaded"),
    "fake-quota": lambda: Fault(kind="quota"),
    "fake-500-noretry": lambda: Fault(kind="server", headers={"x-should-retry": "false"}),
}

SCENARIOS: tuple[str, ...] = tuple(sorted({*_ANSWERS, *_FIRST_FAULT, *_ALWAYS_FAULT}))


def resolve(model: str, attempt: int, user: str) -> Turn | Fault | None:
    """The answer of scenario ``model`` to its ``attempt``-th request; None if unknown."""
    if model in _ALWAYS_FAULT:
        return _ALWAYS_FAULT[model]()
    if model in _FIRST_FAULT:
        return _FIRST_FAULT[model]() if attempt == 0 else _echo(user)
    answer = _ANSWERS.get(model)
    return answer(user) if answer is not None else None


# A scripted turn: a Turn, or the name of a scenario played as on its first request.
Script = tuple[Turn | str, ...]


def parse_script(model: str, turns: Sequence[Any]) -> Script:
    """Check and convert ``fake.script`` turns; raises ``ValueError`` naming the bad field.

    Each turn is ``{"text": str}``, ``{"tool_calls": [{"name": str, "arguments": dict}],
    "text"?: str}`` or ``{"scenario": "<a scenario name>"}``; a text or tool turn may add
    ``"output_tokens": int`` (the usage it reports).
    """
    if isinstance(turns, str | bytes) or not turns:
        raise ValueError(f"script {model!r}: expected a non-empty list of turns")
    parsed: list[Turn | str] = []
    for i, turn in enumerate(turns):
        where = f"script {model!r}: turns[{i}]"
        if not isinstance(turn, dict):
            raise ValueError(f"{where}: expected an object, got {turn!r}")
        unknown = set(turn) - {"text", "tool_calls", "scenario", "output_tokens"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; use text, tool_calls")
        if "scenario" in turn:
            if turn["scenario"] not in SCENARIOS or len(turn) > 1:
                raise ValueError(f"{where}.scenario: expected one of {', '.join(SCENARIOS)}")
            parsed.append(turn["scenario"])
            continue
        parsed.append(_scripted_turn(where, turn))
    return tuple(parsed)


def _scripted_turn(where: str, turn: dict[str, Any]) -> Turn:
    blocks: list[Block] = []
    text = turn.get("text")
    if text is not None:
        if not isinstance(text, str):
            raise ValueError(f"{where}.text: expected a string, got {text!r}")
        blocks.append(_text(text))
    calls = turn.get("tool_calls", [])
    if not isinstance(calls, list):
        raise ValueError(f"{where}.tool_calls: expected a list, got {calls!r}")
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ValueError(f"{at}.name: expected a string")
        arguments = call.get("arguments", {})
        if not isinstance(arguments, dict):
            raise ValueError(f"{at}.arguments: expected an object, got {arguments!r}")
        blocks.append(_tool(call["name"], arguments))
    if not blocks:
        raise ValueError(f"{where}: expected text or tool_calls")
    output = turn.get("output_tokens", Usage().output)
    if not isinstance(output, int) or output < 0:
        raise ValueError(f"{where}.output_tokens: expected a whole number, got {output!r}")
    return Turn(blocks=tuple(blocks), stop="tool" if calls else "end", usage=Usage(output=output))
