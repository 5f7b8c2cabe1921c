"""Issue 18, "faults": what the gateway answers when a backend, Redis, a client, a worker or the operator fails it,
each through a real gateway. This docstring is the index of every fault test, fault -> answer -> tests: a fault
tested where its part lives is listed here, not tested twice ("here" is this file).

- Backend unreachable (connection refused) -> REST 500 ``Internal server error``, HTTP API 500.
  Tests: test_proxy.py::test_rest_unreachable_backend, ::test_http_api_unreachable_backend
- Backend closes the connection before answering -> 5xx; an idempotent request on a reused keep-alive connection is
  sent again once, a POST never.
  Tests: test_proxy.py::test_backend_dropping_the_connection, ::test_non_idempotent_request_is_not_retried
- Backend killed mid-response, buffered -> REST 504 ``Internal server error`` (INTEGRATION_FAILURE), HTTP API 500.
  Tests: here: test_backend_killed_mid_response; test_streaming.py::test_backend_cutting_a_small_response_short
- Backend killed mid-response, streamed -> the client's response is cut, never ended cleanly; one WARNING.
  Tests: here: test_backend_killed_mid_response; test_streaming.py::test_backend_cutting_a_streamed_response_short,
  ::test_backend_cutting_a_chunked_response_short_truncates_it
- Backend answers after the integration timeout -> REST 504 ``Endpoint request timed out``, HTTP API 503
  ``Service Unavailable``.
  Tests: test_proxy.py::test_rest_integration_timeout, ::test_http_api_integration_timeout
- Backend never answers, or goes silent after the head -> as late; a streamed response is cut once nothing arrives
  for the timeout, one WARNING.
  Tests: here: test_backend_that_never_answers, test_backend_silent_after_the_head
- Malformed backend response (garbage status line, bad chunk framing, Content-Length longer than the body then
  close, two Content-Lengths, a head over the limit, an unasked ``101 Switching Protocols``...) -> REST 504
  ``Internal server error``, HTTP API 500 ``Internal Server Error``.
  Tests: here: test_malformed_backend_response
- Odd but valid backend response (interim 1xx, a 204 with a body, bytes after the body) -> passed on; a pooled
  connection never answers the next request with leftovers.
  Tests: here: test_odd_backend_response_stays_in_step
- Stray bytes from a backend on an idle pooled connection -> the connection is closed quietly.
  Tests: test_proxy.py::test_backend_bytes_on_an_idle_connection_close_it_quietly
- Redis killed and restarted -> ``failurePolicy`` open: the node's own limits, closed: 429; back to Redis once it
  returns; one WARNING per kind per 10 s; the shared cache tier answers from the backend without hanging.
  Tests: test_throttling.py::test_redis_down_follows_the_failure_policy,
  ::test_a_redis_outage_is_logged_once_in_a_while_not_per_request;
  test_shared_cache.py::test_redis_down_answers_from_the_backend_without_hanging
- Client disconnects mid-upload -> nothing complete reaches the backend, whose connection is closed; one INFO line.
  Tests: here: test_client_gone_mid_upload; test_streaming.py::test_truncated_chunked_upload_is_not_delivered,
  ::test_client_disconnecting_mid_upload_releases_the_backend, ::test_client_gone_mid_chunked_upload_is_one_quiet_line;
  test_validation.py::test_truncated_body_on_a_validated_route_is_the_clients_doing
- Client disconnects mid-download -> one INFO line; the worker serves on.
  Tests: test_streaming.py::test_client_disconnecting_mid_download, ::test_client_closing_a_download_is_one_quiet_line
- Client stops reading a download -> held to a window, cut after ``clientSendTimeoutSeconds``.
  Tests: test_streaming.py::test_stalled_client_is_held_to_a_window_then_cut
- Client gone before a buffered answer -> nothing logged; the gateway serves on.
  Tests: here: test_client_gone_before_the_answer
- Malformed requests -> see the corpus.
  Tests: test_malformed_requests.py
- Hostile connections to the metrics listener -> 400 JSON, bounded threads and time.
  Tests: test_observability.py::test_the_metrics_listener_bounds_hostile_connections
- SIGHUP with a broken file -> the running configuration, workers and caches stay.
  Tests: test_reload.py::test_a_definition_that_fails_to_load_leaves_the_running_one,
  ::test_a_failed_reload_keeps_the_workers_and_their_cache
- SIGHUP with two listeners -> both reload without a failed request.
  Tests: test_reload.py::test_sighup_with_two_listeners_reloads_both
- The serving process killed -> every worker and listener dies with it.
  Tests: test_reload.py::test_workers_exit_when_the_serving_process_is_killed,
  ::test_no_listener_outlives_a_killed_parent
- SIGTERM -> in-flight requests finish, readiness answers 503, exit 0.
  Tests: test_gateway.py::test_sigterm_drains_in_flight_requests;
  test_observability.py::test_health_and_readiness_while_draining
- SIGTERM under load -> every request in flight finishes, new connections are refused, exit 0, no traceback.
  Tests: here: test_sigterm_under_load
- A worker killed -> replaced; the gateway serves on.
  Tests: here: test_a_killed_worker_is_replaced
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GatewayFactory, Process, Reply, call, free_port
from tests.e2e.test_reload import worker_pids
from tests.e2e.test_streaming import wait_for
from tests.raw_backend import RawBackend, RawConnection

#: INTEGRATION_FAILURE (python/fastgw/responses.py): REST's 504, HTTP APIs' 500.
FAILURE = {"REST": (504, "Internal server error"), "HTTP": (500, "Internal Server Error")}
#: INTEGRATION_TIMEOUT.
TIMEOUT = {"REST": (504, "Endpoint request timed out"), "HTTP": (503, "Service Unavailable")}
TIMEOUT_MS = 600


def greedy_api(api: str, routes: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """A REST or HTTP API definition proxying ``/{prefix}/{proxy+}`` to ``127.0.0.1:port/{proxy}`` with the
    integration timeout given, for each ``prefix: (port, timeout in ms)``."""
    paths = {}
    for prefix, (port, timeout_ms) in routes.items():
        integration: dict[str, Any] = {
            "type": "http_proxy",
            "httpMethod": "ANY",
            "uri": f"http://127.0.0.1:{port}/{{proxy}}",
            "timeoutInMillis": timeout_ms,
        }
        if api == "REST":
            integration["requestParameters"] = {"integration.request.path.proxy": "method.request.path.proxy"}
        else:
            integration["payloadFormatVersion"] = "1.0"
        paths[f"/{prefix}/{{proxy+}}"] = {
            "x-amazon-apigateway-any-method": {
                "parameters": [{"name": "proxy", "in": "path", "required": True, "schema": {"type": "string"}}],
                "x-amazon-apigateway-integration": integration,
            }
        }
    document: dict[str, Any] = {"openapi": "3.0.1", "info": {"title": f"faults-{api}", "version": "1"}, "paths": paths}
    if api == "HTTP":
        document["x-amazon-apigateway-importexport-version"] = "1.0"
    return document


def quiet_since(gateway: Process, start: int, *, allowed: tuple[str, ...] = ()) -> list[str]:
    """The log lines since ``start``, asserted free of tracebacks and ERRORs, and of WARNINGs but those containing one
    of ``allowed``. (Called after a later request was answered: the worker has written what it had to by then.)"""
    lines = [line for line in gateway.output()[start:].splitlines() if line.strip()]
    assert not any("Traceback" in line or line.startswith("[ERROR]") for line in lines), lines
    warnings = [line for line in lines if line.startswith("[WARNING]")]
    assert all(any(text in line for text in allowed) for line in warnings), lines
    return lines


# -- a backend that misbehaves on request ---------------------------------------------------------------------------

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

#: Answers that are not HTTP/1.1 a gateway can pass on, each written whole, after which the backend closes.
MALFORMED = {
    "garbage-status-line": b"garbage\r\n\r\n",
    "http2-status-line": b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "four-digit-status": b"HTTP/1.1 1000 Odd\r\nContent-Length: 2\r\n\r\nok",
    "bad-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunked-then-close": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    "content-length-longer-than-the-body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
    "two-content-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
    "negative-content-length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
    "content-length-not-a-number": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok",
    "head-over-the-limit": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\nok",
    "too-many-header-fields": b"HTTP/1.1 200 OK\r\n" + b"X-H: v\r\n" * 500 + b"Content-Length: 2\r\n\r\nok",
    "cr-in-a-header-value": b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok",
    "nul-in-a-header-value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "space-in-a-header-name": b"HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 2\r\n\r\nok",
    "nothing-then-close": b"",
    "head-then-close": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    "only-100-continue": b"HTTP/1.1 100 Continue\r\n\r\n",
    "switching-protocols-unasked": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nraw",
}

#: Odd but valid answers, each followed on the same connection by answers to later requests (the backend stays).
ODD = {
    "interim-100-then-200": (b"HTTP/1.1 100 Continue\r\n\r\n" + OK, b"ok"),
    "interim-103-then-200": (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK, b"ok"),
    "two-equal-content-lengths": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    "content-length-and-chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"ok",
    ),
    "bare-lf-head": (b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", b"ok"),
    "204-with-a-body": (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", b""),
    "bytes-after-the-body": (OK + b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nleftover", b"ok"),
}


def echo_line(connection: RawConnection, head: bytes) -> None:
    line = head.split(b"\r\n", 1)[0]
    connection.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(line), line))


def misbehave(connection: RawConnection) -> None:
    """``/malformed/NAME``: MALFORMED[NAME], then close. ``/odd/NAME``: ODD[NAME]'s answer, then go on serving.
    ``/silent``: never answer. ``/head-only/buffered`` and ``/head-only/streamed``: a head and part of the body,
    then nothing. ``/slow``: answer after 0.3 s. ``/collect``: read the body (Content-Length) to its end before
    answering. Anything else: 200 with the request line. A silent backend waits until the gateway closes."""
    while (head := connection.read_head()) is not None:
        path = head.split(b" ")[1].decode()
        kind, _, name = path.strip("/").partition("/")
        if kind == "malformed":
            connection.send(MALFORMED[name])
            return
        if kind == "odd":
            connection.send(ODD[name][0])
        elif kind in ("silent", "head-only"):
            if name == "buffered":
                connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
            elif name == "streamed":
                connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 2_000_000)
            while connection.read():
                pass  # until the gateway gives up and closes
            return
        elif kind == "slow":
            time.sleep(0.3)
            echo_line(connection, head)
        elif kind == "collect":
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(connection.received) - connection.body_start < length:
                if not connection.read():
                    return  # the body never ended: no answer
            connection.skip_body(length)
            echo_line(connection, head)
        else:
            echo_line(connection, head)


@pytest.fixture(scope="module")
def raw() -> Iterator[RawBackend]:
    backend = RawBackend(misbehave)
    yield backend
    backend.close()


KILLABLE_BACKEND = """
import socket, sys, time

