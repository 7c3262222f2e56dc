"""The loopback HTTP server the other tests stand on."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from tests.support.http_server import LoopbackServer, Pause, Response


def test_the_server_records_what_the_client_sent_and_answers_the_route() -> None:
    with LoopbackServer() as server:
        server.route("POST", "/items", Response.json({"made": True}, status=201))
        reply = httpx.post(
            server.url + "/items",
            params=[("tag", "a"), ("tag", "b"), ("q", "x")],
            headers={"X-Trace": "t1"},
            json={"name": "kiwi"},
        )
        assert reply.status_code == 201
        assert reply.json() == {"made": True}
        (request,) = server.requests
        assert request.method == "POST"
        assert request.path == "/items"
        assert request.query == {"tag": "a", "q": "x"}
        assert request.query_all == {"tag": ["a", "b"], "q": ["x"]}
        assert request.headers["x-trace"] == "t1"
        assert request.headers["X-TRACE"] == "t1"
        assert request.json() == {"name": "kiwi"}


def test_an_unknown_path_answers_404_json() -> None:
    with LoopbackServer() as server:
        reply = httpx.get(server.url + "/nowhere")
        assert reply.status_code == 404
        assert reply.json() == {"error": "not found", "method": "GET", "path": "/nowhere"}


def test_a_sequence_of_responses_is_served_in_turn_and_the_last_repeats() -> None:
    with LoopbackServer() as server:
        server.route("GET", "/flaky", [Response.text("busy", status=503), Response.text("ok")])
        with httpx.Client(base_url=server.url) as client:
            statuses = [client.get("/flaky").status_code for _ in range(3)]
        assert statuses == [503, 200, 200]


def test_a_raising_handler_answers_500_and_is_recorded() -> None:
    def broken(request: object) -> Response:
        raise RuntimeError("boom")

    with LoopbackServer() as server:
        server.route("GET", "/broken", broken)
        reply = httpx.get(server.url + "/broken")
        assert reply.status_code == 500
        assert [str(e) for e in server.errors] == ["boom"]


def test_chunks_arrive_separately_with_the_pause_between_them() -> None:
    with LoopbackServer() as server:
        server.route("GET", "/slow", Response.sse(["data: 1\n\n", Pause(0.2), "data: 2\n\n"]))
        arrivals: list[tuple[float, bytes]] = []
        start = time.monotonic()
        with httpx.stream("GET", server.url + "/slow") as reply:
            assert reply.headers["content-type"] == "text/event-stream"
            for chunk in reply.iter_raw():
                arrivals.append((time.monotonic() - start, chunk))
        assert b"".join(c for _, c in arrivals) == b"data: 1\n\ndata: 2\n\n"
        assert len(arrivals) == 2
        assert arrivals[1][0] - arrivals[0][0] >= 0.15


def test_abort_before_a_response_drops_the_connection() -> None:
    with LoopbackServer() as server:
        server.route("GET", "/drop", Response(abort=True))
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(server.url + "/drop")


def test_abort_mid_stream_leaves_the_body_incomplete() -> None:
    with LoopbackServer() as server:
        server.route("GET", "/cut", Response.sse(["data: 1\n\n"], abort=True))
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(server.url + "/cut")


def test_exit_returns_promptly_while_a_handler_is_stalled_mid_stream() -> None:
    server = LoopbackServer().start()
    server.route("GET", "/stall", Response.sse(["data: 1\n\n", Pause(60.0), "data: 2\n\n"]))
    got_first = threading.Event()
    outcome: list[BaseException | None] = []

    def client() -> None:
        try:
            with httpx.stream("GET", server.url + "/stall", timeout=30.0) as reply:
                for _ in reply.iter_raw():
                    got_first.set()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    assert got_first.wait(5.0)
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 2.0
    thread.join(5.0)
    assert not thread.is_alive()
    assert outcome and isinstance(outcome[0], httpx.RemoteProtocolError)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), 1.0):
        pass


def test_wait_for_requests_reports_a_timeout_as_false() -> None:
    with LoopbackServer() as server:
        assert server.wait_for_requests(1, timeout=0.05) is False
        httpx.get(server.url + "/x")
        assert server.wait_for_requests(1, timeout=5.0) is True
