"""A provider's failure, classified by the protocol's rules, and the retry verdict (SPEC §12.3).

The classes are ``rate_limited | overloaded | retryable | quota_exhausted | auth | invalid |
fatal`` (plus ``incomplete`` for a stream that ended early). Retries follow the official SDKs:
the classes the policy lists, at most ``max_retries`` times; never a ``quota_exhausted``;
``x-should-retry`` overrides the class; ``retry-after-ms``, then ``retry-after`` (seconds or an
HTTP date) is the delay up to a cap, beyond which the call fails at once with the reset time;
otherwise ``backoff_s·2ⁿ`` up to ``max_backoff_s``, times a jitter in [0.75, 1].
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from kiwi_mcp.kernel.core.llm.paths import lookup
from kiwi_mcp.kernel.core.llm.protocol import ErrorMap, RetryPolicy
from kiwi_mcp.kernel.errors import (
    LlmAuth,
    LlmError,
    LlmFailed,
    LlmIncomplete,
    LlmInvalidRequest,
    LlmOverloaded,
    LlmQuotaExhausted,
    LlmRateLimited,
)

__all__ = ["Failure", "Verdict", "classify_event", "classify_http", "decide", "retry_after"]

_ERRORS: dict[str, type[LlmError]] = {
    "rate_limited": LlmRateLimited,
    "overloaded": LlmOverloaded,
    "quota_exhausted": LlmQuotaExhausted,
    "auth": LlmAuth,
    "invalid": LlmInvalidRequest,
    "incomplete": LlmIncomplete,
    "retryable": LlmFailed,
    "fatal": LlmFailed,
}
_MESSAGE_CHARS = 500


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt, as the classifier saw it."""

    cls: str
    message: str
    status: int | None = None
    provider_type: str | None = None
    code: str | None = None
    request_id: str | None = None
    retry_after_s: float | None = None
    should_retry: bool | None = None

    def error(self, provider: str, *, attempts: int, now: float) -> LlmError:
        """The envelope error for this failure (the last attempt's)."""
        what = " ".join(str(p) for p in (self.status, self.provider_type) if p is not None)
        text = f"{provider} failed the LLM call ({what or self.cls}): {self.message}"
        details: dict[str, Any] = {
            "class": self.cls,
            "status": self.status,
            "provider_type": self.provider_type,
            "provider_code": self.code,
            "provider_message": self.message,
            "request_id": self.request_id,
            "attempts": attempts,
        }
        if self.retry_after_s is not None:
            details["retry_after_s"] = self.retry_after_s
            reset = now + self.retry_after_s
            details["reset_at"] = _iso(reset)
        return _ERRORS.get(self.cls, LlmFailed)(text, details=details)


@dataclass(frozen=True, slots=True)
class Verdict:
    retry: bool
    delay_s: float = 0.0
    #: why not (or why): shown in meta.llm.attempts
    reason: str = ""


def _iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """The wait the server asked for: ``retry-after-ms``, else ``retry-after`` in seconds or
    as an HTTP date; None when absent or unreadable."""
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after-ms")
    if value is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(value) / 1000.0)
    value = lower.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _match(m: ErrorMap, status: int | None, kind: str | None, code: str | None) -> str:
    for rule in m.rules:
        if rule.statuses and status not in rule.statuses:
            continue
        if rule.type is not None and rule.type != kind:
            continue
        if rule.code is not None and rule.code != code:
            continue
        if not rule.statuses and rule.type is None and rule.code is None:
            continue  # an empty rule matches nothing
        return rule.cls
    return m.default


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def classify_http(
    m: ErrorMap, status: int, headers: Mapping[str, str], body: Any, *, now: float
) -> Failure:
    """An HTTP error answer (status ≥ 400) as a :class:`Failure`."""
    body = body if isinstance(body, dict) else {}
    kind, code = _text(lookup(body, m.type)), _text(lookup(body, m.code))
    message = _text(lookup(body, m.message)) or f"HTTP {status}"
    lower = {k.lower(): v for k, v in headers.items()}
    should = lower.get("x-should-retry")
    return Failure(
        cls=_match(m, status, kind, code),
        message=message[:_MESSAGE_CHARS],
        status=status,
        provider_type=kind,
        code=code,
        request_id=next((lower[h] for h in m.request_id_headers if h in lower), None),
        retry_after_s=retry_after(headers, now),
        should_retry=None if should is None else should.strip().lower() == "true",
    )


def classify_event(m: ErrorMap, event: Mapping[str, Any], request_id: str | None) -> Failure:
    """An error event inside a stream (the assembler's canonical ``error``)."""
    kind, code = _text(event.get("provider_type")), _text(event.get("code"))
    return Failure(
        cls=_match(m, None, kind, code),
        message=str(event.get("message") or "error event")[:_MESSAGE_CHARS],
        provider_type=kind,
        code=code,
        request_id=request_id,
    )


def decide(
    policy: RetryPolicy, failure: Failure, retries_done: int, rng: Callable[[], float]
) -> Verdict:
    """Whether to try again after ``failure``, and after how long."""
    if failure.cls == "quota_exhausted":
        return Verdict(False, reason="quota or billing: never retried")
    if retries_done >= policy.max_retries:
        return Verdict(False, reason=f"{policy.max_retries} retries used")
    if failure.should_retry is False:
        return Verdict(False, reason="the server said x-should-retry: false")
    wanted = failure.should_retry is True or (
        policy.retry_incomplete if failure.cls == "incomplete" else failure.cls in policy.classes
    )
    if not wanted:
        return Verdict(False, reason=f"{failure.cls}: not retried")
    wait = failure.retry_after_s
    if wait is not None and wait > policy.retry_after_cap_s:
        return Verdict(False, reason=f"retry-after {wait:g} s is above the cap")
    if wait is not None and wait > 0:
        return Verdict(True, wait, "retry-after")
    base = min(policy.max_backoff_s, policy.backoff_s * 2.0**retries_done)
    return Verdict(True, base * (0.75 + 0.25 * rng()), "backoff")
