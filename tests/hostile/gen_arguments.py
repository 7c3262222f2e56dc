"""Hostile ``tools/call`` arguments for the wire fuzz: wrong types for every property, extra
properties, huge strings, deep nesting, NUL and lone surrogates, escaping ids, and
``project_path`` values that name no folder (never a real folder outside the sandbox:
``load`` with a ``destination`` writes)."""

from __future__ import annotations

import random
from typing import Any, Final

__all__ = ["TOOLS", "hostile_arguments"]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


_BAD_IDS: Final = ("../x", "/etc/passwd", "a/./b", "a\\b", "hel\u0000lo", "\ud800", "a//b", ".x")
TOOLS: Final = ("search", "load", "execute", "sign", "help")


def hostile_arguments(rng: random.Random, tool: str) -> Any:
    kind = rng.choice(["tool", "directive", "knowledge", "weapon", 5, None])
    ident = rng.choice(["hello", "runtimes/python", *_BAD_IDS, "", 5, "i" * 600])
    project = rng.choice(["relative/dir", "/nonexistent-kiwi-hostile/p", "", 5])
    options: list[Any] = [
        "not an object",
        [1, 2],
        7,
        {"query": 5},
        {"query": "x", "evil": 1},
        {"query": "q" * rng.choice([1_001, 100_000])},
        {"query": "\u0000"},
        {"query": "\ud800\udfff\ud800"},
        {"query": "", "limit": rng.choice([-1, 0, 101, "5", 1.5, True])},
        {"query": "x", "source": "evil", "item_type": kind},
        {"query": "x", "project_path": project},
        {"item_type": kind, "item_id": ident},
        {"item_type": "tool", "item_id": ident, "destination": rng.choice(["system", 5])},
        {"item_type": "tool", "item_id": "hello", "parameters": rng.choice(["s", [1], 5])},
        {"item_type": "tool", "item_id": "hello", "parameters": {"name": 5}},
        {"item_type": "tool", "item_id": "hello", "dry_run": "yes", "thread": 1},
        {"item_type": "tool", "item_id": "hello", "parameters": _nested(rng.choice([50, 400]))},
        {
            "item_type": "tool",
            "item_id": "hello",
            "dry_run": True,
            "parameters": {"name": "n" * 100_000},
        },
        {"item_type": "tool", "item_id": ident, "project_path": project},
        {"topic": rng.choice(["../../etc", "x" * 101, 5]), "action": rng.choice(["nuke", 5])},
        {"reason": "why"},
        {"__proto__": {"admin": True}},
    ]
    if tool in ("search", "help") and rng.random() < 0.3:
        return {"query": "hello"} if tool == "search" else {"topic": "search"}
    return rng.choice(options)
