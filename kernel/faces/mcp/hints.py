"""Hints for a model, not a terminal (SPEC §10): an agent cannot run ``kiwi …``.

The kernel's hints name CLI commands because the CLI is the operator's face. Over MCP a hint
must say what the agent can do: a command that has an MCP call (``kiwi search``, ``kiwi show``,
``kiwi resolve``, ``kiwi --help``) becomes that call; a command only the operator can run
(signing, trust, keys, sign-in, lockfiles) is kept, and the hint says to ask the operator.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["for_mcp"]

_QUOTED = re.compile(r"'(kiwi [^']*)'")
_RUN = re.compile(r"\b(?:[Rr]un|[Tt]ry) (?=`?[a-z_]+\()")
_KINDS = ("tool", "directive", "knowledge")


def _search(words: list[str]) -> str | None:
    query = " ".join(words) or "<words>"
    return f'search(query: "{query}")'


def _show(words: list[str]) -> str | None:
    if len(words) != 2 or words[0] not in _KINDS:
        return None
    return f'load(item_type: "{words[0]}", item_id: "{words[1]}")'


def _resolve(words: list[str]) -> str | None:
    if len(words) != 1:
        return None
    return f'execute(item_type: "tool", item_id: "{words[0]}", dry_run: true)'


def _help(words: list[str]) -> str | None:
    return "help()" if not words else None


_AGENT_CALLS: dict[str, Callable[[list[str]], str | None]] = {
    "search": _search,
    "show": _show,
    "resolve": _resolve,
    "--help": _help,
}


def _as_call(command: str) -> str | None:
    """The MCP call doing what ``command`` (``kiwi …``) does, or None (operator only)."""
    words = command.split()[1:]
    if not words or words[0] not in _AGENT_CALLS:
        return None
    return _AGENT_CALLS[words[0]](words[1:])


def for_mcp(hint: str | None) -> str | None:
    """``hint`` rephrased for an MCP client; unchanged when it names no ``kiwi`` command."""
    if not hint or "kiwi " not in hint:
        return hint
    operator_only = False

    def swap(match: re.Match[str]) -> str:
        nonlocal operator_only
        call = _as_call(match.group(1))
        if call is None:
            operator_only = True
            return match.group(0)
        return call

    text = _QUOTED.sub(swap, hint)
    text = _RUN.sub("Call ", text)
    if operator_only and "operator" not in text.lower():
        text = f"Only the operator can do this (Kiwi's CLI); ask them: {text}"
    return text