# Answers every request with the head and the first part of a body, says so, and keeps the connection open until it
# is killed.
port, total, sent = (int(arg) for arg in sys.argv[1:])
server = socket.create_server(("127.0.0.1", port))
held = []
while True:
    connection, _ = server.accept()
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        data = connection.recv(65536)
        if not data:
            break
        head += data
    if not data:
        connection.close()
        continue
    answer = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/octet-stream\\r\\nContent-Length: %d\\r\\n\\r\\n" % total
    connection.sendall(answer + b"x" * sent)
    held.append(connection)
    print("sent", flush=True)
"""


@pytest.fixture(scope="module")
def killable_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def gateways(
    tmp_path_factory: pytest.TempPathFactory, raw: RawBackend, killable_port: int
) -> Iterator[dict[str, Process]]:
    factory = GatewayFactory(tmp_path_factory.mktemp("faults"))
    routes = {"raw": (raw.port, TIMEOUT_MS), "killable": (killable_port, 10_000)}
    try:
        yield {api: factory.start(factory.write(greedy_api(api, routes), f"{api}.yaml")) for api in ("REST", "HTTP")}
    finally:
        factory.stop_all()


def assert_failure(reply: Reply, api: str, status: int, message: str) -> None:
    assert (reply.status, reply.json()) == (status, {"message": message}), reply
    assert reply.header("content-type") == "application/json"
    assert reply.header("x-amzn-ErrorType") == ("InternalServerErrorException" if api == "REST" else None)
    assert reply.header("x-amzn-RequestId" if api == "REST" else "apigw-requestid")


def assert_serving(gateway: Process) -> None:
    reply = gateway.call("GET", "/raw/after", timeout=10)
    assert (reply.status, reply.body) == (200, b"GET /after HTTP/1.1"), reply


def serving_and_quiet(gateway: Process, since: int, *, allowed: tuple[str, ...] = ()) -> list[str]:
    """The gateway answers a normal request, and logged nothing alarming since ``since`` (see :func:`quiet_since`):
    the lines it logged."""
    assert_serving(gateway)
    return quiet_since(gateway, since, allowed=allowed)


# -- the backend fails ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["REST", "HTTP"])
@pytest.mark.parametrize(
    ("total", "sent"), [(1000, 100), (8_000_000, 2_000_000)], ids=["buffered", "streamed (over 1 MiB)"]
)
def test_backend_killed_mid_response(
    gateways: dict[str, Process], killable_port: int, tmp_path: Path, api: str, total: int, sent: int
) -> None:
    """A backend process killed (SIGKILL) after sending the head and part of the body. Buffered (the whole body is
    read before answering): the answer is AWS's integration failure. Streamed (the head is already the client's):
    the client's response is cut, never ended as if complete, and the gateway logs one WARNING."""
    gateway = gateways[api]
    since = len(gateway.output())
    command = [sys.executable, "-c", KILLABLE_BACKEND, str(killable_port), str(total), str(sent)]
    backend = Process(command, killable_port, tmp_path / "killable.log")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
        connection.request("GET", "/killable/download")
        assert wait_for(lambda: "sent" in backend.output(), 10), "the backend never answered"
        if total > 1024 * 1024:
            response = connection.getresponse()  # the head reached the client before the kill
            assert (response.status, response.getheader("content-length")) == (200, str(total))
        backend.process.kill()
        backend.process.wait()
        if total > 1024 * 1024:
            with pytest.raises((http.client.IncompleteRead, ConnectionError)):
                response.read()
        else:
            response = connection.getresponse()
            assert_failure(Reply(response.status, response.getheaders(), response.read()), api, *FAILURE[api])
        connection.close()
    finally:
        backend.stop(signal.SIGKILL)
    lines = serving_and_quiet(gateway, since, allowed=("streamed response cut short",))
    if total > 1024 * 1024:
        assert len(lines) == 1 and "upstream closed the connection" in lines[0], lines
    else:
        assert lines == []


