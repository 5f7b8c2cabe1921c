"""A backend that records the exact bytes it receives, for tests that must see what the gateway wrote on the wire.

It answers every request head it reads (with its ``Content-Length`` or chunked body) with ``200`` and a body that is
the request line, on a keep-alive connection, the way an HTTP/1.1 server does: so a smuggled second request in one
write is answered as a second request, which is what a test must be able to see. Real sockets, one thread per
connection, in the test's own process.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Received:
    """One request as the backend read it: its head (raw), body (raw framing included) and connection."""

    connection: int
    head: bytes
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def target(self) -> str:
        return self.request_line.split(" ")[1]

    def headers(self) -> list[tuple[str, str]]:
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        return [(name.strip().lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines)]

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers() if key == name.lower()]
        return values[-1] if values else None


@dataclass
class RawBackend:
    port: int
    requests: list[Received] = field(default_factory=list)
    raw: dict[int, bytes] = field(default_factory=dict)
    """Every byte received, by connection number."""

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.requests)

    def all_bytes(self) -> bytes:
        return b"".join(self.raw.values())


def _serve_connection(backend: RawBackend, client: socket.socket, number: int) -> None:
    buffer = b""
    client.settimeout(30)
    with client:
        while True:
            while b"\r\n\r\n" not in buffer:
                data = _recv(client)
                if not data:
                    return
                backend.raw[number] = backend.raw.get(number, b"") + data
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lowered = head.lower()
            body = b""
            if b"transfer-encoding: chunked" in lowered:
                while b"0\r\n\r\n" not in buffer:
                    data = _recv(client)
                    if not data:
                        backend.requests.append(Received(number, head, buffer))
                        return
                    backend.raw[number] = backend.raw.get(number, b"") + data
                    buffer += data
                body, _, buffer = buffer.partition(b"0\r\n\r\n")
                body += b"0\r\n\r\n"
            else:
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in lowered.split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ),
                    0,
                )
                while len(buffer) < length:
                    data = _recv(client)
                    if not data:
                        backend.requests.append(Received(number, head, buffer))
                        return
                    backend.raw[number] = backend.raw.get(number, b"") + data
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
            received = Received(number, head, body)
            backend.requests.append(received)
            answer = received.request_line.encode("latin-1")
            client.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer)
            )


def _recv(client: socket.socket) -> bytes:
    try:
        return client.recv(65536)
    except OSError:
        return b""


@contextmanager
def raw_backend() -> Iterator[RawBackend]:
    """A recording backend on a free port for the block."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    backend = RawBackend(listener.getsockname()[1])
    stopped = threading.Event()

    def accept() -> None:
        number = 0
        while not stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            number += 1
            threading.Thread(target=_serve_connection, args=(backend, client, number), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield backend
    finally:
        stopped.set()
        listener.close()


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
