"""RFC 8785 canonical JSON: the RFC's own examples, then laws checked with Hypothesis."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiwi_mcp.kernel.core.canonical import canonical_hash, canonical_json


def test_the_rfc_8785_example_serialises_to_the_published_bytes() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


def test_keys_sort_by_utf16_code_units_not_by_code_points() -> None:
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(value)))
    # U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB33.
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (5e-324, "5e-324"),
        (-5e-324, "-5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740992.0, "9007199254740992"),
        (-9007199254740992.0, "-9007199254740992"),
        (295147905179352830000.0, "295147905179352830000"),
        (9.999999999999997e22, "9.999999999999997e+22"),
        (1e23, "1e+23"),
        (1.0000000000000001e23, "1.0000000000000001e+23"),
        (999999999999999700000.0, "999999999999999700000"),
        (999999999999999900000.0, "999999999999999900000"),
        (1e21, "1e+21"),
        (9.999999999999997e-7, "9.999999999999997e-7"),
        (0.000001, "0.000001"),
        (333333333.3333332, "333333333.3333332"),
        (333333333.33333343, "333333333.33333343"),
        (4.5, "4.5"),
        (100.0, "100"),
        (-1.5e-7, "-1.5e-7"),
        (123456789012.5, "123456789012.5"),
    ],
)
def test_numbers_are_written_like_ecmascript(number: float, text: str) -> None:
    assert canonical_json(number) == text.encode()


def test_integers_are_exact_within_the_safe_range_and_doubles_beyond() -> None:
    assert canonical_json(2**53 - 1) == b"9007199254740991"
    assert canonical_json(-(2**53 - 1)) == b"-9007199254740991"
    assert canonical_json(2**64) == b"18446744073709552000"


def test_strings_escape_only_what_json_requires() -> None:
    text = 'a"b\\c\b\f\n\r\t\x00\x1f\x7f\u2028é/'
    assert canonical_json(text) == '"a\\"b\\\\c\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\u2028é/"'.encode()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="no JSON representation"):
        canonical_json([bad])


def test_non_string_keys_and_foreign_types_are_rejected() -> None:
    with pytest.raises(TypeError, match="object keys must be strings, got int"):
        canonical_json({1: "x"})
    with pytest.raises(TypeError, match="cannot encode a set"):
        canonical_json({"a": {1, 2}})
    with pytest.raises(TypeError, match="cannot encode a bytes"):
        canonical_json(b"raw")


def test_a_lone_surrogate_is_rejected() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        canonical_json("\ud800")


def test_the_hash_is_sha256_of_the_canonical_bytes_and_ignores_key_order() -> None:
    one = {"b": [1, 2.0, "x"], "a": {"z": None, "y": True}}
    two = {"a": {"y": True, "z": None}, "b": [1, 2, "x"]}
    assert canonical_hash(one) == canonical_hash(two)
    assert (
        canonical_hash(one)
        == hashlib.sha256(b'{"a":{"y":true,"z":null},"b":[1,2,"x"]}').hexdigest()
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) or isinstance(b, float):
        return not isinstance(a, bool) and not isinstance(b, bool) and float(a) == float(b)
    return type(a) is type(b) and a == b


@given(json_values)
def test_canonical_json_round_trips_through_json_loads(value: Any) -> None:
    assert _same(json.loads(canonical_json(value)), value)


@given(json_values)
def test_canonicalising_is_idempotent(value: Any) -> None:
    once = canonical_json(value)
    assert canonical_json(json.loads(once)) == once


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_double_survives_the_ecmascript_form(number: float) -> None:
    assert float(canonical_json(number)) == number