@pytest.mark.parametrize("api", ["REST", "HTTP"])
def test_backend_that_never_answers(gateways: dict[str, Process], raw: RawBackend, api: str) -> None:
    """A backend that reads the request and never answers: the integration timeout's answer, and the gateway
    closes that backend connection (an answer coming later can never reach the next client on it)."""
    gateway = gateways[api]
    since = len(gateway.output())
    reply = gateway.call("GET", f"/raw/silent/{api}")
    assert_failure(reply, api, *TIMEOUT[api])
    (silent,) = [c for c in raw.connections if b"GET /silent/%s " % api.encode() in c.received]
    assert silent.closed_by_peer.wait(5), "the timed-out backend connection stayed open"
    assert serving_and_quiet(gateway, since) == []


@pytest.mark.parametrize("api", ["REST", "HTTP"])
@pytest.mark.parametrize("size", ["buffered", "streamed"])
def test_backend_silent_after_the_head(gateways: dict[str, Process], raw: RawBackend, api: str, size: str) -> None:
    """A backend that sends the head and part of the body, then nothing. Buffered: the integration timeout's
    answer. Streamed: the client has the head and what came; the response is cut once nothing arrives for the
    integration timeout, with one WARNING."""
    gateway = gateways[api]
    since = len(gateway.output())
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    try:
        connection.request("GET", f"/raw/head-only/{size}")
        response = connection.getresponse()
        if size == "buffered":
            assert_failure(Reply(response.status, response.getheaders(), response.read()), api, *TIMEOUT[api])
        else:
            assert response.status == 200
            with pytest.raises((http.client.IncompleteRead, ConnectionError)):
                response.read()
    finally:
        connection.close()
    lines = serving_and_quiet(gateway, since, allowed=("streamed response cut short",))
    if size == "buffered":
        assert lines == []
    else:
        assert len(lines) == 1 and "upstream body read timed out" in lines[0], lines


