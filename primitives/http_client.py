"""The http_client primitive (SPEC §6.2): one HTTP request, with retries and optional SSE.

``HttpClient`` owns one ``httpx.AsyncClient`` (made on first use, so connections are reused
across requests). Redirects are not followed: the kernel checked the capability for this host,
not for wherever a 3xx points. Error messages name the host, never the path or query (either
may hold a key) and never a request header.

Sinks passed to ``request`` belong to it from then on: it closes every one of them when it
returns or raises, cancellation included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as _json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Final

import httpx

from .errors import PrimitiveError, PrimitiveHttpError, PrimitiveTimeout
from .http_spec import NO_BODY, HttpResult, HttpSpec, RetryPolicy
from .sinks import EventCallback, Fanout, Sink
from .sse import SseState, error_message, read_events

__all__ = ["NO_BODY", "HttpClient", "HttpResult", "HttpSpec", "RetryPolicy"]

_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_ERROR_BODY_CHARS: Final = 16_384
_HIDDEN_HEADERS: Final = frozenset({"set-cookie", "set-cookie2", "authorization", "cookie"})


def _host(url: httpx.URL) -> str:
    return url.host if url.port is None else f"{url.host}:{url.port}"


def _retry_after(headers: httpx.Headers, now: float) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, or ``Retry-After`` as seconds
    or an HTTP date), or None."""
    value = headers.get("retry-after-ms")
    if value is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(value) / 1000.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _decode(content: bytes, response: httpx.Response) -> str:
    return content.decode(response.encoding or "utf-8", errors="replace")


def _parse_body(text: str, content_type: str) -> Any:
    """JSON when the content type says so or the text is an object/array; else the text."""
    media = content_type.split(";", 1)[0].strip().lower()
    is_json = media == "application/json" or media.endswith("+json")
    if is_json or text.lstrip()[:1] in ("{", "["):
        try:
            return _json.loads(text)
        except ValueError:
            return text
    return text


def _shown_headers(headers: httpx.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in _HIDDEN_HEADERS}


class _Retry(Exception):
    """Internal: this attempt failed in a way the policy allows retrying after ``delay``."""

    def __init__(self, delay: float) -> None:
        self.delay = delay


