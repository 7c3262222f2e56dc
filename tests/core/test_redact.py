"""Secret values never survive redaction, in text or in nested JSON-like values."""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import assume, given
from hypothesis import strategies as st

from kiwi_mcp.kernel.core.redact import Redactor


def test_every_occurrence_of_a_secret_in_text_becomes_three_stars() -> None:
    redactor = Redactor(["sk-live-123456"])
    text = "key=sk-live-123456 and again sk-live-123456."
    assert redactor.redact_text(text) == "key=*** and again ***."


def test_values_shorter_than_four_characters_are_not_treated_as_secrets() -> None:
    redactor = Redactor(["abc", "", "abcd"])
    assert redactor.redact_text("abc abcd") == "abc ***"
    assert not Redactor(["abc"])


def test_nested_values_are_scrubbed_including_keys_and_keep_their_shape() -> None:
    redactor = Redactor(["hunter22"])
    value = {
        "headers": {"Authorization": "Bearer hunter22"},
        "list": ["x", "hunter22", 3, None, True, 1.5],
        "tuple": ("hunter22",),
        "hunter22": "as a key",
    }
    assert redactor.redact_value(value) == {
        "headers": {"Authorization": "Bearer ***"},
        "list": ["x", "***", 3, None, True, 1.5],
        "tuple": ("***",),
        "***": "as a key",
    }
    assert value["headers"] == {"Authorization": "Bearer hunter22"}  # the input is untouched


def test_overlapping_secrets_leave_no_fragment_of_either() -> None:
    redactor = Redactor(["abcdef", "defghi"])
    assert redactor.redact_text("xxabcdefghiyy") == "xx***yy"


def test_json_escaped_and_percent_encoded_spellings_are_scrubbed_too() -> None:
    secret = 'p"a/s s\\w'
    redactor = Redactor([secret])
    body = json.dumps({"password": secret})
    assert secret not in body  # JSON escaped it
    assert redactor.redact_text(body) == '{"password": "***"}'
    assert redactor.redact_text(f"https://h/x?token={quote(secret, safe='')}") == (
        "https://h/x?token=***"
    )


def test_combined_redactors_scrub_what_each_one_scrubs() -> None:
    both = Redactor(["first-secret"]) | Redactor(["second-secret"])
    assert both.redact_text("first-secret second-secret") == "*** ***"
    assert (
        Redactor(["aaaa"])
        .combine(Redactor(["bbbb"]), Redactor(["cccc"]))
        .redact_text("aaaa bbbb cccc")
        == "*** *** ***"
    )


def test_repr_shows_no_secret() -> None:
    assert "topsecret" not in repr(Redactor(["topsecret"]))


def test_an_empty_redactor_returns_values_unchanged() -> None:
    value = {"a": ["b"]}
    assert Redactor().redact_value(value) is value


@given(
    secret=st.text(min_size=4, max_size=12),
    prefix=st.text(max_size=10),
    suffix=st.text(max_size=10),
)
def test_no_secret_survives_in_any_surrounding_text(secret: str, prefix: str, suffix: str) -> None:
    assume("*" not in secret)  # a secret made of stars could re-form next to the mask
    out = Redactor([secret]).redact_text(prefix + secret + suffix)
    assert secret not in out
    assert "***" in out


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    value=st.dictionaries(st.text(max_size=6), _JSON, max_size=4),
    secret=st.sampled_from(["sk-live-123", "has'quote", 'has"dq', "back\\slash", "tab\tx"]),
    where=st.sampled_from(["none", "value", "key", "nested"]),
)
def test_redact_event_scrubs_what_redact_value_scrubs(
    value: dict[str, object], secret: str, where: str
) -> None:
    if where == "value":
        value = {**value, "planted": f"x\n{secret}'y"}
    elif where == "key":
        value = {**value, f"k{secret}": 1}
    elif where == "nested":
        value = {**value, "deep": [{"t": secret}]}
    redactor = Redactor([secret])
    assert redactor.redact_event(value) == redactor.redact_value(value)
    if where == "none" and secret not in repr(value):
        assert redactor.redact_event(value) is value  # a clean event is not copied
