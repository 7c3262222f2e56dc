"""Malformed JSON-RPC messages and the id each one's answer owes, shared by the stdio, HTTP
and pure tests (SPEC §10: every request that carries an id gets an answer with that id)."""

from __future__ import annotations

__all__ = ["INVALID", "MALFORMED_LINES", "PARSE_ERROR"]

PARSE_ERROR = -32700
INVALID = -32600
#: Lines that parse as JSON but are not a request the server takes, with the id owed.
MALFORMED_LINES: list[tuple[bytes, str | int | None]] = [
    (b'{"jsonrpc":"2.0","id":7,"method":5}', 7),
    (b'{"jsonrpc":"2.0","id":"a","params":{}}', "a"),
    (b'{"jsonrpc":"1.0","id":3,"method":"ping"}', 3),
    (b'{"id":4,"method":"ping"}', 4),
    (b'{"jsonrpc":2.0,"id":5,"method":"ping"}', 5),
    (b'{"jsonrpc":null,"id":"n","method":"ping"}', "n"),
    (b'{"jsonrpc":"2.0","id":6,"method":"ping","params":[]}', 6),
    (b'{"jsonrpc":"2.0","id":8,"method":"ping","params":"x"}', 8),
    (b'{"jsonrpc":"2.0","id":"x y","method":"ping","params":1}', "x y"),
    (b'{"jsonrpc":"2.0","id":9,"method":null}', 9),
    (b'{"jsonrpc":"2.0","id":10,"method":["ping"]}', 10),
    (b'{"jsonrpc":"2.0","id":"","method":{}}', ""),
    (b'{"jsonrpc":"2.0","id":-1,"method":true}', -1),
    (b'{"jsonrpc":"2.0","id":0}', 0),
    (b'{"jsonrpc":"2.0","id":12345678901234567890123,"method":7}', 12345678901234567890123),
    ('{"jsonrpc":"2.0","id":"ü-ß","params":false}'.encode(), "ü-ß"),
    (b'   {"jsonrpc":"2.0","id":11,"method":5}   ', 11),
    (b'{"jsonrpc":"2.0","id":"\xff","method":5}', "\ufffd"),  # bytes that are not UTF-8
    (b'{"jsonrpc":"2.0","id":7.0,"method":"ping"}', 7),  # integral: answered as 7, refused
    (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', None),
    (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', None),
    (b'{"jsonrpc":"2.0","id":false}', None),
    (b'{"jsonrpc":"2.0","id":{},"method":"ping"}', None),
    (b'{"jsonrpc":"2.0","id":[],"method":"ping"}', None),
    (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', None),
    (b'{"jsonrpc":"2.0","id":1e400,"method":"ping"}', None),
    (b'{"jsonrpc":"2.0","id":12,"result":"not an object"}', None),  # a response: its id is ours
    (b'{"jsonrpc":"2.0","id":13,"error":"boom"}', None),
    (b'{"hello":"world"}', None),
    (b'"a string"', None),
    (b"42", None),
    (b"null", None),
    (b"[]", None),
]
