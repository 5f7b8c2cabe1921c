"""Granian RSGI + a pyreqwest client (Rust reqwest on its own Tokio runtime, awaited from asyncio), no route table."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pyreqwest.client import Client, ClientBuilder

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
        self._client: Client | None = None

    def _open(self) -> Client:
        # Built inside the running loop, on the first request.
        self._client = ClientBuilder().max_connections(POOL).pool_max_idle_per_host(POOL).http1_only().build()
        return self._client

    async def __rsgi__(self, scope: Scope, protocol: HTTPProtocol) -> None:
        client = self._client or self._open()
        body = await protocol()
        builder = client.request(scope.method, upstream_url(scope.path, scope.query_string)).headers(
            forwardable(scope.headers.items())
        )
        if body:
            builder = builder.body_bytes(body)
        try:
            response = await builder.build().send()
            payload = (await response.bytes()).to_bytes()
        except Exception:  # pyreqwest raises its own hierarchy for connect/read failures: all mean 502 here
            protocol.response_bytes(*BAD_GATEWAY)
            return
        protocol.response_bytes(response.status, forwardable(list(response.headers.items())), payload)


app = Proxy()
