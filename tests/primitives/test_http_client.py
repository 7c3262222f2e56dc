"""The http_client primitive against a real loopback server: bodies, statuses, retries, timeouts."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any, TypeVar

import pytest

from kiwi_mcp.primitives import (
    NO_BODY,
    HttpResult,
    HttpSpec,
    PrimitiveError,
    PrimitiveHttpError,
    PrimitiveTimeout,
    RetryPolicy,
)
from kiwi_mcp.primitives.http_client import HttpClient
from tests.support.http_server import LoopbackServer, Pause, RecordedRequest, Response

T = TypeVar("T")


def run(make: Callable[[HttpClient], Awaitable[T]], **client_args: Any) -> T:
    async def main() -> T:
        async with HttpClient(**client_args) as client:
            return await make(client)

    return asyncio.run(main())


class RecordedSleep:
    """An injected sleep that notes each requested delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_json_response_is_parsed_and_the_request_carries_query_headers_and_body(
    http_server: LoopbackServer,
) -> None:
    http_server.route("POST", "/items", Response.json({"id": 7}, status=201))
    spec = HttpSpec(
        url=http_server.url + "/items?fixed=1",
        method="post",
        query={"tag": ["a", "b"], "limit": 5, "exact": True},
        headers={"X-Trace": "t-1"},
        json={"name": "kiwi", "size": None},
    )
    result = run(lambda c: c.request(spec))
    assert (result.status, result.body, result.attempts, result.event_count) == (
        201,
        {"id": 7},
        1,
        0,
    )
    assert result.headers["content-type"] == "application/json"
    (request,) = http_server.requests
    assert request.method == "POST"
    assert request.query_all == {
        "fixed": ["1"],
        "tag": ["a", "b"],
        "limit": ["5"],
        "exact": ["true"],
    }
    assert request.headers["x-trace"] == "t-1"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"name": "kiwi", "size": None}


def test_json_none_sends_the_json_null_body_and_no_body_sends_nothing(
    http_server: LoopbackServer,
) -> None:
    http_server.route("PUT", "/v", Response.json(True))

    async def both(client: HttpClient) -> None:
        await client.request(HttpSpec(url=http_server.url + "/v", method="PUT", json=None))
        await client.request(HttpSpec(url=http_server.url + "/v", method="PUT", json=NO_BODY))

    run(both)
    first, second = http_server.requests
    assert (first.body, first.headers["content-type"]) == (b"null", "application/json")
    assert second.body == b""
    assert "content-type" not in second.headers


def test_text_and_bytes_bodies_get_a_content_type_unless_the_caller_set_one(
    http_server: LoopbackServer,
) -> None:
    http_server.route("POST", "/b", Response.text("ok"))
    url = http_server.url + "/b"

    async def three(client: HttpClient) -> None:
        await client.request(HttpSpec(url=url, method="POST", body="héllo"))
        await client.request(HttpSpec(url=url, method="POST", body=b"\x00\x01"))
        await client.request(
            HttpSpec(url=url, method="POST", body="<a/>", headers={"Content-Type": "text/xml"})
        )

    run(three)
    types = [(r.headers["content-type"], r.body) for r in http_server.requests]
    assert types == [
        ("text/plain; charset=utf-8", "héllo".encode()),
        ("application/octet-stream", b"\x00\x01"),
        ("text/xml", b"<a/>"),
    ]


def test_a_text_response_stays_text_even_when_it_looks_like_a_number(
    http_server: LoopbackServer,
) -> None:
    http_server.route("GET", "/n", Response.text("42"))
    http_server.route("GET", "/obj", Response(body=b'{"a": [1]}'))
    assert run(lambda c: c.request(HttpSpec(url=http_server.url + "/n"))).body == "42"
    assert run(lambda c: c.request(HttpSpec(url=http_server.url + "/obj"))).body == {"a": [1]}


def test_one_client_reuses_its_connection_across_requests(http_server: LoopbackServer) -> None:
    http_server.route("GET", "/r", Response.json({}))

    async def three(client: HttpClient) -> None:
        for _ in range(3):
            await client.request(HttpSpec(url=http_server.url + "/r"))

    run(three)
    assert len({r.client_port for r in http_server.requests}) == 1


def test_a_4xx_status_raises_http_error_with_status_headers_and_parsed_body(
    http_server: LoopbackServer,
) -> None:
    http_server.route(
        "GET",
        "/missing",
        Response.json({"error": "nope"}, status=404, headers={"Set-Cookie": "sid=secret-cookie"}),
    )
    with pytest.raises(PrimitiveHttpError) as caught:
        run(lambda c: c.request(HttpSpec(url=http_server.url + "/missing")))
    error = caught.value
    host = http_server.url.removeprefix("http://")
    assert (error.code, error.status) == ("HTTP_ERROR", 404)
    assert error.message == f"{host} answered 404 Not Found"
    assert error.details["body"] == {"error": "nope"}
    assert error.details["body_truncated"] is False
    assert error.details["headers"]["content-type"] == "application/json"
    assert "set-cookie" not in error.details["headers"]


