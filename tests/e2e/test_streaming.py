"""Large bodies stream through the gateway in both directions without being held in memory.

A 1 GiB upload (Content-Length, and chunked) and a 1 GiB download (Content-Length, and chunked) go through a
REST ``HTTP_PROXY`` route, checked end to end by length and SHA-256 computed on the fly on both sides, while
the gateway worker's peak RSS (``VmHWM``) stays under 300 MB. Broken transfers: a client that goes away
mid-download or mid-upload, a backend that cuts its response short, and a slow client upload (which must not
count against the integration timeout).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GatewayFactory, Process, free_port
from tests.raw_backend import RawBackend, RawConnection

GIB = 1024**3
CHUNK = 1024 * 1024
MAX_RSS_BYTES = 300 * 1024 * 1024
BACKEND_PATTERN = bytes(range(256)) * 256  # tests/backend_app.py PATTERN, 64 KiB


def greedy_proxy(**extra: Any) -> dict[str, Any]:
    return {
        "x-amazon-apigateway-any-method": {
            "parameters": [{"name": "proxy", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "200 response", "content": {}}},
            "x-amazon-apigateway-integration": {
                "type": "http_proxy",
                "httpMethod": "ANY",
                "uri": "http://127.0.0.1:${stageVariables.backendPort}/{proxy}",
                "requestParameters": {"integration.request.path.proxy": "method.request.path.proxy"},
                "passthroughBehavior": "when_no_match",
                **extra,
            },
        }
    }


API: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "streaming", "version": "1"},
    "paths": {
        "/{proxy+}": greedy_proxy(),
        "/short/{proxy+}": greedy_proxy(timeoutInMillis=4000),
        "/brief/{proxy+}": greedy_proxy(timeoutInMillis=500),
    },
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> Iterator[Process]:
    factory = GatewayFactory(tmp_path_factory.mktemp("streaming"))
    try:
        yield factory.start(API, "--max-body-bytes", str(2 * GIB), stage_variables={"backendPort": str(backend.port)})
    finally:
        factory.stop_all()


# -- memory ----------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def peak_rss(pid: int, field: str = "VmHWM") -> int:
    """``VmHWM`` (peak resident set size) of a process, or another ``/proc/PID/status`` size, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def worker_peak_rss(gateway: Process) -> int:
    """The largest peak RSS among the worker processes (children of the ``fastgw serve`` process)."""
    workers = children(gateway.process.pid)
    assert workers, "no gateway worker process found"
    return max(peak_rss(pid) for pid in workers)


def assert_memory_bounded(gateway: Process) -> None:
    peak = worker_peak_rss(gateway)
    assert peak < MAX_RSS_BYTES, f"gateway worker peak RSS {peak / 2**20:.0f} MiB"
    print(f"gateway worker peak RSS {peak / 2**20:.0f} MiB")


# -- bodies ------------------------------------------------------------------------------------------


