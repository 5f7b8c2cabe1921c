"""A throwaway-grade proxy: Granian RSGI + a minimal keep-alive HTTP/1.1 client over the event loop's transports.

No routing, no header rules, no streaming, no errors handled: the ceiling of "Python on Granian proxying through
asyncio transports", to show how much of fastgw's cost is the architecture and how much is fastgw's own work.
Run: ``granian --interface rsgi raw_proxy:app`` with ``BENCH_UPSTREAM=http://host:port`` set.
"""

from __future__ import annotations

import asyncio
import collections
import os
from typing import Any
from urllib.parse import urlsplit

_UPSTREAM = urlsplit(os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8080"))
BACKEND = (_UPSTREAM.hostname or "127.0.0.1", _UPSTREAM.port or 80)


class _Connection(asyncio.Protocol):
    def __init__(self, idle: collections.deque[_Connection]) -> None:
        self.idle = idle
        self.waiter: asyncio.Future[tuple[int, list[tuple[str, str]], bytes]] | None = None
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        length = 0
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(": ")
            if name.lower() == "content-length":
                length = int(value)
            else:
                headers.append((name, value))
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = b""
        waiter, self.waiter = self.waiter, None
        self.idle.append(self)
        if waiter is not None:
            waiter.set_result((int(lines[0].split()[1]), headers, body))


_idle: collections.deque[_Connection] = collections.deque()


async def app(scope: Any, protocol: Any) -> None:
    loop = asyncio.get_running_loop()
    if _idle:
        connection = _idle.pop()
    else:
        _, connection = await loop.create_connection(lambda: _Connection(_idle), *BACKEND)
    waiter = connection.waiter = loop.create_future()
    connection.transport.write(f"GET {scope.path} HTTP/1.1\r\nHost: {BACKEND[0]}\r\n\r\n".encode())
    status, headers, body = await waiter
    protocol.response_bytes(status, headers, body)
