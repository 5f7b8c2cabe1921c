"""A backend on plain sockets, for what tests/backend_app.py cannot do: record the exact bytes each connection
carried (was a request's body ever completed? did a smuggled second request arrive?), and misbehave between
requests (bytes on an idle keep-alive connection). It runs in threads of the test process; each accepted
connection is handed to a function (:class:`RawBackend`), or answered request by request and recorded
(:class:`RecordingBackend`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

RESPONSE_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class RawConnection:
    """One accepted connection: what it received so far, and whether the gateway closed it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received = bytearray()
        self.body_start = 0
        """Where the body of the last request head read starts in ``received``."""
        self.closed_by_peer = threading.Event()

    def read(self, size: int = 65536) -> bytes:
        """Up to ``size`` bytes (recorded), ``b""`` once the gateway closed the connection (or, without marking it
        closed, after 30 s without a byte)."""
        try:
            data = self.sock.recv(size)
        except TimeoutError:
            return b""
        except OSError:
            data = b""
        if data:
            self.received += data
        else:
            self.closed_by_peer.set()
        return data

    def read_head(self) -> bytes | None:
        """The next request head (from where the last one's body ended: :attr:`body_start`), or ``None`` at the
        end. What arrived after it is the start of its body."""
        start = self.body_start
        while (end := self.received.find(b"\r\n\r\n", start)) < 0:
            if not self.read():
                return None
        self.body_start = end + 4
        return bytes(self.received[start : self.body_start])

    def skip_body(self, length: int) -> None:
        """Marks ``length`` bytes after the head as read (the next head starts after them)."""
        self.body_start += length

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            pass


class RawBackend:
    """Listens on 127.0.0.1 and runs ``serve(connection)`` in a thread per accepted connection."""

    def __init__(self, serve: Callable[[RawConnection], None]) -> None:
        self._serve = serve
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.connections: list[RawConnection] = []
        self._threads: list[threading.Thread] = []
        accepting = threading.Thread(target=self._accept, daemon=True)
        accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # closed
            sock.settimeout(30)
            connection = RawConnection(sock)
            self.connections.append(connection)
            thread = threading.Thread(target=self._run, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, connection: RawConnection) -> None:
        try:
            self._serve(connection)
        finally:
            connection.sock.close()

    def close(self) -> None:
        self._listener.close()
        for connection in self.connections:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)


# -- a backend that answers every request and records it -------------------------------------------------------------


@dataclass
class Received:
    """One request as a recording backend read it: its head and body (raw, framing included) and its connection."""

    connection: int
    head: bytes
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def target(self) -> str:
        return self.request_line.split(" ")[1]


class RecordingBackend:
    """Answers every request head it reads (with its ``Content-Length`` or chunked body) with ``200`` and the request
    line as the body, on a keep-alive connection, as an HTTP/1.1 server does: so a smuggled second request in one
    write is answered as a second request, which is what a test must be able to see. ``requests`` are in order."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.backend = RawBackend(self._serve)
        self.port = self.backend.port

    def _serve(self, connection: RawConnection) -> None:
        number = len(self.backend.connections)
        while (head := connection.read_head()) is not None:
            start = connection.body_start
            if b"transfer-encoding: chunked" in head.lower():
                while (end := connection.received.find(b"0\r\n\r\n", start)) < 0:
                    if not connection.read():
                        return
                length = end + 5 - start
            else:
                length = _content_length(head)
                while len(connection.received) - start < length:
                    if not connection.read():
                        return
            connection.skip_body(length)
            received = Received(number, head, bytes(connection.received[start : start + length]))
            self.requests.append(received)
            line = received.request_line.encode("latin-1")
            connection.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(line), line)
            )

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.requests)


def _content_length(head: bytes) -> int:
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


@contextmanager
def recording_backend() -> Iterator[RecordingBackend]:
    """A :class:`RecordingBackend` on a free port for the block."""
    recorder = RecordingBackend()
    try:
        yield recorder
    finally:
        recorder.backend.close()


def send_raw(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Writes ``data`` to the gateway on a new connection and returns everything it answers until it closes the
    connection or stays silent for half a second after answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(data)
        answer = b""
        connection.settimeout(timeout)
        while True:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            answer += chunk
            connection.settimeout(0.5)
        return answer


def status_of(answer: bytes) -> int:
    """The status code of the first response in ``answer`` (0 for none)."""
    if not answer.startswith(b"HTTP/1."):
        return 0
    return int(answer.split(b" ", 2)[1])