class Upload:
    """``total`` bytes in 1 MiB chunks, each stamped with its index (so a lost, repeated or reordered chunk
    changes the hash), hashed as they are produced."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.digest = hashlib.sha256()
        self.block = bytearray(bytes(range(256)) * (CHUNK // 256))

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        index = 0
        while sent < self.total:
            self.block[:8] = index.to_bytes(8, "big")
            piece = bytes(self.block[: min(CHUNK, self.total - sent)])
            self.digest.update(piece)
            sent += len(piece)
            index += 1
            yield piece


@cache
def backend_pattern_sha256(total: int) -> str:
    digest = hashlib.sha256()
    whole, rest = divmod(total, len(BACKEND_PATTERN))
    for _ in range(whole):
        digest.update(BACKEND_PATTERN)
    digest.update(BACKEND_PATTERN[:rest])
    return digest.hexdigest()


def upload(gateway: Process, total: int, *, chunked: bool) -> tuple[int, dict[str, Any]]:
    body = Upload(total)
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
    try:
        if chunked:
            connection.request("POST", "/upload", body=iter(body), encode_chunked=True)
        else:
            connection.request("POST", "/upload", body=iter(body), headers={"Content-Length": str(total)})
        response = connection.getresponse()
        status, echo = response.status, response.read()
    finally:
        connection.close()
    assert status == 200, echo[:500]
    document: dict[str, Any] = json.loads(echo)
    assert (document["body_length"], document["body_sha256"]) == (total, body.digest.hexdigest())
    return status, document


def download(gateway: Process, path: str) -> tuple[int, str, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        digest = hashlib.sha256()
        length = 0
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            n = response.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
            length += n
        return length, digest.hexdigest(), response
    finally:
        connection.close()


# -- tests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_one_gib_upload(gateway: Process, chunked: bool) -> None:
    started = time.monotonic()
    _, echo = upload(gateway, GIB, chunked=chunked)
    framing = "transfer-encoding" if chunked else "content-length"
    assert any(name.lower() == framing for name, _ in echo["headers"])
    assert_memory_bounded(gateway)
    print(f"1 GiB upload ({framing}) in {time.monotonic() - started:.1f} s")


def test_backend_answering_before_reading_a_large_upload(gateway: Process) -> None:
    """A backend may answer before it reads the request body (``/sized/N`` never reads it). The client's whole
    answer arrives, on a keep-alive connection, every time: the gateway reads and drops the rest of the upload
    (closing with unread bytes would reset the connection and cut the answer short) and never puts the backend
    connection, still expecting the rest of that body, back in its pool."""
    size = 1024 * 1024
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        for _ in range(8):
            connection.request("POST", f"/sized/{size}", body=b"u" * (4 * size))
            response = connection.getresponse()
            body = response.read()
            assert (response.status, len(body)) == (200, size)
            assert body == (BACKEND_PATTERN * (size // len(BACKEND_PATTERN) + 1))[:size]
    finally:
        connection.close()
    length, _, response = download(gateway, "/sized/10")
    assert (response.status, length) == (200, 10)


@pytest.mark.parametrize("endpoint", ["sized", "bytes"], ids=["content-length", "chunked"])
def test_one_gib_download(gateway: Process, endpoint: str) -> None:
    started = time.monotonic()
    length, sha256, response = download(gateway, f"/{endpoint}/{GIB}")
    assert response.status == 200
    assert (length, sha256) == (GIB, backend_pattern_sha256(GIB))
    if endpoint == "sized":
        assert response.getheader("x-amzn-Remapped-Content-Length") == str(GIB)
    assert response.getheader("Content-Type") == "application/octet-stream"
    assert_memory_bounded(gateway)
    print(f"1 GiB download ({endpoint}) in {time.monotonic() - started:.1f} s")


def test_client_disconnecting_mid_download(gateway: Process) -> None:
    for endpoint in ("sized", "bytes"):
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
            sock.sendall(f"GET /{endpoint}/{GIB} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
            received = 0
            while received < 8 * CHUNK:
                data = sock.recv(CHUNK)
                assert data, "the gateway closed the connection early"
                received += len(data)
        # The gateway keeps serving, on this worker, with intact responses.
        length, sha256, response = download(gateway, "/sized/3000000")
        assert (response.status, length, sha256) == (200, 3_000_000, backend_pattern_sha256(3_000_000))
    reply = gateway.call("POST", "/echo", body=b"still here")
    assert (reply.status, reply.json()["body_length"]) == (200, 10)
    assert_memory_bounded(gateway)


def test_stalled_client_is_held_to_a_window_then_cut(
    tmp_path_factory: pytest.TempPathFactory, backend: Process
) -> None:
    """A client that stops reading a 1 GiB download. Granian's RSGI stream would queue whatever the backend
    sends; the gateway holds the response to a few MiB ahead of the client, keeps serving others, and cuts it
    once the client has taken nothing for ``limits.clientSendTimeoutSeconds``."""
    factory = GatewayFactory(tmp_path_factory.mktemp("stalled"))
    factory.write(API)
    port = free_port()
    config = {
        "apis": {
            "streaming": {
                "definition": "api.yaml",
                "stages": {"prod": {"variables": {"backendPort": str(backend.port)}}},
            }
        },
        "listeners": [{"host": "127.0.0.1", "port": port}],
        "mappings": [{"api": "streaming", "stage": "prod", "basePath": ""}],
        "limits": {"clientSendTimeoutSeconds": 2},
    }
    try:
        gateway = factory.start(factory.write(config, "gateway.yaml"), port=port)
        (worker,) = children(gateway.process.pid)
        before = peak_rss(worker, "VmRSS")
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(f"GET /bytes/{GIB} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
            received = len(sock.recv(CHUNK))
            time.sleep(1.0)  # not reading: without the window the worker would take in hundreds of MiB here
            held = peak_rss(worker, "VmRSS") - before
            assert held < 64 * 2**20, f"the worker holds {held / 2**20:.0f} MiB for a stalled client"
            assert gateway.call("GET", "/sized/10").status == 200  # others are served meanwhile
            stalled_at = time.monotonic()
            time.sleep(3.0)  # past the 2 s send timeout
            try:
                while data := sock.recv(CHUNK):
                    received += len(data)
            except ConnectionResetError:
                pass
            cut_after = time.monotonic() - stalled_at
        assert received < 64 * 2**20, "the response was not cut"
        assert cut_after < 8, f"the connection stayed open {cut_after:.1f} s after the client stalled"
        assert gateway.call("GET", "/sized/10").status == 200
    finally:
        factory.stop_all()


def backend_stats(backend: Process) -> dict[str, int]:
    stats: dict[str, int] = backend.call("GET", "/_stats").json()
    return stats


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def start_upload_and_disconnect(gateway: Process, backend: Process, *, chunked: bool) -> dict[str, int]:
    """Sends 4 MiB of a 1 GiB upload to ``/short/upload``, waits until the backend is reading it, then
    disconnects. Returns the backend's stats from before."""
    before = backend_stats(backend)
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {GIB}"
        sock.sendall(f"POST /short/upload HTTP/1.1\r\nHost: gw\r\n{framing}\r\n\r\n".encode())
        piece = BACKEND_PATTERN * 16
        for _ in range(4):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        assert wait_for(lambda: backend_stats(backend)["reading"] > before["reading"], 5), "upload never started"
    return before


