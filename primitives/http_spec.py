"""The http_client primitive's records: ``HttpSpec`` in, ``HttpResult`` out.

They live apart from the client so that building or checking a spec does not import httpx.
Checks never echo a URL, a header value or a query value: any of them may hold a secret.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from .errors import PrimitiveError

__all__ = ["NO_BODY", "HttpResult", "HttpSpec", "RetryPolicy"]


class _NoBody(enum.Enum):
    NO_BODY = "NO_BODY"

    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY: Final = _NoBody.NO_BODY
"""``HttpSpec.json`` when there is no JSON body (``None`` means the JSON body ``null``)."""

_DEFAULT_RETRY_ON: Final = frozenset({429, 500, 502, 503, 504, 529})
_SCALARS = (str, int, float, bool, type(None))


def _invalid(message: str) -> PrimitiveError:
    return PrimitiveError("CONFIG_INVALID", message)


def _number(name: str, value: object, *, positive: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (value > 0 if positive else value >= 0):  # type: ignore[operator]
        bound = "> 0" if positive else "≥ 0"
        raise _invalid(f"{name}: expected a number {bound}, got {value!r}")


def _check_keys(config: Mapping[str, Any], known: set[str], what: str) -> None:
    unknown = sorted(set(config) - known)
    if unknown:
        raise _invalid(f"{unknown[0]}: unknown {what} setting")


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """At most ``attempts`` tries in all; the wait before try n+1 is ``backoff_s · 2^(n-1)``
    with jitter, or what the server's ``Retry-After`` asks, never more than ``max_backoff_s``."""

    attempts: int = 1
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    on: frozenset[int] = _DEFAULT_RETRY_ON

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise _invalid(f"retry.attempts: expected an integer ≥ 1, got {self.attempts!r}")
        if self.attempts < 1:
            raise _invalid(f"retry.attempts: expected an integer ≥ 1, got {self.attempts}")
        _number("retry.backoff_s", self.backoff_s)
        _number("retry.max_backoff_s", self.max_backoff_s)
        if not isinstance(self.on, frozenset) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in self.on
        ):
            raise _invalid("retry.on: expected a set of HTTP status codes")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> RetryPolicy:
        """From ``{attempts, backoff_s, max_backoff_s, on: [..]}``; raises CONFIG_INVALID."""
        _check_keys(config, {"attempts", "backoff_s", "max_backoff_s", "on"}, "retry")
        values = dict(config)
        if "on" in values:
            if not isinstance(values["on"], list | tuple | set | frozenset):
                raise _invalid("retry.on: expected a list of HTTP status codes")
            values["on"] = frozenset(values["on"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "backoff_s": self.backoff_s,
            "max_backoff_s": self.max_backoff_s,
            "on": sorted(self.on),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpSpec:
    """One request. ``json`` (any JSON value, ``None`` included) and ``body`` are exclusive.

    ``query`` values may be lists (repeated keys). ``timeout`` bounds each phase (connect,
    read, write, pool): a stream that stalls longer than it ends with a timeout. ``stream``
    reads the response as server-sent events. ``max_body`` caps a non-streamed body.

    Raises ``PrimitiveError("CONFIG_INVALID")`` naming the field when a value is unusable.
    """

    url: str
    method: str = "GET"
    query: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = NO_BODY
    body: str | bytes | None = None
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stream: bool = False
    max_body: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url) if isinstance(self.url, str) else None
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise _invalid("url: expected an absolute http:// or https:// URL with a host")
        method = self.method.upper() if isinstance(self.method, str) else ""
        if not method.isascii() or not method.isalpha():
            raise _invalid(f"method: expected an HTTP method such as GET, got {self.method!r}")
        object.__setattr__(self, "method", method)
        for key, value in self.query.items():
            values = value if isinstance(value, list | tuple) else (value,)
            if not isinstance(key, str) or not all(isinstance(v, _SCALARS) for v in values):
                raise _invalid(f"query.{key}: expected a scalar or a list of scalars")
        for name, value in self.headers.items():
            if not isinstance(name, str) or not name or not isinstance(value, str):
                raise _invalid(f"headers.{name}: expected a string value")
            if any(c in name + value for c in "\r\n\0") or ":" in name:
                raise _invalid(f"headers.{name}: line breaks and NUL are not allowed")
            if not (name + value).isascii():
                raise _invalid(f"headers.{name}: expected ASCII text")
        if self.json is not NO_BODY and self.body is not None:
            raise _invalid("json: give either json or body, not both")
        if self.body is not None and not isinstance(self.body, str | bytes):
            raise _invalid(f"body: expected a string or bytes, got {type(self.body).__name__}")
        _number("timeout", self.timeout, positive=True)
        if not isinstance(self.retry, RetryPolicy):
            raise _invalid("retry: expected a RetryPolicy")
        if not isinstance(self.stream, bool):
            raise _invalid(f"stream: expected true or false, got {self.stream!r}")
        if isinstance(self.max_body, bool) or not isinstance(self.max_body, int):
            raise _invalid(f"max_body: expected an integer, got {self.max_body!r}")
        _number("max_body", self.max_body)
        # Private read-only copies: the caller mutating its dicts cannot change a frozen spec.
        object.__setattr__(self, "query", MappingProxyType(dict(self.query)))
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> HttpSpec:
        """From the http_client config of SPEC §6.2.

        ``retry`` is a mapping; ``stream`` is a bool or ``{transport: sse, sinks: [...]}`` (the
        sinks are the kernel's business and ignored here, as is ``auth``, which the kernel has
        already turned into headers). Raises ``PrimitiveError("CONFIG_INVALID")``.
        """
        known = set(cls.__dataclass_fields__) | {"auth"}
        _check_keys(config, known, "http_client")
        if "url" not in config:
            raise _invalid("url: required")
        values = {k: v for k, v in config.items() if k != "auth"}
        for name in ("query", "headers"):
            if values.get(name) is None:
                values.pop(name, None)
            elif not isinstance(values[name], Mapping):
                raise _invalid(f"{name}: expected a mapping")
        retry = values.get("retry")
        if isinstance(retry, Mapping):
            values["retry"] = RetryPolicy.from_dict(retry)
        elif retry is None:
            values.pop("retry", None)
        stream = values.get("stream")
        if isinstance(stream, Mapping):
            _check_keys(stream, {"transport", "sinks"}, "stream")
            if stream.get("transport", "sse") != "sse":
                raise _invalid(
                    f"stream.transport: only 'sse' is supported, got {stream['transport']!r}"
                )
            values["stream"] = True
        elif stream is None:
            values.pop("stream", None)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The inverse of ``from_dict`` (headers included: never log this whole)."""
        out: dict[str, Any] = {
            "url": self.url,
            "method": self.method,
            "query": dict(self.query),
            "headers": dict(self.headers),
            "timeout": self.timeout,
            "retry": self.retry.to_dict(),
            "stream": self.stream,
            "max_body": self.max_body,
        }
        if self.json is not NO_BODY:
            out["json"] = self.json
        if self.body is not None:
            out["body"] = self.body
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpResult:
    """A successful exchange (status < 400). ``body`` is parsed JSON, else text; for a stream
    it is None and the events went to the sinks (``event_count`` of them, over ``attempts``)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    event_count: int = 0
    attempts: int = 1
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "headers": dict(self.headers),
            "body": self.body,
            "event_count": self.event_count,
            "attempts": self.attempts,
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HttpResult:
        return cls(
            status=int(data["status"]),
            headers=dict(data.get("headers", {})),
            body=data.get("body"),
            event_count=int(data.get("event_count", 0)),
            attempts=int(data.get("attempts", 1)),
            duration_ms=float(data.get("duration_ms", 0.0)),
        )
