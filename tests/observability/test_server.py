"""The metrics and health listener on a free port: /metrics, liveness, readiness flipping to 503, and 404."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from fastgw.observability.metrics import GatewayCollector, MetricsLayout
from fastgw.observability.server import MetricsServer


class Readiness:
    def __init__(self) -> None:
        self.ready = True

    def __call__(self) -> bool:
        return self.ready


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
def server(readiness: Readiness) -> Iterator[MetricsServer]:
    registry = CollectorRegistry()
    layout = MetricsLayout.build([("petstore", "prod", ["GET /pets"])])
    registry.register(GatewayCollector(layout, lambda: [0] * layout.words))
    Counter("extra_things", "Something else in the same registry.", registry=registry).inc(3)
    with MetricsServer(port=0, registry=registry, readiness=readiness) as running:
        yield running


def get(server: MetricsServer, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


def test_port_zero_binds_a_free_port(server: MetricsServer) -> None:
    assert server.port != 0


def test_metrics(server: MetricsServer) -> None:
    status, content_type, body = get(server, "/metrics")
    assert status == 200
    assert content_type == CONTENT_TYPE_LATEST
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {"fastgw_requests", "fastgw_requests_in_flight", "extra_things"} <= names


def test_liveness(server: MetricsServer) -> None:
    status, content_type, body = get(server, "/health/live")
    assert (status, content_type, json.loads(body)) == (200, "application/json", {"status": "ok"})


def test_readiness_follows_the_callback(server: MetricsServer, readiness: Readiness) -> None:
    status, _, body = get(server, "/health/ready")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    readiness.ready = False
    status, _, body = get(server, "/health/ready")
    assert (status, json.loads(body)) == (503, {"status": "draining"})
    readiness.ready = True
    assert get(server, "/health/ready")[0] == 200


def test_a_failing_readiness_check_is_not_ready(readiness: Readiness, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    with MetricsServer(port=0, registry=CollectorRegistry(), readiness=broken) as server:
        assert get(server, "/health/ready")[0] == 503
    assert "readiness check failed" in caplog.text


@pytest.mark.parametrize("path", ["/", "/metricsx", "/health", "/health/live/x"])
def test_other_paths_are_404(server: MetricsServer, path: str) -> None:
    assert get(server, path)[0] == 404


def test_query_strings_are_ignored(server: MetricsServer) -> None:
    assert get(server, "/health/live?verbose=1")[0] == 200


def test_stop_closes_the_port() -> None:
    server = MetricsServer(port=0, registry=CollectorRegistry(), readiness=lambda: True)
    server.start()
    port = server.port
    with pytest.raises(RuntimeError, match="already started"):
        server.start()
    server.stop()
    server.stop()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/health/live")


# -- bounds (issue 18, item 11) ------------------------------------------------------------------------


def exchange(server: MetricsServer, raw: bytes, timeout: float = 10.0) -> bytes:
    """Sends ``raw`` on a fresh connection and reads until the server closes it."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def status_and_json(answer: bytes) -> tuple[int, Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.fixture
def admin(readiness: Readiness) -> Iterator[tuple[MetricsServer, list[dict[str, str]]]]:
    calls: list[dict[str, str]] = []

    def flush(query: Mapping[str, str]) -> dict[str, str]:
        calls.append(dict(query))
        return {"flushed": "yes"}

    with MetricsServer(
        port=0, registry=CollectorRegistry(), readiness=readiness, admin_token=TOKEN, admin_actions={"flush": flush}
    ) as running:
        yield running, calls


TOKEN = "s" * 32


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "0x10", " ", "5, 5"])
def test_a_malformed_content_length_is_400_json_without_a_traceback(
    admin: tuple[MetricsServer, list[dict[str, str]]], length: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Issue 18, item 11: ``int()`` of the header raised, and the stdlib server printed a traceback and dropped
    the connection without an answer."""
    server, calls = admin
    raw = f"POST /admin/flush HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {length}\r\n\r\n"
    status, body = status_and_json(exchange(server, raw.encode()))
    assert (status, body) == (400, {"message": "Invalid Content-Length"})
    assert calls == []
    assert "Traceback" not in capfd.readouterr().err


def test_an_admin_body_over_the_cap_is_413_unread(admin: tuple[MetricsServer, list[dict[str, str]]]) -> None:
    """Issue 18, item 11: the admin actions take no body; one larger than MAX_ADMIN_BODY is refused unread."""
    server, calls = admin
    raw = f"POST /admin/flush HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100000000\r\n\r\n"
    status, body = status_and_json(exchange(server, raw.encode()))
    assert (status, body) == (413, {"message": "Request body too large"})
    assert calls == []
    small = f"POST /admin/flush?api=a HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 2\r\n\r\n{{}}"
    assert status_and_json(exchange(server, small.encode())) == (200, {"flushed": "yes"})
    assert calls == [{"api": "a"}]


def test_silent_connections_take_no_thread_and_are_closed_after_the_request_timeout(readiness: Readiness) -> None:
    """Issue 18, item 11: every connection got a thread, and one that never sent a byte kept it forever."""
    registry = CollectorRegistry()
    Counter("things", "Things.", registry=registry).inc()
    with MetricsServer(port=0, registry=registry, readiness=readiness, request_timeout=1.0) as server:
        threads_before = threading.active_count()
        silent = [socket.create_connection((server.host, server.port), timeout=10) for _ in range(300)]
        try:
            time.sleep(0.3)  # let the server accept them all
            assert threading.active_count() - threads_before <= server.HANDLER_THREADS
            status, _, body = get(server, "/metrics")  # a scrape is answered meanwhile
            assert status == 200 and b"things_total 1.0" in body
            # The listener closes what it keeps waiting after the request timeout (and drops the oldest beyond its
            # cap of waiting connections): every silent connection reads EOF, none hangs.
            for sock in silent:
                assert sock.recv(1) == b""
        finally:
            for sock in silent:
                sock.close()
        assert get(server, "/health/live")[0] == 200


def test_a_request_that_trickles_in_is_cut_at_the_request_timeout(readiness: Readiness) -> None:
    """Issue 18, item 11: the timeout covers the whole request, not each read (a byte every half second would
    otherwise hold a thread for ever)."""
    with MetricsServer(port=0, registry=CollectorRegistry(), readiness=readiness, request_timeout=1.0) as server:
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            started = time.monotonic()
            closed = False
            for byte in b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"a" * 40:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    closed = True
                    break
                time.sleep(0.1)
            if not closed:
                sock.settimeout(5)
                assert sock.recv(65536) == b""
            assert time.monotonic() - started < 4.5  # cut near 1 s, well before the 4 s the trickle takes


def test_connections_beyond_the_handler_cap_are_answered_503(readiness: Readiness) -> None:
    """Issue 18, item 11: at most HANDLER_THREADS requests are read and answered at once; one more is refused at
    once with 503 (never queued without bound)."""
    with MetricsServer(port=0, registry=CollectorRegistry(), readiness=readiness, request_timeout=5.0) as server:
        stalled = []
        try:
            for _ in range(server.HANDLER_THREADS):
                sock = socket.create_connection((server.host, server.port), timeout=10)
                sock.sendall(b"GET /metrics HTTP/1.1\r\n")  # a head that never ends holds its handler
                stalled.append(sock)
            time.sleep(0.3)
            status, body = status_and_json(exchange(server, b"GET /health/live HTTP/1.1\r\n\r\n"))
            assert (status, body) == (503, {"message": "Too many connections"})
        finally:
            for sock in stalled:
                sock.close()
        time.sleep(0.3)
        assert get(server, "/health/live")[0] == 200
