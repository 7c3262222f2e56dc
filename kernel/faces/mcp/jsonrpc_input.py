"""Reading one JSON-RPC message off the wire, and the answer owed when it cannot be taken.

SPEC §10: every request that carries an id gets an answer with that id, whatever its shape.
Both transports (a stdio line, an HTTP POST body) go through ``read_message``:

* Not JSON (by the SDK's own parser; ``NaN`` and ``Infinity`` are not JSON) → -32700, id null;
  but when the text is a JSON object the parser refused for its depth, a number too long or
  an escape that is no character, or cut short, and its top-level ``id`` can still be read
  (``scan_id``: a linear token scan that never builds the value) → -32700 with that id.
* JSON but not a message the server takes → -32600, answered with the request's own id when
  it can be read: a string or an integer. A JSON number with an integral value (``7.0``)
  is answered as that integer, because JSON does not tell the two apart and a client matches
  answers by value; the request is still refused, MCP ids being strings or integers. Any other
  id (``1.5``, ``true``, ``null``, an object, an array) is answered with id null.
* Something shaped like a response (``result`` or ``error``, no ``method``) is answered with
  id null: its id names one of the server's requests, and echoing it would collide with the
  client's own ids.
* An object with an ``id`` member is never a notification, whatever the id: the SDK's
  notification model ignores unknown members, and would run ``"id": 1.5`` silently.
* A batch (a JSON array; MCP dropped batches in 2025-06-18) is refused whole: one error per
  element owed an answer (a request, or anything malformed), as one JSON array; a batch with
  none such, an empty one, or one over ``MAX_BATCH`` elements gets a single error, id null.
  So no refusal is ever silent.

The messages never quote the input: it may hold anything the client sent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import mcp_types as types
import pydantic_core
from pydantic import ValidationError

__all__ = ["MAX_BATCH", "Refusal", "answer_id", "read_message", "scan_id"]

#: Elements of a batch answered one by one; a longer batch gets one error (bounds the answer).
MAX_BATCH: Final = 1000
#: Integral floats up to this size are exact in a double, so they are answered as integers.
_EXACT_FLOAT: Final = 2**53

_BATCH: Final = "Invalid Request: MCP does not take JSON-RPC batches; send each message alone"
_GENERIC: Final = "Invalid Request: not a JSON-RPC 2.0 request, notification or response"
#: JSON tokens: a string, one punctuation mark, or a run of anything else (a scalar).
_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s"{}\[\],:]+', re.S)
_INTEGER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)")


@dataclass(frozen=True, kw_only=True, slots=True)
class Refusal:
    """What to send back for input the server does not take: ``answers``, as one JSON array
    when ``batch`` (never empty), else the single answer."""

    answers: tuple[types.JSONRPCError, ...]
    batch: bool = False

    def to_json(self) -> str:
        """The answer's wire form (the SDK's encoding of each error)."""
        texts = [a.model_dump_json(by_alias=True, exclude_unset=True) for a in self.answers]
        return "[" + ",".join(texts) + "]" if self.batch else texts[0]


def answer_id(value: object) -> types.RequestId | None:
    """The id an answer to a request carrying ``value`` as its id must carry (None: null)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str | int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_FLOAT:
        return int(value)
    return None


def read_message(
    data: str | bytes, *, what: Literal["line", "body"]
) -> types.JSONRPCMessage | Refusal:
    """The message ``data`` holds, or the refusal owed for it (``what`` names it in a parse error).

    Never raises: any input is either a message or a refusal.
    """
    try:
        message = types.jsonrpc_message_adapter.validate_json(data, by_name=False)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return _unparsable(data, what)
    else:
        if not isinstance(message, types.JSONRPCNotification) or not _has_id_member(data):
            return message
    try:
        decoded = pydantic_core.from_json(data, allow_inf_nan=False)
    except ValueError:
        return _unparsable(data, what)
    if isinstance(decoded, list):
        return _refuse_batch(decoded)
    return Refusal(answers=(_invalid(decoded),))


def _unparsable(data: str | bytes, what: str) -> Refusal:
    """The -32700 parse error, with the id when ``scan_id`` can still read one."""
    found, owed = scan_id(data)
    if found and owed is not None:
        message = (
            f"Parse error: the {what} is not JSON this server reads (nested too deeply, a"
            " number too long, an escape that is no character, or cut short)"
        )
        return Refusal(answers=(_error(owed, types.PARSE_ERROR, message),))
    return _parse_error(what)