def test_secrets_in_headers_query_and_path_never_reach_the_error(
    http_server: LoopbackServer,
) -> None:
    http_server.route("GET", "/bot-sk-path-secret/send", Response.json({"e": 1}, status=401))
    spec = HttpSpec(
        url=http_server.url + "/bot-sk-path-secret/send",
        query={"key": "sk-query-secret"},
        headers={"Authorization": "Bearer sk-header-secret"},
    )
    with pytest.raises(PrimitiveHttpError) as caught:
        run(lambda c: c.request(spec))
    shown = str(caught.value) + repr(caught.value) + repr(caught.value.details)
    for secret in ("sk-path-secret", "sk-query-secret", "sk-header-secret"):
        assert secret not in shown


def test_a_big_error_body_is_truncated_in_the_details(http_server: LoopbackServer) -> None:
    http_server.route("GET", "/big", Response.text("x" * 200_000, status=500))
    with pytest.raises(PrimitiveHttpError) as caught:
        run(lambda c: c.request(HttpSpec(url=http_server.url + "/big")))
    assert caught.value.details["body"] == "x" * 16_384
    assert caught.value.details["body_truncated"] is True


def test_a_retryable_status_is_retried_after_a_jittered_backoff(
    http_server: LoopbackServer,
) -> None:
    http_server.route("GET", "/flaky", [Response.json({}, status=503), Response.json({"ok": 1})])
    sleep = RecordedSleep()
    spec = HttpSpec(url=http_server.url + "/flaky", retry=RetryPolicy(attempts=3, backoff_s=2.0))
    result = run(lambda c: c.request(spec), sleep=sleep, rng=lambda: 0.5)
    assert (result.status, result.body, result.attempts) == (200, {"ok": 1}, 2)
    assert sleep.delays == [1.5]


def test_backoff_doubles_per_attempt_and_is_capped(http_server: LoopbackServer) -> None:
    http_server.route("GET", "/down", Response.json({}, status=502))
    sleep = RecordedSleep()
    policy = RetryPolicy(attempts=5, backoff_s=1.0, max_backoff_s=3.0)
    with pytest.raises(PrimitiveHttpError) as caught:
        run(
            lambda c: c.request(HttpSpec(url=http_server.url + "/down", retry=policy)),
            sleep=sleep,
            rng=lambda: 1.0,
        )
    assert sleep.delays == [1.0, 2.0, 3.0, 3.0]
    assert (caught.value.status, caught.value.details["attempts"]) == (502, 5)
    assert len(http_server.requests) == 5


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "120"}, 30.0),
        ({"Retry-After": formatdate(1_000_005.0, usegmt=True)}, 5.0),
        ({"Retry-After": formatdate(999_000.0, usegmt=True)}, 0.0),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After": "soon"}, 0.375),  # unreadable: the jittered backoff
    ],
)
def test_retry_after_is_honoured_in_seconds_or_as_a_date_and_capped(
    http_server: LoopbackServer, headers: dict[str, str], expected: float
) -> None:
    http_server.route(
        "POST", "/busy", [Response.json({}, status=429, headers=headers), Response.json({})]
    )
    sleep = RecordedSleep()
    spec = HttpSpec(url=http_server.url + "/busy", method="POST", retry=RetryPolicy(attempts=2))
    run(lambda c: c.request(spec), sleep=sleep, rng=lambda: 0.5, now=lambda: 1_000_000.0)
    assert sleep.delays == [pytest.approx(expected)]


def test_a_real_retry_after_second_is_actually_waited(http_server: LoopbackServer) -> None:
    http_server.route(
        "GET",
        "/wait",
        [Response.json({}, status=503, headers={"Retry-After": "1"}), Response.json({"ok": 1})],
    )
    started = time.monotonic()
    result = run(
        lambda c: c.request(HttpSpec(url=http_server.url + "/wait", retry=RetryPolicy(attempts=2)))
    )
    elapsed = time.monotonic() - started
    assert (result.body, result.attempts) == ({"ok": 1}, 2)
    assert 1.0 <= elapsed < 3.0


def test_a_status_not_in_the_policy_is_not_retried(http_server: LoopbackServer) -> None:
    http_server.route("GET", "/bad", Response.json({}, status=400))
    sleep = RecordedSleep()
    with pytest.raises(PrimitiveHttpError):
        run(
            lambda c: c.request(
                HttpSpec(url=http_server.url + "/bad", retry=RetryPolicy(attempts=3))
            ),
            sleep=sleep,
        )
    assert (sleep.delays, len(http_server.requests)) == ([], 1)


