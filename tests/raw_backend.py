"""A backend on plain sockets, for what tests/backend_app.py cannot do: record the exact bytes each connection
carried (was a request's body ever completed?), and misbehave between requests (bytes on an idle keep-alive
connection). It runs in threads of the test process; each accepted connection is handed to a function."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

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