@pytest.mark.parametrize("api", ["REST", "HTTP"])
@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_backend_response(gateways: dict[str, Process], raw: RawBackend, api: str, name: str) -> None:
    """A backend answer that is not HTTP/1.1 the gateway can pass on is an integration failure: REST 504
    ``Internal server error`` (INTEGRATION_FAILURE, python/fastgw/responses.py), HTTP APIs 500 ``Internal Server
    Error``; nothing of it reaches the client, and that backend connection is never reused. A ``101 Switching
    Protocols`` the gateway never asked for (it drops the client's ``Upgrade``) is one too: passed on, it turned the
    client's connection into nothing (found by this file)."""
    gateway = gateways[api]
    since = len(gateway.output())
    reply = gateway.call("GET", f"/raw/malformed/{name}")
    assert_failure(reply, api, *FAILURE[api])
    assert serving_and_quiet(gateway, since) == []


@pytest.mark.parametrize("api", ["REST", "HTTP"])
@pytest.mark.parametrize("name", list(ODD))
def test_odd_backend_response_stays_in_step(gateways: dict[str, Process], api: str, name: str) -> None:
    """Valid answers a careless parser gets wrong: interim responses are skipped, a 204's body and bytes after a
    body are never read as the answer to the next request on the pooled connection."""
    gateway = gateways[api]
    since = len(gateway.output())
    reply = gateway.call("GET", f"/raw/odd/{name}")
    expected_status = 204 if name.startswith("204") else 200
    assert (reply.status, reply.body) == (expected_status, ODD[name][1]), reply
    for index in range(3):  # the next requests get their own answers, whichever connection they take
        assert gateway.call("GET", f"/raw/next{index}").body == b"GET /next%d HTTP/1.1" % index
    assert serving_and_quiet(gateway, since) == []