def scan_id(data: str | bytes) -> tuple[bool, types.RequestId | None]:
    """(whether a top-level object's ``id`` member was found, the id an answer owes it),
    read by tokens without parsing the rest: text the JSON parser refused for its depth, a
    long number or a bad escape still names its id. Not an object, or no ``id`` at depth 1,
    is (False, None); an id that is not a string or an integer is (True, None)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    depth = 0
    expect_key = False
    key: str | None = None
    tokens = _TOKEN.finditer(text)
    for match in tokens:
        token = match.group()
        if depth == 0:
            if token != "{":
                return False, None
            depth, expect_key = 1, True
            continue
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
            if depth == 0:
                return False, None
        elif depth == 1 and token == ",":
            expect_key = True
        elif depth == 1 and expect_key and token.startswith('"'):
            key, expect_key = token, False
        elif depth == 1 and token == ":" and key == '"id"':
            value = next(tokens, None)
            return True, None if value is None else _id_token(value.group())
    return False, None


def _id_token(token: str) -> types.RequestId | None:
    if token.startswith('"'):
        try:
            value = json.loads(token)
        except ValueError:
            return None
        try:
            value.encode("utf-8")  # a lone surrogate cannot be sent back
        except (AttributeError, UnicodeEncodeError):
            return None
        return value if isinstance(value, str) else None
    if _INTEGER.fullmatch(token) is None:
        return None
    digits = token.lstrip("-")
    number = 0
    for start in range(0, len(digits), 1000):  # int() of > 4300 digits refuses (CVE-2020-10735)
        chunk = digits[start : start + 1000]
        number = number * 10 ** len(chunk) + int(chunk)
    return -number if token.startswith("-") else number


def _has_id_member(data: str | bytes) -> bool:
    # Only notifications get here, and they are few and small.
    decoded = pydantic_core.from_json(data)
    return isinstance(decoded, dict) and "id" in decoded


def _error(id_: types.RequestId | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(
        jsonrpc="2.0", id=id_, error=types.ErrorData(code=code, message=message)
    )


def _parse_error(what: str) -> Refusal:
    return Refusal(
        answers=(_error(None, types.PARSE_ERROR, f"Parse error: the {what} is not JSON"),)
    )


def _response_shaped(decoded: dict[str, Any]) -> bool:
    return "method" not in decoded and ("result" in decoded or "error" in decoded)


def _invalid(decoded: object) -> types.JSONRPCError:
    """The -32600 answer to one JSON value that is not a message the server takes."""
    if not isinstance(decoded, dict):
        return _error(None, types.INVALID_REQUEST, "Invalid Request: expected a JSON object")
    owed = None if _response_shaped(decoded) else answer_id(decoded.get("id"))
    return _error(owed, types.INVALID_REQUEST, _reason(decoded))


def _reason(decoded: dict[str, Any]) -> str:
    """The first thing wrong with an object that is not a message, named for the client."""
    if decoded.get("jsonrpc") != "2.0":
        return 'Invalid Request: "jsonrpc" must be "2.0"'
    id_ = decoded.get("id")
    if "id" in decoded and (isinstance(id_, bool) or not isinstance(id_, str | int)):
        return 'Invalid Request: "id" must be a string or an integer'
    if _response_shaped(decoded):
        return _GENERIC
    if not isinstance(decoded.get("method"), str):
        return 'Invalid Request: "method" must be a string'
    if decoded.get("params") is not None and not isinstance(decoded["params"], dict):
        return 'Invalid Request: "params" must be an object'
    return _GENERIC


def _refuse_batch(items: list[Any]) -> Refusal:
    if not items or len(items) > MAX_BATCH:
        return Refusal(answers=(_error(None, types.INVALID_REQUEST, _BATCH),))
    answers = tuple(a for a in map(_batch_answer, items) if a is not None)
    if not answers:
        return Refusal(answers=(_error(None, types.INVALID_REQUEST, _BATCH),))
    return Refusal(answers=answers, batch=True)


def _batch_answer(item: object) -> types.JSONRPCError | None:
    """The answer one batch element is owed (None: a notification or a response, owed none)."""
    try:
        message = types.jsonrpc_message_adapter.validate_python(item, by_name=False)
    except ValidationError:
        return _invalid(item)
    if isinstance(message, types.JSONRPCRequest):
        return _error(message.id, types.INVALID_REQUEST, _BATCH)
    if isinstance(message, types.JSONRPCNotification) and isinstance(item, dict) and "id" in item:
        return _invalid(item)
    return None