def test_truncated_chunked_upload_is_not_delivered(gateway: Process, backend: Process) -> None:
    """Issue 18, item 5: the backend never answers a chunked upload the client broke off (Granian reports the
    disconnect as an empty chunk; the gateway once took that for the end of the body and wrote the last chunk)."""
    before = start_upload_and_disconnect(gateway, backend, chunked=True)
    assert wait_for(lambda: backend_stats(backend)["reading"] == before["reading"], 3)
    assert backend_stats(backend)["hits"] == before["hits"], "the backend answered a truncated upload"


def test_client_disconnecting_mid_upload_releases_the_backend(gateway: Process, backend: Process) -> None:
    before = start_upload_and_disconnect(gateway, backend, chunked=False)
    # Given up at once: the backend sees its connection close (the route's timeout is 4 s).
    assert wait_for(lambda: backend_stats(backend)["reading"] == before["reading"], 1.5)
    assert backend_stats(backend)["hits"] == before["hits"]


def test_gateway_serves_after_an_aborted_upload(gateway: Process, backend: Process) -> None:
    start_upload_and_disconnect(gateway, backend, chunked=False)
    reply = gateway.call("POST", "/echo", body=b"still here")
    assert (reply.status, reply.json()["body_length"]) == (200, 10)
    # The aborted exchange ends by the route's 4 s timeout at the latest.
    assert wait_for(lambda: backend_stats(backend)["reading"] == 0, 6)


def test_backend_cutting_a_small_response_short(gateway: Process) -> None:
    reply = gateway.call("GET", "/truncate/1000")
    assert 500 <= reply.status < 600
    assert (reply.header("Content-Type"), reply.json()) == ("application/json", {"message": "Internal server error"})
    assert gateway.call("GET", "/echo").status == 200