# -- the client fails -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["REST", "HTTP"])
@pytest.mark.parametrize("size", [10_000, 2_000_000], ids=["buffered", "streamed"])
def test_client_gone_mid_upload(gateways: dict[str, Process], raw: RawBackend, api: str, size: int) -> None:
    """A client that sends part of a Content-Length body and goes away: one INFO line, no traceback; the backend
    never receives the whole body (a streamed one's connection is closed), and the gateway serves on."""
    gateway = gateways[api]
    since = len(gateway.output())
    path = f"/collect/{api}-{size}"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(b"POST /raw%s HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n" % (path.encode(), size))
        sock.sendall(b"u" * (size // 2))
        time.sleep(0.2)  # the gateway is reading the body (or sending it on) when the client goes
    assert wait_for(lambda: "the request body ended badly" in gateway.output()[since:], 10)
    reached = [c for c in raw.connections if b"POST %s " % path.encode() in c.received]
    assert len(reached) == (1 if size > 256 * 1024 else 0)  # a small body is read whole before it is sent on
    for connection in reached:
        assert connection.closed_by_peer.wait(5), "the backend connection of a broken upload stayed open"
        assert len(connection.received) - connection.body_start < size
    lines = serving_and_quiet(gateway, since)
    assert len(lines) == 1 and lines[0].startswith("[INFO] "), lines


@pytest.mark.parametrize("api", ["REST", "HTTP"])
@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_gone_before_the_answer(gateways: dict[str, Process], raw: RawBackend, api: str, how: str) -> None:
    """A client that closes (or resets) its connection while the backend is still answering: the answer has
    nowhere to go; nothing is logged, and the gateway serves on."""
    gateway = gateways[api]
    since = len(gateway.output())
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    sock.sendall(b"GET /raw/slow HTTP/1.1\r\nHost: gw\r\n\r\n")
    if how == "reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    time.sleep(0.5)  # past the backend's answer (0.3 s)
    assert serving_and_quiet(gateway, since) == []


# -- the process fails or is told to stop ----------------------------------------------------------------------------


def test_a_killed_worker_is_replaced(gateway: GatewayFactory, raw: RawBackend) -> None:
    """A worker that dies (SIGKILL here; a crash or the OOM killer alike) is replaced, and the gateway serves on.
    Granian's default is to stop the whole server when a worker exits unexpectedly: ``fastgw serve`` exited 1 and
    every other worker's requests went with it (found by this file; WorkerReadiness already said a crashed worker
    was replaced)."""
    process = gateway.start(greedy_api("REST", {"raw": (raw.port, TIMEOUT_MS)}))
    assert wait_for(lambda: len(worker_pids(process.process.pid)) == 1, 10)
    (worker,) = worker_pids(process.process.pid)
    os.kill(worker, signal.SIGKILL)

    def answers() -> bool:
        try:
            return process.call("GET", "/raw/after", timeout=5).status == 200
        except OSError:
            return False  # nobody listens until the replacement binds (one worker, SO_REUSEPORT sockets)

    assert wait_for(answers, 20), process.output()
    assert process.process.poll() is None, process.output()
    (replacement,) = worker_pids(process.process.pid)
    assert replacement != worker
    assert_serving(process)
    assert "Respawning worker-1" in process.output()
    assert process.stop() == 0
    assert "Traceback" not in process.output()


def test_sigterm_under_load(gateway: GatewayFactory) -> None:
    """SIGTERM while requests are in flight and clients keep connecting: every request in flight finishes with its
    answer, new connections are refused once the listener closes, ``fastgw serve`` exits 0, and the log has no
    traceback or ERROR. A connection accepted in the instant the server stopped may be closed before its request
    is read (Granian's graceful stop, see test_reload.Load): never answered with an error."""
    arrived = threading.Semaphore(0)

    def slow_backend(connection: RawConnection) -> None:
        while (head := connection.read_head()) is not None:
            if head.startswith(b"GET /slow"):
                arrived.release()
                time.sleep(1.0)
            echo_line(connection, head)

    slow = RawBackend(slow_backend)
    try:
        process = gateway.start(greedy_api("REST", {"app": (slow.port, 10_000)}))
        in_flight: list[Reply | Exception] = []
        others: list[int | str] = []

        def slow_request(index: int) -> None:
            try:
                in_flight.append(call(process.port, "GET", f"/app/slow/{index}", timeout=15))
            except Exception as error:
                in_flight.append(error)

        def keep_connecting() -> None:
            """New connections, one request each, until one is refused."""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    others.append(call(process.port, "GET", "/app/fast", timeout=5).status)
                except ConnectionRefusedError:
                    others.append("refused")
                    return
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    others.append("closed before an answer")

        threads = [threading.Thread(target=slow_request, args=(i,)) for i in range(12)]
        threads += [threading.Thread(target=keep_connecting) for _ in range(2)]
        for thread in threads:
            thread.start()
        for _ in range(12):
            assert arrived.acquire(timeout=10), "the requests never reached the backend"
        process.process.send_signal(signal.SIGTERM)
        for thread in threads[:12]:
            thread.join(15)
        assert process.process.wait(15) == 0
        for thread in threads[12:]:
            thread.join(10)
        replies = [r for r in in_flight if isinstance(r, Reply)]
        assert len(replies) == 12, in_flight
        assert sorted(r.body for r in replies) == sorted(b"GET /slow/%d HTTP/1.1" % i for i in range(12))
        assert all(r.status == 200 for r in replies)
        assert others.count("refused") == 2, others  # each client ends on a refused connection
        assert all(status in (200, "refused", "closed before an answer") for status in others), others
        with pytest.raises(ConnectionRefusedError):
            call(process.port, "GET", "/app/fast", timeout=5)
        output = process.output()
        assert "Traceback" not in output and "[ERROR]" not in output, output
    finally:
        slow.close()


def test_the_fault_index_names_tests_that_exist() -> None:
    """The module docstring is the index of the fault tests: every test it names exists. After ``Tests:``, a
    reference is ``FILE::NAME``, ``::NAME`` or ``NAME`` (the file named before), ``here: NAME`` (this file) or a whole
    ``FILE``."""
    assert __doc__ is not None
    here = Path(__file__).parent
    entries = re.findall(r"Tests: (.*?)(?=\n- |\n\n|\Z)", __doc__, re.DOTALL)
    assert len(entries) > 20
    checked = 0
    for entry in entries:
        module = "test_faults.py"
        for reference in re.split(r"[,;]", " ".join(entry.split())):
            reference = reference.strip()
            if reference.startswith("here: "):
                module, name = "test_faults.py", reference.removeprefix("here: ")
            elif reference.endswith(".py"):
                module, name = reference, ""
            elif "::" in reference:
                file, _, name = reference.partition("::")
                module = file or module
            else:
                name = reference  # another test of the same file
            source = (here / module).read_text()
            assert not name or re.search(rf"^def {name}\(", source, re.MULTILINE), f"{module}::{name}"
            checked += 1
    assert checked > 30
