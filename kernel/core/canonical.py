"""Canonical JSON (RFC 8785, "JCS") and the hash built on it.

Lockfile ``pins`` (SPEC §8.3) hash things the chain depends on but does not own — an upstream
MCP tool's definition, say — so the same value must always give the same bytes, whichever
program serialised it. RFC 8785 fixes those bytes:

* object members sorted by their names compared as UTF-16 code units;
* no insignificant whitespace;
* strings escaped minimally: ``"`` and ``\\``, the short forms ``\\b \\t \\n \\f \\r``, other
  control characters as ``\\u00xx`` (lower-case hex); everything else literal, UTF-8 encoded;
* numbers are IEEE-754 doubles written the way ECMAScript's ``Number.prototype.toString`` does.

Python ``int`` values inside ±(2**53 − 1) are written as integers (they are exact doubles);
larger ones go through ``float`` first, as a JSON parser following the RFC would read them.
NaN and infinities have no JSON form and are rejected, as are strings holding lone
surrogates (they cannot be encoded as UTF-8).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any

__all__ = ["canonical_hash", "canonical_json"]

_MAX_SAFE_INTEGER = 2**53 - 1

_SHORT_ESCAPES = MappingProxyType(
    {
        '"': '\\"',
        "\\": "\\\\",
        "\b": "\\b",
        "\t": "\\t",
        "\n": "\\n",
        "\f": "\\f",
        "\r": "\\r",
    }
)


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON-like value.

    Accepts ``dict`` (string keys only), ``list``/``tuple``, ``str``, ``int``, ``float``,
    ``bool`` and ``None``.

    Raises:
        TypeError: a value (or key) of another type.
        ValueError: NaN or an infinity, or a string that is not valid Unicode.
    """
    parts: list[str] = []
    _write(value, parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("canonical JSON needs valid Unicode strings (lone surrogate)") from exc


def canonical_hash(value: Any) -> str:
    """SHA-256 hex digest of :func:`canonical_json` (raises what it raises)."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def _write(value: Any, parts: list[str]) -> None:
    # bool before int: bool is an int subclass.
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(_format_int(value))
    elif isinstance(value, float):
        parts.append(_format_number(value))
    elif isinstance(value, str):
        parts.append(_quote(value))
    elif isinstance(value, Mapping):
        _write_object(value, parts)
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"canonical JSON cannot encode a {type(value).__name__}")


def _write_object(value: Mapping[Any, Any], parts: list[str]) -> None:
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"canonical JSON object keys must be strings, got {type(key).__name__}")
    # Big-endian UTF-16 bytes compare exactly like the sequences of UTF-16 code units.
    keys = sorted(value, key=lambda key: key.encode("utf-16-be", "surrogatepass"))
    parts.append("{")
    for index, key in enumerate(keys):
        if index:
            parts.append(",")
        parts.append(_quote(key))
        parts.append(":")
        _write(value[key], parts)
    parts.append("}")


def _quote(text: str) -> str:
    out = ['"']
    for char in text:
        short = _SHORT_ESCAPES.get(char)
        if short is not None:
            out.append(short)
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _format_int(value: int) -> str:
    if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
        return str(value)
    try:
        as_float = float(value)
    except OverflowError as exc:
        raise ValueError(f"integer {value} is out of range for a JSON number") from exc
    return _format_number(as_float)


def _format_number(value: float) -> str:
    """A double written like ECMAScript's ``Number.prototype.toString`` (RFC 8785 §3.2.2.3).

    Raises:
        ValueError: NaN or an infinity.
    """
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{value!r} has no JSON representation")
    if value == 0:
        return "0"  # also -0
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that round-trips, the same digits ECMAScript picks.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k  # value = 0.<digits> × 10**n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * -n + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"
    return sign + body
