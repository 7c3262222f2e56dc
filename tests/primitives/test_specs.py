"""The primitives' frozen records: checks, named errors, and dict round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiwi_mcp.primitives import (
    NO_BODY,
    HttpSpec,
    PrimitiveError,
    ProcessResult,
    ProcessSpec,
    RetryPolicy,
)

texts = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=20)
names = st.text(st.sampled_from("ABCXYZ_0123"), min_size=1, max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def config_error(make: Any) -> str:
    with pytest.raises(PrimitiveError) as caught:
        make()
    assert caught.value.code == "CONFIG_INVALID"
    return caught.value.message


@given(
    command=texts.filter(bool),
    args=st.lists(texts, max_size=4),
    env=st.dictionaries(names, texts, max_size=4),
    input=st.none() | texts,
    timeout=st.floats(min_value=0, max_value=1e6),
    max_output=st.integers(min_value=0, max_value=1 << 30),
    stream=st.booleans(),
)
def test_a_process_spec_round_trips_through_its_dict(**fields: Any) -> None:
    spec = ProcessSpec.from_dict(fields)
    assert ProcessSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["args"] == fields["args"]


@given(
    path=st.text(st.sampled_from("abc/"), max_size=10),
    method=st.sampled_from(["GET", "post", "Put", "DELETE"]),
    query=st.dictionaries(texts, st.none() | texts | st.lists(texts, max_size=2), max_size=3),
    headers=st.dictionaries(names, st.text(st.sampled_from("ab c=/"), max_size=8), max_size=3),
    body=st.one_of(st.just(NO_BODY), json_values),
    attempts=st.integers(min_value=1, max_value=9),
    stream=st.booleans(),
)
def test_an_http_spec_round_trips_through_its_dict(
    path: str, method: str, query: Any, headers: Any, body: Any, attempts: int, stream: bool
) -> None:
    config: dict[str, Any] = {
        "url": "https://api.example.com/" + path,
        "method": method,
        "query": query,
        "headers": headers,
        "retry": {"attempts": attempts, "on": [503]},
        "stream": stream,
    }
    if body is not NO_BODY:
        config["json"] = body
    spec = HttpSpec.from_dict(config)
    assert spec.method == method.upper()
    assert HttpSpec.from_dict(spec.to_dict()) == spec


def test_a_result_round_trips_through_its_dict() -> None:
    result = ProcessResult(
        exit_code=1, stdout="{}", stderr="e", stdout_truncated=True, parsed={}, has_json=True
    )
    assert result.to_dict()["truncated"] is True
    assert ProcessResult.from_dict(result.to_dict()) == result


def test_a_spec_keeps_its_own_copy_of_the_mappings_it_was_given() -> None:
    env = {"A": "1"}
    headers = {"X": "1"}
    process = ProcessSpec(command="true", env=env)
    http = HttpSpec(url="http://h/", headers=headers)
    env["A"] = "2"
    headers["X"] = "2"
    assert (process.env["A"], http.headers["X"]) == ("1", "1")
    with pytest.raises(TypeError):
        process.env["A"] = "3"  # type: ignore[index]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"args": []}, "command: required"),
        ({"command": "x", "shell": True}, "shell: unknown subprocess setting"),
        ({"command": ""}, "command: expected a non-empty string, got ''"),
        ({"command": "x", "args": [1]}, "args: expected a tuple of strings without NUL characters"),
        ({"command": "x", "timeout": -1}, "timeout: expected a number ≥ 0, got -1"),
        ({"command": "x", "timeout": "5"}, "timeout: expected a number ≥ 0, got '5'"),
        ({"command": "x", "max_output": 1.5}, "max_output: expected an integer, got 1.5"),
        ({"command": "x", "env": ["A=1"]}, "env: expected a mapping of NAME to string value"),
    ],
)
def test_a_bad_process_config_names_the_field(config: dict[str, Any], message: str) -> None:
    assert config_error(lambda: ProcessSpec.from_dict(config)) == message


def test_a_bad_env_value_is_reported_without_echoing_it() -> None:
    message = config_error(lambda: ProcessSpec(command="x", env={"TOKEN": "sk-secret\0"}))
    assert "sk-secret" not in message


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "url: required"),
        ({"url": "ftp://h/"}, "url: expected an absolute http:// or https:// URL with a host"),
        ({"url": "/relative"}, "url: expected an absolute http:// or https:// URL with a host"),
        ({"url": "http://[::1/"}, "url: expected an absolute http:// or https:// URL with a host"),
        ({"url": "http://h/", "headers": {"X": "é"}}, "headers.X: expected ASCII text"),
        (
            {"url": "http://h/", "method": "GE T"},
            "method: expected an HTTP method such as GET, got 'GE T'",
        ),
        ({"url": "http://h/", "json": {}, "body": "x"}, "json: give either json or body, not both"),
        ({"url": "http://h/", "timeout": 0}, "timeout: expected a number > 0, got 0"),
        (
            {"url": "http://h/", "query": {"a": {"b": 1}}},
            "query.a: expected a scalar or a list of scalars",
        ),
        (
            {"url": "http://h/", "retry": {"attempts": 0}},
            "retry.attempts: expected an integer ≥ 1, got 0",
        ),
        (
            {"url": "http://h/", "retry": {"on": [700]}},
            "retry.on: expected a set of HTTP status codes",
        ),
        ({"url": "http://h/", "retry": {"tries": 2}}, "tries: unknown retry setting"),
        (
            {"url": "http://h/", "stream": {"transport": "ws"}},
            "stream.transport: only 'sse' is supported, got 'ws'",
        ),
        ({"url": "http://h/", "cookies": {}}, "cookies: unknown http_client setting"),
    ],
)
def test_a_bad_http_config_names_the_field(config: dict[str, Any], message: str) -> None:
    assert config_error(lambda: HttpSpec.from_dict(config)) == message


def test_bad_urls_and_headers_are_reported_without_echoing_them() -> None:
    url_message = config_error(lambda: HttpSpec(url="gopher://h/?key=sk-url-secret"))
    header_message = config_error(
        lambda: HttpSpec(url="http://h/", headers={"Authorization": "Bearer sk-hdr\r\nX: 1"})
    )
    assert header_message == "headers.Authorization: line breaks and NUL are not allowed"
    assert "sk-" not in url_message + header_message


def test_the_stream_mapping_and_auth_of_the_spec_config_are_accepted() -> None:
    spec = HttpSpec.from_dict(
        {
            "url": "https://api.example.com/v1/messages",
            "method": "POST",
            "stream": {"transport": "sse", "sinks": [{"type": "return"}]},
            "auth": {"service": "anthropic"},
            "retry": {"attempts": 3, "backoff_s": 1, "on": [429, 529]},
        }
    )
    assert spec.stream is True
    assert spec.retry == RetryPolicy(attempts=3, backoff_s=1, on=frozenset({429, 529}))