def test_backend_cutting_a_streamed_response_short(gateway: Process) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        connection.request("GET", "/truncate/8000000")
        response = connection.getresponse()
        assert response.status == 200  # the head was sent before the backend broke off
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            response.read()
    finally:
        connection.close()
    assert gateway.call("GET", "/echo").status == 200


def slow_upload(gateway: Process, path: str, pieces: int, piece_size: int, pause: float) -> tuple[int, bytes, str]:
    digest = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for i in range(pieces):
            piece = bytes([i % 256]) * piece_size
            digest.update(piece)
            yield piece
            time.sleep(pause)

    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        connection.request("POST", path, body=body(), headers={"Content-Length": str(pieces * piece_size)})
        response = connection.getresponse()
        return response.status, response.read(), digest.hexdigest()
    finally:
        connection.close()


def test_slow_small_upload_is_not_an_integration_timeout(gateway: Process) -> None:
    """A buffered body (256 KiB or less) is read before the integration request starts its clock."""
    status, body, sha256 = slow_upload(gateway, "/brief/upload", 5, 20_000, 0.25)
    assert status == 200, body
    assert json.loads(body)["body_sha256"] == sha256


def test_slow_large_upload_is_not_an_integration_timeout(gateway: Process) -> None:
    status, body, sha256 = slow_upload(gateway, "/brief/upload", 5, 100_000, 0.25)
    assert status == 200, body
    assert json.loads(body)["body_sha256"] == sha256


# -- broken request bodies and cut responses (issue 18, items 5 and 10) ----------------------------------------------


def serve_raw(connection: RawConnection) -> None:
    """The raw backend: ``/collect`` reads a request body to its end and answers 200 only if it was complete (a
    chunked body's last chunk, or all of a Content-Length); ``/cut-chunked`` answers 2 MiB of a chunked body and
    closes the connection in the middle of it."""
    while (head := connection.read_head()) is not None:
        if head.startswith(b"GET /cut-chunked"):
            connection.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for _ in range(32):
                connection.send(b"%x\r\n%s\r\n" % (len(BACKEND_PATTERN), BACKEND_PATTERN))
            return
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        while True:
            body = bytes(connection.received[connection.body_start :])
            complete = len(body) >= int(length[1]) if length else body.endswith(b"\r\n0\r\n\r\n")
            if complete or not connection.read():
                break
        if not complete:
            return
        connection.skip_body(int(length[1]) if length else len(body))
        connection.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\ncomplete")


@pytest.fixture(scope="module")
def raw_backend() -> Iterator[RawBackend]:
    raw = RawBackend(serve_raw)
    yield raw
    raw.close()


@pytest.fixture(scope="module")
def raw_gateway(tmp_path_factory: pytest.TempPathFactory, raw_backend: RawBackend) -> Iterator[Process]:
    factory = GatewayFactory(tmp_path_factory.mktemp("raw"))
    try:
        yield factory.start(API, stage_variables={"backendPort": str(raw_backend.port)})
    finally:
        factory.stop_all()