class HttpClient:
    """Sends ``HttpSpec`` requests. Use as ``async with HttpClient() as client: …``.

    ``transport`` replaces httpx's network transport (tests, proxies); ``sleep`` and ``rng``
    are the backoff's clock and jitter, ``now`` the wall clock for HTTP-date ``Retry-After``.
    """

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._transport = transport
        self._sleep = sleep
        self._rng = rng
        self._now = now
        self._client: httpx.AsyncClient | None = None

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport, follow_redirects=False, timeout=30.0
            )
        return self._client

    async def aclose(self) -> None:
        """Close the pooled connections. A later request opens a fresh pool."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def request(
        self,
        spec: HttpSpec,
        *,
        sinks: Sequence[Sink] = (),
        on_event: EventCallback | None = None,
    ) -> HttpResult:
        """Send ``spec``; for a stream, deliver each SSE event to ``sinks`` and ``on_event``.

        Takes ownership of ``sinks``: every one is closed before this returns or raises.

        Raises:
            PrimitiveHttpError: the final status is ≥ 400 (``details``: status, headers, body),
                a stream answered with another content type, or the stream sent an error
                event (events before it were delivered).
            PrimitiveTimeout: connect, read, write or pool timeout, a stalled stream included.
            PrimitiveError: ``HTTP_ERROR`` when the host cannot be reached (or the connection
                broke) after the allowed attempts, or the body exceeds ``spec.max_body``;
                ``EXECUTION_FAILED`` when a sink fails.
            asyncio.CancelledError: re-raised once the response and the sinks are closed.
            Exception: whatever ``on_event`` raised.
        """
        deliver = Fanout(sinks, on_event)
        try:
            result = await self._send(spec, deliver)
        except BaseException:
            deliver.close(quiet=True)
            raise
        deliver.close(quiet=False)
        return result

    async def _send(self, spec: HttpSpec, deliver: Fanout) -> HttpResult:
        started = time.perf_counter()
        client = self._get_client()
        state = SseState()
        attempt = 0
        while True:
            attempt += 1
            try:
                status, headers, body = await self._attempt(client, spec, attempt, state, deliver)
            except _Retry as retry:
                await self._sleep(retry.delay)
                continue
            return HttpResult(
                status=status,
                headers=headers,
                body=body,
                event_count=state.count,
                attempts=attempt,
                duration_ms=(time.perf_counter() - started) * 1000.0,
            )

    def _backoff(self, policy: RetryPolicy, attempt: int) -> float:
        base = min(policy.max_backoff_s, policy.backoff_s * 2.0 ** (attempt - 1))
        # Equal jitter: at least half the base, so retries never bunch up at zero.
        return base * (0.5 + 0.5 * self._rng())

    def _build(self, client: httpx.AsyncClient, spec: HttpSpec, state: SseState) -> httpx.Request:
        headers = httpx.Headers(dict(spec.headers))
        content: bytes | None = None
        if spec.json is not NO_BODY:
            content = _json.dumps(spec.json, ensure_ascii=False, separators=(",", ":")).encode()
            headers.setdefault("content-type", "application/json")
        elif spec.body is not None:
            if isinstance(spec.body, str):
                content = spec.body.encode("utf-8")
                headers.setdefault("content-type", "text/plain; charset=utf-8")
            else:
                content = bytes(spec.body)
                headers.setdefault("content-type", "application/octet-stream")
        if spec.stream:
            headers.setdefault("accept", "text/event-stream")
            headers.setdefault("cache-control", "no-store")
            # Uncompressed: sse.py then reads the raw chunks, with no decoder in between.
            headers.setdefault("accept-encoding", "identity")
            if state.last_event_id is not None:
                headers["last-event-id"] = state.last_event_id
        url = httpx.URL(spec.url)
        if spec.query:
            # Merged by hand: httpx's ``params=`` replaces a query already in the URL.
            url = url.copy_merge_params(
                {k: list(v) if isinstance(v, tuple) else v for k, v in spec.query.items()}
            )
        return client.build_request(
            spec.method,
            url,
            headers=headers,
            content=content,
            timeout=httpx.Timeout(spec.timeout),
        )

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        spec: HttpSpec,
        attempt: int,
        state: SseState,
        deliver: Fanout,
    ) -> tuple[int, dict[str, str], Any]:
        try:
            request = self._build(client, spec, state)
        except (httpx.InvalidURL, ValueError) as exc:
            # The message is not shown: it may quote part of a URL that holds a key.
            raise PrimitiveError(
                "CONFIG_INVALID", f"url: httpx cannot use this URL ({type(exc).__name__})"
            ) from None
        host = _host(request.url)
        more = attempt < spec.retry.attempts
        idempotent = spec.method in _IDEMPOTENT
        try:
            response = await client.send(request, stream=True)
        except httpx.ConnectTimeout as exc:
            if more:
                raise _Retry(self._backoff(spec.retry, attempt)) from exc
            raise self._timeout(spec, host, "connecting", attempt) from exc
        except httpx.TimeoutException as exc:
            raise self._timeout(spec, host, "waiting for the response", attempt) from exc
        except httpx.TransportError as exc:
            # A refused connection never reached the server; anything later might have.
            if more and (isinstance(exc, httpx.ConnectError) or idempotent):
                raise _Retry(self._backoff(spec.retry, attempt)) from exc
            raise PrimitiveError(
                "HTTP_ERROR",
                f"cannot reach {host}: {type(exc).__name__}: {str(exc)[:200]}",
                details={"host": host, "attempts": attempt},
            ) from exc
        try:
            status = response.status_code
            if more and status in spec.retry.on:
                wait = _retry_after(response.headers, self._now())
                delay = self._backoff(spec.retry, attempt) if wait is None else wait
                raise _Retry(min(delay, spec.retry.max_backoff_s))
            if status >= 400:
                raise await self._http_error(response, host, attempt)
            headers = dict(response.headers.items())
            if not spec.stream:
                return status, headers, await self._read_body(response, spec, host)
            if "text/event-stream" not in response.headers.get("content-type", ""):
                raise await self._http_error(response, host, attempt, not_a_stream=True)
            await self._read_stream(response, state, deliver, host)
            return status, headers, None
        except httpx.TimeoutException as exc:
            raise self._timeout(spec, host, "reading the response", attempt) from exc
        except httpx.TransportError as exc:
            # The body had begun; only an idempotent request may be sent again.
            if more and idempotent:
                delay = (
                    state.retry_ms / 1000.0
                    if state.retry_ms is not None
                    else self._backoff(spec.retry, attempt)
                )
                raise _Retry(min(delay, spec.retry.max_backoff_s)) from exc
            raise PrimitiveError(
                "HTTP_ERROR",
                f"the connection to {host} broke while reading the response: "
                f"{type(exc).__name__}: {str(exc)[:200]}",
                details={"host": host, "attempts": attempt, "events": state.count},
            ) from exc
        except httpx.HTTPError as exc:
            raise PrimitiveError(
                "HTTP_ERROR",
                f"bad response from {host}: {type(exc).__name__}: {str(exc)[:200]}",
                details={"host": host, "attempts": attempt},
            ) from exc
        finally:
            await response.aclose()

    @staticmethod
    def _timeout(spec: HttpSpec, host: str, doing: str, attempt: int) -> PrimitiveTimeout:
        return PrimitiveTimeout(
            f"timed out after {spec.timeout:g} s {doing} ({host})",
            details={"host": host, "timeout": spec.timeout, "attempts": attempt},
        )

    @staticmethod
    async def _read_body(response: httpx.Response, spec: HttpSpec, host: str) -> Any:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > spec.max_body:
                raise PrimitiveError(
                    "HTTP_ERROR",
                    f"the response from {host} is larger than max_body ({spec.max_body} bytes)",
                    details={"host": host, "status": response.status_code},
                )
            chunks.append(chunk)
        content = b"".join(chunks)
        return _parse_body(_decode(content, response), response.headers.get("content-type", ""))

    @staticmethod
    async def _http_error(
        response: httpx.Response, host: str, attempt: int, *, not_a_stream: bool = False
    ) -> PrimitiveHttpError:
        # Read only what will be shown, so a huge error page costs nothing.
        limit = _ERROR_BODY_CHARS * 4
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
        text = _decode(b"".join(chunks), response)
        truncated = size >= limit or len(text) > _ERROR_BODY_CHARS
        content_type = response.headers.get("content-type", "")
        body = text[:_ERROR_BODY_CHARS] if truncated else _parse_body(text, content_type)
        status = response.status_code
        if not_a_stream:
            message = f"{host} answered {status} with {content_type or 'no content type'!r}, "
            message += "not an event stream"
        else:
            message = f"{host} answered {status} {response.reason_phrase}".rstrip()
        return PrimitiveHttpError(
            message,
            status=status,
            details={
                "status": status,
                "headers": _shown_headers(response.headers),
                "body": body,
                "body_truncated": truncated,
                "host": host,
                "attempts": attempt,
            },
        )

    @staticmethod
    async def _read_stream(
        response: httpx.Response, state: SseState, deliver: Fanout, host: str
    ) -> None:
        event = await read_events(response, state, deliver)
        if event is not None:
            message, kind = error_message(event)
            raise PrimitiveHttpError(
                f"{host} sent an error event in the stream: {message}",
                status=response.status_code,
                details={
                    "status": response.status_code,
                    "error_type": kind,
                    "event": event,
                    "host": host,
                    "events": state.count,
                },
            )
