"""Failures classified by the protocol's rules, and retry verdicts as the SDKs decide them."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from kiwi_mcp.kernel.core.llm.classify import Failure, classify_http, decide, retry_after
from kiwi_mcp.kernel.core.llm.pricing import cost_usd, model_info
from kiwi_mcp.kernel.core.llm.protocol import RetryPolicy
from tests.core.llm.protocols import protocol

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("name", "status", "body", "cls"),
    [
        (
            "openai_chat",
            429,
            {"error": {"code": "insufficient_quota", "type": "x"}},
            "quota_exhausted",
        ),
        ("openai_chat", 429, {"error": {"code": "rate_limit_exceeded"}}, "rate_limited"),
        ("openai_chat", 503, {"error": {"type": "server_error"}}, "overloaded"),
        ("openai_chat", 401, {}, "auth"),
        ("openai_chat", 400, {"error": {"type": "invalid_request_error"}}, "invalid"),
        ("anthropic_messages", 529, {"error": {"type": "overloaded_error"}}, "overloaded"),
        ("anthropic_messages", 402, {"error": {"type": "billing_error"}}, "quota_exhausted"),
        ("anthropic_messages", 500, {"error": {"type": "api_error"}}, "retryable"),
        ("anthropic_messages", 409, {}, "retryable"),
        ("openai_responses", 429, {"error": {"code": "insufficient_quota"}}, "quota_exhausted"),
    ],
)
def test_classes(name: str, status: int, body: dict[str, object], cls: str) -> None:
    assert classify_http(protocol(name).errors, status, {}, body, now=NOW).cls == cls


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after-ms": "20", "retry-after": "9"}, NOW) == 0.02
    assert retry_after({"Retry-After": "1.5"}, NOW) == 1.5
    date = format_datetime(datetime.fromtimestamp(NOW + 3, UTC), usegmt=True)
    assert retry_after({"retry-after": date}, NOW) == pytest.approx(3.0)
    assert retry_after({"retry-after": "soon"}, NOW) is None


POLICY = RetryPolicy()


def test_verdicts() -> None:
    half = lambda: 0.5  # noqa: E731
    assert decide(POLICY, Failure("rate_limited", "x", retry_after_s=0.02), 0, half).delay_s == 0.02
    capped = decide(POLICY, Failure("rate_limited", "x", retry_after_s=3600), 0, half)
    assert not capped.retry and "cap" in capped.reason
    assert not decide(POLICY, Failure("quota_exhausted", "x", should_retry=True), 0, half).retry
    assert not decide(POLICY, Failure("retryable", "x", should_retry=False), 0, half).retry
    assert decide(POLICY, Failure("invalid", "x", should_retry=True), 0, half).retry
    assert not decide(POLICY, Failure("invalid", "x"), 0, half).retry
    assert not decide(POLICY, Failure("overloaded", "x"), 2, half).retry
    backoff = decide(POLICY, Failure("overloaded", "x"), 1, lambda: 1.0)
    assert backoff.retry and backoff.delay_s == 1.0  # 0.5 · 2¹ · jitter 1
    assert decide(POLICY, Failure("incomplete", "cut"), 0, half).retry


def test_cost_is_exact_and_null_when_unknown() -> None:
    models = {
        "m": {
            "pricing": {
                "input": "3.00",
                "output": "15.00",
                "cache_read": "0.30",
                "cache_write": "3.75",
            }
        }
    }
    usage = {
        "input_tokens": 1000,
        "output_tokens": 333,
        "cache_read_tokens": 7,
        "cache_write_tokens": 1,
    }
    prices = model_info(models, "m").prices
    assert cost_usd(prices, usage) == "0.00800085"
    assert cost_usd(model_info(models, "other").prices, usage) is None
    assert cost_usd(prices, None) is None
