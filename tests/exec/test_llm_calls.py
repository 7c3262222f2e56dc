"""LLM calls through the real chain (provider → protocol → http_client) against the local fake
providers on loopback, one per wire format: streams assembled, failures typed, retries as the
SDKs do them, the key only in its header (SPEC §12)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
from tests.support.fake_llm import FakeLLM
from tests.support.project import Project

KEY = "sk-test-not-a-real-key-1234"
PROVIDERS = ("anthropic", "openai", "openai_responses")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def llm(project: Project, fake: FakeLLM) -> Project:
    project.env["ANTHROPIC_BASE_URL"] = fake.base_url
    project.env["OPENAI_BASE_URL"] = f"{fake.base_url}/v1"
    for service in ("anthropic", "openai"):
        done = project.kiwi("auth", "signin", service, "--token-stdin", stdin=KEY)
        assert done.returncode == 0, done.stderr
    fake.reset()
    return project


def _call(
    project: Project, provider: str, events: list[Any] | None = None, **params: Any
) -> dict[str, Any]:
    kernel = Kernel(
        Settings.from_environment(project.root, env=project.env), caps=CapabilitySet.operator()
    )

    async def go() -> dict[str, Any]:
        try:
            return await kernel.execute(
                f"llm/providers/{provider}",
                params,
                on_event=events.append if events is not None else None,
            )
        finally:
            await kernel.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_plain_text_streams_canonical_events_and_prices_the_turn(
    llm: Project, fake: FakeLLM, provider: str
) -> None:
    events: list[Any] = []
    envelope = _call(llm, provider, events, model="fake-text", prompt="hello there")
    assert envelope["ok"], envelope
    data = envelope["data"]
    assert data["text"] == "You said: hello there"
    assert data["stop"] == "end" and data["tool_calls"] == []
    assert data["usage"]["output_tokens"] == 7
    assert data["cost_usd"] is None  # fake-text has no price in the shipped provider
    assert data["provider"] == f"llm/providers/{provider}"
    assert envelope["meta"]["chain"][-1] == "primitives/http_client"
    kinds = [e["event"] for e in events]
    assert kinds[0] == "llm.message_start" and kinds[-1] == "llm.message_end"
    assert "llm.text_delta" in kinds


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_key_is_only_in_the_request_header(llm: Project, fake: FakeLLM, provider: str) -> None:
    envelope = _call(llm, provider, model="fake-text", prompt="hi")
    sent = fake.requests[-1]
    header = sent.headers.get("x-api-key") or sent.headers.get("authorization")
    assert header is not None and KEY in header
    assert KEY not in sent.body.decode()
    assert KEY not in json.dumps(envelope)
    audit = (llm.root / ".ai" / "logs").rglob("*")
    assert all(KEY not in p.read_text(errors="replace") for p in audit if p.is_file())


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("model", "calls"),
    [
        ("fake-tool", [("get_weather", {"city": "Paris"})]),
        ("fake-parallel", [("get_weather", {"city": "Paris"}), ("get_time", {"zone": "UTC"})]),
        ("fake-split-json", [("write_file", {"path": 'C:\\dir\\"q".txt', "text": "é\n", "n": 12})]),
    ],
)
def test_tool_calls_are_assembled_per_index(
    llm: Project, provider: str, model: str, calls: list[Any]
) -> None:
    envelope = _call(llm, provider, model=model, prompt="go")
    assert envelope["ok"], envelope
    data = envelope["data"]
    assert data["stop"] == "tool"
    assert [(c["name"], c["arguments"]) for c in data["tool_calls"]] == calls
    assert all(c["call_id"] for c in data["tool_calls"])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("model", ["fake-thinking", "fake-ping", "fake-unknown", "fake-trickle"])
def test_thinking_pings_unknown_events_and_trickles_still_give_the_text(
    llm: Project, provider: str, model: str
) -> None:
    if model == "fake-trickle" and provider != "anthropic":
        pytest.skip("one trickle is enough: it only waits")
    envelope = _call(llm, provider, model=model, prompt="hi")
    assert envelope["ok"], envelope
    assert envelope["data"]["text"] == "You said: hi"
    if model == "fake-thinking":
        assert envelope["data"]["thinking"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_length_stop_runs_no_half_written_call(llm: Project, provider: str) -> None:
    envelope = _call(llm, provider, model="fake-length", prompt="hi")
    data = envelope["data"]
    assert data["stop"] == "length" and data["tool_calls"] == []
    assert data["incomplete_tool_calls"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refusal_is_a_stop_not_an_error(llm: Project, provider: str) -> None:
    envelope = _call(llm, provider, model="fake-refusal", prompt="hi")
    assert envelope["ok"] and envelope["data"]["stop"] in ("refusal", "filtered")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("model", ["fake-cut", "fake-eof"])
def test_a_cut_stream_is_retried_then_incomplete(
    llm: Project, fake: FakeLLM, provider: str, model: str
) -> None:
    events: list[Any] = []
    envelope = _call(llm, provider, events, model=model, prompt="hi")
    assert envelope["error"]["code"] == "LLM_INCOMPLETE", envelope
    assert len([r for r in fake.requests if r.json and r.json.get("model") == model]) == 3
    assert sum(e["event"] == "llm.discarded" for e in events) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_mid_stream_error_is_typed(llm: Project, provider: str) -> None:
    envelope = _call(llm, provider, model="fake-midstream-error", prompt="hi")
    assert envelope["error"]["code"] in ("LLM_OVERLOADED", "LLM_ERROR"), envelope
    assert envelope["error"]["details"]["attempts_made"][0]["discarded_events"] > 0


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("model", ["fake-429-ms", "fake-429-s", "fake-429-date", "fake-529"])
def test_rate_limits_and_overload_are_retried_as_the_server_asks(
    llm: Project, provider: str, model: str
) -> None:
    envelope = _call(llm, provider, model=model, prompt="hi")
    assert envelope["ok"], envelope
    assert envelope["meta"]["llm"]["attempts"] == 2
    assert envelope["meta"]["llm"]["failed_attempts"][0]["class"] in ("rate_limited", "overloaded")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("model", "code", "requests"),
    [
        ("fake-429-cap", "LLM_RATE_LIMITED", 1),
        ("fake-quota", "LLM_QUOTA_EXHAUSTED", 1),
        ("fake-500-noretry", "LLM_ERROR", 1),
        ("fake-overloaded-always", "LLM_OVERLOADED", 3),
    ],
)
def test_failures_that_are_not_retried_or_keep_failing(
    llm: Project, fake: FakeLLM, provider: str, model: str, code: str, requests: int
) -> None:
    envelope = _call(llm, provider, model=model, prompt="hi")
    assert envelope["error"]["code"] == code, envelope
    assert len([r for r in fake.requests if r.json and r.json.get("model") == model]) == requests
    if model == "fake-429-cap":
        assert envelope["error"]["details"]["reset_at"]


def test_a_bad_key_is_llm_auth(llm: Project) -> None:
    done = llm.kiwi("auth", "signin", "openai", "--token-stdin", stdin="bad-key")
    assert done.returncode == 0
    envelope = _call(llm, "openai", model="fake-text", prompt="hi")
    assert envelope["error"]["code"] == "LLM_AUTH"
    assert "bad-key" not in json.dumps(envelope)


def test_a_bad_request_names_the_field(llm: Project, fake: FakeLLM) -> None:
    envelope = _call(llm, "anthropic", model="fake-text", max_tokens="lots", prompt="hi")
    assert envelope["error"]["code"] == "PARAMS_INVALID"
    assert envelope["error"]["details"]["field"] == "max_tokens"
    assert fake.requests == []
