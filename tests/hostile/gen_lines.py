"""Malformed JSON-RPC lines for the wire fuzz, deterministic from a seed.

Each :class:`Line` carries what a correct server does with it (SPEC §10: "every JSON-RPC
request that carries an id gets an answer with that id, whatever its shape"; JSON-RPC 2.0
for the rest), decided from how the line was built, never by re-parsing it:

* ``id`` — the line is JSON with a readable id (a str, or an int that is not a bool):
  exactly one answer carries that id (a result or an error), and none has id null.
* ``null`` — the line is not JSON, not an object, or carries an id no answer can echo
  (float, bool, null, object, array): exactly one answer, with id null — or with the id
  the line carries, for a server that reads it anyway.
* ``none`` — a well-formed notification or response: nothing answers it.
* ``optional`` — an empty or blank line: at most one answer (with id null).
* ``batch`` — a JSON array: at least one answer; no inner id answered twice.

``key`` is the canonical JSON of the id a line carries (:func:`id_key`), readable or not,
and ``inner`` those of ids inside it (a batch, a second object on the line). Every key is
unique in a run (the id embeds the line's index; ``true``/``false`` ids get no key), so an
answer is matched to its line wherever it arrives. No line contains the markers the
traceback check looks for, nor any path of the sandbox.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from tests.hostile.gen_arguments import TOOLS, hostile_arguments

__all__ = ["CLASSES", "Digits", "Expect", "Line", "generate", "id_key", "parse_int"]

Expect = Literal["id", "null", "none", "optional", "batch"]


@dataclass(frozen=True, slots=True)
class Digits:
    """An integer id too long for ``int()`` (Python refuses > 4300 digits), kept as text."""

    text: str


def id_key(value: Any) -> str | None:
    """The canonical JSON of an id (None for a null id): how answers are matched to lines."""
    if value is None:
        return None
    if isinstance(value, Digits):
        return value.text
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def parse_int(text: str) -> int | Digits:
    """``json.loads(parse_int=…)``: long integers as :class:`Digits`, not a ValueError."""
    return int(text) if len(text.lstrip("-")) <= 4000 else Digits(text)


@dataclass(frozen=True, slots=True)
class Line:
    cls: str
    data: bytes
    expect: Expect
    key: str | None = None
    inner: tuple[str, ...] = ()


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def _req(id_: Any, method: Any, params: Any = None, **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        msg["params"] = params
    msg.update(extra)
    return msg


def _readable(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _line(cls: str, msg: dict[str, Any]) -> Line:
    """A line serialized from ``msg``, its expectation read from the id it was given."""
    if "id" not in msg:
        return Line(cls, _dump(msg), "none")
    id_ = msg["id"]
    key = None if isinstance(id_, bool) else id_key(id_)  # true/false recur: no key to match
    return Line(cls, _dump(msg), "id" if _readable(id_) else "null", key)


_ALPHABET: Final = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 {}[]:,\"'\\-_.#@!?"
)
_WORDS: Final = (
    b"hello world",
    b"GET /mcp HTTP/1.1",
    b"Content-Length: 42",
    b"<?xml version='1.0'?><rpc/>",
    b"undefined",
    b"NaN",
    b"-Infinity",
    b"{'jsonrpc': '2.0', 'id': 1, 'method': 'ping'}",
    b"{jsonrpc: '2.0', id: 1, method: 'ping'}",
    b"// a comment",
    b"\x00\x00\x00\x00",
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b"}",
    b"{",
    b'"just a string"',
    b"12345",
    b"null",
    b"true",
    b"{}",
)


def _not_json(rng: random.Random, i: int) -> Line:
    pick = rng.randrange(3)
    if pick == 0:
        data = rng.choice(_WORDS)
    elif pick == 1:
        data = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 200))).encode()
    else:
        data = bytes(rng.choice([b for b in range(256) if b not in (10, 13)]) for _ in range(64))
    if not data.strip():
        data = b"#" + data
    return Line("not-json", data, "null")


def _truncated(rng: random.Random, i: int) -> Line:
    msg = _req(f"h{i}", "tools/call", {"name": "search", "arguments": {"query": "hello"}})
    full = _dump(msg)
    pick = rng.randrange(4)
    if pick == 0:
        data = full[: rng.randint(1, len(full) - 1)]
    elif pick == 1:
        data = full + rng.choice([b"garbage", b"}", b",", b" {"])
    elif pick == 2:
        data = full + _dump(_req(f"h{i}b", "ping"))
    else:
        data = full.replace(b'"query"', b"'query'", 1).replace(b"}}}", b",}}}", 1)
    second = (id_key(f"h{i}b"),) if pick == 2 else ()
    return Line("truncated-json", data, "null", id_key(f"h{i}"), tuple(k for k in second if k))


def _version(rng: random.Random, i: int) -> Line:
    msg = _req(i + 100_000, rng.choice(["ping", "tools/list"]))
    version = rng.choice(["1.0", "2", 2, 2.0, None, "", "2.0 ", "v2", ["2.0"], "missing"])
    if version == "missing":
        del msg["jsonrpc"]
    else:
        msg["jsonrpc"] = version
    return _line("jsonrpc-version", msg)


def _id_value(rng: random.Random, i: int) -> Any:
    return rng.choice(
        [
            i + 200_000,
            -(i + 1),
            10**30 + i,
            f"h{i}",
            f"h{i}-ñ✓-\u2603",
            f"h{i}-" + "x" * rng.choice([1_000, 10_000, 100_000]),
            i + 0.5,
            True,
            False,
            None,
            {"id": i},
            [i],
        ]
    )


def _id_types(rng: random.Random, i: int) -> Line:
    if rng.random() < 0.08:  # an int id too long for most integer parsers
        digits = str(i) + "7" * 5_000
        data = b'{"jsonrpc":"2.0","id":%s,"method":"ping"}' % digits.encode()
        return Line("id-types", data, "id", digits)
    return _line("id-types", _req(_id_value(rng, i), rng.choice(["ping", "tools/list"])))


_ODD_METHODS: Final[tuple[Any, ...]] = (
    "",
    " ping",
    "PING",
    "ping\u0000",
    "rpc.discover",
    "tools/destroy",
    "../../etc/passwd",
    "notifications/initialized",
    "tools/call/",
    "m" * 100_000,
    "\u202eping",
    5,
    None,
    ["ping"],
    {"name": "ping"},
    True,
    "missing",
)


def _method_odd(rng: random.Random, i: int) -> Line:
    method = rng.choice(_ODD_METHODS)
    msg = _req(f"h{i}", method, {})
    if method == "missing":
        del msg["method"]
    return _line("method-odd", msg)


_METHODS: Final = (
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "logging/setLevel",
    "completion/complete",
    "initialize",
)
_ODD_PARAMS: Final[tuple[Any, ...]] = (
    5,
    "params",
    [1, 2],
    True,
    1.5,
    {"name": 5},
    {"name": None, "arguments": []},
    {"cursor": 5},
    {"uri": 5},
    {"uri": "file:///etc/passwd"},
    {"uri": "kiwi://knowledge/../../etc/passwd"},
    {"name": "../../etc/passwd", "arguments": {"x": "1"}},
    {"level": "bogus"},
    {"_meta": 5},
    {"_meta": {"progressToken": [1]}},
    {"protocolVersion": 5, "capabilities": "all", "clientInfo": None},
    {"ref": {"type": "ref/prompt", "name": 5}, "argument": "x"},
)


def _params_types(rng: random.Random, i: int) -> Line:
    msg = _req(f"h{i}", rng.choice(_METHODS), None)
    msg["params"] = rng.choice([*_ODD_PARAMS, None])
    return _line("params-types", msg)


def _tools_unknown(rng: random.Random, i: int) -> Line:
    text = rng.choice(["", "SEARCH", "search ", "exec", "../search", "a" * 10_000, "sign\u0000"])
    name: Any = rng.choice([text, 5, None, ["search"]])
    return _line("tools-unknown", _req(f"h{i}", "tools/call", {"name": name, "arguments": {}}))


def _tools_args(rng: random.Random, i: int) -> Line:
    tool = rng.choice(TOOLS)
    args = hostile_arguments(rng, tool)
    if rng.random() < 0.06:  # JSON nested deeper than most parsers' recursion limits
        depth = rng.choice([2_000, 20_000])
        data = (
            b'{"jsonrpc":"2.0","id":"h%d","method":"tools/call","params":{"name":"search",'
            b'"arguments":{"query":%s%s}}}' % (i, b"[" * depth, b"]" * depth)
        )
        return Line("tools-args", data, "id", id_key(f"h{i}"))
    if rng.random() < 0.06:  # raw invalid UTF-8 inside a string: not JSON (RFC 8259 §8.1)
        data = (
            b'{"jsonrpc":"2.0","id":"h%d","method":"tools/call","params":{"name":"search",'
            b'"arguments":{"query":"\xff\xfe\xc0\xaf"}}}' % i
        )
        return Line("tools-args", data, "null", id_key(f"h{i}"))
    return _line("tools-args", _req(f"h{i}", "tools/call", {"name": tool, "arguments": args}))


def _batch(rng: random.Random, i: int) -> Line:
    pick = rng.randrange(4)
    if pick == 0:
        return Line("batch", b"[]", "batch")
    if pick == 1:
        return Line("batch", b"[1,2,[]]", "batch")
    ids = [f"h{i}-{n}" for n in range(rng.randint(1, 4))]
    items: list[Any] = [_req(one, "ping") for one in ids]
    if pick == 3:
        items.append("garbage")
        items.append({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return Line("batch", _dump(items), "batch", inner=tuple(f'"{one}"' for one in ids))


def _long_line(rng: random.Random, i: int) -> Line:
    size = 1_000_000
    pick = rng.randrange(5)
    if pick == 0:
        args = {"query": "w" * size}
        return _line(
            "long-line", _req(f"h{i}", "tools/call", {"name": "search", "arguments": args})
        )
    if pick == 1:
        return Line("long-line", b"#" * size, "null")
    if pick == 2:
        return _line("long-line", _req(f"h{i}-" + "L" * size, "ping"))
    if pick == 3:
        data = b" " * size + _dump(_req(f"h{i}", "ping"))
        return Line("long-line", data, "id", id_key(f"h{i}"))
    data = b'{"jsonrpc":"2.0","id":"h%d","method":"ping","params":{"n":%s}}' % (i, b"9" * size)
    return Line("long-line", data, "id", id_key(f"h{i}"))


def _empty(rng: random.Random, i: int) -> Line:
    return Line("empty", rng.choice([b"", b" ", b"\t", b"   \t  ", b" " * 1000]), "optional")


def _notification(rng: random.Random, i: int) -> Line:
    method, params = rng.choice(
        [
            ("notifications/cancelled", {"requestId": f"nobody-{i}", "reason": "x"}),
            ("notifications/cancelled", {"requestId": [1]}),
            ("notifications/progress", {"progressToken": "nope", "progress": "lots"}),
            ("notifications/initialized", {}),
            ("notifications/roots/list_changed", None),
            ("notifications/unknown", {"x": 1}),
            ("tools/call", {"name": "execute", "arguments": {"item_id": "hello"}}),
            ("x" * 10_000, {}),
        ]
    )
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    if rng.random() < 0.2:  # params must be structured: an Invalid Request (JSON-RPC 2.0 §4.2)
        msg["params"] = rng.choice([5, "s", True])
        return Line("notification", _dump(msg), "null")  # no id: only id null can answer
    return _line("notification", msg)


def _response(rng: random.Random, i: int) -> Line:
    body: dict[str, Any] = rng.choice(
        [
            {"result": {}},
            {"result": {"roots": [{"uri": "file:///"}]}},
            {"error": {"code": -32603, "message": "no"}},
            {"result": {"action": "accept", "content": {"x": 1}}},
        ]
    )
    return Line("response", _dump({"jsonrpc": "2.0", "id": f"r{i}", **body}), "none", f'"r{i}"')


Builder = Callable[[random.Random, int], Line]
#: Class name → (builder, weight); the first len(CLASSES) lines hold one of each.
CLASSES: Final[dict[str, tuple[Builder, int]]] = {
    "not-json": (_not_json, 10),
    "truncated-json": (_truncated, 8),
    "jsonrpc-version": (_version, 6),
    "id-types": (_id_types, 10),
    "method-odd": (_method_odd, 8),
    "params-types": (_params_types, 10),
    "tools-unknown": (_tools_unknown, 5),
    "tools-args": (_tools_args, 25),
    "batch": (_batch, 5),
    "long-line": (_long_line, 1),
    "empty": (_empty, 3),
    "notification": (_notification, 5),
    "response": (_response, 4),
}
_FORBIDDEN: Final = (b"Traceback", b'File "', b"\n", b"kiwi-hostile-")


def generate(seed: int, count: int) -> list[Line]:
    """``count`` lines, the same for the same seed (one of each class first)."""
    rng = random.Random(seed)
    names = list(CLASSES)
    weights = [CLASSES[name][1] for name in names]
    lines = []
    for i in range(count):
        name = names[i] if i < len(names) else rng.choices(names, weights)[0]
        line = CLASSES[name][0](rng, i)
        assert not any(mark in line.data for mark in _FORBIDDEN), (name, line.data[:80])
        lines.append(line)
    return lines