def exchange(port: int, raw: bytes, *, then_close: bool = False) -> bytes:
    """Sends ``raw`` on a new connection and reads until the gateway closes it (``then_close``: closes it first,
    without reading). Returns what the gateway sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        if then_close:
            time.sleep(0.3)
            return b""
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except ConnectionResetError:
            pass
        return received


def new_log(gateway: Process, since: int) -> str:
    time.sleep(0.3)
    return gateway.output()[since:]


CHUNKED_UPLOAD = b"POST /collect HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"


@pytest.mark.parametrize(
    "rest",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # a chunk size that is not hex
        b"1ffffffffffffffff\r\nabc\r\n0\r\n\r\n",  # a chunk size over 64 bits
        b"3\r\nabcXX0\r\n\r\n",  # chunk data not followed by CRLF
        b"3 \x00\r\nabc\r\n0\r\n\r\n",  # a NUL in the chunk size line
        # Trailers: Granian reports them as it reports a broken body, so a streamed upload with trailers is refused.
        b"0\r\nx-checksum: 1\r\n\r\n",
    ],
    ids=["non-hex size", "overflowed size", "bad chunk terminator", "nul in size line", "trailers"],
)
def test_malformed_chunked_upload_answers_400_and_never_completes_upstream(
    raw_gateway: Process, raw_backend: RawBackend, rest: bytes
) -> None:
    """Issue 18, item 5: a chunked body with broken framing is answered 400 (AWS's BAD_REQUEST_BODY) with the
    request ids, and the backend never receives a complete request: the gateway writes no last chunk and closes
    that backend connection."""
    before = len(raw_backend.connections)
    since = len(raw_gateway.output())
    answer = exchange(raw_gateway.port, CHUNKED_UPLOAD + rest)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert json.loads(body) == {"message": "Invalid request body"}
    assert re.search(rb"(?i)\r\nx-amzn-requestid: [0-9a-f-]{36}", head), head
    assert re.search(rb"(?i)\r\nx-amzn-errortype: BadRequestException", head), head
    for connection in raw_backend.connections[before:]:
        assert connection.closed_by_peer.wait(5), "the backend connection was left open"
        assert not connection.received.endswith(b"0\r\n\r\n"), connection.received
    log = new_log(raw_gateway, since)
    assert "Traceback" not in log and "[ERROR]" not in log and "[WARNING]" not in log, log


def test_client_gone_mid_chunked_upload_is_one_quiet_line(raw_gateway: Process, raw_backend: RawBackend) -> None:
    """Issue 18, item 5: a client that goes away in the middle of a chunked body: the backend connection is
    closed without a last chunk; one INFO line, no ERROR and no traceback."""
    before = len(raw_backend.connections)
    since = len(raw_gateway.output())
    exchange(raw_gateway.port, CHUNKED_UPLOAD + b"10\r\nabc", then_close=True)
    assert wait_for(lambda: len(raw_backend.connections) > before, 5), "the upload never reached the backend"
    (connection,) = raw_backend.connections[before:]
    assert connection.closed_by_peer.wait(5), "the backend connection was left open"
    assert connection.received.endswith(b"\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n"), connection.received  # no last chunk
    log = new_log(raw_gateway, since)
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("[INFO] "), log


def test_whole_chunked_upload_still_reaches_the_raw_backend(raw_gateway: Process) -> None:
    closing = CHUNKED_UPLOAD.replace(b"Host: gw", b"Host: gw\r\nConnection: close")
    answer = exchange(raw_gateway.port, closing + b"3\r\nabc\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"complete"), answer


def test_backend_cutting_a_chunked_response_short_truncates_it(raw_gateway: Process) -> None:
    """Issue 18, item 10: a chunked backend response cut short reaches the client truncated, never ended cleanly
    (Granian ends a streamed response cleanly whether the app returns or raises: the gateway resets the
    connection)."""
    connection = http.client.HTTPConnection("127.0.0.1", raw_gateway.port, timeout=30)
    try:
        connection.request("GET", "/cut-chunked")
        # The reset may come before the head reached the client (RemoteDisconnected, a ConnectionError): either way
        # the client never sees a response that ended cleanly.
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            response = connection.getresponse()
            assert response.status == 200
            response.read()
    finally:
        connection.close()


def test_client_closing_a_download_is_one_quiet_line(gateway: Process) -> None:
    """Issue 18, item 10: a client that closes its connection in the middle of a streamed download costs one
    INFO line (once an ERROR with a traceback, from Granian, each time)."""
    since = len(gateway.output())
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        sock.sendall(f"GET /bytes/{GIB} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
        received = b""
        while len(received) < 4 * CHUNK:
            data = sock.recv(CHUNK)
            assert data
            received += data
    request_id = re.search(rb"(?i)\r\nx-amzn-requestid: ([0-9a-f-]{36})", received)
    assert request_id is not None
    assert wait_for(lambda: request_id[1].decode() in gateway.output()[since:], 5)
    log = new_log(gateway, since)
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("[INFO] ") and request_id[1].decode() in lines[0], log
