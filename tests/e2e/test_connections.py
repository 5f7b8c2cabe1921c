"""Connection limits through a real gateway (issue 18, item 3): about 1,024 idle connections used to lock everyone
out (Granian's default backpressure, backlog / workers), and a connection that never sent a byte was never closed.
Now each worker holds ``limits.maxConnections`` (10,000) and hyper closes a connection that sends nothing, no whole
head, or nothing between requests for ``limits.clientHeaderTimeoutSeconds`` (60 s; 2 s here)."""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import GatewayFactory, Process

API = {
    "openapi": "3.0.1",
    "info": {"title": "connections", "version": "1"},
    "paths": {
        "/ping": {
            "get": {
                "x-amazon-apigateway-integration": {
                    "type": "mock",
                    "requestTemplates": {"application/json": '{"statusCode": 200}'},
                    "responses": {"default": {"statusCode": "200"}},
                }
            }
        }
    },
}
TIMEOUT = 2
SILENT = 5_000


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    factory = GatewayFactory(tmp_path_factory.mktemp("connections"))
    yield factory.start(API, "--client-header-timeout", str(TIMEOUT))
    factory.stop_all()


def ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"GET /ping HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        return connection.recv(1024)


def closed_by_peer(connection: socket.socket, within: float) -> bool:
    connection.settimeout(within)
    try:
        return connection.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_silent_connections_leave_others_served_and_are_closed(gateway: Process) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < SILENT + 256:
        pytest.skip(f"the open-file limit ({hard}) is below {SILENT} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, SILENT + 256), hard))
    silent: list[socket.socket] = []
    try:
        for _ in range(SILENT):
            silent.append(socket.create_connection(("127.0.0.1", gateway.port), timeout=10))
        started = time.monotonic()
        assert ping(gateway.port).startswith(b"HTTP/1.1 200 "), "a client was locked out"
        assert time.monotonic() - started < TIMEOUT, "served only once the silent connections were closed"
        deadline = time.monotonic() + TIMEOUT + 5
        still_open = [c for c in silent if not closed_by_peer(c, max(0.01, deadline - time.monotonic()))]
        assert still_open == [], f"{len(still_open)} of {SILENT} silent connections were never closed"
    finally:
        for connection in silent:
            connection.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert ping(gateway.port).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(
    "sent",
    [
        b"GET /ping HTTP/1.1\r\nHost: gw\r\n\r\n",  # then idle on the kept-alive connection
        b"GET /ping HTTP/1.1\r\nHost: gw\r\nX-Slow: ",  # a head that never ends
    ],
)
def test_idle_and_slow_connections_are_closed_after_the_timeout(gateway: Process, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as connection:
        connection.sendall(sent)
        started = time.monotonic()
        if sent.endswith(b"\r\n\r\n"):
            assert connection.recv(1024).startswith(b"HTTP/1.1 200 ")
        assert closed_by_peer(connection, TIMEOUT + 5)
        assert TIMEOUT - 0.5 <= time.monotonic() - started <= TIMEOUT + 5


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def test_http2_is_opt_in(gateway: Process, tmp_path_factory: pytest.TempPathFactory) -> None:
    """HTTP/2 takes ``--http2`` (or ``http2: true`` on a listener): by default a client's HTTP/2 preface gets its
    connection closed with no answer (hyper's HTTP/1 parser refuses it), and with it the server's SETTINGS frame
    (type 4)."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as connection:
        connection.sendall(PREFACE)
        assert connection.recv(1024) == b""
    factory = GatewayFactory(tmp_path_factory.mktemp("http2"))
    try:
        http2 = factory.start(API, "--http2")
        with socket.create_connection(("127.0.0.1", http2.port), timeout=10) as connection:
            connection.sendall(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # an empty SETTINGS frame
            frame = connection.recv(1024)
            assert frame[3] == 4, frame
    finally:
        factory.stop_all()


def test_http2_request_bodies_reach_the_backend(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> None:
    """An HTTP/2 request body comes in DATA frames with no ``Content-Length`` (curl sends none for ``-T -``): it was
    taken for no body and dropped; it is now read and forwarded with its length."""
    import json
    import shutil
    import subprocess

    curl = shutil.which("curl")
    if curl is None or "HTTP2" not in subprocess.run([curl, "--version"], capture_output=True, text=True).stdout:
        pytest.skip("curl with HTTP/2 is not installed")
    api = {
        "openapi": "3.0.1",
        "info": {"title": "http2", "version": "1"},
        "paths": {
            "/echo": {
                "post": {
                    "x-amazon-apigateway-integration": {
                        "type": "http_proxy",
                        "httpMethod": "POST",
                        "uri": f"http://127.0.0.1:{backend.port}/echo",
                    }
                }
            }
        },
    }
    factory = GatewayFactory(tmp_path_factory.mktemp("http2-body"))
    try:
        gateway = factory.start(api, "--http2")
        url = f"http://127.0.0.1:{gateway.port}/echo"
        for body in (b"hello over h2", b""):
            result = subprocess.run(
                [curl, "-s", "--http2-prior-knowledge", "-X", "POST", "-T", "-", url],
                input=body,
                capture_output=True,
                timeout=30,
                check=True,
            )
            echo = json.loads(result.stdout)
            assert echo["body_length"] == len(body), echo
    finally:
        factory.stop_all()
