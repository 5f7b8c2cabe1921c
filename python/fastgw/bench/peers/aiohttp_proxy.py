"""A plain Python proxy: Granian RSGI + one aiohttp ClientSession (pooled keep-alive), no route table."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from granian._granian import RSGIHTTPProtocol as HTTPProtocol  # granian.rsgi re-exports it implicitly only
    from granian.rsgi import Scope

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8080")
POOL = int(os.environ.get("BENCH_POOL", "128"))
# Not forwarded in either direction; Content-Length is recomputed by whoever writes the body.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
BAD_GATEWAY = (502, [("content-type", "application/json")], b'{"message":"Bad Gateway"}')


def upstream_url(path: str, query_string: str) -> str:
    return f"{UPSTREAM}{path}?{query_string}" if query_string else UPSTREAM + path


def forwardable(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP]


class Proxy:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # The session binds to the running loop, so it is opened on the first request instead.
        self._session = None

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._session is not None and not loop.is_running():
            loop.run_until_complete(self._session.close())

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=POOL, limit_per_host=POOL, keepalive_timeout=75)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, timeout=aiohttp.ClientTimeout(total=30)
        )
        return self._session

    async def __rsgi__(self, scope: Scope, protocol: HTTPProtocol) -> None:
        session = self._session or self._open()
        body = await protocol()
        try:
            async with session.request(
                scope.method,
                upstream_url(scope.path, scope.query_string),
                headers=forwardable(scope.headers.items()),
                data=body or None,
            ) as response:
                payload = await response.read()
                headers = forwardable(list(response.headers.items()))
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            protocol.response_bytes(*BAD_GATEWAY)
            return
        protocol.response_bytes(status, headers, payload)


app = Proxy()