def test_a_refused_connection_is_retried_then_reported_naming_the_host() -> None:
    port = closed_port()
    sleep = RecordedSleep()
    spec = HttpSpec(url=f"http://127.0.0.1:{port}/x", method="POST", retry=RetryPolicy(attempts=2))
    with pytest.raises(PrimitiveError) as caught:
        run(lambda c: c.request(spec), sleep=sleep)
    assert caught.value.code == "HTTP_ERROR"
    assert caught.value.message.startswith(f"cannot reach 127.0.0.1:{port}: ConnectError")
    assert caught.value.details == {"host": f"127.0.0.1:{port}", "attempts": 2}
    assert len(sleep.delays) == 1


def test_a_dropped_connection_is_retried_for_get_but_not_for_post(
    http_server: LoopbackServer,
) -> None:
    http_server.route("GET", "/drop", Response(abort=True))
    http_server.route("POST", "/drop", Response(abort=True))
    policy = RetryPolicy(attempts=3)
    for method in ("GET", "POST"):
        spec = HttpSpec(url=http_server.url + "/drop", method=method, retry=policy)

        async def send(client: HttpClient, spec: HttpSpec = spec) -> HttpResult:
            return await client.request(spec)

        with pytest.raises(PrimitiveError) as caught:
            run(send, sleep=RecordedSleep())
        assert caught.value.code == "HTTP_ERROR"
        assert caught.value.message.startswith("cannot reach 127.0.0.1:")
    assert [r.method for r in http_server.requests] == ["GET", "GET", "GET", "POST"]


def test_a_server_that_never_answers_times_out(http_server: LoopbackServer) -> None:
    release = threading.Event()

    def hang(request: RecordedRequest) -> Response:
        release.wait(10.0)
        return Response.json({})

    http_server.route("GET", "/hang", hang)
    started = time.monotonic()
    try:
        with pytest.raises(PrimitiveTimeout) as caught:
            run(lambda c: c.request(HttpSpec(url=http_server.url + "/hang", timeout=0.3)))
    finally:
        release.set()
    host = http_server.url.removeprefix("http://")
    assert caught.value.code == "TIMEOUT"
    assert caught.value.message == f"timed out after 0.3 s waiting for the response ({host})"
    assert time.monotonic() - started < 2.0


def test_a_body_that_stalls_times_out(http_server: LoopbackServer) -> None:
    http_server.route("GET", "/slow", Response(chunks=['{"a": ', Pause(30.0), "1}"]))
    with pytest.raises(PrimitiveTimeout) as caught:
        run(lambda c: c.request(HttpSpec(url=http_server.url + "/slow", timeout=0.3)))
    assert "reading the response" in caught.value.message


def test_a_body_over_max_body_is_refused(http_server: LoopbackServer) -> None:
    http_server.route("GET", "/huge", Response(chunks=["x" * 50_000] * 10))
    with pytest.raises(PrimitiveError) as caught:
        run(lambda c: c.request(HttpSpec(url=http_server.url + "/huge", max_body=100_000)))
    host = http_server.url.removeprefix("http://")
    assert (
        caught.value.message == f"the response from {host} is larger than max_body (100000 bytes)"
    )


def test_redirects_are_returned_not_followed(http_server: LoopbackServer) -> None:
    http_server.route(
        "GET", "/old", Response(status=302, headers={"Location": "http://example.com/"})
    )
    result = run(lambda c: c.request(HttpSpec(url=http_server.url + "/old")))
    assert (result.status, result.headers["location"]) == (302, "http://example.com/")
    assert len(http_server.requests) == 1


def test_cancelling_a_request_mid_body_re_raises_promptly(http_server: LoopbackServer) -> None:
    http_server.route("GET", "/slow", Response(chunks=["[1,", Pause(30.0), "2]"]))

    async def main() -> None:
        async with HttpClient() as client:
            task = asyncio.create_task(client.request(HttpSpec(url=http_server.url + "/slow")))
            assert await asyncio.to_thread(http_server.wait_for_requests, 1, 5.0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 2.0)

    asyncio.run(main())


def test_the_result_round_trips_through_its_dict() -> None:
    result = HttpResult(
        status=200, headers={"a": "b"}, body=[1], event_count=2, attempts=3, duration_ms=1.5
    )
    assert HttpResult.from_dict(result.to_dict()) == result


def test_a_url_httpx_rejects_is_a_config_error_that_does_not_quote_it() -> None:
    spec = HttpSpec(url="http://127.0.0.1:1/\x7fkey=sk-secret")
    with pytest.raises(PrimitiveError) as caught:
        run(lambda c: c.request(spec))
    assert (caught.value.code, caught.value.message) == (
        "CONFIG_INVALID",
        "url: httpx cannot use this URL (InvalidURL)",
    )
